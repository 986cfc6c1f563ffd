//! Every command's happy path, as the README's "Commands" section states
//! it: MAVG.CREATE, MAVG.ADD, MAVG.AVG, MAVG.GET, MAVG.RANGE, MAVG.INFO,
//! and the key and flags each command declares.

mod common;

use common::exact::{exact_mean, is_shortest_text};
use common::mavg::{
    add, info, info_names, texts, ElementId, INFO_FIELDS, SEQ_MAX,
};
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::{Context, TestResult};

#[test]
fn create_makes_an_empty_series() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    let reply = conn.ok(&["MAVG.CREATE", "k", "WINDOW", "5"])?;

    assert_eq!(reply, Reply::status("OK"));
    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length, info.added), (5, 0, 0));
    assert_eq!(info.average, Reply::Nil);
    assert_eq!(conn.ok(&["EXISTS", "k"])?, Reply::Int(1));
    assert_eq!(conn.ok(&["MAVG.AVG", "k"])?, Reply::Nil);
    assert_eq!(conn.ok(&["MAVG.GET", "k", "0"])?, Reply::Nil);
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1", "WITHIDS"])?;
    assert_eq!(range, Reply::Array(vec![]));
    Ok(())
}

#[test]
fn create_takes_idtag_and_seq_in_any_order() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let args = ["SEQ", "42", "IDTAG", "0123456789abcdef", "WINDOW", "3"];

    conn.ok(&[&["MAVG.CREATE", "k"][..], &args].concat())?;
    let ids = add(&mut conn, "k", &["7", "8"])?;

    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length, info.added), (3, 2, 44));
    assert_eq!(info.idtag, 0x0123_4567_89ab_cdef);
    let first = ElementId {
        tag: 0x0123_4567_89ab_cdef,
        seq: 42,
    };
    assert_eq!(ids[0], first);
    assert_eq!(ids[1].seq, 43);
    // The README's layout for this tag and sequence number, by hand.
    assert_eq!(first.text(), "01234567-89ab-8cde-bc00-00000000002a");
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "0", "WITHIDS"])?;
    assert_eq!(texts(&range)?[1], first.text());
    Ok(())
}

#[test]
fn ids_match_the_readme_example() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let tag = ["IDTAG", "0123456789abcdef"];

    conn.ok(&[&["MAVG.CREATE", "k", "WINDOW", "3"][..], &tag].concat())?;
    let reply = conn.ok(&["MAVG.ADD", "k", "1", "2", "3"])?;

    let third = texts(&reply)?.pop().unwrap_or_default();
    assert_eq!(third, "01234567-89ab-8cde-bc00-000000000002");
    Ok(())
}

#[test]
fn create_accepts_the_limits() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let last_seq = SEQ_MAX.to_string();

    conn.ok(&["MAVG.CREATE", "big", "WINDOW", "1000000000"])?;
    conn.ok(&["MAVG.CREATE", "one", "WINDOW", "1", "SEQ", "0"])?;
    conn.ok(&["MAVG.CREATE", "last", "WINDOW", "2", "SEQ", &last_seq])?;
    let upper = ["IDTAG", "FEDCBA9876543210"];
    conn.ok(&[&["MAVG.CREATE", "upper", "WINDOW", "2"][..], &upper].concat())?;

    assert_eq!(info(&mut conn, "big")?.window, 1_000_000_000);
    assert_eq!(info(&mut conn, "one")?.window, 1);
    assert_eq!(info(&mut conn, "last")?.added, SEQ_MAX as i64);
    assert_eq!(info(&mut conn, "upper")?.idtag, 0xfedc_ba98_7654_3210);
    let ids = add(&mut conn, "last", &["1"])?;
    assert_eq!(ids[0].seq, SEQ_MAX);
    let ids = add(&mut conn, "upper", &["1"])?;
    assert_eq!(ids[0].tag, 0xfedc_ba98_7654_3210);
    Ok(())
}

#[test]
fn add_creates_a_key_with_the_default_window() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    add(&mut conn, "k", &["0"])?;
    let info_after_one = info(&mut conn, "k")?;
    let values: Vec<String> = (1..=150).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    add(&mut conn, "k", &values)?;

    assert_eq!(info_after_one.window, 100);
    assert_eq!(info_after_one.length, 1);
    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length, info.added), (100, 100, 151));
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1"])?;
    assert_eq!(texts(&range)?, values[50..]);
    Ok(())
}

