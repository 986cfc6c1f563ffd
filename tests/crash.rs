//! A crash loses no acknowledged add and half-applies none.
//!
//! A server with `appendonly yes` and `appendfsync always` takes a stream
//! of pipelined five-value `MAVG.ADD`s on a few keys (and, now and then,
//! one that creates a key, which propagates as `MULTI`, `MAVG.CREATE`,
//! `MAVG.ADD`, `EXEC`). Once enough adds are acknowledged the server is
//! killed with SIGKILL while commands are still in flight, then started
//! again on the same directory, from its AOF. Seven rounds of this run on
//! the same directory, with batches of 1 to 200 commands, three of them
//! while an AOF rewrite runs or has just run.
//!
//! Redis executes commands in the order they arrive and writes them to the
//! AOF in that order, so what survives must be the acknowledged adds plus
//! a prefix (maybe empty) of the unacknowledged ones, each add whole. After
//! each restart every key must be exactly what replaying some such prefix
//! gives: its last `window` values in order with the ids the server
//! replied (or, for an unacknowledged add, the ids that follow), and
//! `MAVG.INFO`'s `length` and `added` to match.
//!
//! SIGKILL ends the process, not the machine: the kernel keeps what Redis
//! wrote, so this tests that Redis logs an add before it acknowledges it
//! and that the module's commands replay whole. Losing power is another
//! matter, which `appendfsync always` covers and no test here can.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{channel, Sender};
use std::thread;
use std::time::Duration;

use common::mavg::{ids_of, info, ElementId};
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::{fail, Context, TestResult};

/// One round of the test.
#[derive(Clone, Copy)]
struct Round {
    /// Commands sent at once.
    batch: usize,
    /// Acknowledged adds after which the kill is sent. The stream goes on
    /// until the kill lands, so it lands among a batch's commands,
    /// wherever the server then is: reading them, executing them, writing
    /// the AOF or replying.
    kill_after: usize,
    /// Whether a `BGREWRITEAOF` starts with the stream: the kill then
    /// lands during the rewrite or after it, and the restart loads the
    /// rewritten base (an RDB preamble) and the increments since.
    rewrite: bool,
}

const fn round(batch: usize, kill_after: usize, rewrite: bool) -> Round {
    Round {
        batch,
        kill_after,
        rewrite,
    }
}

const ROUNDS: [Round; 7] = [
    round(64, 1_500, false),
    round(64, 2_501, true),
    round(1, 700, false),
    round(7, 1_003, false),
    round(200, 3_333, true),
    round(16, 64, false),
    round(32, 2_000, true),
];

/// Values in one `MAVG.ADD`.
const VALUES_PER_ADD: usize = 5;

/// Every this many commands, one creates a new key.
const FRESH_EVERY: usize = 50;

/// The window of the keys made during the stream.
const FRESH_WINDOW: usize = 3;

/// The bound on one round's stream, should the kill never land.
const MAX_COMMANDS: usize = 200_000;

/// How long a round may take to reach its kill point, on a loaded machine.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

/// The keys every round writes, and their windows: one that keeps every
/// value ever added, one a multiple of an add, one that wraps part way
/// through an add, and one that keeps a single value.
const STEADY: [(&str, usize); 4] = [
    ("steady:all", 1_000_000),
    ("steady:20", 20),
    ("steady:7", 7),
    ("steady:1", 1),
];

/// One `MAVG.ADD` of the stream.
#[derive(Clone, Debug)]
struct Add {
    key: String,
    window: usize,
    /// Whether it creates its key (it then says `WINDOW`).
    creates: bool,
    values: Vec<f64>,
}

impl Add {
    /// The `n`th command of round `round`. Values are distinct across the
    /// whole test and exact in binary, so they compare exactly.
    fn nth(round: usize, n: usize) -> Add {
        let (key, window, creates) = if n % FRESH_EVERY == FRESH_EVERY - 1 {
            (format!("fresh:{round}:{n}"), FRESH_WINDOW, true)
        } else {
            let (key, window) = STEADY[n % STEADY.len()];
            (key.to_string(), window, false)
        };
        let base = (round * MAX_COMMANDS + n) as f64;
        let values = (1..=VALUES_PER_ADD)
            .map(|j| base + j as f64 / 8.0)
            .collect();
        Add {
            key,
            window,
            creates,
            values,
        }
    }

    fn command(&self) -> Vec<String> {
        let mut words = vec!["MAVG.ADD".to_string(), self.key.clone()];
        if self.creates {
            words.extend(["WINDOW".to_string(), self.window.to_string()]);
        }
        words.extend(self.values.iter().map(f64::to_string));
        words
    }
}

/// A key as the adds so far make it.
#[derive(Clone, Debug, PartialEq)]
struct KeyState {
    window: usize,
    tag: u64,
    /// Values ever added: the sequence number of the next one.
    added: u64,
    /// The window's values, oldest first, as bits, with their sequence
    /// numbers.
    values: VecDeque<(u64, u64)>,
}

