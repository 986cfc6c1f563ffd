//! A Redis Cluster of servers with the module loaded, owned by one test.
//!
//! The same shape as `scripts/cluster.sh`: 3 primaries and 3 replicas on
//! 127.0.0.1, `--cluster-node-timeout 2000`, no persistence, full syncs
//! without the 5 s wait for more replicas, made with `redis-cli --cluster
//! create ... --cluster-replicas 1`. Each node is a [`Server`], so it gets
//! a free port and a directory of its own, and dropping the cluster kills
//! every node and removes the directories, even when the test fails.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use super::resp::{RawConn, Reply};
use super::server::{info_field, wait_until, Server};
use super::{fail, Context, TestResult};

/// The nodes: three primaries, each with one replica.
const NODES: usize = 6;

/// The node timeout: how long a node may be silent before the others
/// suspect it, as in `scripts/cluster.sh`.
pub const NODE_TIMEOUT_MS: u64 = 2_000;

/// How long the cluster may take to settle (after creation or a
/// failover): generous, for a loaded two-core machine.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a reply through the cluster client may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running cluster. Dropping it kills every node.
pub struct Cluster {
    /// The nodes by port; a node killed by the test is gone from here.
    nodes: BTreeMap<u16, Server>,
}

/// One line of `CLUSTER NODES`, as a node sees another (or itself).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub id: String,
    pub port: u16,
    /// `myself`, `master`, `slave`, `fail`, `fail?`, ...
    pub flags: Vec<String>,
    /// The id of its primary, for a replica.
    pub primary: Option<String>,
    /// The slot ranges it serves, both ends included.
    pub slots: Vec<(u16, u16)>,
}

impl NodeView {
    /// Whether the node is a primary that nobody marks as failed.
    pub fn is_live_primary(&self) -> bool {
        self.has_flag("master") && !self.has_flag("fail")
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether the node serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

impl Cluster {
    /// Starts six nodes, makes them a cluster and waits until it has
    /// settled (see [`Cluster::wait_settled`]).
    pub fn start() -> TestResult<Cluster> {
        let timeout = NODE_TIMEOUT_MS.to_string();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &timeout,
            "--repl-diskless-sync-delay",
            "0",
        ];
        let mut nodes = BTreeMap::new();
        for _ in 0..NODES {
            let node = Server::start_with(&args)?;
            nodes.insert(node.port(), node);
        }
        let cluster = Cluster { nodes };
        cluster.create()?;
        cluster.wait_settled(NODES)?;
        Ok(cluster)
    }

    /// Runs `redis-cli --cluster create` on the nodes.
    fn create(&self) -> TestResult {
        let addresses: Vec<String> = self
            .nodes
            .keys()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        redis_cli(&args)
    }

    /// Moves `slots` slots, with their keys, from the primary with id
    /// `from` to the one with id `to`, with `redis-cli --cluster
    /// reshard` (which moves keys with `MIGRATE`, so `DUMP`/`RESTORE`).
    pub fn reshard(&self, from: &str, to: &str, slots: usize) -> TestResult {
        let seed = format!("127.0.0.1:{}", self.ports()[0]);
        let slots = slots.to_string();
        redis_cli(&[
            "--cluster",
            "reshard",
            &seed,
            "--cluster-from",
            from,
            "--cluster-to",
            to,
            "--cluster-slots",
            &slots,
            "--cluster-yes",
        ])
    }

    /// The ports of the nodes still running.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.keys().copied().collect()
    }

    /// The node on `port`.
    pub fn node(&self, port: u16) -> TestResult<&Server> {
        self.nodes.get(&port).context(format!("node {port}"))
    }

    /// A plain connection to the node on `port`.
    pub fn connect(&self, port: u16) -> TestResult<RawConn> {
        self.node(port)?.connect()
    }

    /// A connection through the `redis` crate's cluster client, given
    /// every node as a seed; it routes each command by its key's slot.
    pub fn client(&self) -> TestResult<redis::cluster::ClusterConnection> {
        let seeds: Vec<String> = self
            .ports()
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect();
        // The crate waits up to 655 s between retries by default; a test
        // would rather fail.
        let client = redis::cluster::ClusterClientBuilder::new(seeds)
            .response_timeout(REPLY_TIMEOUT)
            .retries(8)
            .min_retry_wait(100)
            .max_retry_wait(2_000)
            .build()
            .context("building the cluster client")?;
        client.get_connection().context("cluster client connection")
    }

    /// Kills the node on `port` with SIGKILL, without warning the others.
    pub fn kill(&mut self, port: u16) -> TestResult {
        let node = self.nodes.remove(&port);
        drop(node.context(format!("node {port} to kill"))?);
        Ok(())
    }

    /// `CLUSTER NODES` as the node on `port` sees the cluster.
    pub fn view(&self, port: u16) -> TestResult<Vec<NodeView>> {
        let reply = self.connect(port)?.ok(&["CLUSTER", "NODES"])?;
        let text = reply.text().context("CLUSTER NODES text")?;
        text.lines().map(parse_node_line).collect()
    }

