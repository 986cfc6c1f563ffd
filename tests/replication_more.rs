//! Replication by every path Redis offers: a full sync through a file on
//! disk, streamed to a replica that stores it first, streamed to one that
//! loads it without disk (`repl-diskless-load on-empty-db` and `swapdb`),
//! a partial resync after a dropped link, and then the command stream.
//! After each, the replica must hold exactly what its primary holds: every
//! key's values, ids and `MAVG.INFO`, and the same `DEBUG DIGEST`. A
//! promoted replica must go on handing out ids its old primary never
//! handed out.

mod common;

use std::collections::HashSet;

use common::mavg::{add, dataset, ids_of, info, same_dataset};
use common::resp::{cmd, RawConn, Reply};
use common::server::{
    attach_replica, info_field, info_int, wait_caught_up, wait_link_up,
    wait_until, Server, SYNC_TIMEOUT,
};
use common::{fail, Context, TestResult};

/// Keys of the seed besides `big`.
const KEY_COUNT: usize = 30;

/// Values in `big`, past one RDB chunk of 8,192.
const BIG: usize = 10_000;

/// A primary that streams its RDB to replicas straight away.
const DISKLESS: [&str; 4] = [
    "--repl-diskless-sync",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

/// A small deterministic generator, so a failure can be replayed.
struct Numbers(u64);

impl Numbers {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }

    /// A value as text: integers, decimals, huge and tiny magnitudes.
    fn value(&mut self) -> String {
        match self.below(4) {
            0 => format!("{}", self.below(2000) as i64 - 1000),
            1 => format!("{}.{:03}", self.below(100), self.below(1000)),
            2 => format!("-{}e{}", self.below(9) + 1, self.below(300)),
            _ => format!("{}e-{}", self.below(9) + 1, self.below(320)),
        }
    }

    fn values(&mut self, count: u64) -> Vec<String> {
        (0..count).map(|_| self.value()).collect()
    }

    fn tag(&mut self) -> String {
        format!("{:016x}", self.below(u64::MAX))
    }
}

/// Every id the primary handed out, as its tag and sequence number.
type Seen = HashSet<(u64, u64)>;

/// Sends `commands` in one pipeline; none may fail. Records the ids of
/// every `MAVG.ADD` reply.
fn run(
    conn: &mut RawConn,
    commands: &[Vec<String>],
    seen: &mut Seen,
) -> TestResult {
    let replies = conn.pipeline(commands)?;
    for (command, reply) in commands.iter().zip(&replies) {
        if reply.is_error() {
            return fail(format!("{command:?} replied {reply:?}"));
        }
        let added: &[Reply] = match command[0].as_str() {
            "MAVG.ADD" if reply != &Reply::status("QUEUED") => {
                std::slice::from_ref(reply)
            }
            "EXEC" => reply.items().context("EXEC replies")?,
            _ => &[],
        };
        for ids in added.iter().filter(|r| r.items().is_some()) {
            seen.extend(ids_of(ids)?.iter().map(|id| (id.tag, id.seq)));
        }
    }
    Ok(())
}

/// `MAVG.ADD key [WINDOW window] values...` as a command.
fn add_command(
    key: &str,
    window: Option<u64>,
    values: Vec<String>,
) -> Vec<String> {
    let mut command = cmd(&["MAVG.ADD", key]);
    if let Some(window) = window {
        command.extend(cmd(&["WINDOW", &window.to_string()]));
    }
    command.extend(values);
    command
}

/// Keys of every shape, written before a replica attaches: `big`, past
/// one RDB chunk, and keys made by `MAVG.ADD` with and without `WINDOW`,
/// by `MAVG.CREATE` with and without a restored id space, wrapped or not.
fn seed(
    conn: &mut RawConn,
    numbers: &mut Numbers,
    seen: &mut Seen,
) -> TestResult {
    let mut commands = vec![cmd(&["MAVG.CREATE", "big", "WINDOW", "12000"])];
    for _ in 0..BIG / 1000 {
        commands.push(add_command("big", None, numbers.values(1000)));
    }
    for i in 0..KEY_COUNT {
        commands.extend(creation(i, numbers));
    }
    run(conn, &commands, seen)
}

/// The commands that make `key:i`, each shape of creation in turn.
fn creation(i: usize, numbers: &mut Numbers) -> Vec<Vec<String>> {
    let key = format!("key:{i}");
    let window = 1 + i as u64 % 7;
    let text = window.to_string();
    let create = cmd(&["MAVG.CREATE", &key, "WINDOW", &text]);
    match i % 5 {
        0 => vec![add_command(&key, None, numbers.values(1))],
        1 => vec![add_command(&key, Some(window), numbers.values(3))],
        2 => vec![create, add_command(&key, None, numbers.values(2))],
        3 => {
            let mut restored = create;
            let seq = numbers.below(1 << 40).to_string();
            restored.extend(cmd(&["IDTAG", &numbers.tag(), "SEQ", &seq]));
            vec![restored, add_command(&key, None, numbers.values(5))]
        }
        _ => vec![add_command(&key, Some(window), numbers.values(20))],
    }
}

