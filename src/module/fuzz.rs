//! Fuzz targets for the module's pure parts: the value and integer
//! parsers, element ids, the RDB decoder, and the ring buffer.
//!
//! cargo-fuzz needs a nightly compiler, so each target is a plain test:
//! a seeded generator of this file ([`Rng`]) makes inputs, biased
//! towards the edges each part has to get right, until the target's time
//! budget runs out, and every input is checked against an independent
//! reference or an invariant. Panics fail the test like a wrong answer.
//!
//! - `MAVG_FUZZ_SECONDS`: each target's budget in seconds, 2 by default
//!   so that `cargo test` stays quick; `make fuzz` gives each 60.
//! - `MAVG_FUZZ_SEED`: the seed (decimal or `0x` hex), the clock's by
//!   default. Each target prints its seed first and the number of inputs
//!   it tried last; the same seed replays the same inputs.
//!
//! Every assertion names the input that broke it. A bug found becomes a
//! regression test in this file, named after its input. Two plain tests
//! at the end check the references themselves on the README's examples.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::args::{
    parse_count, parse_integer, parse_ref, parse_seq, parse_tag, parse_value,
    parse_window, Ref, MAX_VALUE_LEN,
};
use super::encoding::memory::{Item, Payload};
use super::encoding::{decode, encode, ENCODING_VERSION};
use super::id::{element_id, split_id, MAX_SEQ};
use super::series::Series;
use super::text::format_double;
use crate::{Error, ExactMovingAverage, MovingAverage, MAX_WINDOW};

// ---------------------------------------------------------------------
// The driver: budget, seed, generator.
// ---------------------------------------------------------------------

/// Inputs tried between two looks at the clock.
const BATCH: u64 = 64;

/// Each target's budget when `MAVG_FUZZ_SECONDS` is not set.
const DEFAULT_SECONDS: f64 = 2.0;

/// A small seeded generator (SplitMix64): the same seed gives the same
/// inputs, on every machine.
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number from 0 to `bound - 1`; `bound` is not 0.
    fn below(&mut self, bound: u64) -> u64 {
        self.bits() % bound
    }

    /// An index into a collection of `len` items; `len` is not 0.
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True once in `times` on average.
    fn one_in(&mut self, times: u64) -> bool {
        self.below(times) == 0
    }

    /// One of `items`, which is not empty.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }
}

/// Each target's budget: `MAVG_FUZZ_SECONDS`, or [`DEFAULT_SECONDS`].
fn budget() -> Duration {
    let seconds = match std::env::var("MAVG_FUZZ_SECONDS") {
        Err(_) => DEFAULT_SECONDS,
        Ok(text) => text
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .expect("MAVG_FUZZ_SECONDS is a number of seconds"),
    };
    Duration::from_secs_f64(seconds)
}

/// The seed: `MAVG_FUZZ_SEED`, or one from the clock.
fn seed() -> u64 {
    let Ok(text) = std::env::var("MAVG_FUZZ_SEED") else {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        return now.map_or(0, |elapsed| elapsed.as_nanos() as u64);
    };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.expect("MAVG_FUZZ_SEED is an unsigned 64-bit integer")
}

