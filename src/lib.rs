//! Exact moving averages, as a Rust library and as a Redis module.
//!
//! The library is the trait [`MovingAverage`], the contract of a moving
//! average over the last *N* values, and its implementation
//! [`ExactMovingAverage`]: a ring buffer of `f64` with a running sum kept
//! exactly, so that the average is the true mean of the window rounded
//! once, whatever came before. Adding and averaging are O(1).
//!
//! ```
//! use redis_mavg::{ExactMovingAverage, MovingAverage};
//!
//! let mut prices = ExactMovingAverage::new(3)?;
//! for price in [10.0, 11.0, 12.0, 13.0] {
//!     prices.push(price)?;
//! }
//! assert_eq!(prices.average(), Some(12.0));
//! assert_eq!(prices.get(0), Some(11.0));
//! assert_eq!(prices.iter().collect::<Vec<_>>(), [11.0, 12.0, 13.0]);
//! # Ok::<(), redis_mavg::Error>(())
//! ```
//!
//! Built as a `cdylib`, the same crate is a Redis module that stores one
//! [`ExactMovingAverage`] per key and serves the `MAVG.*` commands; the
//! README documents them. The module's code lives in the private `module`
//! folder and uses the library only through its public items.

#![deny(missing_docs)]

mod average;
mod error;
mod exact;
mod module;
mod ring;

pub use average::MovingAverage;
pub use error::Error;
pub use ring::{ExactMovingAverage, MAX_WINDOW};
