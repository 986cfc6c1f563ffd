//! The hostile-input matrix: every command, every class of bad argument in
//! every position it can take, on a MAVG key that has wrapped, an empty
//! one, a missing one and keys of six other types.
//!
//! Each input gets the README's reply, read on the raw socket with its
//! error code, and changes nothing: `DEBUG DIGEST-VALUE` of the key it
//! names and `DEBUG DIGEST` of the whole database are, after every input,
//! what they were before the first. Inputs the README calls valid though
//! they look hostile (positions at the ends of the 64-bit range, ids that
//! left the window, ids on a missing key) get nil or the range `LRANGE`
//! gives on a list holding the same values.
//!
//! `errors.rs` checks each documented error once, with snapshots; this
//! file multiplies the inputs over positions and key states.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::errors::{
    BAD_COPIES, BAD_IDTAG, BAD_REF, BAD_SEQ, BAD_WINDOW, FOREIGN_ID,
    KEY_EXISTS, NOT_AN_INTEGER, NOT_A_FLOAT, NOT_FINITE, NO_SUCH_KEY, SYNTAX,
    WRONGTYPE,
};
use common::mavg::{add, ElementId, SEQ_MAX};
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::{fail, Context, TestResult};

/// The MAVG keys aimed at, each with its window: `k` holds 5 values after
/// 7 were added, `empty` holds none, `missing` does not exist.
const MAVG_KEYS: [(&str, &str); 3] =
    [("k", "5"), ("empty", "3"), ("missing", "5")];

/// Keys of other types, one of each.
const OTHER_TYPES: [&str; 6] =
    ["string", "list", "hash", "set", "zset", "stream"];

/// A valid id tag, for options next to a bad one.
const TAG: &str = "0123456789abcdef";

/// 2^20 bytes.
const MEGABYTE: usize = 1 << 20;

/// A command's arguments, text or raw bytes.
type Args = Vec<Vec<u8>>;

/// Arguments from parts that are text or bytes.
macro_rules! args {
    ($($part:expr),* $(,)?) => {
        vec![$(AsRef::<[u8]>::as_ref(&$part).to_vec()),*]
    };
}

/// What an input must get.
enum Expect {
    /// One of these errors, exactly.
    Error(Vec<String>),
    /// This reply.
    Reply(Reply),
}

/// One input and what it must get.
struct Attempt {
    args: Args,
    expect: Expect,
}

/// The inputs of one class, and what each must get.
#[derive(Default)]
struct Matrix {
    attempts: Vec<Attempt>,
}

impl Matrix {
    /// `args` must fail with `error`. The README does not rank errors, so
    /// a bad argument on a key of another type may instead get
    /// `WRONGTYPE`, and `MAVG.CREATE` on a key that exists may get
    /// `ERR key already exists`.
    fn refuse(&mut self, args: Args, error: &str) {
        let mut errors = vec![error.to_string()];
        let key = key_of(&args);
        let other_type = OTHER_TYPES.iter().any(|t| t.as_bytes() == key);
        if other_type {
            errors.push(WRONGTYPE.to_string());
        }
        let exists = other_type || key == b"k" || key == b"empty";
        if exists && args[0].eq_ignore_ascii_case(b"MAVG.CREATE") {
            errors.push(KEY_EXISTS.to_string());
        }
        self.attempts.push(Attempt {
            args,
            expect: Expect::Error(errors),
        });
    }

    /// `args` must be answered `reply`.
    fn answer(&mut self, args: Args, reply: Reply) {
        let expect = Expect::Reply(reply);
        self.attempts.push(Attempt { args, expect });
    }
}

/// Texts that are not decimal numbers: Rust's parser refuses them, or the
/// README does (hexadecimal floats).
fn not_numbers() -> Vec<Vec<u8>> {
    let texts: [&[u8]; 36] = [
        b"abc",
        b"",
        b" 1",
        b"1 ",
        b"\t1",
        b"1\n",
        b"0x10",
        b"0x1p3",
        b"0X1P3",
        b"-0x1p-2",
        b"0x1.8p1",
        b"1,5",
        b"1e",
        b"1e+",
        b"e5",
        b".",
        b"-",
        b"+",
        b"--1",
        b"+-1",
        b"1..2",
        b"1_000",
        b"1e5.5",
        b"infinit",
        b"in",
        b"nana",
        b"inf inity",
        b"\xff",
        b"1\x00",
        b"0b101",
        b"1f",
        b"1.5L",
        b"true",
        b"null",
        b"\xd9\xa1",
        b"\xef\xbc\x91",
    ];
    texts.iter().map(|t| t.to_vec()).collect()
}

