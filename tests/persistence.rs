//! Keys survive the RDB: SAVE and a restart on the same directory, DEBUG
//! RELOAD, DUMP and RESTORE, and an AOF rewrite without the RDB preamble.
//! Each round trip must keep every value, id and `MAVG.INFO` field, and
//! later adds must continue each key's id sequence.

mod common;

use common::mavg::{add, info, snapshot, Snapshot, SEQ_MAX};
use common::resp::{cmd, RawConn, Reply};
use common::server::{rewrite_aof, Server};
use common::{Context, TestResult};

/// The keys [`fill`] makes.
const KEYS: [&str; 9] = [
    "wrapped", "partial", "default", "big", "empty", "restored", "extreme",
    "cancel", "one",
];

/// Makes keys of every shape: windows that wrapped and partial ones, the
/// default window, a window of 10^9, an empty key, restored id spaces,
/// extreme values and exact-sum traps.
fn fill(conn: &mut RawConn) -> TestResult {
    for i in 0..4 {
        let values: Vec<String> =
            (0..5).map(|j| format!("{}.25", i * 5 + j)).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        add(conn, "wrapped", &[&["WINDOW", "5"][..], &values].concat())?;
    }
    add(conn, "partial", &["WINDOW", "10", "0.1", "0.2", "0.3"])?;
    fill_many(conn, "default", &[], 250)?;
    conn.ok(&["MAVG.CREATE", "big", "WINDOW", "1000000000"])?;
    // More values than one RDB chunk (8,192) or one AOF command (1,024).
    fill_many(conn, "big", &["WINDOW", "1000000000"], 10_000)?;
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "7", "SEQ", "12"])?;
    let seq = (SEQ_MAX - 100).to_string();
    let create = ["MAVG.CREATE", "restored", "WINDOW", "4"];
    let options = ["IDTAG", "0123456789abcdef", "SEQ", &seq];
    conn.ok(&[&create[..], &options].concat())?;
    add(conn, "restored", &["1", "2", "3", "4", "5", "6"])?;
    let extremes = ["1e308", "-1e308", "5e-324", "-0.0", "0.1", "-2.5e-7"];
    add(conn, "extreme", &[&["WINDOW", "6"][..], &extremes].concat())?;
    add(conn, "cancel", &["WINDOW", "3", "1e16", "1", "1", "1", "1"])?;
    add(conn, "one", &["WINDOW", "1", "3", "4"])?;
    Ok(())
}

/// Adds `count` values to `key` in one pipeline, `options` before each.
fn fill_many(
    conn: &mut RawConn,
    key: &str,
    options: &[&str],
    count: usize,
) -> TestResult {
    let commands: Vec<Vec<String>> = (0..count)
        .map(|i| {
            let value = format!("{}", i as f64 * 0.5 - 7.0);
            cmd(&[&["MAVG.ADD", key][..], options, &[&value]].concat())
        })
        .collect();
    for reply in conn.pipeline(&commands)? {
        if reply.is_error() {
            return common::fail(format!("filling {key}: {reply:?}"));
        }
    }
    Ok(())
}

/// Snapshots of every key of [`KEYS`], and the key count.
fn snapshots(conn: &mut RawConn) -> TestResult<(Vec<Snapshot>, Reply)> {
    let keys = KEYS
        .iter()
        .map(|key| snapshot(conn, key))
        .collect::<TestResult<Vec<Snapshot>>>()?;
    Ok((keys, conn.ok(&["DBSIZE"])?))
}

/// Adds one value to each key and checks its id continues the key's
/// sequence with the key's tag.
fn adds_continue_the_ids(conn: &mut RawConn, prefix: &str) -> TestResult {
    for key in KEYS {
        let key = format!("{prefix}{key}");
        let before = info(conn, &key)?;
        let id = add(conn, &key, &["42"])?[0];
        assert_eq!(id.seq, before.added as u64, "next id of {key}");
        assert_eq!(id.tag, before.idtag, "tag of {key}");
    }
    Ok(())
}

#[test]
fn keys_survive_save_and_restart() -> TestResult {
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    fill(&mut conn)?;
    let before = snapshots(&mut conn)?;

    assert_eq!(conn.ok(&["SAVE"])?, Reply::status("OK"));
    drop(conn);
    server.restart().context("restarting on the saved RDB")?;
    let mut conn = server.connect()?;

    assert_eq!(snapshots(&mut conn)?, before);
    adds_continue_the_ids(&mut conn, "")
}

#[test]
fn keys_survive_debug_reload() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    fill(&mut conn)?;
    let before = snapshots(&mut conn)?;

    assert_eq!(conn.ok(&["DEBUG", "RELOAD"])?, Reply::status("OK"));

    assert_eq!(snapshots(&mut conn)?, before);
    adds_continue_the_ids(&mut conn, "")
}

#[test]
fn keys_survive_dump_and_restore() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    fill(&mut conn)?;

    for key in KEYS {
        let payload = conn.ok(&["DUMP", key])?;
        let Reply::Bulk(payload) = payload else {
            return common::fail(format!("DUMP {key} replied {payload:?}"));
        };
        let copy = format!("copy:{key}");
        let restore: [&[u8]; 4] =
            [b"RESTORE", copy.as_bytes(), b"0", &payload];
        assert_eq!(conn.ok(&restore)?, Reply::status("OK"), "{key}");
        let original = snapshot(&mut conn, key)?;
        assert_eq!(snapshot(&mut conn, &copy)?, original, "{key}");
    }
    adds_continue_the_ids(&mut conn, "copy:")
}

#[test]
fn keys_survive_an_aof_rewrite_without_rdb_preamble() -> TestResult {
    let aof = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"];
    let mut server = Server::start_with(&aof)?;
    let mut conn = server.connect()?;
    fill(&mut conn)?;
    let before = snapshots(&mut conn)?;

    rewrite_aof(&mut conn)?;
    drop(conn);
    server.restart().context("restarting on the AOF")?;
    let mut conn = server.connect()?;

    assert_eq!(snapshots(&mut conn)?, before);
    adds_continue_the_ids(&mut conn, "")
}
