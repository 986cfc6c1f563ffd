//! The type callbacks behind Redis's own key commands: `digest` (equal on
//! a primary, its replica and after `DEBUG RELOAD`), `copy` (a new key
//! with the same values and its own ids, the same on a replica),
//! `RENAME` and `DUMP`/`RESTORE` (the same ids), `mem_usage` (close to
//! the memory a key really takes) and `free_effort` (a big key is freed
//! in the background by `UNLINK`).

mod common;

use std::time::Duration;

use common::mavg::{
    add, dataset, ids_of, info, same_dataset, snapshot, texts, ElementId,
};
use common::resp::{RawConn, Reply};
use common::server::{
    attach_replica, info_int, wait_caught_up, wait_until, Server,
};
use common::{fail, Context, TestResult};

/// The error `MAVG.GET` replies for an id of another key.
const FOREIGN_ID: &str = "ERR element id is not from this key";

/// Keys of several shapes: a wrapped window, a key past one RDB chunk of
/// 8,192 values, an empty key with a restored sequence, extreme values.
fn fill(conn: &mut RawConn) -> TestResult {
    let values: Vec<String> = (0..10).map(|i| format!("{i}.5")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    add(conn, "wrapped", &[&["WINDOW", "4"][..], &values].concat())?;
    add_many(conn, "big", 20_000, 9_000, 1_000)?;
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "7", "SEQ", "5"])?;
    let extremes = ["5e-324", "-0.0", "1.7976931348623157e308", "0.1"];
    add(conn, "extreme", &[&["WINDOW", "3"][..], &extremes].concat())?;
    Ok(())
}

/// Adds `count` values to `key` (window `window`), `batch` values per
/// `MAVG.ADD`, ten commands per pipeline.
fn add_many(
    conn: &mut RawConn,
    key: &str,
    window: usize,
    count: usize,
    batch: usize,
) -> TestResult {
    let window = window.to_string();
    let values: Vec<String> =
        (0..batch).map(|i| format!("{}.25", i % 1000)).collect();
    let mut command = vec!["MAVG.ADD", key, "WINDOW", &window];
    command.extend(values.iter().map(String::as_str));
    let batches = count / batch;
    for first in (0..batches).step_by(10) {
        let group = vec![command.clone(); (batches - first).min(10)];
        for reply in conn.pipeline(&group)? {
            let Reply::Array(ids) = &reply else {
                return fail(format!("MAVG.ADD {key} replied {reply:?}"));
            };
            if ids.len() != batch {
                return fail(format!("{} ids for {batch} values", ids.len()));
            }
        }
    }
    Ok(())
}

/// The ids `MAVG.RANGE key 0 -1 WITHIDS` shows, oldest first.
fn ids_in(conn: &mut RawConn, key: &str) -> TestResult<Vec<ElementId>> {
    let range =
        texts(&conn.ok(&["MAVG.RANGE", key, "0", "-1", "WITHIDS"])?)?;
    range
        .iter()
        .skip(1)
        .step_by(2)
        .map(|id| ElementId::parse(id))
        .collect()
}

/// The whole `DEBUG DIGEST` of a server.
fn digest(conn: &mut RawConn) -> TestResult<Reply> {
    conn.ok(&["DEBUG", "DIGEST"])
}