/// Writes of every kind, for the command stream: adds to every key, keys
/// created by `MAVG.ADD` (propagated as `MAVG.CREATE` and `MAVG.ADD` in
/// `MULTI`) and by `MAVG.CREATE`, a key deleted and created again,
/// `MULTI`, a script, `COPY`, `RENAME`, and refused writes that must
/// change nothing on either side. `round` keeps the names of rounds apart.
fn stream(
    conn: &mut RawConn,
    round: usize,
    numbers: &mut Numbers,
    seen: &mut Seen,
) -> TestResult {
    let mut commands = Vec::new();
    for i in 0..KEY_COUNT {
        let count = numbers.below(3) + 1;
        let key = format!("key:{i}");
        commands.push(add_command(&key, None, numbers.values(count)));
    }
    commands.push(add_command("big", None, numbers.values(50)));
    let fresh = format!("r{round}:add");
    commands.push(add_command(&fresh, Some(4), numbers.values(6)));
    let created = format!("r{round}:create");
    let tag = numbers.tag();
    let create = ["MAVG.CREATE", &created, "WINDOW", "3", "IDTAG", &tag];
    commands.push(cmd(&create));
    commands.push(add_command(&created, None, numbers.values(2)));
    let reborn = format!("key:{}", round % KEY_COUNT);
    commands.push(cmd(&["DEL", &reborn]));
    commands.push(add_command(&reborn, Some(3), numbers.values(4)));
    commands.push(cmd(&["MULTI"]));
    commands.push(add_command("key:1", None, numbers.values(2)));
    commands.push(add_command(
        &format!("r{round}:multi"),
        None,
        numbers.values(2),
    ));
    commands.push(cmd(&["EXEC"]));
    let copy = format!("r{round}:copy");
    commands.push(cmd(&["COPY", "key:4", &copy]));
    commands.push(cmd(&["RENAME", &fresh, &format!("r{round}:renamed")]));
    run(conn, &commands, seen)?;

    let script = "return redis.call('MAVG.ADD', KEYS[1], ARGV[1])";
    let key = format!("r{round}:script");
    conn.ok(&["EVAL", script, "1", &key, &numbers.value()])?;
    conn.err(&["MAVG.ADD", "key:2", "1", "not-a-number"])?;
    conn.err(&["MAVG.ADD", "key:3", "WINDOW", "1000", "1"])?;
    conn.err(&["MAVG.CREATE", "key:4", "WINDOW", "3"])?;
    conn.err(&["MAVG.ADD", "never", "WINDOW", "0", "1"])?;
    Ok(())
}

/// Checks that the replica holds what the primary holds.
fn same_on_both(
    primary: &mut RawConn,
    replica: &mut RawConn,
    what: &str,
) -> TestResult {
    wait_caught_up(primary, replica)?;
    let expected = dataset(primary)?;
    assert!(expected.keys.len() > KEY_COUNT, "the dataset is there");
    same_dataset(&expected, &dataset(replica)?, what)
}

/// Seeds a primary, attaches the replica (which may hold a stale key that
/// the sync must drop), checks it after the full sync and after a stream
/// of writes. Returns both servers, for their logs.
fn sync_then_stream(
    primary_args: &[&str],
    replica_args: &[&str],
    stale_replica: bool,
) -> TestResult<(Server, Server)> {
    let primary = Server::start_with(primary_args)?;
    let replica = Server::start_with(replica_args)?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    let mut numbers = Numbers(0x2545_f491_4f6c_dd1d);
    let mut seen = Seen::new();
    seed(&mut writer, &mut numbers, &mut seen)?;
    if stale_replica {
        add(&mut reader, "stale", &["1", "2"])?;
    }

    attach_replica(&primary, &mut reader)?;
    let synced = same_on_both(&mut writer, &mut reader, "after the full sync");
    if let Err(error) = synced {
        let log = replica.log_tail();
        return fail(format!("{error}\nreplica log:\n{log}"));
    }
    assert_eq!(reader.ok(&["EXISTS", "stale"])?, Reply::Int(0));

    for round in 1..=3 {
        stream(&mut writer, round, &mut numbers, &mut seen)?;
    }
    same_on_both(&mut writer, &mut reader, "after the stream")?;
    Ok((primary, replica))
}

/// Fails unless `server`'s log has `line`, or Valkey's wording of it
/// (which says "primary" where Redis says "master").
fn logged(server: &Server, line: &str, what: &str) -> TestResult {
    let log = server.log();
    let valkey_line = line.replace("master", "primary");
    if log.contains(line) || log.contains(&valkey_line) {
        return Ok(());
    }
    fail(format!(
        "{what}: no {line:?} in the log:\n{}",
        server.log_tail()
    ))
}