#[test]
fn add_with_window_creates_then_must_match() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    add(&mut conn, "k", &["WINDOW", "3", "1", "2"])?;
    add(&mut conn, "k", &["WINDOW", "3", "3", "4"])?;
    add(&mut conn, "k", &["5"])?;

    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length, info.added), (3, 3, 5));
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1"])?;
    assert_eq!(range, Reply::bulks(&["3", "4", "5"]));
    Ok(())
}

#[test]
fn add_replies_ids_that_count_up() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    let first = add(&mut conn, "k", &["WINDOW", "2", "1", "2", "3"])?;
    let second = add(&mut conn, "k", &["4"])?;
    let other = add(&mut conn, "other", &["1"])?;

    let tag = info(&mut conn, "k")?.idtag;
    let all: Vec<ElementId> = first.iter().chain(&second).copied().collect();
    let expected: Vec<ElementId> =
        (0..4).map(|seq| ElementId { tag, seq }).collect();
    assert_eq!(all, expected);
    assert_ne!(other[0].tag, tag, "two keys drew the same 64-bit tag");
    Ok(())
}

#[test]
fn a_recreated_key_gets_a_new_tag() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    let before = add(&mut conn, "k", &["1"])?;
    conn.ok(&["DEL", "k"])?;
    let after = add(&mut conn, "k", &["1"])?;

    assert_eq!(after[0].seq, 0);
    assert_ne!(before[0].tag, after[0].tag, "ids reused after DEL");
    Ok(())
}

#[test]
fn avg_is_the_mean_of_the_window() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    add(&mut conn, "t", &["1", "2", "3"])?;
    assert_eq!(conn.ok(&["MAVG.AVG", "t"])?, Reply::bulk("2"));

    let tens: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    let tens: Vec<&str> = tens.iter().map(String::as_str).collect();
    add(&mut conn, "w", &[&["WINDOW", "3"][..], &tens].concat())?;
    assert_eq!(conn.ok(&["MAVG.AVG", "w"])?, Reply::bulk("9"));

    assert_eq!(conn.ok(&["MAVG.AVG", "missing"])?, Reply::Nil);
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "4"])?;
    assert_eq!(conn.ok(&["MAVG.AVG", "empty"])?, Reply::Nil);
    Ok(())
}

#[test]
fn avg_matches_the_readme_example() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let key = "latency:/login";

    add(&mut conn, key, &["WINDOW", "3", "12.5", "14", "13.1"])?;
    let first = conn.ok(&["MAVG.AVG", key])?;
    add(&mut conn, key, &["40"])?;
    let second = conn.ok(&["MAVG.AVG", key])?;

    assert_eq!(first, Reply::bulk("13.2"));
    assert_eq!(second, Reply::bulk("22.366666666666667"));
    assert_eq!(second.number(), exact_mean(&[14.0, 13.1, 40.0]));
    Ok(())
}

#[test]
fn avg_of_a_window_of_one_is_the_last_value() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    for value in ["3", "-7.25", "0.1", "1e+300"] {
        add(&mut conn, "k", &["WINDOW", "1", value])?;
        assert_eq!(conn.ok(&["MAVG.AVG", "k"])?, Reply::bulk(value));
    }
    Ok(())
}

#[test]
fn values_read_as_rust_reads_them() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let spellings = [
        "-12", "0.5", ".5", "1e-3", "2.5E+10", "+3", "5.", "007", "1E2",
    ];

    add(&mut conn, "k", &spellings)?;

    let range = texts(&conn.ok(&["MAVG.RANGE", "k", "0", "-1"])?)?;
    for (text, spelling) in range.iter().zip(spellings) {
        let value: f64 = spelling.parse()?;
        assert!(
            is_shortest_text(text, value),
            "{spelling:?} came back as {text:?}, not the shortest text"
        );
    }
    assert_eq!(range.len(), spellings.len());
    Ok(())
}

#[test]
fn a_client_library_reads_the_replies() -> TestResult {
    let server = Server::start()?;
    let mut client = server.client()?;

    let ids: Vec<String> = redis::cmd("MAVG.ADD")
        .arg("k")
        .arg(&["WINDOW", "2", "1", "2", "4"])
        .query(&mut client)?;
    let average: Option<f64> =
        redis::cmd("MAVG.AVG").arg("k").query(&mut client)?;
    let missing: Option<f64> =
        redis::cmd("MAVG.AVG").arg("missing").query(&mut client)?;
    let values: Vec<f64> = redis::cmd("MAVG.RANGE")
        .arg(&["k", "0", "-1"])
        .query(&mut client)?;

    assert_eq!(ids.len(), 3);
    assert_eq!(average, Some(3.0));
    assert_eq!(missing, None);
    assert_eq!(values, [2.0, 4.0]);
    Ok(())
}