/// Runs `try_one` on fresh inputs until the budget runs out, then prints
/// how many `unit` it tried.
fn fuzz(target: &str, unit: &str, mut try_one: impl FnMut(&mut Rng)) {
    let seed = seed();
    eprintln!("fuzz {target}: seed {seed:#x}");
    let mut rng = Rng(seed);
    let budget = budget();
    let start = Instant::now();
    let mut tried = 0u64;
    loop {
        (0..BATCH).for_each(|_| try_one(&mut rng));
        tried += BATCH;
        if start.elapsed() >= budget {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("fuzz {target}: {tried} {unit} in {seconds:.1} s");
}

/// `bytes` for a failure message: escaped, shortened past 100 bytes.
fn shown(bytes: &[u8]) -> String {
    if bytes.len() <= 100 {
        return format!("b\"{}\"", bytes.escape_ascii());
    }
    let head = bytes[..40].escape_ascii();
    let tail = bytes[bytes.len() - 20..].escape_ascii();
    format!("b\"{head}...{tail}\" ({} bytes)", bytes.len())
}

// ---------------------------------------------------------------------
// Shared generators.
// ---------------------------------------------------------------------

/// Finite doubles at the edges: zeros, subnormals, the range's ends,
/// powers of ten where `format_double` changes notation.
const EDGE_DOUBLES: [f64; 20] = [
    0.0,
    -0.0,
    5e-324,
    2.225073858507201e-308,
    f64::MIN_POSITIVE,
    f64::MAX,
    f64::MIN,
    1.0,
    -1.0,
    0.1,
    1e-4,
    1e-5,
    9.999999999999999e-5,
    1e16,
    1e17,
    9.999999999999999e16,
    9007199254740992.0,
    1e300,
    -1e-300,
    22.366666666666667,
];

/// Bit patterns that are not finite doubles: infinities and NaNs, quiet,
/// signalling and negative.
const NON_FINITE_BITS: [u64; 6] = [
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0xfff8_0000_0000_0000,
    0x7fff_ffff_ffff_ffff,
];

/// A finite double: an edge, an edge moved by a few ulps, a small
/// decimal, or random bits.
fn finite_double(rng: &mut Rng) -> f64 {
    let value = match rng.below(5) {
        0 => rng.pick(&EDGE_DOUBLES),
        1 => {
            let bits = rng.pick(&EDGE_DOUBLES).to_bits();
            f64::from_bits(bits.wrapping_add(rng.below(5)).wrapping_sub(2))
        }
        2 => {
            let mantissa = rng.below(20_001) as f64 - 10_000.0;
            mantissa * 10f64.powi(rng.below(40) as i32 - 20)
        }
        3 => random_exponent_double(rng),
        _ => f64::from_bits(rng.bits()),
    };
    if value.is_finite() {
        value
    } else {
        1.5
    }
}

/// A double of random sign and significand whose exponent field is
/// near an end of the range or near 1.
fn random_exponent_double(rng: &mut Rng) -> f64 {
    let exponent = match rng.below(3) {
        0 => rng.below(4),
        1 => 2046 - rng.below(4),
        _ => 1023 + rng.below(120) - 60,
    };
    let significand = rng.bits() & ((1 << 52) - 1);
    let sign = rng.bits() & (1 << 63);
    f64::from_bits(sign | (exponent << 52) | significand)
}

/// A double that is now and then NaN or infinite.
fn any_double(rng: &mut Rng) -> f64 {
    if rng.one_in(8) {
        f64::from_bits(rng.pick(&NON_FINITE_BITS))
    } else {
        finite_double(rng)
    }
}

/// `count` random bytes, mostly from `alphabet`.
fn random_bytes(rng: &mut Rng, alphabet: &[u8], count: usize) -> Vec<u8> {
    (0..count)
        .map(|_| {
            if rng.one_in(8) {
                rng.bits() as u8
            } else {
                rng.pick(alphabet)
            }
        })
        .collect()
}

/// `text` changed by one to three inserted, deleted, replaced or
/// repeated bytes, mostly from `alphabet`.
fn mutated(rng: &mut Rng, mut text: Vec<u8>, alphabet: &[u8]) -> Vec<u8> {
    for _ in 0..=rng.below(3) {
        let at = rng.index(text.len() + 1);
        let byte = random_bytes(rng, alphabet, 1)[0];
        match rng.below(4) {
            0 => text.insert(at, byte),
            1 if at < text.len() => drop(text.remove(at)),
            2 if at < text.len() => text[at] = byte,
            _ => {
                let repeated = text[at..].to_vec();
                text.extend_from_slice(&repeated);
            }
        }
    }
    text
}

// ---------------------------------------------------------------------
// Target 1: the value parser and format_double.
// ---------------------------------------------------------------------

/// Bytes that make near-numbers, and a few that break them.
const VALUE_BYTES: &[u8] = b"0123456789.eE+-0123456789 _,xpinfatyINFATY\xff";

/// Spellings of the non-finite, right and almost right.
const SPECIAL_WORDS: [&str; 12] = [
    "inf",
    "INF",
    "Inf",
    "infinity",
    "INFINITY",
    "iNfInItY",
    "nan",
    "NaN",
    "infinit",
    "infinityy",
    "nan(1)",
    "in",
];

/// Exponents at the ends of the double range.
const EDGE_EXPONENTS: [&str; 10] = [
    "308",
    "309",
    "307",
    "-324",
    "-323",
    "-325",
    "400",
    "-400",
    "00000000000000000000308",
    "18446744073709551616",
];

/// `parse_value` accepts exactly the texts of at most [`MAX_VALUE_LEN`]
/// bytes, in UTF-8, that Rust reads as a finite double; the text the
/// README describes is a number; and the value of an accepted text
/// survives `format_double`.
#[test]
fn value_parser() {
    fuzz("value parser", "texts", |rng| match rng.below(10) {
        0 => check_padded_value(rng),
        1 => check_format_round_trip(finite_double(rng)),
        _ => check_value_text(&value_text(rng)),
    });
}

/// A text to try as a value.
fn value_text(rng: &mut Rng) -> Vec<u8> {
    match rng.below(7) {
        0 => {
            let count = rng.index(24);
            random_bytes(rng, VALUE_BYTES, count)
        }
        1 => special_spelling(rng),
        2 => long_digits(rng),
        3 => format_double(finite_double(rng)).into_bytes(),
        4 => {
            let text = near_number(rng);
            mutated(rng, text, VALUE_BYTES)
        }
        _ => near_number(rng),
    }
}

/// A sign (or two), digits, maybe a point and more digits, maybe an
/// exponent.
fn near_number(rng: &mut Rng) -> Vec<u8> {
    let mut text = rng.pick(&["", "", "", "-", "+", "--", "+-"]).to_owned();
    push_digits(rng, &mut text);
    if rng.one_in(2) {
        text.push('.');
        push_digits(rng, &mut text);
    }
    if rng.one_in(3) {
        text.push(rng.pick(&['e', 'E']));
        if rng.one_in(2) {
            text.push_str(rng.pick(&EDGE_EXPONENTS));
        } else {
            text.push_str(rng.pick(&["", "", "+", "-"]));
            push_digits(rng, &mut text);
        }
    }
    text.into_bytes()
}

/// Appends a run of digits: mostly short, now and then hundreds.
fn push_digits(rng: &mut Rng, text: &mut String) {
    let count = match rng.below(10) {
        0 => rng.index(400),
        1..=3 => rng.index(20),
        _ => rng.index(4),
    };
    (0..count).for_each(|_| text.push((b'0' + rng.below(10) as u8) as char));
}

/// A spelling of infinity or NaN, right or almost, maybe signed.
fn special_spelling(rng: &mut Rng) -> Vec<u8> {
    let sign = rng.pick(&["", "", "-", "+"]);
    let word = rng.pick(&SPECIAL_WORDS);
    format!("{sign}{word}").into_bytes()
}

/// A long run of digits with a point and an exponent somewhere, its
/// length around [`MAX_VALUE_LEN`].
fn long_digits(rng: &mut Rng) -> Vec<u8> {
    let len = MAX_VALUE_LEN - 3 + rng.index(7);
    let mut text: Vec<u8> =
        (0..len).map(|_| b'0' + rng.below(10) as u8).collect();
    if rng.one_in(2) {
        text[rng.index(400)] = b'.';
    }
    if rng.one_in(3) {
        let at = len - 1 - rng.index(6);
        text[at] = b'e';
    }
    text
}

/// Checks `parse_value` on `text` against the reference and the README.
fn check_value_text(text: &[u8]) {
    let parsed = parse_value(text);
    let bits = |result: Result<f64, Error>| result.map(f64::to_bits);
    assert_eq!(
        bits(parsed),
        bits(reference_value(text)),
        "parse_value({})",
        shown(text)
    );
    check_readme_spelling(text, parsed);
    if let Ok(value) = parsed {
        check_format_round_trip(value);
    }
}

/// The value parser as specified: length, UTF-8, Rust's parser, finite.
fn reference_value(text: &[u8]) -> Result<f64, Error> {
    if text.len() > MAX_VALUE_LEN {
        return Err(Error::NotAFloat);
    }
    let parsed = std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse::<f64>().ok());
    match parsed {
        None => Err(Error::NotAFloat),
        Some(value) if value.is_finite() => Ok(value),
        Some(_) => Err(Error::NonFinite),
    }
}

/// How the README's grammar reads a text of at most [`MAX_VALUE_LEN`]
/// bytes.
#[derive(Debug, PartialEq)]
enum Spelling {
    /// A sign, digits with a point, an exponent: a number.
    Decimal,
    /// `inf`, `infinity` or `nan` in any case, maybe signed.
    NonFinite,
    /// Anything else.
    Other,
}

/// The README's grammar of values, written apart from Rust's parser.
fn readme_spelling(text: &[u8]) -> Spelling {
    let unsigned = match text {
        [b'+' | b'-', rest @ ..] => rest,
        _ => text,
    };
    let words = [&b"inf"[..], b"infinity", b"nan"];
    if words.iter().any(|word| unsigned.eq_ignore_ascii_case(word)) {
        Spelling::NonFinite
    } else if is_decimal(unsigned) {
        Spelling::Decimal
    } else {
        Spelling::Other
    }
}

/// Digits with an optional point (a digit on at least one side), then
/// an optional exponent: `e` or `E`, an optional sign, digits.
fn is_decimal(text: &[u8]) -> bool {
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    let (mantissa, exponent) =
        match text.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let mantissa_ok =
        whole.len() + fraction.len() > 0 && digits(whole) && digits(fraction);
    let exponent_ok = exponent.is_none_or(|exponent| {
        let exponent = match exponent {
            [b'+' | b'-', rest @ ..] => rest,
            _ => exponent,
        };
        !exponent.is_empty() && digits(exponent)
    });
    mantissa_ok && exponent_ok
}

/// Checks that `parsed` is what the README promises for `text`.
fn check_readme_spelling(text: &[u8], parsed: Result<f64, Error>) {
    if text.len() > MAX_VALUE_LEN {
        return;
    }
    let spelling = readme_spelling(text);
    let agrees = match spelling {
        Spelling::Decimal => parsed != Err(Error::NotAFloat),
        Spelling::NonFinite => parsed == Err(Error::NonFinite),
        Spelling::Other => parsed == Err(Error::NotAFloat),
    };
    assert!(agrees, "{} is {spelling:?}: {parsed:?}", shown(text));
}

/// `format_double(value)` is short, and `parse_value` reads it back to
/// `value`, bit for bit.
fn check_format_round_trip(value: f64) {
    let text = format_double(value);
    let read = parse_value(text.as_bytes()).map(f64::to_bits);
    assert_eq!(read, Ok(value.to_bits()), "format_double({value:e})");
    assert!(text.len() <= 24, "format_double({value:e}) = {text}");
}

/// A value's text padded with zeros, leading or trailing, to a length
/// around [`MAX_VALUE_LEN`]: the same value up to the limit, refused past
/// it.
fn check_padded_value(rng: &mut Rng) {
    let value = finite_double(rng);
    let len = if rng.one_in(4) {
        rng.index(2 * MAX_VALUE_LEN)
    } else {
        MAX_VALUE_LEN - 2 + rng.index(5)
    };
    let text = padded(&format_double(value), len, rng.one_in(2));
    let expected = if text.len() <= MAX_VALUE_LEN {
        Ok(value.to_bits())
    } else {
        Err(Error::NotAFloat)
    };
    let parsed = parse_value(text.as_bytes()).map(f64::to_bits);
    assert_eq!(parsed, expected, "parse_value({})", shown(text.as_bytes()));
}

/// `text`, a number, with zeros that keep its value: after the sign
/// (`leading`) or at the end of its fraction, to `len` bytes if it is
/// shorter.
fn padded(text: &str, len: usize, leading: bool) -> String {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", text),
    };
    let (mantissa, exponent) = match unsigned.find('e') {
        Some(at) => unsigned.split_at(at),
        None => (unsigned, ""),
    };
    let point = if leading || mantissa.contains('.') {
        ""
    } else {
        "."
    };
    let zeros = "0".repeat(len.saturating_sub(text.len() + point.len()));
    if leading {
        format!("{sign}{zeros}{mantissa}{exponent}")
    } else {
        format!("{sign}{mantissa}{point}{zeros}{exponent}")
    }
}

