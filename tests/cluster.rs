//! MAVG in Redis Cluster: keys spread over the slots of three primaries,
//! every command routes by its one key through the `redis` crate's
//! cluster client (and a node that does not serve the key redirects it
//! with `MOVED`, as for Redis's own commands), resharding moves keys with
//! their values and ids, and a primary killed with SIGKILL fails over to
//! its replica without losing a replicated value or id; later adds
//! continue each key's id sequence on the new primary. And
//! `scripts/cluster.sh` (what `make cluster` runs) starts a cluster that
//! serves MAVG, and stops it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use common::cluster::{key_slots, Cluster, NodeView, SETTLE_TIMEOUT};
use common::mavg::ElementId;
use common::resp::{RawConn, Reply};
use common::server::{module_path, wait_until};
use common::{fail, Context, TestResult};
use redis::cluster::{cluster_pipe, ClusterConnection};
use redis::Value;

/// Keys written; named `series:N`, without a hash tag, so their slots
/// spread over the whole slot space.
const KEY_COUNT: usize = 3_000;

/// Keys per cluster pipeline while writing.
const BATCH: usize = 500;

/// The keys' window.
const WINDOW: usize = 4;

/// Values in the add that creates each key, then in the one that follows:
/// five in all, so the window of four has wrapped.
const ADDS: [usize; 2] = [3, 2];

/// Slots moved from one surviving primary to the other before the
/// failover.
const RESHARDED: usize = 2_000;

/// Keys on the failed-over slots that get one more value afterwards.
const ADDS_AFTER: usize = 200;

/// Each test here runs six servers: one cluster at a time, so that two
/// clusters do not compete for two cores while one fails over.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    // A test that failed while holding the lock leaves nothing running.
    ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(i: usize) -> String {
    format!("series:{i}")
}

/// Values `from..from + count` of key `i`: distinct across keys and exact
/// in binary, written as the module writes them back.
fn values(i: usize, from: usize, count: usize) -> Vec<String> {
    (from..from + count)
        .map(|j| (i as f64 + j as f64 / 8.0).to_string())
        .collect()
}

/// What a client sees of a key: `MAVG.RANGE key 0 -1 WITHIDS` and
/// `MAVG.INFO key`.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    range: Vec<String>,
    info: Value,
}

/// Creates every key with `MAVG.ADD key WINDOW n ...` (which propagates as
/// `MAVG.CREATE ... IDTAG tag SEQ 0` and the add), adds to each once
/// more, and checks the ids replied: one tag per key, distinct across
/// keys, and sequence numbers from 0 up. Returns each key's tag.
fn write_keys(conn: &mut ClusterConnection) -> TestResult<Vec<u64>> {
    let mut tags = Vec::with_capacity(KEY_COUNT);
    for batch in (0..KEY_COUNT).collect::<Vec<usize>>().chunks(BATCH) {
        let mut pipe = cluster_pipe();
        for &i in batch {
            pipe.cmd("MAVG.ADD")
                .arg(key(i))
                .arg("WINDOW")
                .arg(WINDOW)
                .arg(values(i, 0, ADDS[0]));
            pipe.cmd("MAVG.ADD")
                .arg(key(i))
                .arg(values(i, ADDS[0], ADDS[1]));
        }
        let replies: Vec<Vec<String>> =
            pipe.query(conn).context("writing the keys")?;
        for (&i, pair) in batch.iter().zip(replies.chunks(2)) {
            let ids = pair
                .concat()
                .iter()
                .map(|id| ElementId::parse(id))
                .collect::<TestResult<Vec<ElementId>>>()?;
            let tag = ids[0].tag;
            let expected: Vec<ElementId> = (0..ADDS.iter().sum::<usize>())
                .map(|seq| ElementId {
                    tag,
                    seq: seq as u64,
                })
                .collect();
            assert_eq!(ids, expected, "the ids of {}", key(i));
            tags.push(tag);
        }
    }
    let distinct: BTreeSet<u64> = tags.iter().copied().collect();
    assert_eq!(distinct.len(), KEY_COUNT, "every key has a tag of its own");
    Ok(tags)
}

/// Each key's snapshot, read through the cluster client one command at a
/// time.
fn snapshots(conn: &mut ClusterConnection) -> TestResult<Vec<Snapshot>> {
    (0..KEY_COUNT)
        .map(|i| {
            let range = redis::cmd("MAVG.RANGE")
                .arg(key(i))
                .arg(0)
                .arg(-1)
                .arg("WITHIDS")
                .query(conn)
                .context(format!("MAVG.RANGE {}", key(i)))?;
            let info = redis::cmd("MAVG.INFO")
                .arg(key(i))
                .query(conn)
                .context(format!("MAVG.INFO {}", key(i)))?;
            Ok(Snapshot { range, info })
        })
        .collect()
}