/// A key `k` of window 5 that held 10, 20, ..., 60 (10 has left), and the
/// ids of those six values.
fn six_values_in_five(conn: &mut RawConn) -> TestResult<Vec<ElementId>> {
    let values = ["WINDOW", "5", "10", "20", "30", "40", "50", "60"];
    add(conn, "k", &values)
}

#[test]
fn get_by_position_counts_like_lindex() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    six_values_in_five(&mut conn)?;

    let cases = [
        ("0", Reply::bulk("20")),
        ("1", Reply::bulk("30")),
        ("4", Reply::bulk("60")),
        ("-1", Reply::bulk("60")),
        ("-5", Reply::bulk("20")),
        ("5", Reply::Nil),
        ("-6", Reply::Nil),
        ("1000000", Reply::Nil),
        ("9223372036854775807", Reply::Nil),
        ("-9223372036854775808", Reply::Nil),
    ];

    for (position, expected) in cases {
        let reply = conn.ok(&["MAVG.GET", "k", position])?;
        assert_eq!(reply, expected, "MAVG.GET k {position}");
    }
    assert_eq!(conn.ok(&["MAVG.GET", "missing", "0"])?, Reply::Nil);
    Ok(())
}

#[test]
fn get_by_id_finds_values_still_in_the_window() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let ids = six_values_in_five(&mut conn)?;
    let never_added = ElementId {
        tag: ids[0].tag,
        seq: 6,
    };

    let evicted = conn.ok(&["MAVG.GET", "k", &ids[0].text()])?;
    let kept = conn.ok(&["MAVG.GET", "k", &ids[3].text()])?;
    let upper = ids[5].text().to_uppercase();
    let upper = conn.ok(&["MAVG.GET", "k", &upper])?;
    let future = conn.ok(&["MAVG.GET", "k", &never_added.text()])?;

    assert_eq!(evicted, Reply::Nil, "the evicted id");
    assert_eq!(kept, Reply::bulk("40"));
    assert_eq!(upper, Reply::bulk("60"), "an upper-case id");
    assert_eq!(future, Reply::Nil, "an id never given out");
    Ok(())
}

#[test]
fn get_by_id_of_a_restored_id_space() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let create = ["MAVG.CREATE", "k", "WINDOW", "2", "SEQ", "100"];
    conn.ok(&create)?;
    let ids = add(&mut conn, "k", &["1", "2", "3"])?;
    let tag = ids[0].tag;

    for seq in [0, 50, 99, 100, 103, SEQ_MAX] {
        let id = ElementId { tag, seq }.text();
        let reply = conn.ok(&["MAVG.GET", "k", &id])?;
        assert_eq!(reply, Reply::Nil, "the id of sequence number {seq}");
    }
    for (id, value) in ids[1..].iter().zip(["2", "3"]) {
        let reply = conn.ok(&["MAVG.GET", "k", &id.text()])?;
        assert_eq!(reply, Reply::bulk(value), "{id:?}");
    }
    Ok(())
}

#[test]
fn range_follows_lrange_rules() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let values: Vec<String> = (1..=9).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    add(&mut conn, "k", &[&["WINDOW", "6"][..], &values].concat())?;
    conn.ok(&[&["RPUSH", "list"][..], &values[3..]].concat())?;

    let extremes = [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX];
    let positions: Vec<i64> = (-9..=9).chain(extremes).collect();

    for start in &positions {
        for stop in &positions {
            let (start, stop) = (start.to_string(), stop.to_string());
            let expected = conn.ok(&["LRANGE", "list", &start, &stop])?;
            let reply = conn.ok(&["MAVG.RANGE", "k", &start, &stop])?;
            assert_eq!(reply, expected, "MAVG.RANGE k {start} {stop}");
        }
    }
    let missing = conn.ok(&["MAVG.RANGE", "missing", "0", "-1"])?;
    assert_eq!(missing, Reply::Array(vec![]));
    Ok(())
}