// ---------------------------------------------------------------------
// Target 2: the integer, window, tag, seq, count and ref parsers.
// ---------------------------------------------------------------------

/// Bytes that make near-integers, tags and ids.
const INTEGER_BYTES: &[u8] = b"0123456789-+ 0123456789abcdefABCDEFgG-.{}";

/// Integers at the edges of the ranges the parsers check.
const EDGE_INTEGERS: [i128; 16] = [
    0,
    1,
    -1,
    9,
    10,
    i64::MAX as i128,
    i64::MIN as i128,
    i64::MAX as i128 + 1,
    i64::MIN as i128 - 1,
    MAX_WINDOW as i128,
    MAX_WINDOW as i128 + 1,
    MAX_SEQ as i128,
    MAX_SEQ as i128 + 1,
    u64::MAX as i128,
    u64::MAX as i128 + 1,
    -(MAX_SEQ as i128),
];

/// Every integer parser agrees with a reference written from the README
/// on integers, near-integers, tags and UUIDs, right and broken.
#[test]
fn integer_parsers() {
    fuzz("integer parsers", "arguments", |rng| {
        check_integer_parsers(&integer_text(rng));
    });
}

/// An argument to try as an integer, a tag or a ref.
fn integer_text(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 | 1 => edge_integer(rng).to_string().into_bytes(),
        2 => {
            let text = edge_integer(rng).to_string().into_bytes();
            mutated(rng, text, INTEGER_BYTES)
        }
        3 => {
            let count = rng.index(24);
            random_bytes(rng, INTEGER_BYTES, count)
        }
        4 => {
            let count = 15 + rng.index(3);
            random_bytes(rng, b"0123456789abcdefABCDEF", count)
        }
        _ => uuid_text(rng),
    }
}