#[test]
fn digests_agree_on_primary_replica_and_after_reload() -> TestResult {
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"])?;
    let replica = Server::start()?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    fill(&mut writer)?;
    attach_replica(&primary, &mut reader)?;
    add(&mut writer, "wrapped", &["11", "12"])?;
    add(&mut writer, "streamed", &["WINDOW", "2", "1", "2", "3"])?;
    wait_caught_up(&mut writer, &mut reader)?;

    let expected = digest(&mut writer)?;
    let nothing = Reply::status(&"0".repeat(40));
    assert_ne!(expected, nothing, "the digest of a database with keys");
    assert_eq!(
        digest(&mut reader)?,
        expected,
        "DEBUG DIGEST on the replica"
    );
    let on_primary = dataset(&mut writer)?;
    same_dataset(&on_primary, &dataset(&mut reader)?, "the replica")?;

    assert_eq!(writer.ok(&["DEBUG", "RELOAD"])?, Reply::status("OK"));
    assert_eq!(reader.ok(&["DEBUG", "RELOAD"])?, Reply::status("OK"));

    let reloaded = dataset(&mut writer)?;
    same_dataset(&on_primary, &reloaded, "the primary after DEBUG RELOAD")?;
    same_dataset(&on_primary, &dataset(&mut reader)?, "the reloaded replica")?;
    assert_eq!(digest(&mut writer)?, expected);

    // The digest sees a change, on both sides.
    add(&mut writer, "big", &["1"])?;
    wait_caught_up(&mut writer, &mut reader)?;
    let changed = digest(&mut writer)?;
    assert_ne!(changed, expected, "the digest after an add");
    assert_eq!(digest(&mut reader)?, changed, "the replica after an add");
    Ok(())
}

/// Checks that `copy` holds what `source` holds but under its own ids:
/// the same values at the same positions, the same window, count and
/// `added`, a different tag, and no id that resolves on the other key.
fn check_copy(conn: &mut RawConn, source: &str, copy: &str) -> TestResult {
    let (mine, theirs) = (info(conn, source)?, info(conn, copy)?);
    assert_eq!(theirs.window, mine.window, "window of {copy}");
    assert_eq!(theirs.length, mine.length, "length of {copy}");
    assert_eq!(theirs.added, mine.added, "added of {copy}");
    assert_eq!(theirs.average, mine.average, "average of {copy}");
    assert_ne!(theirs.idtag, mine.idtag, "{copy} has the tag of {source}");
    let values =
        |conn: &mut RawConn, key| conn.ok(&["MAVG.RANGE", key, "0", "-1"]);
    assert_eq!(values(conn, copy)?, values(conn, source)?, "{copy}");

    let (source_ids, copy_ids) = (ids_in(conn, source)?, ids_in(conn, copy)?);
    let copy_tag = theirs.idtag;
    assert_eq!(copy_ids.len(), source_ids.len(), "ids of {copy}");
    for (mine, theirs) in source_ids.iter().zip(&copy_ids) {
        assert_eq!(theirs.seq, mine.seq, "position of an id of {copy}");
        assert_eq!(theirs.tag, copy_tag, "tag of {copy}");
        let on_source = conn.err(&["MAVG.GET", source, &theirs.text()])?;
        assert_eq!(on_source, FOREIGN_ID, "an id of {copy} on {source}");
        let on_copy = conn.err(&["MAVG.GET", copy, &mine.text()])?;
        assert_eq!(on_copy, FOREIGN_ID, "an id of {source} on {copy}");
        let own = conn.ok(&["MAVG.GET", copy, &theirs.text()])?;
        let original = conn.ok(&["MAVG.GET", source, &mine.text()])?;
        assert_eq!(own, original, "the value of an id of {copy}");
    }
    Ok(())
}

#[test]
fn a_copy_has_the_values_and_its_own_ids() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let tag = ["IDTAG", "0123456789abcdef", "SEQ", "40"];
    conn.ok(&[&["MAVG.CREATE", "src", "WINDOW", "5"][..], &tag].concat())?;
    add(
        &mut conn,
        "src",
        &["1", "2.5", "-0.0", "1e16", "7", "0.1", "3"],
    )?;
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "3", "SEQ", "9"])?;

    assert_eq!(conn.ok(&["COPY", "src", "dst"])?, Reply::Int(1));
    assert_eq!(conn.ok(&["COPY", "empty", "empty:copy"])?, Reply::Int(1));

    check_copy(&mut conn, "src", "dst")?;
    check_copy(&mut conn, "empty", "empty:copy")?;
    assert_eq!(conn.ok(&["COPY", "src", "dst"])?, Reply::Int(0));

    // Each side changes alone, and ids continue on each.
    let source = snapshot(&mut conn, "src")?;
    let source_digest = conn.ok(&["DEBUG", "DIGEST-VALUE", "src"])?;
    let copy_info = info(&mut conn, "dst")?;
    let id = add(&mut conn, "dst", &["99"])?[0];
    assert_eq!(id.seq, copy_info.added as u64, "the copy's next id");
    assert_eq!(id.tag, copy_info.idtag, "the copy's tag");
    assert_eq!(
        snapshot(&mut conn, "src")?,
        source,
        "src after adding to dst"
    );
    let digest_now = conn.ok(&["DEBUG", "DIGEST-VALUE", "src"])?;
    assert_eq!(digest_now, source_digest, "src's digest");
    let copy = snapshot(&mut conn, "dst")?;
    add(&mut conn, "src", &["-5"])?;
    assert_eq!(snapshot(&mut conn, "dst")?, copy, "dst after adding to src");
    Ok(())
}

