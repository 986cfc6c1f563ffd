//! Error replies, read on the raw socket with their codes: every bad input
//! the README lists gets its exact error text, and a failed command changes
//! nothing (the key's values, ids, `MAVG.INFO` and existence are compared
//! before and after).

mod common;

use common::errors::{
    BAD_IDTAG, BAD_REF, BAD_SEQ, BAD_WINDOW, FOREIGN_ID, KEY_EXISTS,
    NOT_AN_INTEGER, NOT_A_FLOAT, NOT_FINITE, NO_IDS_LEFT, NO_SUCH_KEY,
    OTHER_WINDOW, SYNTAX, WRONGTYPE,
};
use common::mavg::{add, snapshot, ElementId, SEQ_MAX};
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::TestResult;

/// Values the README refuses as not numbers.
const NOT_FLOATS: [&str; 9] =
    ["abc", "", "0x10", " 1", "1 ", "0x1p3", "1,5", "1e", "--1"];

/// Values the README refuses as not finite.
const NOT_FINITES: [&str; 9] = [
    "NaN", "nan", "inf", "-inf", "infinity", "Infinity", "+inf", "1e400",
    "-1e400",
];

/// Windows the README refuses.
const BAD_WINDOWS: [&str; 10] = [
    "0",
    "+5",
    "005",
    "-1",
    "18446744073709551616",
    "18446744073709551615",
    "1000000001",
    "abc",
    "1.5",
    "",
];

/// A server with a key `k` of window 5 that has wrapped (7 values added).
fn server_with_key() -> TestResult<(Server, RawConn)> {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    conn.ok(&["MAVG.CREATE", "k", "WINDOW", "5"])?;
    add(&mut conn, "k", &["1", "2.5", "-3", "4", "5", "6", "7"])?;
    Ok((server, conn))
}

/// Sends `args`, which must fail with exactly `error`, and checks that
/// `keys` look the same before and after.
fn refuses(
    conn: &mut RawConn,
    args: &[&str],
    error: &str,
    keys: &[&str],
) -> TestResult {
    let before = snapshots(conn, keys)?;
    let reply = conn.call(args)?;
    let after = snapshots(conn, keys)?;

    let expected = Reply::Error(error.to_string());
    assert_eq!(reply, expected, "{}", common::resp::show(args));
    assert_eq!(before, after, "{} changed a key", common::resp::show(args));
    Ok(())
}

fn snapshots(
    conn: &mut RawConn,
    keys: &[&str],
) -> TestResult<Vec<common::mavg::Snapshot>> {
    keys.iter().map(|key| snapshot(conn, key)).collect()
}

/// The same, for a command on the missing key `fresh`, which must stay
/// missing.
fn refuses_fresh(
    conn: &mut RawConn,
    args: &[&str],
    error: &str,
) -> TestResult {
    refuses(conn, args, error, &["k", "fresh"])?;
    assert_eq!(conn.ok(&["EXISTS", "fresh"])?, Reply::Int(0));
    Ok(())
}

#[test]
fn add_refuses_values_that_are_not_numbers() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    for value in NOT_FLOATS {
        refuses_bad_value(&mut conn, value, NOT_A_FLOAT)?;
    }
    Ok(())
}

#[test]
fn add_refuses_values_that_are_not_finite() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    for value in NOT_FINITES {
        refuses_bad_value(&mut conn, value, NOT_FINITE)?;
    }
    Ok(())
}

/// `value` alone, after good values, before them, with `WINDOW`, on the
/// existing key and on a missing one: each refused, nothing added.
fn refuses_bad_value(
    conn: &mut RawConn,
    value: &str,
    error: &str,
) -> TestResult {
    let keys = ["k", "fresh"];
    for key in keys {
        refuses_fresh(conn, &["MAVG.ADD", key, value], error)?;
        refuses_fresh(conn, &["MAVG.ADD", key, "1", "2", value], error)?;
        refuses_fresh(conn, &["MAVG.ADD", key, value, "1"], error)?;
        let windowed = ["MAVG.ADD", key, "WINDOW", "5", "8", value];
        refuses_fresh(conn, &windowed, error)?;
    }
    Ok(())
}