#[test]
fn range_withids_pairs_each_value_with_its_id() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let ids = six_values_in_five(&mut conn)?;

    let all = conn.ok(&["MAVG.RANGE", "k", "0", "-1", "WITHIDS"])?;
    let one = conn.ok(&["MAVG.RANGE", "k", "-2", "-2", "WITHIDS"])?;

    let values = ["20", "30", "40", "50", "60"];
    let expected: Vec<String> = values
        .iter()
        .zip(&ids[1..])
        .flat_map(|(value, id)| [value.to_string(), id.text()])
        .collect();
    assert_eq!(texts(&all)?, expected);
    assert_eq!(texts(&one)?, ["50".to_string(), ids[4].text()]);
    Ok(())
}

#[test]
fn info_has_the_readme_fields_in_order() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    add(
        &mut conn,
        "k",
        &["WINDOW", "4", "1", "2", "3", "4", "5", "6"],
    )?;

    let reply = conn.ok(&["MAVG.INFO", "k"])?;
    let info = info(&mut conn, "k")?;
    let average = conn.ok(&["MAVG.AVG", "k"])?;

    assert_eq!(info_names(&reply)?, INFO_FIELDS);
    assert_eq!((info.window, info.length, info.added), (4, 4, 6));
    assert_eq!(info.average, average);
    assert_eq!(average, Reply::bulk("4.5"));
    Ok(())
}

#[test]
fn a_big_window_holds_only_its_values() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    add(&mut conn, "k", &["WINDOW", "1000000000", "1", "2", "3"])?;
    let small = memory_usage(&mut conn, "k")?;
    let values: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    add(&mut conn, "k", &values)?;
    let large = memory_usage(&mut conn, "k")?;

    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length), (1_000_000_000, 10_003));
    assert!(small < 100_000, "a key of three values uses {small} bytes");
    assert!(large >= 80_000, "10,003 values counted as {large} bytes");
    Ok(())
}

/// What `MEMORY USAGE key` counts, in bytes.
fn memory_usage(conn: &mut RawConn, key: &str) -> TestResult<i64> {
    let usage = conn.ok(&["MEMORY", "USAGE", key])?;
    usage.int().context(format!("MEMORY USAGE {usage:?}"))
}

/// The commands, whether each writes, and arguments that make it valid.
const COMMANDS: [(&str, bool, &[&str]); 6] = [
    ("mavg.create", true, &["k", "WINDOW", "3"]),
    ("mavg.add", true, &["k", "1"]),
    ("mavg.avg", false, &["k"]),
    ("mavg.get", false, &["k", "0"]),
    ("mavg.range", false, &["k", "0", "-1"]),
    ("mavg.info", false, &["k"]),
];

#[test]
fn commands_take_one_key_in_position_one() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    for (name, _, args) in COMMANDS {
        let reply = conn.ok(&["COMMAND", "INFO", name])?;
        let (_, keys) = flags_and_key_spec(&reply)?;
        let getkeys =
            conn.ok(&[&["COMMAND", "GETKEYS", name][..], args].concat())?;

        assert_eq!(keys, [1, 1, 1], "{name}: first, last key and step");
        assert_eq!(getkeys, Reply::bulks(&["k"]), "{name}");
    }
    Ok(())
}

#[test]
fn commands_carry_the_readme_flags() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let mut missing = Vec::new();

    for (name, writes, _) in COMMANDS {
        let reply = conn.ok(&["COMMAND", "INFO", name])?;
        let (flags, _) = flags_and_key_spec(&reply)?;
        // MAVG.RANGE is O(m), like LRANGE, and so not `fast`.
        let expected: &[&str] = match (writes, name) {
            (true, _) => &["write", "denyoom"],
            (false, "mavg.range") => &["readonly"],
            (false, _) => &["readonly", "fast"],
        };
        for flag in expected {
            if !flags.iter().any(|f| f == flag) {
                missing.push(format!("{name} lacks {flag}: {flags:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    Ok(())
}

/// The flags and (first key, last key, step) in a `COMMAND INFO` reply.
fn flags_and_key_spec(reply: &Reply) -> TestResult<(Vec<String>, Vec<i64>)> {
    let entry = reply.items().and_then(|items| items.first());
    let fields = entry.and_then(Reply::items).context("COMMAND INFO")?;
    let flags = match fields.get(2) {
        Some(Reply::Array(flags) | Reply::Set(flags)) => flags,
        other => return common::fail(format!("flags {other:?}")),
    };
    let flags = flags
        .iter()
        .map(|f| Ok(f.text().context("flag")?.to_string()))
        .collect::<TestResult<Vec<String>>>()?;
    let keys = fields
        .get(3..6)
        .context("key positions")?
        .iter()
        .map(|n| n.int().context("key position"))
        .collect::<TestResult<Vec<i64>>>()?;
    Ok((flags, keys))
}