/// An integer near an edge, or of a random number of digits.
fn edge_integer(rng: &mut Rng) -> i128 {
    match rng.below(3) {
        0 => rng.pick(&EDGE_INTEGERS) + i128::from(rng.below(3)) - 1,
        1 => i128::from(rng.bits() as i64 >> rng.below(64)),
        _ => i128::from(rng.bits()) * i128::from(rng.pick(&[1i64, -1])),
    }
}

/// A hyphenated UUID in mixed case, an element id or not, sometimes
/// broken or in another of the forms `uuid` reads.
fn uuid_text(rng: &mut Rng) -> Vec<u8> {
    let id = if rng.one_in(2) {
        element_id(rng.bits(), rng.bits() & MAX_SEQ)
    } else {
        Uuid::from_u64_pair(rng.bits(), rng.bits())
    };
    let text: Vec<u8> = id
        .hyphenated()
        .to_string()
        .bytes()
        .map(|b| {
            if rng.one_in(2) {
                b.to_ascii_uppercase()
            } else {
                b
            }
        })
        .collect();
    match rng.below(6) {
        0 => mutated(rng, text, INTEGER_BYTES),
        1 => id.simple().to_string().into_bytes(),
        2 => id.braced().to_string().into_bytes(),
        3 => id.urn().to_string().into_bytes(),
        _ => text,
    }
}

/// The count of copies `arg` spells: a canonical decimal from 0 to
/// `u64::MAX`, the one form that prints back to itself.
fn reference_count(arg: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(arg).ok()?;
    let value: u128 = text.parse().ok()?;
    let canonical = value.to_string() == text;
    canonical.then(|| u64::try_from(value).ok()).flatten()
}

/// Checks every parser on `arg` against its reference.
fn check_integer_parsers(arg: &[u8]) {
    let integer = reference_integer(arg);
    let within = |low: i128, high: i128| {
        integer.filter(|&n| (low..=high).contains(&i128::from(n)))
    };
    let shown = shown(arg);

    let expected = integer.ok_or(Error::NotAnInteger);
    assert_eq!(parse_integer(arg), expected, "parse_integer({shown})");
    let window = within(1, MAX_WINDOW as i128).map(|n| n as usize);
    let expected = window.ok_or(Error::WindowOutOfRange(MAX_WINDOW));
    let parsed = parse_window(arg, MAX_WINDOW);
    assert_eq!(parsed, expected, "parse_window({shown})");
    let seq = within(0, MAX_SEQ as i128).map(|n| n as u64);
    assert_eq!(parse_seq(arg), seq.ok_or(Error::BadSeq), "seq {shown}");
    let expected = reference_count(arg).ok_or(Error::BadCopies);
    assert_eq!(parse_count(arg), expected, "parse_count({shown})");
    let expected = reference_tag(arg).ok_or(Error::BadIdTag);
    assert_eq!(parse_tag(arg), expected, "parse_tag({shown})");
    assert_eq!(parse_ref(arg), reference_ref(arg), "parse_ref({shown})");
}

/// An integer as the README spells it: an optional `-`, then `0` alone
/// (unsigned) or digits not starting with `0`; within `i64`.
fn reference_integer(arg: &[u8]) -> Option<i64> {
    let (negative, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, arg),
    };
    let canonical = match digits {
        [] => false,
        [b'0'] => !negative,
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical || digits.len() > 19 {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i128, |n, &digit| n * 10 + i128::from(digit - b'0'));
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// The value of one hexadecimal digit, in either case.
fn hex_digit(byte: u8) -> Option<u64> {
    let digit = match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => return None,
    };
    Some(u64::from(digit))
}

/// An id tag: exactly 16 hexadecimal digits.
fn reference_tag(arg: &[u8]) -> Option<u64> {
    if arg.len() != 16 {
        return None;
    }
    arg.iter()
        .try_fold(0u64, |tag, &byte| Some((tag << 4) | hex_digit(byte)?))
}

/// A ref: an integer is a position; 36 bytes of hexadecimal digits in
/// any case with hyphens after the 8th, 12th, 16th and 20th digits are
/// an element id; anything else is refused.
fn reference_ref(arg: &[u8]) -> Result<Ref, Error> {
    if let Some(position) = reference_integer(arg) {
        return Ok(Ref::Position(position));
    }
    if arg.len() != 36 {
        return Err(Error::BadRef);
    }
    let mut bits = 0u128;
    for (at, &byte) in arg.iter().enumerate() {
        if [8, 13, 18, 23].contains(&at) {
            if byte != b'-' {
                return Err(Error::BadRef);
            }
            continue;
        }
        let digit = hex_digit(byte).ok_or(Error::BadRef)?;
        bits = (bits << 4) | u128::from(digit);
    }
    Ok(Ref::Id(Uuid::from_u128(bits)))
}

// ---------------------------------------------------------------------
// Target 3: element ids.
// ---------------------------------------------------------------------

