//! `RESTORE` of crafted payloads. Whoever can run RESTORE chooses the bytes
//! the module's RDB loader reads, with a valid checksum. The README says
//! every field is checked against the others and a bad payload is refused:
//! the server must reply an error, stay up and create nothing, and any
//! payload it accepts must make a consistent key.
//!
//! Payloads are built from the RDB layout the README gives for encoding
//! version 1 (window, id tag, next sequence number, count, then chunks of
//! little-endian doubles), framed as Redis frames a DUMP: the module type
//! byte, the module id, the fields, an end marker, the RDB version and a
//! CRC-64.

mod common;

use common::exact::{exact_mean, is_shortest_text};
use common::mavg::{
    info, snapshot, texts, ElementId, Info, Snapshot, SEQ_MAX,
};
use common::resp::{RawConn, Reply};
use common::server::{rewrite_aof, Server};
use common::{fail, Context, TestResult};

/// RDB's type byte for a module value (`RDB_TYPE_MODULE_2`).
const MODULE_TYPE: u8 = 7;

/// The opcodes that frame each field of a module value.
const OPCODE_EOF: u8 = 0;
const OPCODE_UINT: u8 = 2;
const OPCODE_STRING: u8 = 5;

/// What a real DUMP of this server tells: the module's id (type name and
/// encoding version) and the RDB version.
struct Frame {
    module_id: u64,
    rdb_version: [u8; 2],
    /// The module's type name, as `TYPE` replies it.
    type_name: Reply,
}

impl Frame {
    /// Reads the frame off a DUMP of a key the module made.
    fn read(conn: &mut RawConn) -> TestResult<Frame> {
        conn.ok(&["MAVG.CREATE", "template", "WINDOW", "3"])?;
        let Reply::Bulk(dump) = conn.ok(&["DUMP", "template"])? else {
            return fail("DUMP template gave no payload");
        };
        if dump.len() < 20 || dump[0] != MODULE_TYPE || dump[1] != 0x81 {
            return fail(format!("unexpected DUMP {dump:?}"));
        }
        let id: [u8; 8] = dump[2..10].try_into()?;
        let trailer = dump.len() - 10;
        Ok(Frame {
            module_id: u64::from_be_bytes(id),
            rdb_version: [dump[trailer], dump[trailer + 1]],
            type_name: conn.ok(&["TYPE", "template"])?,
        })
    }

    /// A DUMP payload holding `fields`, for encoding version `encoding`.
    fn payload(&self, encoding: u64, fields: &[u8]) -> Vec<u8> {
        let module_id = (self.module_id & !1023) | encoding;
        let mut payload = vec![MODULE_TYPE, 0x81];
        payload.extend_from_slice(&module_id.to_be_bytes());
        payload.extend_from_slice(fields);
        payload.push(OPCODE_EOF);
        self.seal(payload)
    }

