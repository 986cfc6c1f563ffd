//! The interface: what every moving average of this crate promises.

use crate::Error;

/// A moving average over the last `window` values added.
///
/// An implementation keeps up to [`window`](MovingAverage::window) values.
/// [`push`](MovingAverage::push) appends one; once the window is full, each
/// push first evicts the oldest. Positions count from the oldest value
/// held, 0, to the newest, `len() - 1`; negative positions count from the
/// newest, -1.
///
/// # Contract
///
/// Every implementation keeps these true after any sequence of calls:
///
/// - `1 <= window()` and `len() <= window()`, and `window()` never changes.
/// - The values held are the last `len()` values pushed successfully, in
///   order, and `len()` is `min(pushes, window())`.
/// - Only finite values are held: `push` refuses NaN and infinities with
///   [`Error::NonFinite`] and then changes nothing. Any failed `push`
///   changes nothing.
/// - [`average`](MovingAverage::average) is `None` exactly when `len()` is
///   0, and otherwise the exact mean of the values held, rounded to the
///   nearest double (ties to even). It depends on the values held alone,
///   never on what was pushed and evicted before them: no drift.
/// - `get(i)` for `0 <= i < len()` and `get(i - len())` are the `i`-th
///   oldest value, and [`iter`](MovingAverage::iter) yields exactly the
///   values `get(0)`, ..., `get(len() - 1)`.
///
/// # Complexity
///
/// Each implementation documents its own; the one of this crate,
/// [`ExactMovingAverage`](crate::ExactMovingAverage), is O(1) for every
/// method but `iter`, which is O(1) per value.
///
/// # Example
///
/// ```
/// use redis_mavg::{ExactMovingAverage, MovingAverage};
///
/// fn report(series: &impl MovingAverage) -> String {
///     match series.average() {
///         Some(mean) => format!("{} values, mean {mean}", series.len()),
///         None => "no values".to_string(),
///     }
/// }
///
/// let mut latency = ExactMovingAverage::new(3)?;
/// assert_eq!(report(&latency), "no values");
/// for ms in [12.0, 14.0, 13.0, 41.0] {
///     latency.push(ms)?;
/// }
/// assert_eq!(report(&latency), "3 values, mean 22.666666666666668");
/// # Ok::<(), redis_mavg::Error>(())
/// ```
pub trait MovingAverage {
    /// The most values held at once.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// assert_eq!(ExactMovingAverage::new(24)?.window(), 24);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn window(&self) -> usize;

    /// How many values are held: `min(values pushed, window())`.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(2)?;
    /// for v in [1.0, 2.0, 3.0] {
    ///     series.push(v)?;
    /// }
    /// assert_eq!(series.len(), 2);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn len(&self) -> usize;

    /// Whether no value is held.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// assert!(ExactMovingAverage::new(5)?.is_empty());
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `value`, evicting the oldest value when the window is full.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] for NaN or an infinity, and
    /// [`Error::OutOfMemory`] when storage cannot grow; either way nothing
    /// changes.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{Error, ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(2)?;
    /// series.push(1.5)?;
    /// assert_eq!(series.push(f64::NAN), Err(Error::NonFinite));
    /// assert_eq!(series.len(), 1);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn push(&mut self, value: f64) -> Result<(), Error>;

    /// The mean of the values held, rounded to the nearest double; `None`
    /// when none is held.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// // A plain running sum would answer 0 here: 1e16 + 1 rounds to 1e16.
    /// let mut series = ExactMovingAverage::new(3)?;
    /// for v in [1e16, 1.0, 1.0, 1.0] {
    ///     series.push(v)?;
    /// }
    /// assert_eq!(series.average(), Some(1.0));
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn average(&self) -> Option<f64>;

    /// The value at `position`: 0 is the oldest, -1 the newest; `None`
    /// outside `-len()..len()`.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(3)?;
    /// for v in [1.0, 2.0, 3.0, 4.0] {
    ///     series.push(v)?;
    /// }
    /// assert_eq!(series.get(0), Some(2.0));
    /// assert_eq!(series.get(-1), Some(4.0));
    /// assert_eq!(series.get(3), None);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn get(&self, position: isize) -> Option<f64>;

    /// The values held, oldest first.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(2)?;
    /// for v in [1.0, 2.0, 3.0] {
    ///     series.push(v)?;
    /// }
    /// assert_eq!(series.iter().collect::<Vec<_>>(), [2.0, 3.0]);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    fn iter(&self) -> impl Iterator<Item = f64> + '_;
}
