//! The RDB encoding of a series, apart from Redis's IO so that it can be
//! tested and fuzzed without a server.
//!
//! # Version 2
//!
//! Unsigned integers, in order: the window, the id tag, the sequence number
//! of the next value, the number of copies made (see [`Series::copy`]),
//! and the number of values held; then the values, oldest first, as string
//! buffers of up to [`CHUNK_VALUES`] little-endian doubles each. The sum is
//! not stored: decoding recomputes it, so it cannot disagree with the
//! values. Every field is checked against the others; a payload that fails
//! a check is refused.
//!
//! Version 1, still read, is the same without the number of copies.

use super::id::MAX_SEQ;
use super::series::Series;
use crate::{Error, MovingAverage, MAX_WINDOW};

/// The encoding [`encode`] writes; [`decode`] reads it and every older one.
pub(crate) const ENCODING_VERSION: i32 = 2;

/// The first encoding, without the number of copies.
const ENCODING_WITHOUT_COPIES: i32 = 1;

/// Values per string buffer.
const CHUNK_VALUES: usize = 8192;

/// Where an encoded series is read from.
pub(crate) trait RdbInput {
    /// The next unsigned integer; `None` at a short read.
    fn unsigned(&mut self) -> Option<u64>;

    /// Hands the next string buffer to `use_bytes`; `None` at a short
    /// read.
    fn buffer<R>(&mut self, use_bytes: impl FnOnce(&[u8]) -> R) -> Option<R>;
}

/// Where an encoded series is written to.
pub(crate) trait RdbOutput {
    /// Writes an unsigned integer.
    fn unsigned(&mut self, value: u64);

    /// Writes a string buffer.
    fn buffer(&mut self, bytes: &[u8]);
}

/// Writes `series` in the current encoding.
pub(crate) fn encode(series: &Series, out: &mut impl RdbOutput) {
    out.unsigned(series.average.window() as u64);
    out.unsigned(series.tag);
    out.unsigned(series.next_seq);
    out.unsigned(series.copies.get());
    out.unsigned(series.average.len() as u64);

    let mut bytes = Vec::with_capacity(CHUNK_VALUES * 8);
    series.for_each_chunk(CHUNK_VALUES, |chunk| {
        bytes.clear();
        chunk.for_each(|value| bytes.extend_from_slice(&value.to_le_bytes()));
        out.buffer(&bytes);
    });
}

/// Reads a series written in `encoding`, checking every field; the error
/// says why a payload is refused.
pub(crate) fn decode(
    input: &mut impl RdbInput,
    encoding: i32,
) -> Result<Series, &'static str> {
    if !(ENCODING_WITHOUT_COPIES..=ENCODING_VERSION).contains(&encoding) {
        return Err("unknown encoding version");
    }
    let mut read = || input.unsigned().ok_or("short read");
    let window = read()?;
    let tag = read()?;
    let next_seq = read()?;
    let copies = match encoding {
        ENCODING_WITHOUT_COPIES => 0,
        _ => read()?,
    };
    let len = read()?;

    if window == 0 || window > MAX_WINDOW as u64 {
        return Err("window out of range");
    }
    if len > window || len > next_seq || next_seq > MAX_SEQ + 1 {
        return Err("counts disagree");
    }
    let mut series = Series::new(window as usize, tag, next_seq - len)
        .map_err(|_| "counts disagree")?;
    series.copies.set(copies);
    decode_values(input, &mut series, len as usize)?;
    Ok(series)
}

/// Reads `len` values in chunks into `series`.
fn decode_values(
    input: &mut impl RdbInput,
    series: &mut Series,
    len: usize,
) -> Result<(), &'static str> {
    let mut values = Vec::with_capacity(len.min(CHUNK_VALUES));
    while series.average.len() < len {
        let remaining = len - series.average.len();
        input
            .buffer(|bytes| read_chunk(bytes, remaining, &mut values))
            .ok_or("short read")??;

        series.add(&values).map_err(|error| match error {
            Error::NonFinite => "value not finite",
            _ => "out of memory",
        })?;
    }
    Ok(())
}

