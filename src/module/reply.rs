//! Turning results into replies: doubles for either protocol, the crate's
//! errors as Redis errors (the one place that happens), and the boundary
//! that keeps a panic from reaching Redis.

use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::{
    Context, ContextFlags, RedisError, RedisResult, RedisString, RedisValue,
};

use super::text::format_double;
use crate::Error;

/// What a command handler returns.
pub(crate) type Reply = Result<RedisValue, Error>;

/// The one conversion of the crate's errors into Redis error replies:
/// `ERR ` and the message, or the standard `WRONGTYPE` error.
fn to_redis_error(error: Error) -> RedisError {
    match error {
        Error::WrongType => RedisError::WrongType,
        other => RedisError::String(format!("ERR {other}")),
    }
}

/// How doubles are written to the client of a command.
#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    /// RESP2: bulk strings of the shortest round-trip text.
    Resp2,
    /// RESP3: the protocol's own double type.
    Resp3,
}

impl Protocol {
    /// The protocol of the client calling the command.
    pub(crate) fn of(ctx: &Context) -> Protocol {
        if ctx.get_flags().contains(ContextFlags::FLAGS_RESP3) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    /// `value` as a reply in this protocol.
    pub(crate) fn double(self, value: f64) -> RedisValue {
        match self {
            Protocol::Resp2 => RedisValue::BulkString(format_double(value)),
            Protocol::Resp3 => RedisValue::Float(value),
        }
    }

    /// `value` as a reply, nil for `None`.
    pub(crate) fn optional_double(self, value: Option<f64>) -> RedisValue {
        value.map_or(RedisValue::Null, |v| self.double(v))
    }
}

/// The signature of every command handler.
pub(crate) type Handler = fn(&Context, &[RedisString]) -> Reply;

/// Runs `handler`, turning a panic into an error reply: a panic that
/// unwound into Redis would abort the server. Handlers validate all input
/// before they change anything, so a key is never left half-changed.
pub(crate) fn guarded(
    handler: Handler,
    ctx: &Context,
    args: Vec<RedisString>,
) -> RedisResult {
    match catch_unwind(AssertUnwindSafe(|| handler(ctx, &args))) {
        Ok(reply) => reply.map_err(to_redis_error),
        Err(_) => {
            Err(RedisError::Str("ERR internal error in the MAVG module"))
        }
    }
}
