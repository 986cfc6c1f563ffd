//! A replica holds what its primary holds: the same values, the same ids
//! (so the same id tags, though the primary drew them at random) and the
//! same `MAVG.INFO`, for keys written before the replica attached (full
//! sync) and after (the command stream), under a mixed write load. And
//! `DEBUG DIGEST-VALUE`, which tells diverged replicas apart, covers every
//! field the README says it does.

mod common;

use std::time::Duration;

use common::mavg::{snapshot, Snapshot};
use common::resp::{cmd, RawConn, Reply};
use common::server::{wait_until, Server};
use common::{fail, Context, TestResult};

/// Keys in the load; the first half is written before the replica
/// attaches.
const KEY_COUNT: usize = 50;

/// How long the replica may take to catch up, on a loaded machine.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// A small deterministic generator, so a failure can be replayed.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    /// A value as text, of mixed magnitude and sign.
    fn value(&mut self) -> String {
        match self.next(4) {
            0 => format!("{}", self.next(1000) as i64 - 500),
            1 => format!("{}.{}", self.next(100), self.next(1000)),
            2 => format!("-{}e{}", self.next(9) + 1, self.next(40)),
            _ => format!("{}e-{}", self.next(9) + 1, self.next(300)),
        }
    }

    fn values(&mut self, count: u64) -> Vec<String> {
        (0..count).map(|_| self.value()).collect()
    }
}

/// The commands that create key `i`, each shape of creation in turn.
fn creation(i: usize, numbers: &mut Numbers) -> Vec<Vec<String>> {
    let key = format!("key:{i}");
    let window = (1 + i % 7).to_string();
    let add = |args: &[&str], values: Vec<String>| {
        let mut command = cmd(&[&["MAVG.ADD", &key][..], args].concat());
        command.extend(values);
        command
    };
    match i % 5 {
        0 => vec![add(&[], numbers.values(1))],
        1 => vec![add(&["WINDOW", &window], numbers.values(3))],
        2 => vec![
            cmd(&["MAVG.CREATE", &key, "WINDOW", &window]),
            add(&[], numbers.values(2)),
        ],
        3 => {
            let tag = format!("{:016x}", numbers.next(u64::MAX));
            let seq = numbers.next(1 << 40).to_string();
            let create = ["MAVG.CREATE", &key, "WINDOW", &window];
            let options = ["IDTAG", &tag, "SEQ", &seq];
            vec![cmd(&[&create[..], &options].concat())]
        }
        _ => vec![add(&["WINDOW", &window], numbers.values(20))],
    }
}

/// Adds to existing keys `keys`: single values, several at once, with a
/// matching `WINDOW` for the keys made with one.
fn more_adds(
    keys: std::ops::Range<usize>,
    numbers: &mut Numbers,
) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for _ in 0..6 {
        for i in keys.clone() {
            let key = format!("key:{i}");
            let count = numbers.next(4) + 1;
            let mut command = cmd(&["MAVG.ADD", &key]);
            if i % 5 == 1 {
                command.extend(cmd(&["WINDOW", &(1 + i % 7).to_string()]));
            }
            command.extend(numbers.values(count));
            commands.push(command);
        }
    }
    commands
}

/// Sends `commands` in one pipeline; none may fail.
fn run(conn: &mut RawConn, commands: &[Vec<String>]) -> TestResult {
    for (reply, command) in conn.pipeline(commands)?.iter().zip(commands) {
        if reply.is_error() {
            return fail(format!("{command:?} replied {reply:?}"));
        }
    }
    Ok(())
}

/// Writes that take other paths to the primary: a key created inside
/// MULTI/EXEC, one created by a script, one deleted and created again, and
/// failed commands that must change nothing anywhere.
fn other_paths(conn: &mut RawConn) -> TestResult {
    run(
        conn,
        &[
            cmd(&["MULTI"]),
            cmd(&["MAVG.ADD", "multi", "1", "2"]),
            cmd(&["MAVG.ADD", "multi", "3"]),
            cmd(&["EXEC"]),
        ],
    )?;
    let script = "return redis.call('MAVG.ADD', KEYS[1], '4', '5')";
    conn.ok(&["EVAL", script, "1", "script"])?;
    conn.ok(&["DEL", "key:0"])?;
    conn.ok(&["MAVG.ADD", "key:0", "WINDOW", "3", "6", "7", "8", "9"])?;
    conn.err(&["MAVG.ADD", "key:1", "1", "abc"])?;
    conn.err(&["MAVG.ADD", "failed", "WINDOW", "0", "1"])?;
    conn.err(&["MAVG.CREATE", "key:2", "WINDOW", "3"])?;
    Ok(())
}

/// Every key the load writes.
fn all_keys() -> Vec<String> {
    let mut keys: Vec<String> =
        (0..KEY_COUNT).map(|i| format!("key:{i}")).collect();
    keys.extend(["multi", "script", "failed"].map(String::from));
    keys
}