impl KeyState {
    /// Appends `values`, checking `ids` when the server replied them.
    fn push(
        &mut self,
        values: &[f64],
        ids: Option<&[ElementId]>,
    ) -> TestResult {
        if let Some(ids) = ids {
            let expected: Vec<ElementId> = (0..values.len() as u64)
                .map(|i| ElementId {
                    tag: self.tag,
                    seq: self.added + i,
                })
                .collect();
            if ids != expected {
                return fail(format!("replied {ids:?}, not {expected:?}"));
            }
        }
        for value in values {
            self.values.push_back((value.to_bits(), self.added));
            self.added += 1;
            if self.values.len() > self.window {
                self.values.pop_front();
            }
        }
        Ok(())
    }
}

/// Every key by name; a key absent here must not exist.
type Keys = BTreeMap<String, KeyState>;

/// Applies `add` to `keys`. A key it creates gets the tag of its first id
/// when the server replied, or else `tag_if_unknown` (what the server
/// holds, since no reply said otherwise).
fn apply(
    keys: &mut Keys,
    add: &Add,
    ids: Option<&[ElementId]>,
    tag_if_unknown: Option<u64>,
) -> TestResult {
    if add.creates && !keys.contains_key(&add.key) {
        let replied = ids.and_then(|ids| ids.first()).map(|id| id.tag);
        let Some(tag) = replied.or(tag_if_unknown) else {
            return fail(format!("{} has no tag to expect", add.key));
        };
        let state = KeyState {
            window: add.window,
            tag,
            added: 0,
            values: VecDeque::new(),
        };
        keys.insert(add.key.clone(), state);
    }
    let state = keys
        .get_mut(&add.key)
        .context(format!("{} before its creation", add.key))?;
    state
        .push(&add.values, ids)
        .context(format!("ids of {:?}", add.command()))
}

/// What one round's stream sent, and the ids of the adds acknowledged
/// (the first ones sent, in order).
struct Stream {
    sent: Vec<Add>,
    acked: Vec<Vec<ElementId>>,
}

/// Sends round `round`'s adds on `conn`, `batch` commands at a time,
/// until the connection breaks (the server was killed) or `MAX_COMMANDS`
/// are sent; says on `kill` when `kill_after` adds are acknowledged, and
/// goes on. An error reply fails.
fn stream(
    mut conn: RawConn,
    round: usize,
    batch: usize,
    (kill_after, kill): (usize, Sender<()>),
) -> TestResult<Stream> {
    let mut sent = Vec::new();
    let mut acked = Vec::new();
    while sent.len() < MAX_COMMANDS {
        let batch: Vec<Add> = (sent.len()..sent.len() + batch)
            .map(|n| Add::nth(round, n))
            .collect();
        let commands: Vec<Vec<String>> =
            batch.iter().map(Add::command).collect();
        sent.extend(batch);
        if conn.send(&commands).is_err() {
            break;
        }
        for command in &commands {
            let Ok(reply) = conn.read_reply() else {
                return Ok(Stream { sent, acked });
            };
            if reply.is_error() {
                return fail(format!("{command:?} replied {reply:?}"));
            }
            acked.push(ids_of(&reply)?);
            if acked.len() == kill_after {
                kill.send(()).context("asking for the kill")?;
            }
        }
    }
    Ok(Stream { sent, acked })
}

/// What the server holds for `key`: its `MAVG.INFO` and every value of
/// `MAVG.RANGE key 0 -1 WITHIDS`, checked against each other (the ids
/// carry the key's tag, count up by one and end at `added` - 1, and
/// `length` is the number of values), or `None` for a missing key.
fn observe(conn: &mut RawConn, key: &str) -> TestResult<Option<KeyState>> {
    let range = conn.ok(&["MAVG.RANGE", key, "0", "-1", "WITHIDS"])?;
    if conn.ok(&["EXISTS", key])? == Reply::Int(0) {
        if range != Reply::Array(vec![]) {
            return fail(format!("missing {key} has a range {range:?}"));
        }
        return Ok(None);
    }
    let info = info(conn, key)?;
    let items = range.items().context(format!("range of {key}"))?;
    let mut values = VecDeque::new();
    for pair in items.chunks(2) {
        let [value, id] = pair else {
            return fail(format!("odd range of {key}: {range:?}"));
        };
        let value = value.number().context(format!("{value:?}"))?;
        let id = ElementId::parse(id.text().context("an id's text")?)?;
        if id.tag != info.idtag {
            return fail(format!("{key}: {id:?} has not the key's tag"));
        }
        values.push_back((value.to_bits(), id.seq));
    }
    let seqs: Vec<u64> = values.iter().map(|(_, seq)| *seq).collect();
    let added = info.added as u64;
    let expected: Vec<u64> = (added - seqs.len() as u64..added).collect();
    if info.length as usize != values.len() || seqs != expected {
        return fail(format!("{key}: {info:?} against its range {seqs:?}"));
    }
    Ok(Some(KeyState {
        window: info.window as usize,
        tag: info.idtag,
        added,
        values,
    }))
}

