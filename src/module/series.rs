//! The value of a MAVG key: a moving average plus what element ids need.

use std::cell::Cell;

use uuid::Uuid;

use super::id::{copy_tag, element_id, split_id, MAX_SEQ};
use crate::{Error, ExactMovingAverage, MovingAverage};

/// One MAVG key: the values of its window and its id space.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) average: ExactMovingAverage,
    /// The random half of every element id of this key.
    pub(crate) tag: u64,
    /// The sequence number the next value added gets.
    pub(crate) next_seq: u64,
    /// How many copies `COPY` has made of this series; each copy's tag
    /// derives from the tag and this count. A copy changes it through a
    /// shared reference, as Redis hands `COPY` the source read-only.
    pub(crate) copies: Cell<u64>,
}

impl Series {
    /// An empty series whose next value gets sequence number `next_seq`.
    pub(crate) fn new(
        window: usize,
        tag: u64,
        next_seq: u64,
    ) -> Result<Series, Error> {
        if next_seq > MAX_SEQ {
            return Err(Error::BadSeq);
        }
        Ok(Series {
            average: ExactMovingAverage::new(window)?,
            tag,
            next_seq,
            copies: Cell::new(0),
        })
    }

    /// An independent copy: the same values and sequence position, and an
    /// id tag of its own, so the ids of the two never clash. Counts the
    /// copy in `self`.
    pub(crate) fn copy(&self) -> Result<Series, Error> {
        let count = self.copies.get();
        let copy = Series {
            average: self.average.try_clone()?,
            tag: copy_tag(self.tag, count),
            next_seq: self.next_seq,
            copies: Cell::new(0),
        };
        self.copies.set(count.wrapping_add(1));
        Ok(copy)
    }

    /// The bytes this series takes, as `MEMORY USAGE` reports them: the
    /// header, the value buffer and the sum's limbs.
    pub(crate) fn memory(&self) -> usize {
        std::mem::size_of::<Series>() + self.average.heap_bytes()
    }

    /// Appends `values`, all or none; returns the first one's sequence
    /// number.
    pub(crate) fn add(&mut self, values: &[f64]) -> Result<u64, Error> {
        let first = self.next_seq;
        let next = first
            .checked_add(values.len() as u64)
            .filter(|&next| next <= MAX_SEQ + 1)
            .ok_or(Error::IdsExhausted)?;

        self.average.push_all(values)?;
        self.next_seq = next;
        Ok(first)
    }

    /// Calls `action` on the values held, oldest first, `size` values at
    /// a time.
    pub(crate) fn for_each_chunk(
        &self,
        size: usize,
        mut action: impl FnMut(&mut dyn Iterator<Item = f64>),
    ) {
        let mut values = self.average.iter().peekable();
        while values.peek().is_some() {
            action(&mut values.by_ref().take(size));
        }
    }

    /// The sequence number of the oldest value held.
    pub(crate) fn first_seq(&self) -> u64 {
        self.next_seq - self.average.len() as u64
    }

    /// The id of the value at `position` (0 the oldest), which must be
    /// held.
    pub(crate) fn id_at(&self, position: usize) -> Uuid {
        element_id(self.tag, self.first_seq() + position as u64)
    }

    /// The value whose id is `id`, `None` if it is not in the window.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignId`] if `id` is not an element id of this key.
    pub(crate) fn get_by_id(&self, id: Uuid) -> Result<Option<f64>, Error> {
        let (tag, seq) = split_id(id).ok_or(Error::ForeignId)?;
        if tag != self.tag {
            return Err(Error::ForeignId);
        }
        if seq < self.first_seq() || seq >= self.next_seq {
            return Ok(None);
        }
        let position = (seq - self.first_seq()) as isize;
        Ok(self.average.get(position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_key_takes_one_header_and_its_values() -> Result<(), Error> {
        // 80 bytes is an allocator size class: a key of ten values takes
        // the header, 80 bytes of values, and nothing for its sum.
        assert_eq!(std::mem::size_of::<Series>(), 80);
        let mut series = Series::new(10, 42, 0)?;
        series.add(&[12.5, 103.25, 7.75, 99.5, 0.125, 42.0, 18.3, 3.25])?;
        series.add(&[250.5, 61.8, 0.001])?;
        assert_eq!(series.memory(), 80 + 10 * 8);
        Ok(())
    }

    #[test]
    fn ids_follow_the_window() -> Result<(), Error> {
        let mut series = Series::new(2, 42, 0)?;
        assert_eq!(series.add(&[1.0, 2.0, 3.0])?, 0);

        assert_eq!(series.get_by_id(element_id(series.tag, 0))?, None);
        assert_eq!(series.get_by_id(element_id(series.tag, 1))?, Some(2.0));
        assert_eq!(series.get_by_id(element_id(series.tag, 2))?, Some(3.0));
        assert_eq!(series.get_by_id(element_id(series.tag, 3))?, None);
        assert_eq!(series.id_at(0), element_id(series.tag, 1));
        Ok(())
    }

    #[test]
    fn foreign_ids_are_refused() -> Result<(), Error> {
        let series = Series::new(2, 42, 0)?;
        let other = Series::new(2, 43, 0)?;
        assert_eq!(
            series.get_by_id(element_id(other.tag, 0)),
            Err(Error::ForeignId)
        );
        assert_eq!(series.get_by_id(Uuid::nil()), Err(Error::ForeignId));
        Ok(())
    }

    #[test]
    fn every_copy_gets_its_own_tag() -> Result<(), Error> {
        let mut series = Series::new(3, 42, 0)?;
        series.add(&[1.0, 2.0])?;
        let first = series.copy()?;
        let second = series.copy()?;
        assert_ne!(first.tag, series.tag);
        assert_ne!(first.tag, second.tag);
        assert_eq!(first.next_seq, 2);
        assert_eq!(first.average.iter().collect::<Vec<_>>(), [1.0, 2.0]);
        assert_eq!(series.copies.get(), 2);
        assert_eq!(first.copies.get(), 0);
        Ok(())
    }

    #[test]
    fn sequence_numbers_run_out() -> Result<(), Error> {
        let mut series = Series::new(2, 1, MAX_SEQ)?;
        assert_eq!(series.add(&[1.0, 2.0]), Err(Error::IdsExhausted));
        assert_eq!(series.add(&[1.0])?, MAX_SEQ);
        assert_eq!(series.add(&[1.0]), Err(Error::IdsExhausted));
        assert_eq!(series.average.len(), 1);
        Ok(())
    }
}