#[test]
fn full_sync_through_a_file_on_disk() -> TestResult {
    let primary_args = ["--repl-diskless-sync", "no"];
    let (primary, _) = sync_then_stream(&primary_args, &[], true)?;
    logged(
        &primary,
        "with target: disk",
        "the primary's RDB went to disk",
    )
}

#[test]
fn full_sync_streamed_to_a_replica_that_stores_it() -> TestResult {
    let (primary, replica) = sync_then_stream(&DISKLESS, &[], true)?;
    logged(&primary, "with target: replicas sockets", "a diskless sync")?;
    logged(&replica, "from master with EOF to disk", "stored first")
}

#[test]
fn full_sync_streamed_to_a_replica_that_loads_it_without_disk() -> TestResult {
    let replica_args = ["--repl-diskless-load", "on-empty-db"];
    let (_, replica) = sync_then_stream(&DISKLESS, &replica_args, false)?;
    logged(
        &replica,
        "from master with EOF to parser",
        "a diskless load",
    )
}

#[test]
fn full_sync_to_a_replica_with_swapdb() -> TestResult {
    let replica_args = ["--repl-diskless-load", "swapdb"];
    sync_then_stream(&DISKLESS, &replica_args, true).map(|_| ())
}

/// Redis 7.0 loads with `swapdb` without disk only if every module sets
/// `REDISMODULE_OPTIONS_HANDLE_REPL_ASYNC_LOAD`; without it the replica
/// logs "Skipping diskless-load because there are modules that are not
/// aware of async replication" and stores the RDB on disk first.
#[test]
fn swapdb_loads_without_disk() -> TestResult {
    let replica_args = ["--repl-diskless-load", "swapdb"];
    let (_, replica) = sync_then_stream(&DISKLESS, &replica_args, true)?;
    logged(
        &replica,
        "from master with EOF to parser",
        "a diskless load",
    )
}

#[test]
fn a_dropped_link_resyncs_partially() -> TestResult {
    let primary = Server::start_with(&DISKLESS)?;
    let replica = Server::start()?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
    let mut seen = Seen::new();
    seed(&mut writer, &mut numbers, &mut seen)?;
    attach_replica(&primary, &mut reader)?;
    stream(&mut writer, 1, &mut numbers, &mut seen)?;
    same_on_both(&mut writer, &mut reader, "before the drop")?;
    let stat = |conn: &mut RawConn, name| info_int(conn, "stats", name);
    let partial = stat(&mut writer, "sync_partial_ok")?;
    let full = stat(&mut writer, "sync_full")?;

    let killed = reader.ok(&["CLIENT", "KILL", "TYPE", "master"])?;
    assert_eq!(killed, Reply::Int(1), "the link to the primary dropped");
    // Keep writing until the replica is back through a partial resync.
    let mut round = 2;
    wait_until("the replica resyncs", SYNC_TIMEOUT, || {
        stream(&mut writer, round, &mut numbers, &mut seen)?;
        round += 1;
        let link =
            info_field(&mut reader, "replication", "master_link_status")?;
        Ok(link == "up" && stat(&mut writer, "sync_partial_ok")? > partial)
    })?;
    wait_link_up(&mut reader)?;
    stream(&mut writer, round, &mut numbers, &mut seen)?;

    same_on_both(&mut writer, &mut reader, "after the partial resync")?;
    assert_eq!(stat(&mut writer, "sync_partial_ok")?, partial + 1);
    assert_eq!(stat(&mut writer, "sync_full")?, full, "no new full sync");
    Ok(())
}

#[test]
fn a_promoted_replica_continues_every_id_sequence() -> TestResult {
    let primary = Server::start_with(&DISKLESS)?;
    let replica = Server::start()?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    let mut numbers = Numbers(0xd1b5_4a32_d192_ed03);
    let mut seen = Seen::new();
    seed(&mut writer, &mut numbers, &mut seen)?;
    attach_replica(&primary, &mut reader)?;
    for round in 1..=2 {
        stream(&mut writer, round, &mut numbers, &mut seen)?;
    }
    same_on_both(&mut writer, &mut reader, "before the promotion")?;

    assert_eq!(reader.ok(&["REPLICAOF", "NO", "ONE"])?, Reply::status("OK"));
    let role = info_field(&mut reader, "replication", "role")?;
    assert_eq!(role, "master", "the promoted replica's role");

    let keys = dataset(&mut writer)?.keys;
    for key in keys.iter().map(|key| &key.name) {
        let old = info(&mut writer, key)?;
        let ids = add(&mut reader, key, &["1.5", "-2.5"])?;
        let seqs: Vec<u64> = ids.iter().map(|id| id.seq).collect();
        let next = old.added as u64;
        assert_eq!(seqs, [next, next + 1], "sequence numbers of {key}");
        for id in &ids {
            assert_eq!(id.tag, old.idtag, "the tag of {key}");
            let again = seen.contains(&(id.tag, id.seq));
            assert!(!again, "{key} handed out {id:?} again");
        }
    }
    assert!(seen.len() > BIG, "ids recorded: {}", seen.len());
    Ok(())
}
