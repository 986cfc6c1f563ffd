//! Command arguments: the borrowed argument type, and parsing arguments
//! into the values the commands act on.

use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::ops::Deref;

use redis_module::{raw, RedisString};
use uuid::Uuid;

use super::id::MAX_SEQ;
use crate::{Error, MAX_WINDOW};

/// One argument of the command being run, borrowed from the server for
/// the call: the module neither copies, retains nor frees it. It reads
/// as its bytes.
#[repr(transparent)]
pub(crate) struct Arg(*mut raw::RedisModuleString);

impl Arg {
    /// The `argc` arguments at `argv`, as Redis passes them to a command.
    ///
    /// # Safety
    ///
    /// `argv` must point to `argc` valid strings that stay alive and
    /// unchanged for `'a`.
    pub(crate) unsafe fn all<'a>(
        argv: *mut *mut raw::RedisModuleString,
        argc: c_int,
    ) -> &'a [Arg] {
        let len = usize::try_from(argc).unwrap_or(0);
        if argv.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: `Arg` is a transparent wrapper of the pointer type, and
        // the caller guarantees `len` valid pointers at `argv` for `'a`.
        unsafe { std::slice::from_raw_parts(argv.cast::<Arg>(), len) }
    }

    /// The server's string, for API calls that take one.
    pub(crate) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.0
    }

    /// The argument as the crate's string type, for its key API; never
    /// dropped, so it frees nothing it does not own.
    pub(crate) fn to_redis_string(&self) -> ManuallyDrop<RedisString> {
        let string = RedisString::from_redis_module_string(
            std::ptr::null_mut(),
            self.0,
        );
        ManuallyDrop::new(string)
    }
}

impl Deref for Arg {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: the API pointer is set at load, and `self.0` is a live
        // string of the running command (see `Arg::all`).
        let bytes = unsafe {
            raw::RedisModule_StringPtrLen.expect("set at load")(
                self.0, &mut len,
            )
        };
        if bytes.is_null() {
            return &[];
        }
        // SAFETY: the server keeps `len` bytes at `bytes` while the
        // string lives, which is at least as long as `self`.
        unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), len) }
    }
}

/// What `MAVG.GET` looks up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ref {
    /// A position: 0 the oldest, -1 the newest.
    Position(i64),
    /// An element id.
    Id(Uuid),
}

/// The longest text read as a value. Any double is written exactly in
/// far fewer characters; Rust's parser misreads texts of hundreds of
/// thousands of digits.
pub(crate) const MAX_VALUE_LEN: usize = 5120;

/// A finite double written in decimal, in at most [`MAX_VALUE_LEN`]
/// characters.
///
/// # Errors
///
/// [`Error::NotAFloat`] for anything but a number, [`Error::NonFinite`]
/// for NaN, infinities, and numbers beyond the double range.
pub(crate) fn parse_value(arg: &[u8]) -> Result<f64, Error> {
    if arg.len() > MAX_VALUE_LEN {
        return Err(Error::NotAFloat);
    }
    let text = std::str::from_utf8(arg).map_err(|_| Error::NotAFloat)?;
    let value: f64 = text.parse().map_err(|_| Error::NotAFloat)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite)
    }
}

/// How many values [`Values`] holds without allocating.
const INLINE_VALUES: usize = 8;

/// The values of a command: on the stack for a few, which is the common
/// case, on the heap for more.
pub(crate) enum Values {
    Inline([f64; INLINE_VALUES], usize),
    Heap(Vec<f64>),
}

impl Values {
    /// The values, in argument order.
    pub(crate) fn as_slice(&self) -> &[f64] {
        match self {
            Values::Inline(values, len) => &values[..*len],
            Values::Heap(values) => values,
        }
    }
}

/// Every argument of `args` as a value, or the first error.
pub(crate) fn parse_values<'a>(
    args: impl ExactSizeIterator<Item = &'a [u8]>,
) -> Result<Values, Error> {
    if args.len() <= INLINE_VALUES {
        let mut values = [0.0; INLINE_VALUES];
        let len = args.len();
        for (slot, arg) in values.iter_mut().zip(args) {
            *slot = parse_value(arg)?;
        }
        return Ok(Values::Inline(values, len));
    }

    let mut values = Vec::new();
    values
        .try_reserve_exact(args.len())
        .map_err(|_| Error::OutOfMemory)?;
    for arg in args {
        values.push(parse_value(arg)?);
    }
    Ok(Values::Heap(values))
}

/// A 64-bit signed integer in the one spelling Redis accepts: an
/// optional `-`, then digits without leading zeros (`0`, `-12`; not
/// `+1`, `007`, `-0`).
pub(crate) fn parse_integer(arg: &[u8]) -> Result<i64, Error> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    let negative_zero = digits == b"0" && digits.len() != arg.len();
    if !is_canonical_natural(digits) || negative_zero {
        return Err(Error::NotAnInteger);
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(Error::NotAnInteger)
}

/// Whether `digits` is a natural number as Redis writes it: `0`, or
/// digits that do not start with `0`.
fn is_canonical_natural(digits: &[u8]) -> bool {
    match digits {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A window: an integer from 1 to `max`, itself at most [`MAX_WINDOW`].
pub(crate) fn parse_window(arg: &[u8], max: usize) -> Result<usize, Error> {
    let max = max.min(MAX_WINDOW);
    parse_integer(arg)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=max).contains(n))
        .ok_or(Error::WindowOutOfRange(max))
}