#[test]
fn add_refuses_bad_windows() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    for window in BAD_WINDOWS {
        for key in ["k", "fresh"] {
            let args = ["MAVG.ADD", key, "WINDOW", window, "1"];
            refuses_fresh(&mut conn, &args, BAD_WINDOW)?;
        }
    }
    Ok(())
}

#[test]
fn add_refuses_a_different_window() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    for window in ["4", "6", "100", "1000000000"] {
        let args = ["MAVG.ADD", "k", "WINDOW", window, "1"];
        refuses(&mut conn, &args, OTHER_WINDOW, &["k"])?;
    }
    // The default window does not apply to an existing key.
    add(&mut conn, "k", &["8"])?;
    Ok(())
}

#[test]
fn add_reads_words_after_the_key_as_values() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let cases: [&[&str]; 4] = [
        &["MAVG.ADD", "k", "FOO", "1"],
        &["MAVG.ADD", "k", "1", "WINDOW", "5"],
        &["MAVG.ADD", "k", "WINDOW", "5", "WINDOW", "5", "1"],
        &["MAVG.ADD", "k", "WINDOW", "5", "1", "IDTAG"],
    ];
    for args in cases {
        refuses(&mut conn, args, NOT_A_FLOAT, &["k"])?;
    }
    Ok(())
}

#[test]
fn add_refuses_when_ids_run_out() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let two_left = (SEQ_MAX - 1).to_string();
    conn.ok(&["MAVG.CREATE", "s", "WINDOW", "3", "SEQ", &two_left])?;

    refuses(
        &mut conn,
        &["MAVG.ADD", "s", "1", "2", "3"],
        NO_IDS_LEFT,
        &["s"],
    )?;
    let ids = add(&mut conn, "s", &["1", "2"])?;
    assert_eq!(ids[1].seq, SEQ_MAX);
    refuses(&mut conn, &["MAVG.ADD", "s", "3"], NO_IDS_LEFT, &["s"])?;
    Ok(())
}

#[test]
fn create_refuses_an_existing_key() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let cases: [&[&str]; 3] = [
        &["MAVG.CREATE", "k", "WINDOW", "5"],
        &["MAVG.CREATE", "k", "WINDOW", "3"],
        &["MAVG.CREATE", "k", "WINDOW", "5", "SEQ", "0"],
    ];
    for args in cases {
        refuses(&mut conn, args, KEY_EXISTS, &["k"])?;
    }
    Ok(())
}

#[test]
fn create_refuses_unknown_repeated_and_missing_options() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let tag = "0123456789abcdef";
    let cases: [&[&str]; 8] = [
        &["MAVG.CREATE", "fresh", "IDTAG", tag],
        &["MAVG.CREATE", "fresh", "SEQ", "5", "IDTAG", tag],
        &["MAVG.CREATE", "fresh", "WINDOW", "3", "FOO", "1"],
        &["MAVG.CREATE", "fresh", "WINDOW", "3", "3"],
        &["MAVG.CREATE", "fresh", "WINDOW", "3", "WINDOW", "3"],
        &[
            "MAVG.CREATE",
            "fresh",
            "WINDOW",
            "3",
            "IDTAG",
            tag,
            "IDTAG",
            tag,
        ],
        &[
            "MAVG.CREATE",
            "fresh",
            "SEQ",
            "1",
            "WINDOW",
            "3",
            "SEQ",
            "1",
        ],
        &["MAVG.CREATE", "fresh", "FOO", "WINDOW", "3"],
    ];
    for args in cases {
        refuses_fresh(&mut conn, args, SYNTAX)?;
    }
    Ok(())
}

#[test]
fn create_refuses_bad_windows_idtags_and_seqs() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    for window in BAD_WINDOWS {
        let args = ["MAVG.CREATE", "fresh", "WINDOW", window];
        refuses_fresh(&mut conn, &args, BAD_WINDOW)?;
    }
    let idtags = [
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcdeg",
        "-123456789abcdef",
        "0x23456789abcdef",
        " 123456789abcdef",
        "",
    ];
    for idtag in idtags {
        let args = ["MAVG.CREATE", "fresh", "WINDOW", "3", "IDTAG", idtag];
        refuses_fresh(&mut conn, &args, BAD_IDTAG)?;
    }
    let seqs = [
        "-1",
        "288230376151711744",
        "18446744073709551616",
        "abc",
        "1.5",
        "",
    ];
    for seq in seqs {
        let args = ["MAVG.CREATE", "fresh", "WINDOW", "3", "SEQ", seq];
        refuses_fresh(&mut conn, &args, BAD_SEQ)?;
    }
    Ok(())
}

