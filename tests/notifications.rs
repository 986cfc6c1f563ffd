//! Keyspace notifications of the module class (`d`): `mavg.create` when a
//! key is created, by `MAVG.CREATE` or by an `MAVG.ADD` that makes it,
//! then `mavg.add` for every successful `MAVG.ADD`; nothing for a refused
//! write or a read. Subscribers use `PSUBSCRIBE` on both the keyspace and
//! the keyevent channels, over RESP2 and RESP3, on a primary and on its
//! replica.
//!
//! No test waits for silence or for a count of events: after the
//! commands under test, the test creates a marker key and reads every
//! event up to the marker's creation, so a missing event fails as fast as
//! an extra one.

mod common;

use common::mavg::SEQ_MAX;
use common::resp::{RawConn, Reply};
use common::server::{attach_replica, Server};
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

    /// The next event.
    fn next(&mut self) -> TestResult<Event> {
        let reply = self.conn.read_reply()?;
        match &parts(&reply)?[..] {
            [kind, _, channel, message] if kind == "pmessage" => {
                Ok((channel.clone(), message.clone()))
            }
            _ => fail(format!("not a pmessage: {reply:?}")),
        }
    }

    /// The events heard before `marker`'s creation, which the caller has
    /// sent (or will).
    fn until(&mut self, marker: &str) -> TestResult<Vec<Event>> {
        let end = announced(marker, "mavg.create");
        let mut heard = Vec::new();
        while !heard.ends_with(&end) {
            heard.push(self.next()?);
            if heard.len() > 1_000 {
                return fail(format!("no {marker} in {heard:?}"));
            }
        }
        heard.truncate(heard.len() - end.len());
        Ok(heard)
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

/// Creates the key `marker`, whose creation ends what a subscriber reads.
fn mark(writer: &mut RawConn, marker: &str) -> TestResult {
    writer
        .ok(&["MAVG.CREATE", marker, "WINDOW", "1"])
        .map(|_| ())
}

#[test]
fn an_add_that_creates_a_key_announces_both() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut resp2 = Subscriber::new(server.connect()?)?;
    let mut resp3 = Subscriber::new(server.connect_resp3()?)?;

    writer.ok(&["MAVG.ADD", "windowed", "WINDOW", "3", "1", "2"])?;
    writer.ok(&["MAVG.ADD", "default", "1"])?;
    mark(&mut writer, "marker")?;

    let expected =
        [created_by_add("windowed"), created_by_add("default")].concat();
    assert_eq!(resp2.until("marker")?, expected, "a RESP2 subscriber");
    assert_eq!(resp3.until("marker")?, expected, "a RESP3 subscriber");
    Ok(())
}

#[test]
fn an_add_to_an_existing_key_announces_the_add_only() -> TestResult {
    let server = Server::start_with(&EVENTS)?;
    let mut writer = server.connect()?;
    let mut subscriber = Subscriber::new(server.connect()?)?;
    writer.ok(&["MAVG.ADD", "k", "WINDOW", "3", "1"])?;
    mark(&mut writer, "created")?;
    assert_eq!(subscriber.until("created")?, created_by_add("k"));

    writer.ok(&["MAVG.ADD", "k", "2"])?;
    writer.ok(&["MAVG.ADD", "k", "WINDOW", "3", "3", "4", "5", "6"])?;
    mark(&mut writer, "marker")?;

    let add = announced("k", "mavg.add");
    assert_eq!(subscriber.until("marker")?, [add.clone(), add].concat());
    Ok(())
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
    mark(&mut writer, "marker")?;

    let expected = [
        announced("plain", "mavg.create"),
        announced("tagged", "mavg.create"),
    ];
    assert_eq!(subscriber.until("marker")?, expected.concat());
    Ok(())
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
    mark(&mut writer, "created")?;
    let created = [
        announced("k", "mavg.create"),
        announced("full", "mavg.create"),
    ];
    assert_eq!(subscriber.until("created")?, created.concat());

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
        mark(&mut writer, &marker)?;
        let heard = subscriber.until(&marker)?;
        assert_eq!(heard, [], "after {}", command.join(" "));
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
    mark(&mut writer, "marker:reads")?;
    assert_eq!(subscriber.until("marker:reads")?, [], "after the reads");
    Ok(())
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
    mark(&mut writer, "marker")?;
    assert_eq!(subscriber.until("marker")?, created_by_add("k"), "with A");

    // Every class but d: the marker is a SET, the only event heard.
    set(&mut writer, "KEg$lshzxet")?;
    writer.ok(&["MAVG.ADD", "k", "2"])?;
    writer.ok(&["MAVG.ADD", "other", "3"])?;
    writer.ok(&["MAVG.CREATE", "third", "WINDOW", "2"])?;
    writer.ok(&["SET", "text", "x"])?;
    assert_eq!(subscriber.next()?, announced("text", "set")[0], "without d");
    assert_eq!(subscriber.next()?, announced("text", "set")[1], "without d");
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
    mark(&mut writer, "marker")?;

    let expected = [
        created_by_add("k"),
        announced("k", "mavg.add"),
        announced("c", "mavg.create"),
    ]
    .concat();
    assert_eq!(on_primary.until("marker")?, expected, "on the primary");
    assert_eq!(on_replica.until("marker")?, expected, "on the replica");
    Ok(())
}