/// Reads one chunk of at most `remaining` values into `values`.
fn read_chunk(
    bytes: &[u8],
    remaining: usize,
    values: &mut Vec<f64>,
) -> Result<(), &'static str> {
    if bytes.is_empty() || bytes.len() % 8 != 0 || bytes.len() / 8 > remaining
    {
        return Err("malformed chunk of values");
    }

    values.clear();
    for word in bytes.chunks_exact(8) {
        let mut le = [0; 8];
        le.copy_from_slice(word);
        values.push(f64::from_le_bytes(le));
    }
    Ok(())
}

/// An encoded series held in memory, for tests and fuzzing.
#[cfg(test)]
pub(crate) mod memory {
    use std::collections::VecDeque;

    use super::{RdbInput, RdbOutput};

    /// One item of an encoded series.
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum Item {
        Unsigned(u64),
        Buffer(Vec<u8>),
    }

    /// Items written, then read back in order; reading the wrong kind of
    /// item is a short read, as it is in Redis.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Payload(pub(crate) VecDeque<Item>);

    impl RdbOutput for Payload {
        fn unsigned(&mut self, value: u64) {
            self.0.push_back(Item::Unsigned(value));
        }

        fn buffer(&mut self, bytes: &[u8]) {
            self.0.push_back(Item::Buffer(bytes.to_vec()));
        }
    }

    impl RdbInput for Payload {
        fn unsigned(&mut self) -> Option<u64> {
            match self.0.pop_front()? {
                Item::Unsigned(value) => Some(value),
                Item::Buffer(_) => None,
            }
        }

        fn buffer<R>(
            &mut self,
            use_bytes: impl FnOnce(&[u8]) -> R,
        ) -> Option<R> {
            match self.0.pop_front()? {
                Item::Buffer(bytes) => Some(use_bytes(&bytes)),
                Item::Unsigned(_) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::{Item, Payload};
    use super::*;

    fn series(values: &[f64]) -> Series {
        let mut series = Series::new(5, 77, 3).expect("valid");
        series.add(values).expect("finite");
        series.copies.set(2);
        series
    }

    fn round_trip(series: &Series) -> Series {
        let mut payload = Payload::default();
        encode(series, &mut payload);
        decode(&mut payload, ENCODING_VERSION).expect("its own encoding")
    }

    #[test]
    fn round_trips() {
        let original = series(&[1.0, -0.0, 5e-324, 1e308, 0.1, 7.0]);
        let copy = round_trip(&original);
        let values = |s: &Series| s.average.iter().collect::<Vec<_>>();
        assert_eq!(values(&copy), values(&original));
        assert_eq!(copy.average.average(), original.average.average());
        assert_eq!(copy.tag, original.tag);
        assert_eq!(copy.next_seq, original.next_seq);
        assert_eq!(copy.copies.get(), 2);
    }

    #[test]
    fn version_1_has_no_count_of_copies() {
        let mut payload =
            Payload([1, 9, 4, 1].map(Item::Unsigned).into_iter().collect());
        payload
            .0
            .push_back(Item::Buffer(2.5f64.to_le_bytes().to_vec()));
        let series = decode(&mut payload, 1).expect("valid version 1");
        assert_eq!(series.average.average(), Some(2.5));
        assert_eq!(series.copies.get(), 0);
        assert_eq!(series.next_seq, 4);
    }

    #[test]
    fn refusals() {
        let header = |fields: [u64; 5]| -> Payload {
            Payload(fields.map(Item::Unsigned).into_iter().collect())
        };
        let cases = [
            (header([0, 1, 0, 0, 0]), "window out of range"),
            (header([3, 1, 1, 0, 2]), "counts disagree"),
            (header([3, 1, 5, 0, 4]), "counts disagree"),
            (header([3, 1, 5, 0, 2]), "short read"),
        ];
        for (mut payload, reason) in cases {
            assert_eq!(decode(&mut payload, 2).err(), Some(reason));
        }
        assert_eq!(
            decode(&mut Payload::default(), 3).err(),
            Some("unknown encoding version")
        );
    }
}