#[test]
fn get_refuses_refs_that_are_neither_positions_nor_ids() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let refs = [
        "abc",
        "",
        "1.5",
        "0x1",
        " 1",
        "1e3",
        "+1",
        "007",
        "-0",
        "01234567-89ab-8cde-bc00-00000000002",
        "01234567x89ab-8cde-bc00-00000000002a",
    ];
    for reference in refs {
        refuses(&mut conn, &["MAVG.GET", "k", reference], BAD_REF, &["k"])?;
    }
    Ok(())
}

#[test]
fn get_refuses_ids_of_other_keys() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let other = add(&mut conn, "other", &["1"])?[0];
    let own = add(&mut conn, "k", &["8"])?[0];
    let other_tag = ElementId {
        tag: own.tag ^ 1,
        seq: own.seq,
    };
    let foreign = [
        other.text(),
        other.text().to_uppercase(),
        other_tag.text(),
        with_digit(&own.text(), 14, '4'),
        with_digit(&own.text(), 19, 'c'),
        "550e8400-e29b-41d4-a716-446655440000".to_string(),
        "00000000-0000-0000-0000-000000000000".to_string(),
    ];
    for id in &foreign {
        refuses(&mut conn, &["MAVG.GET", "k", id], FOREIGN_ID, &["k"])?;
    }
    Ok(())
}

/// `id` with the character at `index` replaced: index 14 is the version
/// digit, index 19 the one holding the variant.
fn with_digit(id: &str, index: usize, digit: char) -> String {
    id.char_indices()
        .map(|(i, c)| if i == index { digit } else { c })
        .collect()
}

#[test]
fn range_refuses_bad_positions_and_words() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let positions = [
        "abc",
        "",
        "1.5",
        "99999999999999999999",
        "-99999999999999999999",
        "+1",
        "007",
        "-0",
    ];
    for position in positions {
        let start = ["MAVG.RANGE", "k", position, "-1"];
        refuses(&mut conn, &start, NOT_AN_INTEGER, &["k"])?;
        let stop = ["MAVG.RANGE", "k", "0", position];
        refuses(&mut conn, &stop, NOT_AN_INTEGER, &["k"])?;
    }
    for word in ["FOO", "WITHID", "WITHIDSS", ""] {
        let args = ["MAVG.RANGE", "k", "0", "-1", word];
        refuses(&mut conn, &args, SYNTAX, &["k"])?;
    }
    Ok(())
}

#[test]
fn info_refuses_a_missing_key() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    refuses(&mut conn, &["MAVG.INFO", "missing"], NO_SUCH_KEY, &["k"])?;
    assert_eq!(conn.ok(&["EXISTS", "missing"])?, Reply::Int(0));
    Ok(())
}

#[test]
fn commands_refuse_wrong_argument_counts() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let cases: [&[&str]; 15] = [
        &["MAVG.CREATE"],
        &["MAVG.ADD"],
        &["MAVG.ADD", "k"],
        &["MAVG.ADD", "k", "WINDOW"],
        &["MAVG.ADD", "k", "WINDOW", "5"],
        &["MAVG.AVG"],
        &["MAVG.AVG", "k", "k"],
        &["MAVG.GET"],
        &["MAVG.GET", "k"],
        &["MAVG.GET", "k", "0", "1"],
        &["MAVG.RANGE", "k"],
        &["MAVG.RANGE", "k", "0"],
        &["MAVG.RANGE", "k", "0", "-1", "WITHIDS", "WITHIDS"],
        &["MAVG.INFO"],
        &["MAVG.INFO", "k", "k"],
    ];
    for args in cases {
        let name = args[0].to_lowercase();
        let error =
            format!("ERR wrong number of arguments for '{name}' command");
        let lower = [&[name.as_str()][..], &args[1..]].concat();

        refuses(&mut conn, args, &error, &["k"])?;
        refuses(&mut conn, &lower, &error, &["k"])?;
    }
    Ok(())
}