/// Checks that key `i`'s snapshot holds its last `WINDOW` values with
/// their ids.
fn check_snapshot(i: usize, tag: u64, snapshot: &Snapshot) -> TestResult {
    let added = ADDS.iter().sum::<usize>();
    let expected: Vec<String> = values(i, 0, added)
        .into_iter()
        .enumerate()
        .skip(added - WINDOW)
        .flat_map(|(seq, value)| {
            let seq = seq as u64;
            [value, ElementId { tag, seq }.text()]
        })
        .collect();
    if snapshot.range != expected {
        return fail(format!("{}: {:?}", key(i), snapshot.range));
    }
    Ok(())
}

/// How many keys of `slots` (one slot per key) each primary serves, as
/// the node on `port` sees the cluster, by primary port.
fn keys_per_primary(
    cluster: &Cluster,
    port: u16,
    slots: &[u16],
) -> TestResult<BTreeMap<u16, usize>> {
    let primaries = cluster.primaries(port)?;
    let mut counts: BTreeMap<u16, usize> =
        primaries.iter().map(|node| (node.port, 0)).collect();
    for slot in slots {
        let owner = primaries.iter().find(|node| node.serves(*slot));
        let owner = owner.context(format!("the primary of slot {slot}"))?;
        *counts.entry(owner.port).or_default() += 1;
    }
    Ok(counts)
}

/// Checks that each of the three primaries holds the keys the slot map
/// gives it, and that each holds some.
fn check_spread(
    cluster: &Cluster,
    port: u16,
    slots: &[u16],
) -> TestResult<Vec<u16>> {
    let counts = keys_per_primary(cluster, port, slots)?;
    assert_eq!(counts.len(), 3, "primaries serving slots: {counts:?}");
    for (&primary, &count) in &counts {
        assert!(count > 0, "no key on the primary {primary}: {counts:?}");
        let dbsize = cluster.connect(primary)?.ok(&["DBSIZE"])?;
        assert_eq!(dbsize, Reply::Int(count as i64), "keys on {primary}");
    }
    eprintln!("keys per primary port: {counts:?}");
    Ok(counts.into_keys().collect())
}

/// Checks that every MAVG command on key `i`, in slot `slot`, routes as
/// Redis's own commands do: a node that does not serve the slot redirects
/// it with `MOVED` to the primary that does, and that primary's replica,
/// after `READONLY`, answers the reads as the primary does and redirects
/// the writes.
fn check_routing(cluster: &Cluster, i: usize, slot: u16) -> TestResult {
    let any = cluster.ports()[0];
    let primaries = cluster.primaries(any)?;
    let owner = primaries.iter().find(|node| node.serves(slot));
    let owner = owner.context(format!("the primary of slot {slot}"))?;
    let replicas = cluster.replicas_of(any, &owner.id)?;
    let replica = replicas.first().context("the owner's replica")?;
    let moved = format!("MOVED {slot} 127.0.0.1:{}", owner.port);
    let key = key(i);
    let reads = [
        vec!["MAVG.AVG", &key],
        vec!["MAVG.GET", &key, "-1"],
        vec!["MAVG.RANGE", &key, "0", "-1", "WITHIDS"],
        vec!["MAVG.INFO", &key],
    ];
    let writes = [
        vec!["MAVG.ADD", &key, "1"],
        vec!["MAVG.CREATE", &key, "WINDOW", "3"],
    ];
    let mut on_owner = cluster.connect(owner.port)?;
    let answers = reads
        .iter()
        .map(|command| on_owner.ok(command))
        .collect::<TestResult<Vec<Reply>>>()?;

    for port in cluster.ports().into_iter().filter(|&p| p != owner.port) {
        let mut conn = cluster.connect(port)?;
        for command in reads.iter().chain(&writes) {
            assert_eq!(conn.err(command)?, moved, "{command:?} on {port}");
        }
    }
    let mut conn = cluster.connect(replica.port)?;
    conn.ok(&["READONLY"])?;
    for (command, answer) in reads.iter().zip(&answers) {
        assert_eq!(&conn.ok(command)?, answer, "{command:?} on the replica");
    }
    for command in &writes {
        assert_eq!(conn.err(command)?, moved, "{command:?} on the replica");
    }
    Ok(())
}