/// `split_id` undoes `element_id` for every tag and sequence number, the
/// id's text reads back through `parse_ref`, and `split_id` refuses every
/// UUID that is not version 8 of the RFC 9562 variant.
#[test]
fn element_ids() {
    fuzz("element ids", "tag, seq and UUID triples", |rng| {
        check_id_round_trip(edge_u64(rng), edge_u64(rng) & MAX_SEQ);
        check_split_id(any_uuid(rng));
    });
}

/// Unsigned integers at the edges of ids, windows and sequences.
const EDGE_U64S: [u64; 14] = [
    0,
    1,
    2,
    8,
    8192,
    MAX_WINDOW as u64,
    MAX_SEQ - 1,
    MAX_SEQ,
    MAX_SEQ + 1,
    MAX_SEQ + 2,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
    0x0123_4567_89ab_cdef,
];

/// An unsigned integer near an edge, small, or random.
fn edge_u64(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.pick(&EDGE_U64S),
        1 => rng
            .pick(&EDGE_U64S)
            .wrapping_add(rng.below(5))
            .wrapping_sub(2),
        2 => rng.below(16),
        _ => rng.bits() >> rng.below(64),
    }
}

/// A UUID whose version nibble and variant bits are random, or those of
/// an element id.
fn any_uuid(rng: &mut Rng) -> Uuid {
    let version = if rng.one_in(2) { 8 } else { rng.below(16) };
    let variant = if rng.one_in(2) { 0b10 } else { rng.below(4) };
    let random = (u128::from(rng.bits()) << 64) | u128::from(rng.bits());
    let fields = (0xf << 76) | (0b11 << 62);
    let bits = (random & !fields)
        | (u128::from(version) << 76)
        | (u128::from(variant) << 62);
    Uuid::from_u128(bits)
}

/// The id of (`tag`, `seq`) is a version 8 RFC 9562 UUID that splits
/// back into them and reads back from its text in either case.
fn check_id_round_trip(tag: u64, seq: u64) {
    let id = element_id(tag, seq);
    let context = format!("element_id({tag:#x}, {seq})");
    assert_eq!(split_id(id), Some((tag, seq)), "{context}");
    assert_eq!(id.get_version_num(), 8, "{context}");
    assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{context}");

    let text = id.to_string();
    assert_eq!(text, text.to_lowercase(), "{context}");
    assert_eq!(parse_ref(text.as_bytes()), Ok(Ref::Id(id)), "{context}");
    let upper = text.to_uppercase();
    assert_eq!(parse_ref(upper.as_bytes()), Ok(Ref::Id(id)), "{context}");
}

/// `split_id` accepts `id` exactly when its version is 8 and its
/// variant bits are `10`, and then undoes `element_id`.
fn check_split_id(id: Uuid) {
    let bits = id.as_u128();
    let is_element_id = (bits >> 76) & 0xf == 8 && (bits >> 62) & 0b11 == 2;
    match split_id(id) {
        Some((tag, seq)) => {
            assert!(is_element_id, "split_id({id}) accepted");
            assert!(seq <= MAX_SEQ, "split_id({id}) = seq {seq}");
            assert_eq!(element_id(tag, seq), id, "split_id({id})");
        }
        None => assert!(!is_element_id, "split_id({id}) refused"),
    }
}

// ---------------------------------------------------------------------
// Target 4: the RDB decoder.
// ---------------------------------------------------------------------

/// A series as the tests compare it: its fields, and its values as bits
/// so that `-0.0` and `0.0` differ.
#[derive(Debug, PartialEq)]
struct Snapshot {
    window: usize,
    tag: u64,
    next_seq: u64,
    copies: u64,
    values: Vec<u64>,
}

impl Snapshot {
    /// The snapshot of `series`.
    fn of(series: &Series) -> Snapshot {
        Snapshot {
            window: series.average.window(),
            tag: series.tag,
            next_seq: series.next_seq,
            copies: series.copies.get(),
            values: series.average.iter().map(f64::to_bits).collect(),
        }
    }
}

/// `decode` never panics, accepts exactly the payloads the README's
/// format allows, and what it accepts keeps every invariant of a series
/// and survives `encode`.
#[test]
fn rdb_decoder() {
    fuzz("rdb decoder", "payloads", |rng| match rng.below(4) {
        0 => {
            let items = random_items(rng);
            check_decode(Payload(items), edge_encoding(rng));
        }
        1 => {
            let (items, encoding) = near_valid(rng);
            check_decode(Payload(items), encoding);
        }
        2 => check_valid_encoding(rng),
        _ => {
            let (items, encoding) = valid_items(rng);
            let items = mutated_items(rng, items);
            check_decode(Payload(items), encoding);
        }
    });
}

/// An encoding version: a known one, or just outside.
fn edge_encoding(rng: &mut Rng) -> i32 {
    match rng.below(8) {
        0 => rng.pick(&[i32::MIN, -1, i32::MAX]),
        1..=3 => rng.pick(&[0, 3]),
        _ => rng.pick(&[1, 2]),
    }
}

/// Up to a dozen items of either kind, at their edges.
fn random_items(rng: &mut Rng) -> VecDeque<Item> {
    let count = rng.index(13);
    (0..count).map(|_| random_item(rng)).collect()
}

/// One item: an unsigned integer near an edge, or a buffer.
fn random_item(rng: &mut Rng) -> Item {
    if rng.one_in(2) {
        Item::Unsigned(edge_u64(rng))
    } else {
        Item::Buffer(random_buffer(rng))
    }
}

/// A buffer of doubles (some not finite), maybe cut or lengthened by a
/// few bytes, or of random bytes.
fn random_buffer(rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(4) {
        let len = rng.index(50);
        return (0..len).map(|_| rng.bits() as u8).collect();
    }
    let count = rng.index(6);
    let values: Vec<f64> = (0..count).map(|_| any_double(rng)).collect();
    let mut bytes = doubles_bytes(&values);
    if rng.one_in(4) {
        bytes.truncate(bytes.len().saturating_sub(1 + rng.index(7)));
    } else if rng.one_in(4) {
        bytes.extend((0..1 + rng.index(7)).map(|_| rng.bits() as u8));
    }
    bytes
}