/// Every key `keys` has or `sent` names, as the server holds it.
fn observe_all(
    conn: &mut RawConn,
    keys: &Keys,
    sent: &[Add],
) -> TestResult<Keys> {
    let mut names: Vec<&str> = keys.keys().map(String::as_str).collect();
    names.extend(sent.iter().map(|add| add.key.as_str()));
    names.sort();
    names.dedup();
    let mut held = Keys::new();
    for name in names {
        if let Some(state) = observe(conn, name)? {
            held.insert(name.to_string(), state);
        }
    }
    Ok(held)
}

/// How many of the unacknowledged adds `pending` survived: the one prefix
/// of them that, applied whole to `keys`, gives what the server `held`.
/// Returns the keys as that prefix leaves them.
fn surviving_prefix(
    keys: &Keys,
    pending: &[Add],
    held: &Keys,
) -> TestResult<(usize, Keys)> {
    let mut replayed = keys.clone();
    for applied in 0..=pending.len() {
        if &replayed == held {
            return Ok((applied, replayed));
        }
        let Some(add) = pending.get(applied) else {
            break;
        };
        let tag = held.get(&add.key).map(|state| state.tag);
        if add.creates && tag.is_none() {
            // The server lacks the key this add creates: no longer
            // prefix can match.
            break;
        }
        apply(&mut replayed, add, None, tag)?;
    }
    let differences: Vec<String> = keys
        .keys()
        .chain(held.keys())
        .filter(|name| keys.get(*name) != held.get(*name))
        .map(|name| {
            let summary = |state: Option<&KeyState>| {
                state.map(|s| (s.added, s.values.back().copied()))
            };
            format!(
                "{name}: acknowledged (added, newest) {:?}, held {:?}",
                summary(keys.get(name)),
                summary(held.get(name))
            )
        })
        .collect();
    fail(format!(
        "no prefix of the {} unacknowledged adds explains the server; \
         {} keys differ from the acknowledged state, first:\n{}",
        pending.len(),
        differences.len(),
        differences[..differences.len().min(10)].join("\n")
    ))
}

/// Runs round number `round` of `plan` against `server`: streams until
/// the kill point, kills and restarts the server, and checks what it
/// holds against `keys`, which it brings up to date.
fn crash_round(
    server: &mut Server,
    keys: &mut Keys,
    round: usize,
    plan: Round,
) -> TestResult {
    let conn = server.connect()?;
    let (kill, kill_point) = channel();
    let Round {
        batch, kill_after, ..
    } = plan;
    let writer =
        thread::spawn(move || stream(conn, round, batch, (kill_after, kill)));
    if plan.rewrite {
        server.connect()?.ok(&["BGREWRITEAOF"])?;
    }
    let reached = kill_point
        .recv_timeout(ROUND_TIMEOUT)
        .context("waiting for the kill point");

    // SIGKILL, then a start on the same directory, which replays the AOF.
    let restarted = server.restart().context("restarting after the kill");
    let stream = writer.join().map_err(|_| "the writer panicked")??;
    reached?;
    restarted?;
    if stream.sent.len() >= MAX_COMMANDS {
        return fail("the stream ended before the kill landed");
    }

    let acked = stream.acked.len();
    for (add, ids) in stream.sent.iter().zip(&stream.acked) {
        apply(keys, add, Some(ids), None)?;
    }
    let pending = &stream.sent[acked..];
    let held = observe_all(&mut server.connect()?, keys, pending)?;
    let (applied, replayed) = surviving_prefix(keys, pending, &held)
        .context(format!("{acked} adds acknowledged"))?;
    eprintln!(
        "round {round}: {acked} adds acknowledged, {} sent and not \
         acknowledged, {applied} of them applied",
        pending.len()
    );
    *keys = replayed;
    Ok(())
}

/// Creates the steady keys, with one value each.
fn create_steady_keys(conn: &mut RawConn, keys: &mut Keys) -> TestResult {
    for (key, window) in STEADY {
        let add = Add {
            key: key.to_string(),
            window,
            creates: true,
            values: vec![-1.5],
        };
        let ids = ids_of(&conn.ok(&add.command())?)?;
        apply(keys, &add, Some(&ids), None)?;
    }
    Ok(())
}

#[test]
fn a_crash_loses_no_acknowledged_add_and_splits_none() -> TestResult {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::start_with(&aof)?;
    let mut keys = Keys::new();
    create_steady_keys(&mut server.connect()?, &mut keys)?;

    for (round, plan) in ROUNDS.into_iter().enumerate() {
        if let Err(e) = crash_round(&mut server, &mut keys, round, plan) {
            let log = server.log_tail();
            return fail(format!("round {round}: {e}\nserver log:\n{log}"));
        }
    }

    // After the last restart, adds still continue every key's ids.
    let mut conn = server.connect()?;
    for (key, state) in keys.iter_mut() {
        let ids = ids_of(&conn.ok(&["MAVG.ADD", key, "0.5"])?)?;
        state.push(&[0.5], Some(&ids)).context(key.to_string())?;
        assert_eq!(observe(&mut conn, key)?.as_ref(), Some(&*state), "{key}");
    }
    Ok(())
}