/// Kills the primary on `victim` and waits until its replica serves its
/// slots and the cluster is whole again; returns the new primary's port.
fn fail_over(cluster: &mut Cluster, victim: u16) -> TestResult<u16> {
    let witness = *cluster.ports().iter().find(|&&p| p != victim).unwrap();
    let view = cluster.view(victim)?;
    let victim_node = view.iter().find(|node| node.has_flag("myself"));
    let victim_node = victim_node.context("the victim's own line")?.clone();
    let replicas = cluster.replicas_of(witness, &victim_node.id)?;
    let [replica] = &replicas[..] else {
        return fail(format!("replicas of {victim}: {replicas:?}"));
    };

    let started = Instant::now();
    cluster.kill(victim)?;
    wait_until("the replica is promoted", SETTLE_TIMEOUT, || {
        let view = cluster.view(replica.port)?;
        let me = view.iter().find(|node| node.has_flag("myself"));
        let me = me.context("the replica's own line")?;
        Ok(me.has_flag("master") && me.slots == victim_node.slots)
    })?;
    cluster.wait_settled(6)?;
    eprintln!(
        "primary {victim} killed; replica {} serves its slots, and every \
         node reports cluster_state:ok, after {:.1} s",
        replica.port,
        started.elapsed().as_secs_f64()
    );
    Ok(replica.port)
}

/// Adds one value to each of `keys` and checks its id continues the
/// key's sequence, with its tag, and that the window moved on.
fn add_after_failover(
    conn: &mut ClusterConnection,
    keys: &[usize],
    tags: &[u64],
) -> TestResult {
    let added = ADDS.iter().sum::<usize>();
    for &i in keys {
        let value = values(i, added, 1);
        let ids: Vec<String> = redis::cmd("MAVG.ADD")
            .arg(key(i))
            .arg(&value)
            .query(conn)
            .context(format!("adding to {} after the failover", key(i)))?;
        let expected = ElementId {
            tag: tags[i],
            seq: added as u64,
        };
        assert_eq!(ids, [expected.text()], "the next id of {}", key(i));
        let newest: Vec<String> = redis::cmd("MAVG.RANGE")
            .arg(key(i))
            .arg(-1)
            .arg(-1)
            .arg("WITHIDS")
            .query(conn)?;
        assert_eq!(newest, [value[0].clone(), expected.text()], "{}", key(i));
    }
    Ok(())
}

#[test]
fn keys_fail_over_with_their_values_and_ids() -> TestResult {
    let _one = one_cluster_at_a_time();
    let mut cluster = Cluster::start()?;
    let mut conn = cluster.client()?;

    let tags = write_keys(&mut conn)?;
    let any = cluster.ports()[0];
    let keys: Vec<String> = (0..KEY_COUNT).map(key).collect();
    let slots = key_slots(&mut cluster.connect(any)?, &keys)?;
    let primaries = check_spread(&cluster, any, &slots)?;
    // Replication is asynchronous: a write acknowledged by a primary may
    // not have reached its replica when the primary dies, and a failover
    // then loses it. WAIT 1, sent to every primary on the connection that
    // wrote, returns once one replica has acknowledged everything written
    // there; from then on the writes survive the loss of their primary.
    let replicated: i64 =
        redis::cmd("WAIT").arg(1).arg(60_000).query(&mut conn)?;
    assert_eq!(replicated, 1, "replicas acknowledging, at the least");
    let before = snapshots(&mut conn)?;
    for (i, snapshot) in before.iter().enumerate() {
        check_snapshot(i, tags[i], snapshot)?;
    }
    for (i, &slot) in slots.iter().enumerate().take(10) {
        check_routing(&cluster, i, slot)?;
    }

    // The other two primaries trade slots, keys and all: resharding
    // moves a key with MIGRATE, that is DUMP and RESTORE.
    let view = cluster.view(any)?;
    let (victims, others): (Vec<NodeView>, Vec<NodeView>) = view
        .into_iter()
        .filter(|node| primaries.contains(&node.port))
        .partition(|node| node.serves(slots[0]));
    let ([victim], [from, to]) = (&victims[..], &others[..]) else {
        return fail(format!("primaries: {victims:?} {others:?}"));
    };
    cluster.reshard(&from.id, &to.id, RESHARDED)?;
    cluster.wait_settled(6)?;
    check_spread(&cluster, any, &slots)?;

    // The primary of the first key dies.
    let victim = victim.port;
    let promoted = fail_over(&mut cluster, victim)
        .context(format!("failing over\n{}", cluster.log_tails()))?;

    // The connection that wrote still sends the failed-over slots to the
    // dead primary: the `redis` crate's sync cluster client (0.27) reads
    // the slot map again on MOVED, or once it has lost every node, but
    // not when one node refuses connections, so it answers `Connection
    // refused` there for good. A new connection reads the new slot map,
    // as an application reconnecting would.
    let stale = redis::cmd("MAVG.INFO")
        .arg(key(0))
        .query::<Value>(&mut conn);
    eprintln!("the writing connection, on a failed-over key: {stale:?}");
    let mut conn = cluster.client()?;
    let after = snapshots(&mut conn).context("reading after the failover")?;
    for (i, (then, now)) in before.iter().zip(&after).enumerate() {
        assert_eq!(now, then, "{} after the failover", key(i));
    }
    let view = cluster.view(promoted)?;
    let new_primary = view.iter().find(|node| node.port == promoted);
    let new_primary = new_primary.context("the promoted node")?;
    let moved: Vec<usize> = (0..KEY_COUNT)
        .filter(|&i| new_primary.serves(slots[i]))
        .take(ADDS_AFTER)
        .collect();
    assert_eq!(moved.len(), ADDS_AFTER, "keys on the failed-over slots");
    add_after_failover(&mut conn, &moved, &tags)
}