#[test]
fn a_copy_on_a_primary_is_the_same_copy_on_its_replica() -> TestResult {
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"])?;
    let replica = Server::start()?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    attach_replica(&primary, &mut reader)?;

    fill(&mut writer)?;
    for (source, copy) in [("wrapped", "c1"), ("big", "c2"), ("empty", "c3")] {
        assert_eq!(writer.ok(&["COPY", source, copy])?, Reply::Int(1));
    }
    add(&mut writer, "wrapped", &["100"])?;
    let replace = ["COPY", "wrapped", "c1", "REPLACE"];
    assert_eq!(writer.ok(&replace)?, Reply::Int(1));
    add(&mut writer, "c2", &["WINDOW", "20000", "8", "9"])?;
    wait_caught_up(&mut writer, &mut reader)?;

    let on_primary = dataset(&mut writer)?;
    same_dataset(&on_primary, &dataset(&mut reader)?, "the replica")?;
    for copy in ["c1", "c2", "c3"] {
        let digest =
            |conn: &mut RawConn| conn.ok(&["DEBUG", "DIGEST-VALUE", copy]);
        assert_eq!(digest(&mut reader)?, digest(&mut writer)?, "{copy}");
    }
    Ok(())
}

#[test]
fn rename_and_dump_restore_keep_the_ids() -> TestResult {
    let server = Server::start()?;
    let other = Server::start()?;
    let mut conn = server.connect()?;
    let mut elsewhere = other.connect()?;
    fill(&mut conn)?;

    for key in ["wrapped", "big", "empty", "extreme"] {
        let before = snapshot(&mut conn, key)?;
        let digest = conn.ok(&["DEBUG", "DIGEST-VALUE", key])?;
        let renamed = format!("{key}:renamed");
        conn.ok(&["RENAME", key, &renamed])?;
        assert_eq!(snapshot(&mut conn, &renamed)?, before, "{renamed}");
        let ids = ids_in(&mut conn, &renamed)?;
        if let Some(last) = ids.last() {
            let value = conn.ok(&["MAVG.GET", &renamed, &last.text()])?;
            let newest = conn.ok(&["MAVG.GET", &renamed, "-1"])?;
            assert_eq!(value, newest, "an id of {key} after RENAME");
        }

        let Reply::Bulk(payload) = conn.ok(&["DUMP", &renamed])? else {
            return fail(format!("DUMP {renamed} gave no payload"));
        };
        let restored = format!("{key}:restored");
        for target in [&mut conn, &mut elsewhere] {
            let restore: [&[u8]; 4] =
                [b"RESTORE", restored.as_bytes(), b"0", &payload];
            assert_eq!(target.ok(&restore)?, Reply::status("OK"));
            let copy = snapshot(target, &restored)?;
            assert_eq!(copy, before, "{restored}");
            let copy_digest =
                target.ok(&["DEBUG", "DIGEST-VALUE", &restored])?;
            assert_eq!(copy_digest, digest, "digest of {restored}");
        }
        let added = info(&mut elsewhere, &restored)?;
        let id = add(&mut elsewhere, &restored, &["1"])?[0];
        assert_eq!(id.seq, added.added as u64, "next id of {restored}");
        assert_eq!(id.tag, added.idtag, "tag of {restored}");
    }
    Ok(())
}