/// `values` as little-endian doubles.
fn doubles_bytes(values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// A payload built by hand to pass most checks: a small window, counts
/// that mostly agree, values in chunks of random sizes, some of them not
/// finite.
fn near_valid(rng: &mut Rng) -> (VecDeque<Item>, i32) {
    let window = if rng.one_in(8) {
        edge_u64(rng)
    } else {
        1 + rng.below(8)
    };
    let len = rng.below(window.min(16) + 2);
    let next_seq = if rng.one_in(3) {
        MAX_SEQ + 1 - rng.below(4)
    } else {
        len + rng.below(3)
    };
    let encoding = rng.pick(&[1, 2]);
    let mut header = vec![window, edge_u64(rng), next_seq];
    if encoding == 2 {
        header.push(edge_u64(rng));
    }
    header.push(len);

    let mut items: VecDeque<Item> =
        header.into_iter().map(Item::Unsigned).collect();
    let values: Vec<f64> = (0..len).map(|_| any_double(rng)).collect();
    items.extend(chunked(rng, &values).into_iter().map(Item::Buffer));
    (items, encoding)
}

/// `values` as buffers of one to four doubles each.
fn chunked(rng: &mut Rng, values: &[f64]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = values;
    while !rest.is_empty() {
        let size = (1 + rng.index(4)).min(rest.len());
        let (chunk, after) = rest.split_at(size);
        chunks.push(doubles_bytes(chunk));
        rest = after;
    }
    chunks
}

/// A series such as the module makes: a window, a tag, a starting
/// sequence number anywhere up to the last, values pushed in a few
/// batches, copies made.
fn random_series(rng: &mut Rng) -> Series {
    let window = match rng.below(300) {
        0 => 8192 + rng.index(10_000),
        1 => MAX_WINDOW,
        _ => 1 + rng.index(12),
    };
    let first_seq = if rng.one_in(3) {
        MAX_SEQ - rng.below(window as u64 + 2)
    } else {
        edge_u64(rng) & MAX_SEQ
    };
    let mut series = Series::new(window, rng.bits(), first_seq)
        .expect("a window and a sequence number in range");
    for _ in 0..rng.below(4) {
        let room = MAX_SEQ + 1 - series.next_seq;
        let count = (rng.below(window as u64 + 3)).min(room).min(20_000);
        let values: Vec<f64> =
            (0..count).map(|_| finite_double(rng)).collect();
        series.add(&values).expect("finite values, ids left");
    }
    series.copies.set(edge_u64(rng));
    series
}

/// The items `encode` writes for `series`.
fn encoded(series: &Series) -> VecDeque<Item> {
    let mut payload = Payload::default();
    encode(series, &mut payload);
    payload.0
}

/// A valid encoding, in version 2 or (without the count of copies) 1.
fn valid_items(rng: &mut Rng) -> (VecDeque<Item>, i32) {
    let mut items = encoded(&random_series(rng));
    if rng.one_in(2) {
        items.remove(3);
        return (items, 1);
    }
    (items, ENCODING_VERSION)
}

/// `decode` accepts what `encode` writes, and gives the same series.
fn check_valid_encoding(rng: &mut Rng) {
    let series = random_series(rng);
    let mut items = encoded(&series);
    let mut expected = Snapshot::of(&series);
    let encoding = if rng.one_in(2) {
        ENCODING_VERSION
    } else {
        items.remove(3);
        expected.copies = 0;
        1
    };
    let decoded = decode(&mut Payload(items), encoding)
        .unwrap_or_else(|why| panic!("{expected:?} refused: {why}"));
    assert_eq!(Snapshot::of(&decoded), expected);
    check_series(&decoded);
}

/// `items` with one to three items dropped, repeated, swapped or
/// inserted, the list or a buffer cut short, or a bit flipped.
fn mutated_items(rng: &mut Rng, mut items: VecDeque<Item>) -> VecDeque<Item> {
    for _ in 0..=rng.below(3) {
        if items.is_empty() {
            items.push_back(random_item(rng));
            continue;
        }
        let at = rng.index(items.len());
        match rng.below(7) {
            0 => drop(items.remove(at)),
            1 => items.insert(at, items[at].clone()),
            2 => items.swap(at, rng.index(items.len())),
            3 => items.insert(at, random_item(rng)),
            4 => items.truncate(at),
            5 => cut_buffer(rng, &mut items[at]),
            _ => flip_bit(rng, &mut items[at]),
        }
    }
    items
}

/// Flips one bit of `item`; an empty buffer gets a zero byte instead.
fn flip_bit(rng: &mut Rng, item: &mut Item) {
    match item {
        Item::Unsigned(value) => *value ^= 1 << rng.below(64),
        Item::Buffer(bytes) if bytes.is_empty() => bytes.push(0),
        Item::Buffer(bytes) => {
            let at = rng.index(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
    }
}

/// Cuts a buffer short by one byte or more.
fn cut_buffer(rng: &mut Rng, item: &mut Item) {
    if let Item::Buffer(bytes) = item {
        let len = bytes.len();
        bytes.truncate(len.saturating_sub(1 + rng.index(len.max(1))));
    }
}

/// `decode` of `payload` agrees with the reference decoder, and what it
/// accepts is a sound series.
fn check_decode(payload: Payload, encoding: i32) {
    let expected = reference_decode(&payload.0, encoding);
    let decoded = decode(&mut payload.clone(), encoding);
    let items = &payload.0;
    match (decoded, expected) {
        (Ok(series), Some(expected)) => {
            let got = Snapshot::of(&series);
            assert_eq!(got, expected, "decode({items:?}, {encoding})");
            check_series(&series);
        }
        (Err(_), None) => {}
        (decoded, expected) => panic!(
            "decode({items:?}, {encoding}): {:?}, expected {expected:?}",
            decoded.map(|series| Snapshot::of(&series))
        ),
    }
}

/// The series in `items`, read as the README describes encoding
/// `encoding`, or `None` when a check refuses it. A series that is empty
/// must have an id left for its first value (no command makes one that
/// has none).
fn reference_decode(
    items: &VecDeque<Item>,
    encoding: i32,
) -> Option<Snapshot> {
    if !(1..=2).contains(&encoding) {
        return None;
    }
    let mut items = items.iter();
    let mut unsigned = || match items.next() {
        Some(Item::Unsigned(value)) => Some(*value),
        _ => None,
    };
    let window = unsigned()?;
    let tag = unsigned()?;
    let next_seq = unsigned()?;
    let copies = if encoding == 1 { 0 } else { unsigned()? };
    let len = unsigned()?;

    let counts_agree = (1..=MAX_WINDOW as u64).contains(&window)
        && len <= window
        && len <= next_seq
        && next_seq <= MAX_SEQ + 1
        && next_seq - len <= MAX_SEQ;
    if !counts_agree {
        return None;
    }
    let values = reference_values(&mut items, len as usize)?;
    let window = window as usize;
    Some(Snapshot {
        window,
        tag,
        next_seq,
        copies,
        values,
    })
}

/// `len` finite doubles, in buffers of whole doubles that do not run
/// past `len`; their bits.
fn reference_values<'a>(
    items: &mut impl Iterator<Item = &'a Item>,
    len: usize,
) -> Option<Vec<u64>> {
    let mut values = Vec::new();
    while values.len() < len {
        let Some(Item::Buffer(bytes)) = items.next() else {
            return None;
        };
        let whole = !bytes.is_empty() && bytes.len() % 8 == 0;
        if !whole || values.len() + bytes.len() / 8 > len {
            return None;
        }
        for word in bytes.chunks_exact(8) {
            let value = f64::from_le_bytes(word.try_into().ok()?);
            values.push(value.is_finite().then_some(value.to_bits())?);
        }
    }
    Some(values)
}

/// The invariants of a decoded series: its counts, finite values, the
/// average of a fresh moving average fed the same values, ids that find
/// their values, and an encoding that decodes back to it.
fn check_series(series: &Series) {
    let snapshot = Snapshot::of(series);
    let len = series.average.len();
    assert!(len <= snapshot.window, "{snapshot:?}");
    assert!(snapshot.next_seq >= len as u64, "{snapshot:?}");
    assert!(snapshot.next_seq <= MAX_SEQ + 1, "{snapshot:?}");
    assert!(series.average.iter().all(f64::is_finite), "{snapshot:?}");

    let fresh = fresh_average(snapshot.window, series.average.iter());
    let bits = |average: Option<f64>| average.map(f64::to_bits);
    let average = bits(series.average.average());
    assert_eq!(average, bits(fresh), "{snapshot:?}");
    check_ids_find_values(series);

    let decoded = decode(&mut Payload(encoded(series)), ENCODING_VERSION)
        .unwrap_or_else(|why| panic!("{snapshot:?} re-encoded: {why}"));
    assert_eq!(Snapshot::of(&decoded), snapshot);
    assert_eq!(bits(decoded.average.average()), average, "{snapshot:?}");
}

/// The average of a new moving average over `window` fed `values`.
fn fresh_average(
    window: usize,
    values: impl Iterator<Item = f64>,
) -> Option<f64> {
    let mut fresh = ExactMovingAverage::new(window).expect("valid window");
    let values: Vec<f64> = values.collect();
    fresh.push_all(&values).expect("finite values");
    fresh.average()
}

/// The id of the oldest and of the newest value held finds that value.
fn check_ids_find_values(series: &Series) {
    let len = series.average.len();
    for position in [0, len.saturating_sub(1)].into_iter().take(len) {
        let id = series.id_at(position);
        let value = series.average.get(position as isize);
        let found = series.get_by_id(id);
        assert_eq!(found, Ok(value), "id {id} at {position}");
    }
}

// ---------------------------------------------------------------------
// Target 5: the ring buffer under mixed operations.
// ---------------------------------------------------------------------

/// Heap bytes a sum's limbs may hold, with room for their vector's
/// growth: the widest sum spans 34 limbs.
const LIMB_BYTES: usize = 128 * 8;

/// Mixed operations on random windows: `push_all` is all or nothing
/// when some values are not finite, `try_clone` gives an equal and
/// independent copy, `get` and `iter` agree with a plain queue, and the
/// average is that of a fresh moving average fed the values held.
#[test]
fn ring_buffer_stress() {
    fuzz("ring buffer", "operation sequences", |rng| {
        let window = match rng.below(10) {
            0 => MAX_WINDOW,
            1 => 1 + rng.index(1000),
            _ => 1 + rng.index(8),
        };
        let mut ring = ExactMovingAverage::new(window).expect("in range");
        let mut model = VecDeque::new();
        for _ in 0..=rng.below(24) {
            ring_step(rng, &mut ring, &mut model);
            check_ring(&ring, &model);
        }
    });
}

/// One operation on `ring`, mirrored on `model`.
fn ring_step(
    rng: &mut Rng,
    ring: &mut ExactMovingAverage,
    model: &mut VecDeque<f64>,
) {
    match rng.below(6) {
        0 => check_clone(rng, ring, model),
        1 => {
            let value = any_double(rng);
            let pushed = ring.push(value);
            expect_push(ring.window(), model, &[value], pushed);
        }
        _ => {
            let values = batch(rng, ring.window());
            let pushed = ring.push_all(&values);
            expect_push(ring.window(), model, &values, pushed);
        }
    }
}

/// Values to push at once: up to twice the window (and at most 40),
/// one of them not finite now and then.
fn batch(rng: &mut Rng, window: usize) -> Vec<f64> {
    let count = rng.index(window.min(20) * 2 + 1);
    let mut values: Vec<f64> =
        (0..count).map(|_| finite_double(rng)).collect();
    if !values.is_empty() && rng.one_in(4) {
        let at = rng.index(values.len());
        values[at] = f64::from_bits(rng.pick(&NON_FINITE_BITS));
    }
    values
}

/// Checks the result of pushing `values` and applies it to `model`:
/// refused with [`Error::NonFinite`] when one is not finite, else
/// accepted.
fn expect_push(
    window: usize,
    model: &mut VecDeque<f64>,
    values: &[f64],
    pushed: Result<(), Error>,
) {
    if values.iter().any(|v| !v.is_finite()) {
        assert_eq!(pushed, Err(Error::NonFinite), "push {values:?}");
        return;
    }
    assert_eq!(pushed, Ok(()), "push {values:?}");
    for &value in values {
        if model.len() == window {
            model.pop_front();
        }
        model.push_back(value);
    }
}

/// `try_clone` of `ring` equals it; a push to the copy leaves `ring`
/// as it was.
fn check_clone(
    rng: &mut Rng,
    ring: &ExactMovingAverage,
    model: &VecDeque<f64>,
) {
    let mut copy = ring.try_clone().expect("memory for a small copy");
    check_ring(&copy, model);
    let mut copy_model = model.clone();
    let value = finite_double(rng);
    let pushed = copy.push(value);
    expect_push(copy.window(), &mut copy_model, &[value], pushed);
    check_ring(&copy, &copy_model);
    check_ring(ring, model);
}

/// `ring` holds what `model` holds: `iter` and `get` (from either end)
/// agree with it, positions outside are `None`, the average is a fresh
/// one's, and storage stays within the window.
fn check_ring(ring: &ExactMovingAverage, model: &VecDeque<f64>) {
    let bits = |values: &mut dyn Iterator<Item = f64>| {
        values.map(f64::to_bits).collect::<Vec<_>>()
    };
    let expected = bits(&mut model.iter().copied());
    assert_eq!(bits(&mut ring.iter()), expected, "iter");
    let len = model.len() as isize;
    let from_oldest = bits(&mut (0..len).filter_map(|at| ring.get(at)));
    assert_eq!(from_oldest, expected, "get from the oldest");
    let from_newest = bits(&mut (-len..0).filter_map(|at| ring.get(at)));
    assert_eq!(from_newest, expected, "get from the newest");
    for outside in [len, -len - 1, isize::MAX, isize::MIN] {
        assert_eq!(ring.get(outside), None, "get({outside}) of {len}");
    }

    let fresh = fresh_average(ring.window(), model.iter().copied());
    let average = ring.average().map(f64::to_bits);
    assert_eq!(average, fresh.map(f64::to_bits), "average of {model:?}");
    assert!(ring.heap_bytes() <= ring.window() * 8 + LIMB_BYTES);
}

// ---------------------------------------------------------------------
// The references on the README's own examples.
// ---------------------------------------------------------------------

/// The references this file checks the module against give the answers
/// the README gives: a wrong reference would hide a wrong module.
#[test]
fn references_follow_the_readme() {
    for (text, spelling) in [
        ("-12", Spelling::Decimal),
        (".5", Spelling::Decimal),
        ("2.5E+10", Spelling::Decimal),
        ("1e400", Spelling::Decimal),
        ("-inf", Spelling::NonFinite),
        ("Infinity", Spelling::NonFinite),
        ("0x10", Spelling::Other),
        (" 1", Spelling::Other),
        ("", Spelling::Other),
        ("1e", Spelling::Other),
        (".", Spelling::Other),
    ] {
        assert_eq!(readme_spelling(text.as_bytes()), spelling, "{text}");
    }
    assert_eq!(reference_value(b"1e400"), Err(Error::NonFinite));

    for (text, integer) in [
        ("0", Some(0)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("+1", None),
        ("007", None),
        ("-0", None),
    ] {
        assert_eq!(reference_integer(text.as_bytes()), integer, "{text}");
    }

    let id = "01234567-89ab-8cde-bc00-000000000002";
    let expected = Ref::Id(element_id(0x0123_4567_89ab_cdef, 2));
    assert_eq!(reference_ref(id.as_bytes()), Ok(expected));
    let upper = id.to_uppercase();
    assert_eq!(reference_ref(upper.as_bytes()), Ok(expected));
    let simple = id.replace('-', "");
    assert_eq!(reference_ref(simple.as_bytes()), Err(Error::BadRef));
    assert_eq!(reference_tag(b"00000000000000fF"), Some(255));
}

/// The reference decoder reads what the README says version 2 holds,
/// and refuses what it says is refused.
#[test]
fn reference_decoder_follows_the_readme() {
    let header = |fields: &[u64]| -> VecDeque<Item> {
        fields.iter().copied().map(Item::Unsigned).collect()
    };
    let mut items = header(&[3, 9, 5, 1, 2]);
    items.push_back(Item::Buffer(doubles_bytes(&[1.5, -0.0])));
    let expected = Snapshot {
        window: 3,
        tag: 9,
        next_seq: 5,
        copies: 1,
        values: vec![1.5f64.to_bits(), (-0.0f64).to_bits()],
    };
    assert_eq!(reference_decode(&items, 2), Some(expected));

    items[4] = Item::Unsigned(1);
    assert_eq!(reference_decode(&items, 2), None, "past the count");
    for refused in [[0, 1, 0, 0, 0], [3, 1, 1, 0, 2], [3, 1, 5, 0, 4]] {
        assert_eq!(reference_decode(&header(&refused), 2), None);
    }
    assert_eq!(reference_decode(&header(&[1, 1, 0, 0, 0]), 3), None);
}
