//! Resource limits: `maxmemory` refuses writes with Redis's `OOM` and
//! leaves the key whole; a window of a billion costs nothing until values
//! arrive; one `MAVG.ADD` of a million values and a `MAVG.RANGE` of ten
//! million work, and the server answers right after.
//!
//! Values here are small integers, so every sum is exact in a double and
//! the exact mean is the sum divided by the count, rounded once by the
//! division.

mod common;

use common::mavg::{info, ElementId};
use common::resp::{RawConn, Reply};
use common::server::{info_int, Server};
use common::{fail, Context, TestResult};

/// Values per `MAVG.ADD` while filling memory.
const FILL_BATCH: usize = 20_000;

/// `MAVG.ADD key [WINDOW n] values...` as arguments.
fn add_command(
    key: &str,
    window: Option<usize>,
    values: &[u64],
) -> Vec<String> {
    let mut args = vec!["MAVG.ADD".to_string(), key.to_string()];
    if let Some(window) = window {
        args.extend(["WINDOW".to_string(), window.to_string()]);
    }
    args.extend(values.iter().map(u64::to_string));
    args
}

/// The exact mean of values whose sum is exact in a double.
fn mean(sum: u64, count: u64) -> f64 {
    sum as f64 / count as f64
}

/// What a key must hold: its count of values and their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Held {
    len: u64,
    sum: u64,
}

/// Checks that `key` holds `held` as every reader reports it: `MAVG.INFO`
/// (length and count added, no value having left the window),
/// `MAVG.RANGE` (each value read) and `MAVG.AVG`.
fn holds(conn: &mut RawConn, key: &str, held: Held) -> TestResult {
    let info = info(conn, key)?;
    if (info.length, info.added) != (held.len as i64, held.len as i64) {
        return fail(format!("{key} holds {info:?}, expected {held:?}"));
    }
    conn.send(&[vec!["MAVG.RANGE", key, "0", "-1"]])?;
    let mut range = Held::default();
    let len = conn.read_array_with(|value| {
        let text = value.text().context("a value")?;
        range.sum += text.parse::<u64>().context(text.to_string())?;
        range.len += 1;
        Ok(())
    })?;
    if range != held || len as u64 != held.len {
        return fail(format!("{key}'s range holds {range:?}, not {held:?}"));
    }
    let average = conn.ok(&["MAVG.AVG", key])?.number();
    if average != Some(mean(held.sum, held.len)) {
        return fail(format!("{key}'s average is {average:?} for {held:?}"));
    }
    Ok(())
}

#[test]
fn writes_past_maxmemory_get_oom_and_change_nothing() -> TestResult {
    let limit = ["--maxmemory", "20mb", "--maxmemory-policy", "noeviction"];
    let server = Server::start_with(&limit)?;
    let mut conn = server.connect()?;

    let (held, refusal) = fill_until_refused(&mut conn, "big")?;
    assert!(refusal.starts_with("OOM "), "refused with -{refusal}");
    holds(&mut conn, "big", held)?;

    // A digest reads every value, a second for two million: one before
    // the refused writes, one after them all, and the cheap counts of
    // `MAVG.INFO` after each.
    let digests = |conn: &mut RawConn| -> TestResult<Vec<Reply>> {
        Ok(vec![
            conn.ok(&["DEBUG", "DIGEST-VALUE", "big"])?,
            conn.ok(&["DEBUG", "DIGEST"])?,
        ])
    };
    let before = digests(&mut conn)?;
    let counts = info(&mut conn, "big")?;
    let refused: [&[&str]; 4] = [
        &["MAVG.ADD", "big", "1"],
        &["MAVG.ADD", "big", "WINDOW", "10000000", "1", "2", "3"],
        &["MAVG.ADD", "new", "1"],
        &["MAVG.CREATE", "new", "WINDOW", "5"],
    ];
    for args in refused {
        let error = conn.err(args)?;
        assert!(error.starts_with("OOM "), "{args:?} replied -{error}");
        assert_eq!(info(&mut conn, "big")?, counts, "after {args:?}");
        assert_eq!(conn.ok(&["EXISTS", "new"])?, Reply::Int(0));
    }
    assert_eq!(digests(&mut conn)?, before, "a refused write changed data");
    let last = (held.len - 1).to_string();
    let newest = conn.ok(&["MAVG.GET", "big", "-1"])?;
    assert_eq!(newest, conn.ok(&["MAVG.GET", "big", &last])?);

    conn.ok(&["CONFIG", "SET", "maxmemory", "0"])?;
    conn.ok(&["MAVG.ADD", "big", "7"])?;
    let held = Held {
        len: held.len + 1,
        sum: held.sum + 7,
    };
    holds(&mut conn, "big", held)
}