#[test]
fn memory_usage_is_the_memory_a_key_takes() -> TestResult {
    const WINDOW: usize = 1_000_000;
    let server = Server::start()?;
    let mut conn = server.connect()?;
    // Grow the connection's buffers to the batch size first, so that the
    // measure below counts the key and not them.
    add_many(&mut conn, "warm-up", 10_000, 10_000, 10_000)?;
    conn.ok(&["DEL", "warm-up"])?;

    let before = info_int(&mut conn, "memory", "used_memory")?;
    add_many(&mut conn, "m", WINDOW, WINDOW, 10_000)?;
    let after = info_int(&mut conn, "memory", "used_memory")?;

    let full = info(&mut conn, "m")?;
    assert_eq!(full.length, WINDOW as i64, "a full window");
    let usage = conn.ok(&["MEMORY", "USAGE", "m"])?;
    let usage = usage.int().context(format!("MEMORY USAGE {usage:?}"))?;
    let taken = after - before;
    assert!(
        (usage - taken).abs() * 10 <= taken,
        "MEMORY USAGE says {usage} bytes; the key took {taken}"
    );
    Ok(())
}

#[test]
fn unlink_frees_a_big_key_in_the_background() -> TestResult {
    const WINDOW: usize = 10_000_000;
    let server = Server::start()?;
    let mut conn = server.connect()?;
    add_many(&mut conn, "huge", WINDOW, WINDOW, 100_000)?;
    assert_eq!(info(&mut conn, "huge")?.length, WINDOW as i64);
    add(&mut conn, "small", &["1", "2", "3"])?;
    let freed = |conn: &mut RawConn| {
        // Redis 7.0 lists it under Memory (not Stats) in INFO.
        info_int(conn, "memory", "lazyfreed_objects")
            .context("lazyfreed_objects in INFO memory (Redis 7.0)")
    };
    let before = freed(&mut conn)?;

    // A small key is freed at once: it adds nothing to the count.
    assert_eq!(conn.ok(&["UNLINK", "small"])?, Reply::Int(1));
    assert_eq!(conn.ok(&["UNLINK", "huge"])?, Reply::Int(1));
    assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"));
    assert_eq!(conn.ok(&["EXISTS", "huge"])?, Reply::Int(0));

    let timeout = Duration::from_secs(60);
    wait_until("the background free ends", timeout, || {
        let pending =
            info_int(&mut conn, "memory", "lazyfree_pending_objects")?;
        Ok(pending == 0 && freed(&mut conn)? > before)
    })?;
    assert_eq!(
        freed(&mut conn)?,
        before + 1,
        "keys freed in the background"
    );
    Ok(())
}

/// Two keys copied from one source under the same name, in two databases
/// or one after the other under a `RENAME`, are distinct keys: the README
/// promises ids unique across keys, so their tags must differ.
#[test]
fn copies_of_one_source_get_different_tags() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    add(&mut conn, "src", &["1", "2"])?;

    assert_eq!(conn.ok(&["COPY", "src", "dst"])?, Reply::Int(1));
    conn.ok(&["RENAME", "dst", "first"])?;
    assert_eq!(conn.ok(&["COPY", "src", "dst"])?, Reply::Int(1));
    assert_eq!(conn.ok(&["COPY", "src", "dst", "DB", "1"])?, Reply::Int(1));

    let first = ids_of(&conn.ok(&["MAVG.ADD", "first", "10"])?)?;
    let second = ids_of(&conn.ok(&["MAVG.ADD", "dst", "20"])?)?;
    assert_ne!(first, second, "two keys handed out the same id");
    conn.ok(&["SELECT", "1"])?;
    let third = ids_of(&conn.ok(&["MAVG.ADD", "dst", "30"])?)?;
    assert_ne!(third, second, "keys in two databases share an id");
    Ok(())
}