#[test]
fn commands_on_a_key_of_another_type_reply_wrongtype() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    conn.ok(&["SET", "s", "hello"])?;
    conn.ok(&["RPUSH", "l", "1", "2"])?;

    for key in ["s", "l"] {
        let cases: [&[&str]; 7] = [
            &["MAVG.ADD", key, "1"],
            &["MAVG.ADD", key, "WINDOW", "3", "1", "2"],
            &["MAVG.AVG", key],
            &["MAVG.GET", key, "0"],
            &["MAVG.RANGE", key, "0", "-1"],
            &["MAVG.RANGE", key, "0", "-1", "WITHIDS"],
            &["MAVG.INFO", key],
        ];
        for args in cases {
            refuses_other_type(&mut conn, args, WRONGTYPE)?;
        }
    }
    Ok(())
}

#[test]
fn create_on_a_key_of_another_type_changes_nothing() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    conn.ok(&["SET", "s", "hello"])?;

    let reply = conn.call(&["MAVG.CREATE", "s", "WINDOW", "3"])?;

    // The README allows either reading: the key exists, or has another type.
    let allowed = [KEY_EXISTS, WRONGTYPE].map(|e| Reply::Error(e.into()));
    assert!(allowed.contains(&reply), "MAVG.CREATE s replied {reply:?}");
    assert_eq!(conn.ok(&["GET", "s"])?, Reply::bulk("hello"));
    Ok(())
}

/// Sends `args` on the string `s` or list `l`, which must fail with
/// `error` and leave the key as it was.
fn refuses_other_type(
    conn: &mut RawConn,
    args: &[&str],
    error: &str,
) -> TestResult {
    let dump = |conn: &mut RawConn| -> TestResult<Vec<Reply>> {
        Ok(vec![
            conn.ok(&["TYPE", args[1]])?,
            conn.ok(&["DUMP", args[1]])?,
        ])
    };
    let before = dump(conn)?;
    let reply = conn.call(args)?;
    let after = dump(conn)?;

    let expected = Reply::Error(error.to_string());
    assert_eq!(reply, expected, "{}", common::resp::show(args));
    assert_eq!(
        before,
        after,
        "{} changed the key",
        common::resp::show(args)
    );
    Ok(())
}

#[test]
fn add_refuses_values_longer_than_the_limit() -> TestResult {
    let (_server, mut conn) = server_with_key()?;
    let long = format!("1.{}", "0".repeat(5118));
    add(&mut conn, "k", &[long.as_str()])?;
    let too_long = format!("{long}0");
    let args = ["MAVG.ADD", "k", too_long.as_str()];
    refuses(&mut conn, &args, NOT_A_FLOAT, &["k"])?;
    Ok(())
}

#[test]
fn a_refused_write_does_not_fire_watch() -> TestResult {
    let (server, mut watcher) = server_with_key()?;
    let mut other = server.connect()?;
    other.ok(&["SET", "s", "x"])?;
    let refused: [&[&str]; 4] = [
        &["MAVG.ADD", "k", "WINDOW", "6", "1"],
        &["MAVG.CREATE", "k", "WINDOW", "5"],
        &["MAVG.ADD", "s", "1"],
        &["MAVG.CREATE", "s", "WINDOW", "5"],
    ];
    for args in refused {
        let key = args[1];
        watcher.ok(&["WATCH", key])?;
        assert!(other.call(args)?.is_error(), "{args:?}");
        watcher.ok(&["MULTI"])?;
        watcher.ok(&["EXISTS", key])?;
        let exec = watcher.ok(&["EXEC"])?;
        assert_eq!(exec, Reply::Array(vec![Reply::Int(1)]), "{args:?}");
    }

    // A write that succeeds does fire it.
    watcher.ok(&["WATCH", "k"])?;
    add(&mut other, "k", &["1"])?;
    watcher.ok(&["MULTI"])?;
    watcher.ok(&["EXISTS", "k"])?;
    assert_eq!(watcher.call(&["EXEC"])?, Reply::Nil);
    Ok(())
}