/// Texts Rust reads as NaN or an infinity, in every spelling its parser
/// takes, and numbers beyond the double range.
fn non_finite() -> Vec<Vec<u8>> {
    let words = [
        "inf", "INF", "Inf", "iNf", "infinity", "Infinity", "INFINITY",
        "InFiNiTy", "nan", "NaN", "NAN", "nAn",
    ];
    let mut texts: Vec<Vec<u8>> = ["", "+", "-"]
        .iter()
        .flat_map(|sign| words.map(|word| format!("{sign}{word}")))
        .map(String::into_bytes)
        .collect();
    let beyond = [
        "1e400",
        "-1e400",
        "1e309",
        "-1e309",
        "2e308",
        "1.8e308",
        "1.7976931348623159e308",
        "0.1e400",
        "1e99999999999999999999",
    ];
    texts.extend(beyond.map(|t| t.as_bytes().to_vec()));
    texts.push(two_to_the_1024().into_bytes());
    texts.push(format!("1e{}", "9".repeat(5000)).into_bytes());
    texts
}

/// 2^1024, the first integer that rounds to infinity, in decimal.
fn two_to_the_1024() -> String {
    let mut digits = vec![1u8];
    for _ in 0..1024 {
        let mut carry = 0;
        for digit in digits.iter_mut() {
            let doubled = *digit * 2 + carry;
            *digit = doubled % 10;
            carry = doubled / 10;
        }
        if carry > 0 {
            digits.push(carry);
        }
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// Texts over the length limits: a number of 5,121 characters (one past
/// the README's limit for values), one of a megabyte, a megabyte of
/// letters.
fn long_texts() -> Vec<Vec<u8>> {
    vec![
        format!("1.{}", "0".repeat(5119)).into_bytes(),
        format!("9{}", "0".repeat(5120)).into_bytes(),
        format!("1{}", "0".repeat(MEGABYTE - 1)).into_bytes(),
        vec![b'x'; MEGABYTE],
    ]
}

/// Texts that are not integers in Redis's spelling, or beyond `i64`.
fn not_integers() -> Vec<Vec<u8>> {
    let texts: [&[u8]; 27] = [
        b"",
        b"abc",
        b"1.5",
        b"1.0",
        b"+1",
        b"007",
        b"00",
        b"-0",
        b"-",
        b" 1",
        b"1 ",
        b"1e3",
        b"0x10",
        b"1_0",
        b"--1",
        b"\xd9\xa1",
        b"\xff",
        b"1\x00",
        b"nan",
        b"inf",
        b"-inf",
        b"9223372036854775808",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"99999999999999999999999",
        b"-99999999999999999999999",
    ];
    let mut texts: Vec<Vec<u8>> = texts.iter().map(|t| t.to_vec()).collect();
    texts.extend(long_texts());
    texts
}

/// `texts` with more texts appended.
fn and(mut texts: Vec<Vec<u8>>, more: &[&str]) -> Vec<Vec<u8>> {
    texts.extend(more.iter().map(|t| t.as_bytes().to_vec()));
    texts
}

/// Windows the README refuses: not integers, and integers outside 1 to
/// 10^9 (0, -1, 2^32, i64's ends, 2^63 and 2^64 among them).
fn bad_windows() -> Vec<Vec<u8>> {
    let out_of_range = [
        "0",
        "-1",
        "1000000001",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let mut windows = and(not_integers(), &out_of_range);
    windows.extend(non_finite().into_iter().take(6));
    windows
}

/// Bad values for `MAVG.ADD`, with the error each gets.
fn bad_values() -> Vec<(Vec<u8>, &'static str)> {
    let not_floats = [not_numbers(), long_texts()].concat();
    let mut values: Vec<(Vec<u8>, &str)> =
        not_floats.into_iter().map(|v| (v, NOT_A_FLOAT)).collect();
    values.extend(non_finite().into_iter().map(|v| (v, NOT_FINITE)));
    values
}

/// `MAVG.ADD` with each bad value alone, after good values, before them
/// and after `WINDOW n`.
fn add_values(matrix: &mut Matrix) {
    for (value, error) in bad_values() {
        for (key, window) in MAVG_KEYS {
            matrix.refuse(args!["MAVG.ADD", key, value], error);
            matrix.refuse(args!["MAVG.ADD", key, "1", "2", value], error);
            matrix.refuse(args!["mavg.add", key, value, "1"], error);
            let windowed =
                args!["MAVG.ADD", key, "WINDOW", window, "8", value];
            matrix.refuse(windowed, error);
        }
        for key in OTHER_TYPES {
            matrix.refuse(args!["MAVG.ADD", key, value], error);
            let windowed = args!["MAVG.ADD", key, "WINDOW", "3", "1", value];
            matrix.refuse(windowed, error);
        }
    }
}

/// Bad windows for `MAVG.ADD` and `MAVG.CREATE`, the window first among
/// the options and last.
fn windows(matrix: &mut Matrix) {
    for window in bad_windows() {
        for (key, _) in MAVG_KEYS {
            let add = args!["MAVG.ADD", key, "WINDOW", window, "1"];
            matrix.refuse(add, BAD_WINDOW);
            let add = args!["MAVG.ADD", key, "window", window, "1", "2"];
            matrix.refuse(add, BAD_WINDOW);
            matrix.refuse(
                args!["MAVG.CREATE", key, "WINDOW", window],
                BAD_WINDOW,
            );
            let last = args!["MAVG.CREATE", key, "SEQ", "1", "WINDOW", window];
            matrix.refuse(last, BAD_WINDOW);
        }
        for key in OTHER_TYPES {
            let add = args!["MAVG.ADD", key, "WINDOW", window, "1"];
            matrix.refuse(add, BAD_WINDOW);
            let create = args!["MAVG.CREATE", key, "WINDOW", window];
            matrix.refuse(create, BAD_WINDOW);
        }
    }
}

/// Bad `IDTAG`, `SEQ` and `COPIES` values, before and after `WINDOW`.
fn create_values(matrix: &mut Matrix) {
    let long_hex = "a".repeat(5121);
    let idtags = [
        "",
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcdeg",
        "-123456789abcdef",
        "+123456789abcdef",
        "0x23456789abcdef",
        " 123456789abcdef",
        "0123456789abcde ",
        "0123456789abcd\0f",
        "\u{ff10}123456789abcde",
        "0123456789ABCDEFG",
        "g123456789abcdef",
        &long_hex,
    ];
    let seqs = and(
        not_integers(),
        &[
            "-1",
            "288230376151711744",
            "9223372036854775807",
            "-9223372036854775808",
        ],
    );
    let copies = and(not_integers(), &["-1", "-9223372036854775808"]);
    let copies = copies
        .into_iter()
        .filter(|c| !is_big_positive(c))
        .chain([b"18446744073709551616".to_vec()]);

    let idtags = idtags.iter().map(|t| (t.as_bytes().to_vec(), BAD_IDTAG));
    let options = idtags.map(|(v, e)| ("IDTAG", v, e));
    let options = options
        .chain(seqs.into_iter().map(|v| ("SEQ", v, BAD_SEQ)))
        .chain(copies.map(|v| ("COPIES", v, BAD_COPIES)));
    for (name, value, error) in options {
        for (key, window) in MAVG_KEYS {
            let after =
                args!["MAVG.CREATE", key, "WINDOW", window, name, value];
            matrix.refuse(after, error);
            let before =
                args!["MAVG.CREATE", key, name, value, "WINDOW", window];
            matrix.refuse(before, error);
        }
        for key in OTHER_TYPES {
            let create = args!["MAVG.CREATE", key, "WINDOW", "3", name, value];
            matrix.refuse(create, error);
        }
    }
}

/// Whether `text` is a positive integer beyond `i64`: the README gives
/// `COPIES` no upper bound, so these are left out.
fn is_big_positive(text: &[u8]) -> bool {
    text.len() > 1
        && text.iter().all(u8::is_ascii_digit)
        && text[0] != b'0'
        && std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .is_none()
}

/// Unknown, repeated and missing options of `MAVG.CREATE`.
fn create_options(matrix: &mut Matrix) {
    let long = "W".repeat(5121);
    let unknown = [
        "FOO", "", "WINDOWS", "WIN", "IDTAGS", "SEQS", "COPY", "WITHIDS",
        "WINDOW\0", " WINDOW", "1", &long,
    ];
    let mut cases: Vec<Args> = Vec::new();
    for name in unknown {
        cases.push(args!["MAVG.CREATE", "", "WINDOW", "3", name, "1"]);
        cases.push(args!["MAVG.CREATE", "", name, "1", "WINDOW", "3"]);
    }
    let repeated: [&[&str]; 8] = [
        &["WINDOW", "3", "WINDOW", "3"],
        &["WINDOW", "3", "window", "4"],
        &["WINDOW", "3", "IDTAG", TAG, "IDTAG", TAG],
        &["IDTAG", TAG, "WINDOW", "3", "idtag", TAG],
        &["WINDOW", "3", "SEQ", "1", "SEQ", "1"],
        &["SEQ", "1", "WINDOW", "3", "SEQ", "2"],
        &["WINDOW", "3", "COPIES", "1", "COPIES", "1"],
        &["COPIES", "0", "SEQ", "0", "WINDOW", "3", "COPIES", "0"],
    ];
    let missing: [&[&str]; 5] = [
        &["IDTAG", TAG],
        &["SEQ", "1", "COPIES", "2"],
        &["WINDOW", "3", "IDTAG"],
        &["IDTAG", TAG, "WINDOW"],
        &["WINDOW", "3", "3"],
    ];
    for options in repeated.iter().chain(&missing) {
        let words = [&["MAVG.CREATE", ""][..], options].concat();
        cases.push(words.iter().map(|w| w.as_bytes().to_vec()).collect());
    }
    for case in cases {
        for (key, _) in MAVG_KEYS {
            let mut with_key = case.clone();
            with_key[1] = key.as_bytes().to_vec();
            matrix.refuse(with_key, SYNTAX);
        }
    }
}

/// The ids of `MAVG.GET`: malformed ones and ids that are not the key's.
struct Ids {
    /// Neither a position nor a hyphenated UUID.
    malformed: Vec<Vec<u8>>,
    /// UUIDs that are no element id of `k` (nor of `empty`).
    foreign: Vec<String>,
    /// Ids of `k` outside its window: evicted, or not yet given.
    gone: Vec<String>,
}

impl Ids {
    fn new(own: ElementId, other: ElementId) -> Ids {
        let id = own.text();
        let mut malformed = not_integers();
        let reshaped = [
            id[..35].to_string(),
            format!("{id}0"),
            id.replace('-', ""),
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            format!("{} ", &id[..35]),
            format!(" {}", &id[1..]),
            format!("{}-{}", &id[..7], &id[8..]),
            id.replacen('-', "", 1) + "0",
            with_char(&id, 0, "g"),
            with_char(&id, 35, "\0"),
            with_char(&id, 3, "\u{e9}")[..36].to_string(),
            "-".repeat(36),
            "0".repeat(36),
            id.repeat(2),
        ];
        malformed.extend(reshaped.map(String::into_bytes));
        Ids {
            malformed,
            foreign: foreign_ids(own, other),
            gone: [0, 1, own.seq + 1, SEQ_MAX]
                .map(|seq| ElementId { seq, ..own }.text())
                .to_vec(),
        }
    }
}

/// UUIDs that are not `own`'s key's ids: another key's id (in both
/// cases), UUIDs of versions 1, 4 and 7, the nil and max UUIDs, and `own`
/// with its version or variant changed.
fn foreign_ids(own: ElementId, other: ElementId) -> Vec<String> {
    let id = own.text();
    let tag_flipped = ElementId {
        tag: own.tag ^ (1 << 63),
        ..own
    };
    vec![
        other.text(),
        other.text().to_uppercase(),
        tag_flipped.text(),
        "c232ab00-9414-11ec-b3c8-9f6bdeced846".into(),
        "550e8400-e29b-41d4-a716-446655440000".into(),
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398f".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        with_char(&id, 14, "4"),
        with_char(&id, 14, "7"),
        with_char(&id, 14, "0"),
        with_char(&id, 19, "c"),
        with_char(&id, 19, "4"),
        with_char(&id, 19, "f"),
    ]
}

/// `text` with the character at byte `index` replaced by `by`.
fn with_char(text: &str, index: usize, by: &str) -> String {
    format!("{}{by}{}", &text[..index], &text[index + 1..])
}

/// `MAVG.GET` with malformed and foreign ids, and with positions and ids
/// that are valid but outside the window (nil, not an error).
fn get_refs(matrix: &mut Matrix, ids: &Ids) {
    for reference in &ids.malformed {
        for (key, _) in MAVG_KEYS {
            matrix.refuse(args!["MAVG.GET", key, reference], BAD_REF);
        }
        for key in OTHER_TYPES {
            let get = args!["MAVG.GET", key, reference];
            matrix.refuse(get, BAD_REF);
        }
    }
    for id in &ids.foreign {
        matrix.refuse(args!["MAVG.GET", "k", id], FOREIGN_ID);
        matrix.refuse(args!["MAVG.GET", "empty", id], FOREIGN_ID);
        matrix.answer(args!["MAVG.GET", "missing", id], Reply::Nil);
        let get = args!["MAVG.GET", "string", id];
        matrix.refuse(get, FOREIGN_ID);
    }
    for id in &ids.gone {
        matrix.answer(args!["MAVG.GET", "k", id], Reply::Nil);
    }
    let far = ["9223372036854775807", "-9223372036854775808", "5", "-6"];
    for position in far {
        for (key, _) in MAVG_KEYS {
            matrix.answer(args!["MAVG.GET", key, position], Reply::Nil);
        }
    }
}

/// `MAVG.RANGE` with bad positions at either end and bad words after
/// them.
fn range_arguments(matrix: &mut Matrix) {
    let positions = [not_integers(), not_numbers(), non_finite()].concat();
    for position in positions {
        for (key, _) in MAVG_KEYS {
            let start = args!["MAVG.RANGE", key, position, "-1"];
            matrix.refuse(start, NOT_AN_INTEGER);
            let stop = args!["MAVG.RANGE", key, "0", position, "WITHIDS"];
            matrix.refuse(stop, NOT_AN_INTEGER);
        }
        let range = args!["MAVG.RANGE", "list", "0", position];
        matrix.refuse(range, NOT_AN_INTEGER);
    }
    let long = "WITHIDS".repeat(1000);
    let words = [
        "FOO",
        "",
        "WITHID",
        "WITHIDSS",
        "WITHIDS\0",
        " WITHIDS",
        "1",
        "-1",
        &long,
    ];
    for word in words {
        for (key, _) in MAVG_KEYS {
            let range = args!["MAVG.RANGE", key, "0", "-1", word];
            matrix.refuse(range, SYNTAX);
        }
    }
}

/// `MAVG.RANGE` at the ends of the 64-bit range: no error, the range
/// `LRANGE` gives on the list `mirror`, which holds `k`'s values.
fn range_extremes(matrix: &mut Matrix, conn: &mut RawConn) -> TestResult {
    let ends = ["-9223372036854775808", "9223372036854775807", "0", "-1"];
    for start in ends {
        for stop in ends {
            let mirrored = conn.ok(&["LRANGE", "mirror", start, stop])?;
            matrix.answer(args!["MAVG.RANGE", "k", start, stop], mirrored);
            let empty = Reply::Array(Vec::new());
            let range = args!["MAVG.RANGE", "empty", start, stop];
            matrix.answer(range, empty.clone());
            matrix.answer(args!["MAVG.RANGE", "missing", start, stop], empty);
        }
    }
    let whole = conn.ok(&["MAVG.RANGE", "k", "0", "-1", "WITHIDS"])?;
    let (min, max) = (i64::MIN.to_string(), i64::MAX.to_string());
    matrix.answer(args!["MAVG.RANGE", "k", min, max, "WITHIDS"], whole);
    Ok(())
}

/// Wrong argument counts, in either case of the command's name, and
/// `MAVG.INFO` on a missing key.
fn arity(matrix: &mut Matrix) {
    let cases: [&[&str]; 20] = [
        &["MAVG.CREATE"],
        &["MAVG.CREATE", "missing"],
        &["MAVG.ADD"],
        &["MAVG.ADD", "k"],
        &["MAVG.ADD", "missing"],
        &["MAVG.ADD", "k", "WINDOW"],
        &["MAVG.ADD", "k", "WINDOW", "5"],
        &["MAVG.ADD", "missing", "window", "5"],
        &["MAVG.AVG"],
        &["MAVG.AVG", "k", "k"],
        &["MAVG.AVG", "k", "1", "2"],
        &["MAVG.GET"],
        &["MAVG.GET", "k"],
        &["MAVG.GET", "k", "0", "1"],
        &["MAVG.RANGE"],
        &["MAVG.RANGE", "k"],
        &["MAVG.RANGE", "k", "0"],
        &["MAVG.RANGE", "k", "0", "-1", "WITHIDS", "WITHIDS"],
        &["MAVG.INFO"],
        &["MAVG.INFO", "k", "k"],
    ];
    for case in cases {
        let name = case[0].to_lowercase();
        let error =
            format!("ERR wrong number of arguments for '{name}' command");
        for spelling in [case[0], name.as_str()] {
            let words = [&[spelling][..], &case[1..]].concat();
            matrix.refuse(args_of(&words), &error);
        }
    }
    // The README calls a missing value both: an arity error or a missing
    // option. The module says arity.
    let arity = "ERR wrong number of arguments for 'mavg.create' command";
    matrix.refuse(args!["MAVG.CREATE", "missing", "WINDOW"], arity);
    matrix.refuse(args!["MAVG.INFO", "missing"], NO_SUCH_KEY);
}

/// Arguments from words.
fn args_of(words: &[&str]) -> Args {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Every command, well formed, on keys of other types.
fn wrong_types(matrix: &mut Matrix, own: ElementId) {
    let id = own.text();
    for key in OTHER_TYPES {
        let cases = [
            args!["MAVG.ADD", key, "1"],
            args!["MAVG.ADD", key, "WINDOW", "3", "1", "2"],
            args!["MAVG.AVG", key],
            args!["MAVG.GET", key, "0"],
            args!["MAVG.GET", key, "-9223372036854775808"],
            args!["MAVG.GET", key, id],
            args!["MAVG.RANGE", key, "0", "-1"],
            args!["MAVG.RANGE", key, "0", "-1", "WITHIDS"],
            args!["MAVG.INFO", key],
        ];
        for case in cases {
            matrix.refuse(case, WRONGTYPE);
        }
        matrix.refuse(args!["MAVG.CREATE", key, "WINDOW", "3"], WRONGTYPE);
    }
}

/// Makes the keys the matrix aims at; returns an id of `k` and one of
/// the MAVG key `other`.
fn make_keys(conn: &mut RawConn) -> TestResult<(ElementId, ElementId)> {
    conn.ok(&["MAVG.CREATE", "k", "WINDOW", "5"])?;
    let own = add(conn, "k", &["1", "2.5", "-3", "4", "5", "6", "7"])?[6];
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "3"])?;
    let other = add(conn, "other", &["1"])?[0];
    conn.ok(&["RPUSH", "mirror", "-3", "4", "5", "6", "7"])?;
    conn.ok(&["SET", "string", "hello"])?;
    conn.ok(&["RPUSH", "list", "1", "2"])?;
    conn.ok(&["HSET", "hash", "field", "1"])?;
    conn.ok(&["SADD", "set", "1"])?;
    conn.ok(&["ZADD", "zset", "1", "one"])?;
    conn.ok(&["XADD", "stream", "1-1", "field", "1"])?;
    Ok((own, other))
}

/// The digests every input must leave as they are.
struct Digests {
    /// `DEBUG DIGEST-VALUE` of each key named.
    keys: BTreeMap<Vec<u8>, Reply>,
    /// `DEBUG DIGEST`.
    database: Reply,
}

impl Digests {
    fn take(conn: &mut RawConn, attempts: &[Attempt]) -> TestResult<Self> {
        let names: BTreeSet<&[u8]> =
            attempts.iter().map(|a| key_of(&a.args)).collect();
        let mut keys = BTreeMap::new();
        for key in names {
            let args: [&[u8]; 3] = [b"DEBUG", b"DIGEST-VALUE", key];
            keys.insert(key.to_vec(), conn.ok(&args)?);
        }
        let database = conn.ok(&["DEBUG", "DIGEST"])?;
        Ok(Digests { keys, database })
    }
}

/// The key an input names (the empty name, which no test uses, for one
/// that names none).
fn key_of(args: &Args) -> &[u8] {
    args.get(1).map_or(b"", Vec::as_slice)
}

/// How many inputs go to the server in one pipeline.
const BATCH: usize = 64;

/// Sends every input of `matrix`, each followed by the digests, and
/// checks the replies; returns how many inputs were sent.
fn run(conn: &mut RawConn, matrix: &Matrix) -> TestResult<usize> {
    let digests = Digests::take(conn, &matrix.attempts)?;
    for batch in matrix.attempts.chunks(BATCH) {
        let mut commands: Vec<Args> = Vec::new();
        for attempt in batch {
            let key = key_of(&attempt.args);
            commands.push(attempt.args.clone());
            commands.push(args!["DEBUG", "DIGEST-VALUE", key]);
            commands.push(args!["DEBUG", "DIGEST"]);
        }
        let replies = conn.pipeline(&commands).context("a pipeline")?;
        for (attempt, replies) in batch.iter().zip(replies.chunks(3)) {
            check(attempt, replies, &digests)?;
        }
    }
    Ok(matrix.attempts.len())
}

/// Checks the reply to `attempt` and the digests after it.
fn check(
    attempt: &Attempt,
    replies: &[Reply],
    digests: &Digests,
) -> TestResult {
    let what = describe(&attempt.args);
    let reply = &replies[0];
    let as_expected = match &attempt.expect {
        Expect::Error(errors) => errors
            .iter()
            .any(|error| *reply == Reply::Error(error.to_string())),
        Expect::Reply(expected) => reply == expected,
    };
    if !as_expected {
        let expected = match &attempt.expect {
            Expect::Error(errors) => format!("one of {errors:?}"),
            Expect::Reply(expected) => format!("{expected:?}"),
        };
        return fail(format!("{what} replied {reply:?}, not {expected}"));
    }
    let key_digest = &digests.keys[key_of(&attempt.args)];
    if replies[1] != *key_digest || replies[2] != digests.database {
        return fail(format!("{what} changed the data: {replies:?}"));
    }
    Ok(())
}

/// A command for messages, long arguments cut short.
fn describe(args: &Args) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|arg| {
            let text = String::from_utf8_lossy(&arg[..arg.len().min(40)]);
            match arg.len() {
                0..=40 => format!("{text:?}"),
                len => format!("{text:?}...({len} bytes)"),
            }
        })
        .collect();
    words.join(" ")
}

