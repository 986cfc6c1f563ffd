//! Keyspace notifications of the module class (`d`): `mavg.create` when a
//! key is created, by `MAVG.CREATE` or by an `MAVG.ADD` that makes it,
//! then `mavg.add` for every successful `MAVG.ADD`; nothing for a refused
//! write or a read. Subscribers use `PSUBSCRIBE` on both the keyspace and
//! the keyevent channels, over RESP2 and RESP3, on a primary and on its
//! replica.
//!
//! No test waits for silence: after the commands that must announce
//! nothing, a marker command that announces something is sent, and the
//! next events read must be the marker's.

mod common;

use common::mavg::SEQ_MAX;
use common::resp::{RawConn, Reply};
use common::server::{attach_replica, wait_caught_up, Server};
use common::{fail, Context, TestResult};

/// One notification: its channel and its message.
type Event = (String, String);

/// Module events only, on both channels.
const EVENTS: [&str; 2] = ["--notify-keyspace-events", "KEd"];

/// A connection subscribed to every keyspace and keyevent channel of
/// database 0.
struct Subscriber {
    conn: RawConn,
}

impl Subscriber {
    /// Subscribes `conn` and reads the two confirmations.
    fn new(mut conn: RawConn) -> TestResult<Subscriber> {
        let patterns = ["__keyspace@0__:*", "__keyevent@0__:*"];
        let first = conn.call(&["PSUBSCRIBE", patterns[0], patterns[1]])?;
        let confirmations = [first, conn.read_reply()?];
        for (reply, pattern) in confirmations.iter().zip(patterns) {
            if parts(reply)?[..2] != ["psubscribe", pattern] {
                return fail(format!("PSUBSCRIBE replied {reply:?}"));
            }
        }
        Ok(Subscriber { conn })
    }

    /// The next `count` events, in the order they came.
    fn next(&mut self, count: usize) -> TestResult<Vec<Event>> {
        (0..count)
            .map(|_| {
                let reply = self.conn.read_reply()?;
                match &parts(&reply)?[..] {
                    [kind, _, channel, message] if kind == "pmessage" => {
                        Ok((channel.clone(), message.clone()))
                    }
                    _ => fail(format!("not a pmessage: {reply:?}")),
                }
            })
            .collect()
    }
}

/// The texts of a RESP2 array or a RESP3 push message.
fn parts(reply: &Reply) -> TestResult<Vec<String>> {
    let items = match reply {
        Reply::Array(items) | Reply::Push(items) => items,
        _ => return fail(format!("not a message: {reply:?}")),
    };
    items
        .iter()
        .map(|item| match item {
            Reply::Int(n) => Ok(n.to_string()),
            _ => Ok(item.text().context(format!("{item:?}"))?.to_string()),
        })
        .collect()
}

/// The two events, keyspace then keyevent, that announce `event` on `key`.
fn announced(key: &str, event: &str) -> Vec<Event> {
    vec![
        (format!("__keyspace@0__:{key}"), event.to_string()),
        (format!("__keyevent@0__:{event}"), key.to_string()),
    ]
}

/// The events of `MAVG.ADD` making `key`: its creation, then the add.
fn created_by_add(key: &str) -> Vec<Event> {
    [announced(key, "mavg.create"), announced(key, "mavg.add")].concat()
}

/// Creates the key `marker` and checks that its creation is the next
/// thing `subscriber` hears: everything sent before announced nothing
/// more than what was read already.
fn nothing_else(
    writer: &mut RawConn,
    subscriber: &mut Subscriber,
    marker: &str,
    what: &str,
) -> TestResult {
    writer.ok(&["MAVG.CREATE", marker, "WINDOW", "1"])?;
    let heard = subscriber.next(2)?;
    assert_eq!(heard, announced(marker, "mavg.create"), "after {what}");
    Ok(())
}

#[test]
fn an_add_that_creates_a_key_announces_both() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut resp2 = Subscriber::new(server.connect()?)?;
    let mut resp3 = Subscriber::new(server.connect_resp3()?)?;

    writer.ok(&["MAVG.ADD", "windowed", "WINDOW", "3", "1", "2"])?;
    writer.ok(&["MAVG.ADD", "default", "1"])?;

    let expected =
        [created_by_add("windowed"), created_by_add("default")].concat();
    assert_eq!(resp2.next(8)?, expected, "a RESP2 subscriber");
    assert_eq!(resp3.next(8)?, expected, "a RESP3 subscriber");
    nothing_else(&mut writer, &mut resp2, "marker", "the adds")
}

#[test]
fn an_add_to_an_existing_key_announces_the_add_only() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut subscriber = Subscriber::new(server.connect()?)?;
    writer.ok(&["MAVG.ADD", "k", "WINDOW", "3", "1"])?;
    assert_eq!(subscriber.next(4)?, created_by_add("k"));

    writer.ok(&["MAVG.ADD", "k", "2"])?;
    writer.ok(&["MAVG.ADD", "k", "WINDOW", "3", "3", "4", "5", "6"])?;

    let add = announced("k", "mavg.add");
    assert_eq!(subscriber.next(4)?, [add.clone(), add].concat());
    nothing_else(&mut writer, &mut subscriber, "marker", "the adds")
}