    /// Appends the RDB version and the CRC-64 to `payload`.
    fn seal(&self, mut payload: Vec<u8>) -> Vec<u8> {
        payload.extend_from_slice(&self.rdb_version);
        let crc = crc64(&payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        payload
    }
}

/// Redis's CRC-64 (Jones polynomial, reflected, no final xor).
fn crc64(bytes: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc = 0u64;
    for &byte in bytes {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// An RDB length: 6, 14, 32 or 64 bits, big-endian past the first.
fn rdb_len(n: u64) -> Vec<u8> {
    match n {
        0..=63 => vec![n as u8],
        64..=16_383 => vec![0x40 | (n >> 8) as u8, n as u8],
        16_384..=0xffff_ffff => {
            [&[0x80][..], &(n as u32).to_be_bytes()].concat()
        }
        _ => [&[0x81][..], &n.to_be_bytes()].concat(),
    }
}

/// An unsigned field.
fn uint(n: u64) -> Vec<u8> {
    [vec![OPCODE_UINT], rdb_len(n)].concat()
}

/// A string field, stored raw.
fn string(bytes: &[u8]) -> Vec<u8> {
    [
        vec![OPCODE_STRING],
        rdb_len(bytes.len() as u64),
        bytes.to_vec(),
    ]
    .concat()
}

/// A chunk of values, little-endian doubles.
fn chunk(values: &[f64]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    string(&bytes)
}

/// The four counts (window, id tag, next sequence number, number of
/// values), then `rest`.
fn fields(counts: [u64; 4], rest: &[&[u8]]) -> Vec<u8> {
    let mut bytes: Vec<u8> = counts.iter().flat_map(|n| uint(*n)).collect();
    bytes.extend(rest.concat());
    bytes
}

const TAG: u64 = 0x0123_4567_89ab_cdef;

/// Sends `RESTORE key 0 payload REPLACE`.
fn restore(
    conn: &mut RawConn,
    key: &str,
    payload: &[u8],
) -> TestResult<Reply> {
    let args: [&[u8]; 5] =
        [b"RESTORE", key.as_bytes(), b"0", payload, b"REPLACE"];
    conn.call(&args)
}

#[test]
fn the_crc_matches_redis() -> TestResult {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    let server = Server::start()?;
    let mut conn = server.connect()?;
    conn.ok(&["MAVG.ADD", "k", "WINDOW", "5", "1", "2.5", "-3"])?;
    let Reply::Bulk(dump) = conn.ok(&["DUMP", "k"])? else {
        return fail("no DUMP");
    };
    let (body, crc) = dump.split_at(dump.len() - 8);
    assert_eq!(crc64(body).to_le_bytes(), crc);
    Ok(())
}

#[test]
fn a_well_formed_crafted_payload_is_accepted() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let frame = Frame::read(&mut conn)?;
    let values = [1.0, 2.5, -3.0];
    let body = fields([5, TAG, 10, 3], &[&chunk(&values)]);

    let reply = restore(&mut conn, "k", &frame.payload(1, &body))?;

    assert_eq!(reply, Reply::status("OK"));
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1", "WITHIDS"])?;
    let ids: Vec<String> = (7..10)
        .map(|seq| ElementId { tag: TAG, seq }.text())
        .collect();
    let expected = ["1", &ids[0], "2.5", &ids[1], "-3", &ids[2]];
    assert_eq!(texts(&range)?, expected);
    let info = info(&mut conn, "k")?;
    assert_eq!((info.window, info.length, info.added), (5, 3, 10));
    assert_eq!(info.average, Reply::bulk("0.16666666666666666"));
    Ok(())
}

/// A payload to craft: what is wrong with it, its encoding version and its
/// fields.
type Crafted = (&'static str, u64, Vec<u8>);

/// A version 1 payload of the four counts, then `rest`.
fn v1(what: &'static str, counts: [u64; 4], rest: &[&[u8]]) -> Crafted {
    (what, 1, fields(counts, rest))
}

/// Payloads whose counts disagree with each other or leave their ranges.
fn bad_counts() -> Vec<Crafted> {
    let three = chunk(&[1.0, 2.0, 3.0]);
    let billion = 1_000_000_000;
    vec![
        v1("window 0", [0, TAG, 3, 3], &[&three]),
        v1("window 10^9 + 1", [billion + 1, TAG, 3, 3], &[&three]),
        v1("more values than the window", [2, TAG, 3, 3], &[&three]),
        v1("more values than ids", [5, TAG, 2, 3], &[&three]),
        v1("next id past 2^58", [5, TAG, SEQ_MAX + 2, 0], &[]),
        v1(
            "a huge count",
            [billion, TAG, billion, billion - 1],
            &[&three],
        ),
        v1("a count of 2^64 - 1", [5, TAG, 3, u64::MAX], &[&three]),
    ]
}

/// Payloads whose values or chunks are wrong.
fn bad_values() -> Vec<Crafted> {
    let three = chunk(&[1.0, 2.0, 3.0]);
    let nan = chunk(&[1.0, f64::NAN, 3.0]);
    let infinities = chunk(&[f64::INFINITY, f64::NEG_INFINITY, 1.0]);
    vec![
        v1("a NaN", [5, TAG, 3, 3], &[&nan]),
        v1("infinities", [5, TAG, 3, 3], &[&infinities]),
        v1("a short chunk", [5, TAG, 3, 3], &[&chunk(&[1.0, 2.0])]),
        v1("a long chunk", [5, TAG, 4, 3], &[&chunk(&[1.0; 4])]),
        v1("a ragged chunk", [5, TAG, 3, 3], &[&string(&[0; 23])]),
        v1("an empty chunk", [5, TAG, 3, 3], &[&string(&[]), &three]),
        v1("no chunk", [5, TAG, 3, 3], &[]),
        v1("a chunk too many", [5, TAG, 3, 3], &[&three, &three]),
        v1("a trailing field", [5, TAG, 3, 3], &[&three, &uint(1)]),
    ]
}

/// Payloads framed wrongly: fields of the wrong kind, missing fields,
/// encoding versions the module does not know.
fn bad_framing() -> Vec<Crafted> {
    let three = chunk(&[1.0, 2.0, 3.0]);
    let tag_as_string = [uint(5), string(b"x"), uint(0), uint(0)];
    let no_count = [uint(5), uint(TAG), uint(0)];
    vec![
        ("a tag as a string", 1, tag_as_string.concat()),
        ("a missing count", 1, no_count.concat()),
        ("encoding version 0", 0, fields([5, TAG, 3, 3], &[&three])),
        ("encoding version 2", 2, fields([5, TAG, 3, 3], &[&three])),
    ]
}

#[test]
fn bad_payloads_are_refused_and_the_server_stays_up() -> TestResult {
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    let frame = Frame::read(&mut conn)?;

    let crafted = [bad_counts(), bad_values(), bad_framing()].concat();

    for (what, encoding, fields) in crafted {
        let payload = frame.payload(encoding, &fields);
        let reply = restore(&mut conn, "k", &payload)
            .context(format!("RESTORE of {what} (did the server die?)"))?;

        let refused = Reply::Error("ERR Bad data format".into());
        assert_eq!(reply, refused, "RESTORE of {what}");
        assert_eq!(conn.ok(&["EXISTS", "k"])?, Reply::Int(0), "{what}");
        assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"), "{what}");
    }
    assert!(server.is_running(), "log:\n{}", server.log_tail());
    Ok(())
}

#[test]
fn mutated_payloads_are_refused_or_make_consistent_keys() -> TestResult {
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    let frame = Frame::read(&mut conn)?;
    conn.ok(&[
        "MAVG.ADD", "k", "WINDOW", "4", "1", "-2.5", "1e300", "3", "4",
    ])?;
    let Reply::Bulk(dump) = conn.ok(&["DUMP", "k"])? else {
        return fail("no DUMP");
    };
    let body = &dump[..dump.len() - 10];

    for position in 0..body.len() {
        for mutation in [0x01, 0x02, 0x10, 0x80, 0xff] {
            let mut mutated = body.to_vec();
            mutated[position] ^= mutation;
            let payload = frame.seal(mutated);
            let what = format!("byte {position} ^ {mutation:#x}");
            restore_is_safe(&mut conn, &frame, &payload, &what)?;
        }
        let payload = frame.seal(body[..position].to_vec());
        let what = format!("cut at {position}");
        restore_is_safe(&mut conn, &frame, &payload, &what)?;
    }
    assert!(server.is_running(), "log:\n{}", server.log_tail());
    Ok(())
}

/// RESTOREs `payload` into `fuzz`: an error leaves no key, success must
/// leave a consistent one.
fn restore_is_safe(
    conn: &mut RawConn,
    frame: &Frame,
    payload: &[u8],
    what: &str,
) -> TestResult {
    let reply = restore(conn, "fuzz", payload)
        .context(format!("RESTORE of {what} (did the server die?)"))?;
    match reply {
        Reply::Error(_) => {
            assert_eq!(conn.ok(&["EXISTS", "fuzz"])?, Reply::Int(0), "{what}");
            Ok(())
        }
        _ => {
            if conn.ok(&["TYPE", "fuzz"])? == frame.type_name {
                is_consistent(conn, "fuzz").context(what)?;
            }
            conn.ok(&["DEL", "fuzz"])?;
            Ok(())
        }
    }
}

/// Whether `key` keeps the module's invariants: counts in range, ids that
/// follow from the tag and the counts, an average that is the exact mean.
fn is_consistent(conn: &mut RawConn, key: &str) -> TestResult {
    let info = info(conn, key)?;
    let range =
        texts(&conn.ok(&["MAVG.RANGE", key, "0", "-1", "WITHIDS"])?)?;
    let average = conn.ok(&["MAVG.AVG", key])?;

    let counts_hold = (1..=1_000_000_000).contains(&info.window)
        && (0..=info.window).contains(&info.length)
        && (info.length..=SEQ_MAX as i64 + 1).contains(&info.added)
        && range.len() == 2 * info.length as usize;
    if !counts_hold {
        return fail(format!("{info:?} with range {range:?}"));
    }
    let values = values_with_their_ids(&info, &range)?;
    let consistent = match exact_mean(&values) {
        None => average == Reply::Nil,
        Some(mean) => is_shortest_text(average.text().unwrap_or(""), mean),
    };
    if !consistent {
        return fail(format!("average {average:?} of {values:?}"));
    }
    Ok(())
}

/// The values of a `MAVG.RANGE ... WITHIDS` reply, each checked finite and
/// with the id its position gives.
fn values_with_their_ids(
    info: &Info,
    range: &[String],
) -> TestResult<Vec<f64>> {
    let first_seq = (info.added - info.length) as u64;
    let mut values = Vec::new();
    for (i, pair) in range.chunks(2).enumerate() {
        let value: f64 = pair[0].parse()?;
        let id = ElementId::parse(&pair[1])?;
        let expected = ElementId {
            tag: info.idtag,
            seq: first_seq + i as u64,
        };
        if !value.is_finite() || id != expected {
            return fail(format!("value {value} with id {id:?}"));
        }
        values.push(value);
    }
    Ok(values)
}

#[test]
fn accepted_payloads_at_the_limits_survive_an_aof_rewrite() -> TestResult {
    let aof = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"];
    let mut server = Server::start_with(&aof)?;
    let mut conn = server.connect()?;
    let frame = Frame::read(&mut conn)?;
    let two = chunk(&[1.0, 2.0]);
    let limits = [
        v1("empty, all ids used", [3, TAG, SEQ_MAX + 1, 0], &[]),
        v1("full, all ids used", [2, TAG, SEQ_MAX + 1, 2], &[&two]),
        v1("empty, window 10^9", [1_000_000_000, TAG, 0, 0], &[]),
    ];

    let mut accepted = Vec::new();
    for (key, encoding, fields) in &limits {
        let payload = frame.payload(*encoding, fields);
        if restore(&mut conn, key, &payload)? == Reply::status("OK") {
            is_consistent(&mut conn, key).context(key)?;
            accepted.push(*key);
        }
    }
    let before = snapshots(&mut conn, &accepted)?;
    rewrite_aof(&mut conn)?;
    drop(conn);
    server
        .restart()
        .context("restarting on the rewritten AOF")?;
    let mut conn = server.connect()?;

    let after = snapshots(&mut conn, &accepted)?;
    assert_eq!(after, before, "keys {accepted:?}");
    Ok(())
}

/// Snapshots of `keys`.
fn snapshots(conn: &mut RawConn, keys: &[&str]) -> TestResult<Vec<Snapshot>> {
    keys.iter().map(|key| snapshot(conn, key)).collect()
}