/// An id tag: exactly 16 hexadecimal digits.
pub(crate) fn parse_tag(arg: &[u8]) -> Result<u64, Error> {
    if arg.len() != 16 || !arg.iter().all(u8::is_ascii_hexdigit) {
        return Err(Error::BadIdTag);
    }
    let text = std::str::from_utf8(arg).map_err(|_| Error::BadIdTag)?;
    u64::from_str_radix(text, 16).map_err(|_| Error::BadIdTag)
}

/// A sequence number from 0 to [`MAX_SEQ`].
pub(crate) fn parse_seq(arg: &[u8]) -> Result<u64, Error> {
    parse_integer(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= MAX_SEQ)
        .ok_or(Error::BadSeq)
}

/// A count of copies: an integer from 0 to `u64::MAX`, in Redis's
/// spelling. The whole range, as a series counts its copies in a `u64`
/// that an AOF rewrite writes back as it is.
pub(crate) fn parse_count(arg: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|_| is_canonical_natural(arg))
        .and_then(|text| text.parse().ok())
        .ok_or(Error::BadCopies)
}

/// A position or a hyphenated UUID.
pub(crate) fn parse_ref(arg: &[u8]) -> Result<Ref, Error> {
    if let Ok(position) = parse_integer(arg) {
        return Ok(Ref::Position(position));
    }
    if arg.len() != 36 {
        return Err(Error::BadRef);
    }
    Uuid::try_parse_ascii(arg)
        .map(Ref::Id)
        .map_err(|_| Error::BadRef)
}

/// Whether `arg` is the keyword `name`, in any case.
pub(crate) fn is_keyword(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value(b"2.5"), Ok(2.5));
        assert_eq!(parse_value(b"-1e-3"), Ok(-0.001));
        assert_eq!(parse_value(b".5"), Ok(0.5));
        for bad in [&b"abc"[..], b"", b" 1", b"1 ", b"0x10", b"1,5"] {
            assert_eq!(parse_value(bad), Err(Error::NotAFloat));
        }
        for bad in [&b"nan"[..], b"NaN", b"inf", b"-Infinity", b"1e400"] {
            assert_eq!(parse_value(bad), Err(Error::NonFinite));
        }
        assert_eq!(parse_value(b"\xff"), Err(Error::NotAFloat));
    }

    #[test]
    fn long_values() {
        let long = format!("1.{}", "0".repeat(MAX_VALUE_LEN - 2));
        assert_eq!(parse_value(long.as_bytes()), Ok(1.0));
        let too_long = format!("{long}0");
        assert_eq!(parse_value(too_long.as_bytes()), Err(Error::NotAFloat));
    }

    #[test]
    fn integers_in_the_redis_spelling() {
        assert_eq!(parse_integer(b"0"), Ok(0));
        assert_eq!(parse_integer(b"-12"), Ok(-12));
        assert_eq!(parse_integer(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_integer(b"-9223372036854775808"), Ok(i64::MIN));
        for bad in [
            &b"+1"[..],
            b"007",
            b"-0",
            b"",
            b"-",
            b"1.0",
            b" 1",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_integer(bad), Err(Error::NotAnInteger));
        }
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window(b"1", MAX_WINDOW), Ok(1));
        assert_eq!(parse_window(b"1000000000", MAX_WINDOW), Ok(MAX_WINDOW));
        for bad in [
            &b"0"[..],
            b"-1",
            b"1000000001",
            b"18446744073709551616",
            b"abc",
            b"1.5",
        ] {
            let refused = Err(Error::WindowOutOfRange(MAX_WINDOW));
            assert_eq!(parse_window(bad, MAX_WINDOW), refused);
        }
    }

    #[test]
    fn windows_below_a_configured_maximum() {
        assert_eq!(parse_window(b"50", 50), Ok(50));
        let refused = Err(Error::WindowOutOfRange(50));
        assert_eq!(parse_window(b"51", 50), refused);
        let text = Error::WindowOutOfRange(50).to_string();
        assert_eq!(text, "window must be an integer from 1 to 50");
        let capped = Err(Error::WindowOutOfRange(MAX_WINDOW));
        assert_eq!(parse_window(b"1000000001", usize::MAX), capped);
    }

    #[test]
    fn window_error_names_the_maximum() {
        let text = Error::WindowOutOfRange(MAX_WINDOW).to_string();
        assert!(text.ends_with(&MAX_WINDOW.to_string()), "{text}");
        let text = Error::BadSeq.to_string();
        assert!(text.ends_with(&MAX_SEQ.to_string()), "{text}");
    }

    #[test]
    fn tags_and_seqs() {
        assert_eq!(parse_tag(b"00000000000000fF"), Ok(255));
        assert_eq!(parse_tag(b"+000000000000001"), Err(Error::BadIdTag));
        assert_eq!(parse_tag(b"123"), Err(Error::BadIdTag));
        assert_eq!(parse_seq(b"288230376151711743"), Ok(MAX_SEQ));
        assert_eq!(parse_seq(b"288230376151711744"), Err(Error::BadSeq));
        assert_eq!(parse_seq(b"-1"), Err(Error::BadSeq));
    }

    #[test]
    fn refs() {
        assert_eq!(parse_ref(b"-1"), Ok(Ref::Position(-1)));
        let id = "01234567-89ab-8cde-bc00-000000000002";
        assert!(matches!(parse_ref(id.as_bytes()), Ok(Ref::Id(_))));
        let upper = id.to_uppercase();
        assert!(matches!(parse_ref(upper.as_bytes()), Ok(Ref::Id(_))));
        let simple = id.replace('-', "");
        assert_eq!(parse_ref(simple.as_bytes()), Err(Error::BadRef));
        assert_eq!(parse_ref(b"x"), Err(Error::BadRef));
    }
}