    /// Waits until every running node reports `cluster_state:ok`, knows
    /// `known` nodes and sees the same nodes in the same roles (the same
    /// primaries serving the same slots, the same replicas of each, the
    /// same failed nodes), and every replica's link to its primary is up.
    pub fn wait_settled(&self, known: usize) -> TestResult {
        let mut last = String::new();
        let settled =
            wait_until("the cluster settles", SETTLE_TIMEOUT, || {
                let unsettled = self.unsettled(known)?;
                let done = unsettled.is_none();
                last = unsettled.unwrap_or_default();
                Ok(done)
            });
        settled.context(format!("last seen: {last}"))
    }

    /// What keeps the cluster from being settled, if anything.
    fn unsettled(&self, known: usize) -> TestResult<Option<String>> {
        let known_line = format!("cluster_known_nodes:{known}\r");
        let mut views = Vec::new();
        for port in self.ports() {
            let mut conn = self.connect(port)?;
            let info = conn.ok(&["CLUSTER", "INFO"])?;
            let text = info.text().unwrap_or("");
            if !text.contains("cluster_state:ok")
                || !text.contains(&known_line)
            {
                return Ok(Some(format!("node {port}:\n{text}")));
            }
            let role = info_field(&mut conn, "replication", "role")?;
            let link = "master_link_status";
            if role == "slave"
                && info_field(&mut conn, "replication", link)? != "up"
            {
                return Ok(Some(format!("replica {port} is not in sync")));
            }
            views.push(topology(self.view(port)?));
        }
        if views.windows(2).any(|pair| pair[0] != pair[1]) {
            return Ok(Some(format!("the nodes disagree: {views:?}")));
        }
        Ok(None)
    }

    /// The primaries serving slots, as the node on `port` sees them.
    pub fn primaries(&self, port: u16) -> TestResult<Vec<NodeView>> {
        let view = self.view(port)?;
        Ok(view
            .into_iter()
            .filter(|node| node.is_live_primary() && !node.slots.is_empty())
            .collect())
    }

    /// The replicas of the primary with id `primary`, as the node on
    /// `port` sees them.
    pub fn replicas_of(
        &self,
        port: u16,
        primary: &str,
    ) -> TestResult<Vec<NodeView>> {
        let view = self.view(port)?;
        Ok(view
            .into_iter()
            .filter(|node| node.primary.as_deref() == Some(primary))
            .collect())
    }

    /// The last lines of every running node's log, for failure messages.
    pub fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|(port, node)| format!("node {port}:\n{}", node.log_tail()))
            .collect::<Vec<String>>()
            .join("\n")
    }
}

/// Runs `redis-cli` with `args`, failing with its output if it fails.
fn redis_cli(args: &[&str]) -> TestResult {
    let output = Command::new("redis-cli")
        .args(args)
        .output()
        .context(format!("running redis-cli {}", args.join(" ")))?;
    if !output.status.success() {
        return fail(format!(
            "redis-cli {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// A `CLUSTER NODES` view as every node should share it: without
/// `myself`, by port.
fn topology(mut view: Vec<NodeView>) -> Vec<NodeView> {
    for node in &mut view {
        node.flags.retain(|flag| flag != "myself");
    }
    view.sort_by_key(|node| node.port);
    view
}

/// Reads one line of `CLUSTER NODES`:
/// `id ip:port@bus flags primary ping pong epoch link slot...`.
fn parse_node_line(line: &str) -> TestResult<NodeView> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [id, address, flags, primary, _ping, _pong, _epoch, _link, slots @ ..] =
        &fields[..]
    else {
        return fail(format!("CLUSTER NODES line {line:?}"));
    };
    let port = address
        .split(['@', ','])
        .next()
        .and_then(|host_port| host_port.rsplit(':').next())
        .context(format!("port in {address:?}"))?;
    let slots = slots
        .iter()
        // `[slot->-id]` and `[slot-<-id]` are slots being migrated.
        .filter(|range| !range.starts_with('['))
        .map(|range| parse_slot_range(range))
        .collect::<TestResult<Vec<(u16, u16)>>>()?;
    Ok(NodeView {
        id: id.to_string(),
        port: port.parse().context(format!("port {port:?}"))?,
        flags: flags.split(',').map(String::from).collect(),
        primary: (*primary != "-").then(|| primary.to_string()),
        slots,
    })
}

/// Reads `a-b` or `a` as a range of slots.
fn parse_slot_range(range: &str) -> TestResult<(u16, u16)> {
    let (first, last) = range.split_once('-').unwrap_or((range, range));
    let slot = |text: &str| -> TestResult<u16> {
        text.parse().context(format!("slot range {range:?}"))
    };
    Ok((slot(first)?, slot(last)?))
}

/// The slot of each key, as `CLUSTER KEYSLOT` on `conn`'s node says.
pub fn key_slots(conn: &mut RawConn, keys: &[String]) -> TestResult<Vec<u16>> {
    let commands: Vec<Vec<&str>> = keys
        .iter()
        .map(|key| vec!["CLUSTER", "KEYSLOT", key.as_str()])
        .collect();
    conn.pipeline(&commands)?
        .iter()
        .map(|reply| match reply {
            Reply::Int(slot) => u16::try_from(*slot).context("a slot"),
            other => fail(format!("CLUSTER KEYSLOT replied {other:?}")),
        })
        .collect()
}
