//! The integration-test harness: what every test binary shares.
//!
//! - [`server`]: a `redis-server` with the module loaded, on a free port
//!   and a fresh directory, killed and cleaned up when dropped.
//! - [`cluster`]: six such servers made a Redis Cluster, 3 primaries and
//!   3 replicas.
//! - [`errors`]: the error replies the README promises.
//! - [`resp`]: a plain RESP2/RESP3 connection that keeps every reply as
//!   the server sent it, error codes included.
//! - [`mavg`]: readers for the module's replies (element ids, `MAVG.INFO`,
//!   whole-key snapshots).
//! - [`exact`]: exact means of doubles, correctly rounded, as the oracle.
//!
//! Each test binary uses a different part of this, hence the allowance.
#![allow(dead_code)]

pub mod cluster;
pub mod errors;
pub mod exact;
pub mod mavg;
pub mod resp;
pub mod server;

use std::error::Error;
use std::fmt::Display;

/// What every test and helper returns.
pub type TestResult<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

/// Adds a sentence saying which step failed to an error or a `None`.
pub trait Context<T> {
    /// Wraps the failure with `what`, the step being done.
    fn context(self, what: impl Display) -> TestResult<T>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> TestResult<T> {
        self.map_err(|e| format!("{what}: {e}").into())
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Display) -> TestResult<T> {
        self.ok_or_else(|| format!("{what}: nothing there").into())
    }
}

/// Fails the current step with `message`.
pub fn fail<T>(message: impl Display) -> TestResult<T> {
    Err(message.to_string().into())
}