/// Adds batches of values to `key` (window 10^7) until a write is
/// refused; returns what the key holds by the acknowledged adds, and the
/// refusal.
fn fill_until_refused(
    conn: &mut RawConn,
    key: &str,
) -> TestResult<(Held, String)> {
    let mut held = Held::default();
    for _ in 0..1_000 {
        let values: Vec<u64> = (held.len..held.len + FILL_BATCH as u64)
            .map(|i| i % 1000)
            .collect();
        match conn.call(&add_command(key, Some(10_000_000), &values))? {
            Reply::Error(text) => return Ok((held, text)),
            reply => {
                let ids = reply.items().context("ids")?.len();
                assert_eq!(ids, FILL_BATCH, "ids for one batch");
                held.len += values.len() as u64;
                held.sum += values.iter().sum::<u64>();
            }
        }
    }
    fail(format!("no write refused after {held:?}"))
}

/// Keys of a window of a billion made at once, so that the noise of
/// `used_memory` (client buffers, tables grown once) is small beside
/// their count.
const BILLION_KEYS: usize = 100;

#[test]
fn a_window_of_a_billion_costs_nothing_until_values_arrive() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    conn.ok(&["MAVG.ADD", "small", "WINDOW", "5", "1"])?;
    let before = info_int(&mut conn, "memory", "used_memory")?;

    for i in 0..BILLION_KEYS {
        let key = format!("huge:{i}");
        conn.ok(&["MAVG.CREATE", &key, "WINDOW", "1000000000"])?;
    }

    let after = info_int(&mut conn, "memory", "used_memory")?;
    let per_key = (after - before) / BILLION_KEYS as i64;
    eprintln!("an empty window of 10^9: {per_key} bytes of used_memory");
    assert!(per_key < 1024, "used_memory {before} -> {after}");
    let usage = conn.ok(&["MEMORY", "USAGE", "huge:0"])?.int();
    assert!(usage < Some(1024), "MEMORY USAGE {usage:?}");

    conn.ok(&["MAVG.ADD", "huge:0", "1", "2", "3"])?;
    let usage = conn.ok(&["MEMORY", "USAGE", "huge:0"])?.int();
    assert!(usage < Some(1024), "MEMORY USAGE with 3 values {usage:?}");
    holds(&mut conn, "huge:0", Held { len: 3, sum: 6 })
}

#[test]
fn one_add_of_a_million_values() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let values: Vec<u64> = (0..1_000_000).collect();

    conn.send(&[add_command("m", Some(1_000_000), &values)])?;
    let mut ids = Vec::with_capacity(values.len());
    conn.read_array_with(|id| {
        ids.push(ElementId::parse(id.text().context("an id")?)?);
        Ok(())
    })?;

    let tag = ids[0].tag;
    let expected = (0..values.len() as u64).map(|seq| ElementId { tag, seq });
    assert!(ids.iter().copied().eq(expected), "ids not consecutive");
    let sum = values.iter().sum();
    holds(
        &mut conn,
        "m",
        Held {
            len: 1_000_000,
            sum,
        },
    )?;
    assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"));
    Ok(())
}

/// The window and the number of values of the long range.
const LONG_WINDOW: usize = 10_000_000;

/// Values per `MAVG.ADD` while filling it.
const LONG_BATCH: usize = 100_000;

/// `MAVG.ADD`s in flight at once while filling it.
const IN_FLIGHT: usize = 4;

#[test]
fn a_range_over_ten_million_values() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    conn.ok(&["MAVG.CREATE", "long", "WINDOW", &LONG_WINDOW.to_string()])?;

    let batches = LONG_WINDOW / LONG_BATCH;
    let values: Vec<u64> = (0..LONG_BATCH as u64).map(|i| i % 10).collect();
    let command = add_command("long", None, &values);
    for step in 0..batches + IN_FLIGHT {
        if step < batches {
            conn.send(std::slice::from_ref(&command))?;
        }
        if step >= IN_FLIGHT {
            let ids = conn.read_array_with(|_| Ok(()))?;
            assert_eq!(ids, LONG_BATCH, "ids of one batch");
        }
    }

    let held = Held {
        len: LONG_WINDOW as u64,
        sum: values.iter().sum::<u64>() * batches as u64,
    };
    holds(&mut conn, "long", held)?;
    assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"));
    Ok(())
}

/// A series whose count of copies passes 2^63 - 1 must survive an AOF
/// rewrite: `COPY` counts one more, the rewrite writes
/// `COPIES 9223372036854775808`, and `MAVG.CREATE` must take it back when
/// the AOF is loaded (else the `MAVG.ADD`s that follow would make a key
/// of the default window and a random id tag).
#[test]
fn a_count_of_copies_past_i64_survives_an_aof_rewrite() -> TestResult {
    let aof = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"];
    let mut server = Server::start_with(&aof)?;
    let mut conn = server.connect()?;
    let most = i64::MAX.to_string();
    conn.ok(&["MAVG.CREATE", "src", "WINDOW", "5", "COPIES", &most])?;
    conn.ok(&["MAVG.ADD", "src", "1", "2", "3"])?;
    conn.ok(&["COPY", "src", "dst"])?;
    let before = info(&mut conn, "src")?;

    common::server::rewrite_aof(&mut conn)?;
    drop(conn);
    server.restart()?;
    let mut conn = server.connect()?;

    assert_eq!(info(&mut conn, "src")?, before);
    assert!(!server.log().contains("CRITICAL"), "{}", server.log_tail());
    Ok(())
}