/// Six free ports from `base` and their cluster bus ports (`base` + 10000
/// on), below the kernel's ephemeral range.
fn free_base() -> TestResult<u16> {
    let start = 20_000 + (std::process::id() % 200) as u16 * 10;
    let is_free =
        |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..200)
        .map(|step| 20_000 + (start - 20_000 + step * 10) % 2_000)
        .find(|&base| {
            (base..base + 6)
                .all(|port| is_free(port) && is_free(port + 10_000))
        })
        .context("six free ports for the cluster script")
}

/// A cluster that `scripts/cluster.sh start` started; dropping it runs
/// `scripts/cluster.sh stop`.
struct ScriptCluster {
    base: u16,
    dir: PathBuf,
}

impl ScriptCluster {
    /// Runs `scripts/cluster.sh command base`.
    fn run(&self, command: &str) -> TestResult<String> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
        let output = Command::new(script)
            .args([command, &self.base.to_string()])
            .env("MAVG_MODULE", module_path()?)
            .env("MAVG_CLUSTER_DIR", &self.dir)
            .output()
            .context(format!("running scripts/cluster.sh {command}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return fail(format!(
                "scripts/cluster.sh {command} failed:\n{stdout}{stderr}"
            ));
        }
        Ok(stdout)
    }
}

impl Drop for ScriptCluster {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

#[test]
fn the_cluster_script_serves_mavg_and_stops() -> TestResult {
    let _one = one_cluster_at_a_time();
    let base = free_base()?;
    let name = format!("redis-mavg-cluster-{}-{base}", std::process::id());
    let script = ScriptCluster {
        base,
        dir: std::env::temp_dir().join(name),
    };

    let said = script.run("start")?;
    let hint = format!("redis-cli -c -p {base}");
    assert!(said.contains(&hint), "the script says {said:?}");
    let seed = format!("redis://127.0.0.1:{base}/");
    let client = redis::cluster::ClusterClient::new(vec![seed])?;
    let mut conn = client.get_connection()?;
    for i in 0..300 {
        let ids: Vec<String> = redis::cmd("MAVG.ADD")
            .arg(key(i))
            .arg("WINDOW")
            .arg(2)
            .arg(values(i, 0, 3))
            .query(&mut conn)?;
        let average: f64 =
            redis::cmd("MAVG.AVG").arg(key(i)).query(&mut conn)?;
        assert_eq!((ids.len(), average), (3, i as f64 + 0.1875), "{}", key(i));
    }
    let mut primaries = 0;
    let mut keys = 0;
    for port in base..base + 6 {
        let mut node = RawConn::connect(port)?;
        let role = node.ok(&["INFO", "replication"])?;
        if role.text().unwrap_or("").contains("role:master") {
            primaries += 1;
            keys += node.ok(&["DBSIZE"])?.int().context("DBSIZE")?;
        }
    }
    assert_eq!((primaries, keys), (3, 300), "primaries and their keys");

    script.run("stop")?;
    assert!(RawConn::connect(base).is_err(), "a node still answers");
    assert!(!script.dir.exists(), "{:?} is left behind", script.dir);
    Ok(())
}
