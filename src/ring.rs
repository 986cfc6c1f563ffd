//! The implementation: a ring buffer of doubles with an exact running sum.

use crate::exact::ExactSum;
use crate::{Error, MovingAverage};

/// The largest window: a billion values, 8 GB once full.
pub const MAX_WINDOW: usize = 1_000_000_000;

// Windows and positions are stored in 32 bits.
const _: () = assert!(MAX_WINDOW <= u32::MAX as usize);

/// A moving average that is exact: a ring buffer of the values held and
/// their exact sum.
///
/// Storage grows with the values held, doubling up to the window and never
/// past it, so a window of a billion costs nothing until values arrive and
/// a full window holds 8 bytes per value. The sum is kept exactly (in an
/// integer of as many 64-bit limbs as the values' magnitudes span, one to
/// three for values of similar size), so [`average`](Self::average) is the
/// true mean of the window correctly rounded, however long the history.
///
/// # Complexity
///
/// `push`, `average`, `get`, `len` and `window` are O(1); `push` touches
/// two limbs of the sum plus any carry, and `average` divides the few limbs
/// of the sum by the count. `iter` is O(1) per value.
///
/// # Example
///
/// ```
/// use redis_mavg::{ExactMovingAverage, MovingAverage};
///
/// // A running sum `sum += new - old` ends at 2.2e-16 here, not 0.
/// let mut series = ExactMovingAverage::new(2)?;
/// series.push_all(&[2.06, 0.888889, 0.0, 0.0])?;
/// assert_eq!(series.average(), Some(0.0));
/// # Ok::<(), redis_mavg::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExactMovingAverage {
    /// The values held; once full, `values[head]` is the oldest.
    values: Vec<f64>,
    /// Index of the oldest value once the window is full; 0 before.
    /// Both are at most [`MAX_WINDOW`], so 32 bits hold them and keep a
    /// key's header small.
    head: u32,
    window: u32,
    sum: ExactSum,
}

impl ExactMovingAverage {
    /// An empty moving average over the last `window` values. Allocates
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::WindowOutOfRange`] unless `1 <= window <= MAX_WINDOW`.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{Error, ExactMovingAverage, MAX_WINDOW};
    ///
    /// assert!(ExactMovingAverage::new(MAX_WINDOW).is_ok());
    /// assert_eq!(
    ///     ExactMovingAverage::new(0).unwrap_err(),
    ///     Error::WindowOutOfRange(MAX_WINDOW),
    /// );
    /// ```
    pub fn new(window: usize) -> Result<ExactMovingAverage, Error> {
        if !(1..=MAX_WINDOW).contains(&window) {
            return Err(Error::WindowOutOfRange(MAX_WINDOW));
        }
        Ok(ExactMovingAverage {
            values: Vec::new(),
            head: 0,
            window: window as u32,
            sum: ExactSum::new(),
        })
    }

    /// Appends every value of `values`, oldest first, or none of them.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] if any value is NaN or infinite, and
    /// [`Error::OutOfMemory`] when storage cannot grow; either way nothing
    /// changes.
    ///
    /// # Complexity
    ///
    /// O(n) for n values.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{Error, ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(10)?;
    /// assert_eq!(series.push_all(&[1.0, f64::INFINITY]), Err(Error::NonFinite));
    /// assert!(series.is_empty());
    /// series.push_all(&[1.0, 2.0])?;
    /// assert_eq!(series.average(), Some(1.5));
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    pub fn push_all(&mut self, values: &[f64]) -> Result<(), Error> {
        if !values.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite);
        }

        self.try_reserve(values.len())?;
        for &value in values {
            self.push_reserved(value);
        }
        Ok(())
    }

    /// Makes room for `additional` more values (or up to the window)
    /// without aborting when memory runs out.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] when the allocator refuses; nothing changes.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::ExactMovingAverage;
    ///
    /// let mut series = ExactMovingAverage::new(1000)?;
    /// series.try_reserve(10)?;
    /// assert!(series.heap_bytes() >= 80);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), Error> {
        let len = self.values.len();
        let needed = len.saturating_add(additional).min(self.window());
        if needed <= self.values.capacity() {
            return Ok(());
        }

        let doubled = (self.values.capacity() * 2).max(4);
        let target = needed.max(doubled.min(self.window()));
        self.values
            .try_reserve_exact(target - len)
            .map_err(|_| Error::OutOfMemory)
    }

    /// A copy holding the same values, or an error where a clone would
    /// abort: storage for the copy is reserved without aborting.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] when the allocator refuses.
    ///
    /// # Complexity
    ///
    /// O(n) for n values held.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(2)?;
    /// series.push_all(&[1.0, 2.0, 3.0])?;
    /// let copy = series.try_clone()?;
    /// assert_eq!(copy.iter().collect::<Vec<_>>(), [2.0, 3.0]);
    /// assert_eq!(copy.average(), series.average());
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<ExactMovingAverage, Error> {
        let mut copy = ExactMovingAverage::new(self.window())?;
        copy.try_reserve(self.len())?;
        for value in self.iter() {
            copy.push_reserved(value);
        }
        Ok(copy)
    }

    /// Bytes held on the heap: the value storage and the sum's limbs.
    ///
    /// # Example
    ///
    /// ```
    /// use redis_mavg::{ExactMovingAverage, MovingAverage};
    ///
    /// let mut series = ExactMovingAverage::new(1_000_000_000)?;
    /// assert_eq!(series.heap_bytes(), 0);
    /// series.push(1.0)?;
    /// assert!(series.heap_bytes() < 100);
    /// # Ok::<(), redis_mavg::Error>(())
    /// ```
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f64>()
            + self.sum.heap_bytes()
    }

    /// Appends a finite value once storage for it is reserved.
    fn push_reserved(&mut self, value: f64) {
        if self.values.len() < self.window() {
            self.values.push(value);
        } else {
            let head = self.head as usize;
            let oldest = std::mem::replace(&mut self.values[head], value);
            self.head = (self.head + 1) % self.window;
            self.sum.sub(oldest);
        }
        self.sum.add(value);
    }

    /// The index in `values` of the `position`-th oldest value.
    fn slot(&self, position: usize) -> usize {
        let slot = self.head as usize + position;
        if slot >= self.values.len() {
            slot - self.values.len()
        } else {
            slot
        }
    }
}

impl MovingAverage for ExactMovingAverage {
    fn window(&self) -> usize {
        self.window as usize
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn push(&mut self, value: f64) -> Result<(), Error> {
        self.push_all(&[value])
    }

    fn average(&self) -> Option<f64> {
        let count = self.values.len() as u64;
        (count > 0).then(|| self.sum.mean(count))
    }

    fn get(&self, position: isize) -> Option<f64> {
        let len = self.values.len();
        let position = if position < 0 {
            len.checked_sub(position.unsigned_abs())?
        } else {
            position as usize
        };
        (position < len).then(|| self.values[self.slot(position)])
    }

    fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let (newer, older) = self.values.split_at(self.head as usize);
        older.iter().chain(newer).copied()
    }
}