/// An `INFO replication` field, as a number.
fn replication_field(conn: &mut RawConn, field: &str) -> TestResult<i64> {
    let reply = conn.ok(&["INFO", "replication"])?;
    let text = reply.text().context("INFO replication text")?;
    let prefix = format!("{field}:");
    let line = text.lines().find(|line| line.starts_with(&prefix));
    let value = line.context(format!("{field} in INFO replication"))?;
    value[prefix.len()..]
        .trim()
        .parse()
        .context(field.to_string())
}

/// Waits until the replica has processed everything the primary wrote.
fn wait_caught_up(primary: &mut RawConn, replica: &mut RawConn) -> TestResult {
    let acked = primary.ok(&["WAIT", "1", "30000"])?;
    assert_eq!(acked, Reply::Int(1), "replicas acknowledging the writes");
    let target = replication_field(primary, "master_repl_offset")?;
    wait_until("the replica's offset catches up", SYNC_TIMEOUT, || {
        Ok(replication_field(replica, "slave_repl_offset")? >= target)
    })
}

/// Each key's snapshot and digest.
fn state(conn: &mut RawConn) -> TestResult<Vec<(Snapshot, Reply)>> {
    all_keys()
        .iter()
        .map(|key| {
            let digest = conn.ok(&["DEBUG", "DIGEST-VALUE", key])?;
            Ok((snapshot(conn, key)?, digest))
        })
        .collect()
}

#[test]
fn a_replica_holds_the_same_keys_and_ids() -> TestResult {
    // Full sync starts at once instead of waiting 5 s for more replicas.
    let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"])?;
    let replica = Server::start()?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
    let half = KEY_COUNT / 2;

    let before: Vec<Vec<String>> =
        (0..half).flat_map(|i| creation(i, &mut numbers)).collect();
    run(&mut writer, &before)?;
    run(&mut writer, &more_adds(0..half, &mut numbers))?;
    let port = primary.port().to_string();
    reader.ok(&["REPLICAOF", "127.0.0.1", &port])?;
    let after: Vec<Vec<String>> = (half..KEY_COUNT)
        .flat_map(|i| creation(i, &mut numbers))
        .collect();
    run(&mut writer, &after)?;
    run(&mut writer, &more_adds(0..KEY_COUNT, &mut numbers))?;
    other_paths(&mut writer)?;
    wait_caught_up(&mut writer, &mut reader)?;

    let on_primary = state(&mut writer)?;
    let on_replica = state(&mut reader)?;
    for ((key, mine), theirs) in
        all_keys().iter().zip(&on_primary).zip(&on_replica)
    {
        assert_eq!(theirs, mine, "{key} on the replica");
    }
    let key_count = Reply::Int(KEY_COUNT as i64 + 2);
    assert_eq!(writer.ok(&["DBSIZE"])?, key_count, "keys on the primary");
    assert_eq!(reader.ok(&["DBSIZE"])?, key_count, "keys on the replica");
    Ok(())
}

/// The `DEBUG DIGEST-VALUE` of key `d` made afresh by `commands`.
fn digest_of(conn: &mut RawConn, commands: &[&[&str]]) -> TestResult<Reply> {
    conn.ok(&["DEL", "d"])?;
    for command in commands {
        conn.ok(command)?;
    }
    conn.ok(&["DEBUG", "DIGEST-VALUE", "d"])
}

#[test]
fn digests_cover_every_field() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let create = |window, tag, seq| {
        [
            "MAVG.CREATE",
            "d",
            "WINDOW",
            window,
            "IDTAG",
            tag,
            "SEQ",
            seq,
        ]
    };
    let tag = "0123456789abcdef";
    let base = create("3", tag, "5");
    let values: &[&str] = &["MAVG.ADD", "d", "1", "2"];
    let variants: [(&str, [&[&str]; 2]); 5] = [
        ("window", [&create("4", tag, "5"), values]),
        ("tag", [&create("3", "0123456789abcdee", "5"), values]),
        ("sequence", [&create("3", tag, "6"), values]),
        ("a value", [&base, &["MAVG.ADD", "d", "1", "3"]]),
        ("the order", [&base, &["MAVG.ADD", "d", "2", "1"]]),
    ];

    let digest = digest_of(&mut conn, &[&base, values])?;
    let zero = Reply::Array(vec![Reply::status(&"0".repeat(40))]);
    assert_ne!(digest, zero, "a digest of nothing");
    assert_eq!(digest_of(&mut conn, &[&base, values])?, digest);
    for (field, commands) in variants {
        let other = digest_of(&mut conn, &commands)?;
        assert_ne!(other, digest, "the digest misses {field}");
    }
    Ok(())
}