#[test]
fn create_announces_the_creation() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut subscriber = Subscriber::new(server.connect()?)?;

    writer.ok(&["MAVG.CREATE", "plain", "WINDOW", "5"])?;
    let tag = ["IDTAG", "0123456789abcdef", "SEQ", "7"];
    writer
        .ok(&[&["MAVG.CREATE", "tagged", "WINDOW", "2"][..], &tag].concat())?;

    let expected = [
        announced("plain", "mavg.create"),
        announced("tagged", "mavg.create"),
    ];
    assert_eq!(subscriber.next(4)?, expected.concat());
    nothing_else(&mut writer, &mut subscriber, "marker", "the creations")
}

#[test]
fn refused_writes_and_reads_announce_nothing() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut subscriber = Subscriber::new(server.connect()?)?;
    writer.ok(&["MAVG.CREATE", "k", "WINDOW", "3"])?;
    let last = SEQ_MAX.to_string();
    writer.ok(&["MAVG.CREATE", "full", "WINDOW", "2", "SEQ", &last])?;
    writer.ok(&["SET", "text", "not a series"])?;
    let created = [
        announced("k", "mavg.create"),
        announced("full", "mavg.create"),
    ];
    assert_eq!(subscriber.next(4)?, created.concat());

    let refused: [&[&str]; 11] = [
        &["MAVG.ADD", "new", "WINDOW", "3", "1", "abc"],
        &["MAVG.ADD", "new", "WINDOW", "0", "1"],
        &["MAVG.ADD", "new", "1e400"],
        &["MAVG.ADD", "k", "1", "abc"],
        &["MAVG.ADD", "k", "inf"],
        &["MAVG.ADD", "k", "WINDOW", "4", "1"],
        &["MAVG.ADD", "full", "1", "2"],
        &["MAVG.ADD", "text", "1"],
        &["MAVG.ADD", "k", "WINDOW"],
        &["MAVG.CREATE", "k", "WINDOW", "3"],
        &["MAVG.CREATE", "new", "WINDOW", "3", "BOGUS", "1"],
    ];
    for (i, command) in refused.iter().enumerate() {
        writer.err(command)?;
        let marker = format!("marker:{i}");
        let what = command.join(" ");
        nothing_else(&mut writer, &mut subscriber, &marker, &what)?;
    }
    assert_eq!(writer.ok(&["EXISTS", "new"])?, Reply::Int(0));

    let reads: [&[&str]; 4] = [
        &["MAVG.AVG", "k"],
        &["MAVG.GET", "k", "0"],
        &["MAVG.RANGE", "k", "0", "-1", "WITHIDS"],
        &["MAVG.INFO", "k"],
    ];
    for command in reads {
        writer.ok(command)?;
    }
    nothing_else(&mut writer, &mut subscriber, "marker:reads", "reads")
}

#[test]
fn the_events_are_of_the_module_class_only() -> TestResult {
    let server = Server::start()?;
    let mut writer = server.connect()?;
    let mut subscriber = Subscriber::new(server.connect()?)?;
    let set = |conn: &mut RawConn, classes: &str| {
        conn.ok(&["CONFIG", "SET", "notify-keyspace-events", classes])
    };

    set(&mut writer, "KEA")?;
    writer.ok(&["MAVG.ADD", "k", "1"])?;
    assert_eq!(subscriber.next(4)?, created_by_add("k"), "with A");

    // Every class but d: the marker, a SET, is the next event heard.
    set(&mut writer, "KEg$lshzxet")?;
    writer.ok(&["MAVG.ADD", "k", "2"])?;
    writer.ok(&["MAVG.ADD", "other", "3"])?;
    writer.ok(&["MAVG.CREATE", "third", "WINDOW", "2"])?;
    writer.ok(&["SET", "marker", "x"])?;
    assert_eq!(subscriber.next(2)?, announced("marker", "set"), "without d");
    Ok(())
}

#[test]
fn a_replica_announces_what_its_primary_announces() -> TestResult {
    let delay = ["--repl-diskless-sync-delay", "0"];
    let primary = Server::start_with(&[&EVENTS[..], &delay].concat())?;
    let replica = Server::start_with(&EVENTS)?;
    let mut writer = primary.connect()?;
    let mut reader = replica.connect()?;
    attach_replica(&primary, &mut reader)?;
    let mut on_primary = Subscriber::new(primary.connect()?)?;
    let mut on_replica = Subscriber::new(replica.connect()?)?;

    writer.ok(&["MAVG.ADD", "k", "WINDOW", "2", "1", "2", "3"])?;
    writer.ok(&["MAVG.ADD", "k", "4"])?;
    writer.ok(&["MAVG.CREATE", "c", "WINDOW", "2", "SEQ", "3"])?;
    writer.err(&["MAVG.ADD", "k", "WINDOW", "3", "5"])?;
    writer.ok(&["MAVG.CREATE", "marker", "WINDOW", "1"])?;
    wait_caught_up(&mut writer, &mut reader)?;

    let expected = [
        created_by_add("k"),
        announced("k", "mavg.add"),
        announced("c", "mavg.create"),
        announced("marker", "mavg.create"),
    ]
    .concat();
    assert_eq!(on_primary.next(10)?, expected, "on the primary");
    assert_eq!(on_replica.next(10)?, expected, "on the replica");
    Ok(())
}