#[test]
fn every_bad_input_gets_its_error_and_changes_nothing() -> TestResult {
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    let (own, other) = make_keys(&mut conn)?;

    let mut sections: Vec<(&str, Matrix)> = Vec::new();
    let mut section = |name, build: &mut dyn FnMut(&mut Matrix)| {
        let mut matrix = Matrix::default();
        build(&mut matrix);
        sections.push((name, matrix));
    };
    section("MAVG.ADD values", &mut add_values);
    section("windows", &mut windows);
    section("MAVG.CREATE option values", &mut create_values);
    section("MAVG.CREATE options", &mut create_options);
    let ids = Ids::new(own, other);
    section("MAVG.GET refs", &mut |m| get_refs(m, &ids));
    section("MAVG.RANGE arguments", &mut range_arguments);
    section("arity", &mut arity);
    section("wrong types", &mut |m| wrong_types(m, own));
    let mut extremes = Matrix::default();
    range_extremes(&mut extremes, &mut conn)?;
    sections.push(("MAVG.RANGE at the ends of i64", extremes));

    let mut tried = 0;
    for (name, matrix) in &sections {
        let count = run(&mut conn, matrix).context(name)?;
        eprintln!("hostile inputs, {name}: {count}");
        tried += count;
    }
    eprintln!("hostile inputs tried: {tried}");

    assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"));
    assert!(server.is_running(), "log:\n{}", server.log_tail());
    assert!(
        !server.log().contains("caught a panic"),
        "a panic was caught"
    );
    Ok(())
}
