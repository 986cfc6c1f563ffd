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
//!
//! A seeded generator then builds thousands of payloads of both encoding
//! versions from that structure: valid series, which must load into
//! exactly the series planned; series with faults the README says are
//! refused (counts past the window or the ids, values that are not
//! finite, chunks missing, extra, empty, ragged or running past the
//! count, unknown versions, fields of the wrong kind, bad LZF strings),
//! which must be refused; and payloads with bytes flipped or cut, which
//! may go either way but must leave a consistent key if they load. The
//! encoding stores no position inside the window (the ring is rebuilt in
//! order on load), so there is no position to push outside the buffer.

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
        self.seal(self.unsealed(encoding, fields))
    }

    /// The payload before its RDB version and CRC: the type byte, the
    /// module id, `fields` and the end marker.
    fn unsealed(&self, encoding: u64, fields: &[u8]) -> Vec<u8> {
        let module_id = (self.module_id & !1023) | encoding;
        let mut payload = vec![MODULE_TYPE, 0x81];
        payload.extend_from_slice(&module_id.to_be_bytes());
        payload.extend_from_slice(fields);
        payload.push(OPCODE_EOF);
        payload
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
    // Redis 6.2 itself crashes on some corrupt payloads of its own types,
    // which a flipped type byte makes: the module never sees those.
    let core_types_safe =
        server.at_least(7, 0, "RESTORE of a flipped type byte")?;

    for position in 0..body.len() {
        for mutation in [0x01, 0x02, 0x10, 0x80, 0xff] {
            let mut mutated = body.to_vec();
            mutated[position] ^= mutation;
            if position == 0 && !core_types_safe {
                continue;
            }
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
/// leave a consistent one. Returns whether the payload was accepted.
fn restore_is_safe(
    conn: &mut RawConn,
    frame: &Frame,
    payload: &[u8],
    what: &str,
) -> TestResult<bool> {
    let reply = restore(conn, "fuzz", payload)
        .context(format!("RESTORE of {what} (did the server die?)"))?;
    match reply {
        Reply::Error(_) => {
            assert_eq!(conn.ok(&["EXISTS", "fuzz"])?, Reply::Int(0), "{what}");
            Ok(false)
        }
        _ => {
            if conn.ok(&["TYPE", "fuzz"])? == frame.type_name {
                is_consistent(conn, "fuzz").context(what)?;
            }
            conn.ok(&["DEL", "fuzz"])?;
            Ok(true)
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

// The generator: thousands of payloads with a valid CRC, built from the
// encoding's structure, most of them wrong in a known way.

/// How many payloads one run generates; each is sent twice, with
/// `sanitize-dump-payload` on and off.
const FUZZ_PAYLOADS: usize = 3_000;

/// How many of them the warm-up pass sends before `used_memory` is read.
const WARM_UP_PAYLOADS: usize = 300;

/// How far `used_memory` after `FLUSHALL` may drift from its level after
/// the warm-up.
const MEMORY_TOLERANCE: i64 = 64 * 1024;

/// The generator's seed: `MAVG_FUZZ_SEED`, else a fixed one, so that a
/// run is the same every time unless asked otherwise.
fn fuzz_seed() -> u64 {
    let seed = std::env::var("MAVG_FUZZ_SEED").ok();
    seed.and_then(|s| s.parse().ok()).unwrap_or(0x6d61_7667)
}

/// SplitMix64: a small seeded generator, enough to choose payloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number from 0 to `n - 1`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True once in `n` times.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `items`.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A finite double: small integers, decimals, subnormals, the ends
    /// of the range, or any finite bit pattern.
    fn value(&mut self) -> f64 {
        let sign = if self.one_in(2) { -1.0 } else { 1.0 };
        match self.below(6) {
            0 => self.below(201) as f64 - 100.0,
            1 => sign * self.below(2_000_000) as f64 / 1000.0,
            2 => sign * f64::from_bits(self.below(1 << 52)),
            3 => self.pick(&[
                0.0,
                -0.0,
                f64::MAX,
                f64::MIN,
                f64::MIN_POSITIVE,
                5e-324,
                1e308,
                1e16,
                0.1,
            ]),
            _ => loop {
                let value = f64::from_bits(self.next());
                if value.is_finite() {
                    break value;
                }
            },
        }
    }
}

/// A series to encode, field by field as it will be written, values
/// split into chunks as they will be written.
#[derive(Clone)]
struct Plan {
    /// The encoding version the fields are laid out in.
    encoding: u64,
    /// The encoding version the module id names.
    declared: u64,
    window: u64,
    tag: u64,
    next_seq: u64,
    copies: u64,
    len: u64,
    chunks: Vec<Vec<f64>>,
}

impl Plan {
    /// A series the README says must load.
    fn valid(rng: &mut Rng) -> Plan {
        let window = match rng.below(4) {
            0 => rng.pick(&[1, 2, 3, 5, 64, 100, 1000]),
            1 => 1_000_000_000,
            _ => 1 + rng.below(400),
        };
        let most = match rng.below(10) {
            0 => 300,
            1..=3 => 3,
            _ => 64,
        };
        let len = match rng.below(5) {
            0 => window.min(most),
            _ => rng.below(most + 1).min(window),
        };
        // Every id used is a state only a key holding values reaches:
        // `MAVG.CREATE`'s `SEQ` stops one short.
        let spare = SEQ_MAX + u64::from(len > 0) - len;
        let next_seq = len
            + match rng.below(4) {
                0 => 0,
                1 => spare,
                _ => rng.below(1000),
            };
        let values: Vec<f64> = (0..len).map(|_| rng.value()).collect();
        let (any_tag, any_count) = (rng.next(), rng.next());
        let encoding = rng.pick(&[1, 2]);
        Plan {
            encoding,
            declared: encoding,
            window,
            tag: rng.pick(&[0, u64::MAX, any_tag]),
            next_seq,
            copies: rng.pick(&[0, 1, u64::MAX, any_count]),
            len,
            chunks: split(rng, &values),
        }
    }

    /// The plan in words, for messages: the counts and the chunk sizes.
    fn describe(&self) -> String {
        let sizes: Vec<usize> = self.chunks.iter().map(Vec::len).collect();
        format!(
            "encoding {} as {}, window {}, tag {:#x}, next {}, copies {}, \
             len {}, chunks of {sizes:?}",
            self.encoding,
            self.declared,
            self.window,
            self.tag,
            self.next_seq,
            self.copies,
            self.len,
        )
    }

    /// Whether the README's rules let this plan load: a known encoding
    /// version, the one the fields are laid out in; the window in range;
    /// no more values than the window holds or ids were given; every id
    /// within 58 bits, the next one too unless values are held; every
    /// value finite, in chunks that hold exactly the count.
    fn loads(&self) -> bool {
        let values = self.values();
        (1..=2).contains(&self.declared)
            && self.declared == self.encoding
            && (1..=1_000_000_000).contains(&self.window)
            && self.len <= self.window
            && self.len <= self.next_seq
            && self.next_seq <= SEQ_MAX + 1
            && self.next_seq - self.len <= SEQ_MAX
            && values.len() as u64 == self.len
            && values.iter().all(|v| v.is_finite())
            && self.chunks.iter().all(|c| !c.is_empty())
    }

    /// The values of every chunk, in order.
    fn values(&self) -> Vec<f64> {
        self.chunks.concat()
    }

    /// The counts as written: window, id tag, next sequence number, the
    /// number of copies (from encoding version 2 on) and the length.
    fn counts(&self) -> Vec<Vec<u8>> {
        let mut counts = vec![self.window, self.tag, self.next_seq];
        if self.encoding != 1 {
            counts.push(self.copies);
        }
        counts.push(self.len);
        counts.into_iter().map(uint).collect()
    }
}

/// `values` cut into chunks of random sizes, at least one value each.
fn split(rng: &mut Rng, values: &[f64]) -> Vec<Vec<f64>> {
    let mut chunks = Vec::new();
    let mut rest = values;
    while !rest.is_empty() {
        let size = match rng.below(3) {
            0 => rest.len(),
            _ => 1 + rng.below(rest.len() as u64) as usize,
        };
        let (head, tail) = rest.split_at(size);
        chunks.push(head.to_vec());
        rest = tail;
    }
    chunks
}

/// What a payload must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// Loaded, into exactly the planned series.
    Accepted,
    /// `ERR Bad data format`, and no key.
    Refused,
    /// Either, and a consistent key if loaded (a fault that may by chance
    /// leave a well-formed payload: a flipped byte, a cut that leaves
    /// the reader in the RDB version and CRC that follow).
    Either,
}

impl Verdict {
    /// The verdict of a payload with faults of both verdicts.
    fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Either, _) | (_, Either) => Either,
            (Refused, _) | (_, Refused) => Refused,
            _ => Accepted,
        }
    }
}

/// A fault in the counts, the values or the chunks of a plan; `None`
/// when it does not apply (no values to spoil).
fn spoil_plan(rng: &mut Rng, plan: &mut Plan) -> Option<&'static str> {
    let billion = 1_000_000_000;
    let len = plan.len;
    let chunked = !plan.chunks.is_empty();
    let fault = match rng.below(12) {
        0 if plan.window < u64::from(u32::MAX) => {
            plan.len = plan.window + 1 + rng.below(3);
            plan.next_seq = plan.next_seq.max(plan.len);
            "more values than the window"
        }
        1 if len > 0 => {
            plan.next_seq = rng.below(len);
            "fewer ids than values"
        }
        2 => {
            plan.next_seq = rng.pick(&[SEQ_MAX + 2, 1 << 63, u64::MAX]);
            "next id beyond 2^58"
        }
        3 => {
            plan.window = rng.pick(&[0, billion + 1, 1 << 32, u64::MAX]);
            "window out of range"
        }
        4 => {
            plan.window = billion;
            plan.len = rng.pick(&[billion, 1 << 20, len + 1]);
            plan.next_seq = plan.len + rng.below(10);
            "a count the chunks do not hold"
        }
        5 if len > 0 => {
            plan.len -= 1 + rng.below(len);
            "a count short of the chunks"
        }
        6 if chunked => {
            let chunk = rng.below(plan.chunks.len() as u64) as usize;
            let at = rng.below(plan.chunks[chunk].len() as u64) as usize;
            plan.chunks[chunk][at] = f64::from_bits(rng.pick(&NON_FINITE));
            "a value that is not finite"
        }
        7 if chunked => {
            plan.chunks.pop();
            "a chunk missing"
        }
        8 => {
            let extra = (0..1 + rng.below(3)).map(|_| rng.value());
            plan.chunks.push(extra.collect());
            "a chunk too many"
        }
        9 if chunked => {
            let last = plan.chunks.last_mut().expect("a chunk");
            last.extend((0..1 + rng.below(3)).map(|_| rng.value()));
            "a chunk running past the count"
        }
        10 => {
            plan.declared = rng.pick(&[0, 3, 4, 7, 511, 1023]);
            "an unknown encoding version"
        }
        11 => {
            plan.declared = 3 - plan.encoding;
            "the other encoding version's layout"
        }
        _ => return None,
    };
    Some(fault)
}

/// Values the README says no payload may carry, as bits: NaNs (quiet,
/// negative, signalling, with a payload) and the infinities.
const NON_FINITE: [u64; 6] = [
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0xfff4_0000_dead_beef,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
];

/// The fields of a plan on their way to bytes: the counts, then each
/// chunk as the whole field (opcode, length, bytes) it will be written.
struct Draft {
    counts: Vec<Vec<u8>>,
    chunks: Vec<Vec<u8>>,
}

impl Draft {
    fn of(plan: &Plan) -> Draft {
        Draft {
            counts: plan.counts(),
            chunks: plan.chunks.iter().map(|c| chunk(c)).collect(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        [self.counts.concat(), self.chunks.concat()].concat()
    }
}

/// A fault in how the fields are written, with the verdict it leads to;
/// `None` when it does not apply.
fn spoil_fields(
    rng: &mut Rng,
    plan: &Plan,
    draft: &mut Draft,
) -> Option<(&'static str, Verdict)> {
    let chunks = plan.chunks.len() as u64;
    let which = if chunks > 0 {
        rng.below(chunks) as usize
    } else {
        0
    };
    let bytes = |i: usize| -> Vec<u8> {
        plan.chunks[i]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    let fault = match rng.below(8) {
        0 if chunks > 0 => {
            let mut ragged = bytes(which);
            match rng.below(2) {
                0 => ragged.truncate(ragged.len() - 1 - rng.below(7) as usize),
                _ => ragged.extend((0..1 + rng.below(7)).map(|_| 0x3f)),
            }
            draft.chunks[which] = string(&ragged);
            ("a chunk of part of a double", Verdict::Refused)
        }
        1 => {
            let at = rng.below(chunks + 1) as usize;
            draft.chunks.insert(at, string(&[]));
            ("an empty chunk", Verdict::Refused)
        }
        2 => {
            let fields = draft.counts.iter_mut().chain(&mut draft.chunks);
            let fields: Vec<&mut Vec<u8>> = fields.collect();
            let field = fields.into_iter().nth(rng.below(10) as usize);
            let field = field?;
            let others: Vec<u8> =
                (1..=5).filter(|op| *op != field[0]).collect();
            field[0] = rng.pick(&others);
            ("a field of the wrong kind", Verdict::Refused)
        }
        3 if chunks > 0 => {
            let raw = bytes(which);
            draft.chunks[which] = lzf(&raw, raw.len() as u64, false);
            ("an LZF-compressed chunk", Verdict::Accepted)
        }
        4 if chunks > 0 => {
            let raw = bytes(which);
            let claimed = match rng.below(4) {
                0 => raw.len() as u64 + 1 + rng.below(8),
                1 => raw.len() as u64 - 1 - rng.below(raw.len() as u64),
                2 if rng.one_in(10) => 1 << 31,
                _ => raw.len() as u64,
            };
            let backwards = claimed == raw.len() as u64;
            draft.chunks[which] = lzf(&raw, claimed, backwards);
            ("a bad LZF-compressed chunk", Verdict::Refused)
        }
        5 if chunks > 0 => {
            let encoded =
                match rng.below(3) {
                    0 => vec![0xc0, rng.next() as u8],
                    1 => [&[0xc1][..], &(rng.next() as u16).to_le_bytes()]
                        .concat(),
                    _ => [&[0xc2][..], &(rng.next() as u32).to_le_bytes()]
                        .concat(),
                };
            draft.chunks[which] = [vec![OPCODE_STRING], encoded].concat();
            ("a chunk written as an integer", Verdict::Either)
        }
        6 if chunks > 0 => {
            let claim = match rng.below(2) {
                0 => [&[0x80][..], &(1u32 << 31).to_be_bytes()].concat(),
                _ => [&[0x81][..], &(1u64 << 40).to_be_bytes()].concat(),
            };
            let raw = bytes(which);
            draft.chunks[which] = [vec![OPCODE_STRING], claim, raw].concat();
            ("a chunk claiming gigabytes", Verdict::Refused)
        }
        _ => return None,
    };
    Some(fault)
}

/// An RDB string field holding `bytes` compressed with LZF, as literal
/// runs of at most 32 bytes (each after a byte giving its length less
/// one), claiming `claimed` bytes once uncompressed; `backwards` starts
/// it with a back reference to before the start.
fn lzf(bytes: &[u8], claimed: u64, backwards: bool) -> Vec<u8> {
    let mut compressed = Vec::new();
    if backwards {
        compressed.extend([0x20, 0x05]);
    }
    for run in bytes.chunks(32) {
        compressed.push(run.len() as u8 - 1);
        compressed.extend_from_slice(run);
    }
    [
        vec![OPCODE_STRING, 0xc3],
        rdb_len(compressed.len() as u64),
        rdb_len(claimed),
        compressed,
    ]
    .concat()
}

/// A fault in the framed bytes (before the RDB version and CRC), with
/// the verdict it leads to.
fn spoil_bytes(
    rng: &mut Rng,
    unsealed: &mut Vec<u8>,
) -> (&'static str, Verdict) {
    let len = unsealed.len() as u64;
    match rng.below(5) {
        0 => {
            unsealed.truncate(1 + rng.below(len - 1) as usize);
            ("cut short", Verdict::Either)
        }
        1 => {
            unsealed.pop();
            ("no end marker", Verdict::Either)
        }
        2 => {
            *unsealed.last_mut().expect("an end marker") =
                1 + rng.below(0x3f) as u8;
            ("a wrong end marker", Verdict::Refused)
        }
        3 => {
            unsealed.extend((0..1 + rng.below(16)).map(|_| rng.next() as u8));
            ("bytes after the end marker", Verdict::Either)
        }
        _ => {
            for _ in 0..1 + rng.below(4) {
                let at = 2 + rng.below(len - 2) as usize;
                unsealed[at] ^= 1 + rng.below(255) as u8;
            }
            ("flipped bytes", Verdict::Either)
        }
    }
}

/// One generated payload: what it must get, the plan it came from (the
/// series to compare with when it must load), and what was done to it.
struct Fuzzed {
    verdict: Verdict,
    plan: Plan,
    faults: Vec<&'static str>,
    payload: Vec<u8>,
}

/// Generates payload number `i` of a run: a valid one, one with faults
/// of known verdicts, or one with bytes flipped at random.
fn generate(rng: &mut Rng, frame: &Frame) -> Fuzzed {
    let mut plan = Plan::valid(rng);
    let mut verdict = Verdict::Accepted;
    let mut faults = Vec::new();
    let kind = rng.below(100);

    if (15..55).contains(&kind) {
        for _ in 0..1 + rng.below(2) {
            faults.extend(spoil_plan(rng, &mut plan));
        }
        if !plan.loads() {
            verdict = Verdict::Refused;
        }
    }
    let mut draft = Draft::of(&plan);
    if (8..15).contains(&kind) || (55..75).contains(&kind) {
        if let Some((fault, outcome)) = spoil_fields(rng, &plan, &mut draft) {
            faults.push(fault);
            verdict = verdict.and(outcome);
        }
    }
    let mut unsealed = frame.unsealed(plan.declared, &draft.bytes());
    if kind >= 75 {
        let (fault, outcome) = spoil_bytes(rng, &mut unsealed);
        faults.push(fault);
        verdict = verdict.and(outcome);
    }
    Fuzzed {
        verdict,
        plan,
        faults,
        payload: frame.seal(unsealed),
    }
}

/// What the fuzz run saw.
#[derive(Default)]
struct Tally {
    tried: usize,
    refused: usize,
    accepted: usize,
}

/// RESTOREs `fuzzed`, checks the verdict, and counts it; returns whether
/// it was accepted.
fn restore_fuzzed(
    conn: &mut RawConn,
    frame: &Frame,
    fuzzed: &Fuzzed,
    what: &str,
    tally: &mut Tally,
) -> TestResult<bool> {
    let plan = fuzzed.plan.describe();
    let what = format!("{what}: {:?}, {plan}", fuzzed.faults);
    tally.tried += 1;
    let accepted = match fuzzed.verdict {
        Verdict::Either => {
            restore_is_safe(conn, frame, &fuzzed.payload, &what)?
        }
        Verdict::Refused => {
            let reply = restore(conn, "fuzz", &fuzzed.payload)?;
            let refused = Reply::Error("ERR Bad data format".into());
            if reply != refused
                || conn.ok(&["EXISTS", "fuzz"])? != Reply::Int(0)
            {
                return fail(format!("{what} replied {reply:?}"));
            }
            false
        }
        Verdict::Accepted => {
            let reply = restore(conn, "fuzz", &fuzzed.payload)?;
            if reply != Reply::status("OK") {
                return fail(format!("{what} replied {reply:?}"));
            }
            is_the_plan(conn, "fuzz", &fuzzed.plan).context(&what)?;
            conn.ok(&["DEL", "fuzz"])?;
            true
        }
    };
    if accepted {
        tally.accepted += 1;
    } else {
        tally.refused += 1;
    }
    Ok(accepted)
}

/// Whether `key` holds exactly the series `plan` describes, and keeps
/// the module's invariants.
fn is_the_plan(conn: &mut RawConn, key: &str, plan: &Plan) -> TestResult {
    is_consistent(conn, key)?;
    let info = info(conn, key)?;
    let range = texts(&conn.ok(&["MAVG.RANGE", key, "0", "-1"])?)?;
    let values: Vec<u64> = range
        .iter()
        .map(|text| Ok(text.parse::<f64>()?.to_bits()))
        .collect::<TestResult<_>>()?;
    let planned: Vec<u64> =
        plan.values().iter().map(|v| v.to_bits()).collect();
    let counts = (info.window, info.length, info.added, info.idtag);
    let expected = (
        plan.window as i64,
        plan.len as i64,
        plan.next_seq as i64,
        plan.tag,
    );
    if counts != expected || values != planned {
        return fail(format!("{info:?} holding {range:?}"));
    }
    Ok(())
}

/// Sends `payloads`, each once with `sanitize-dump-payload` on and once
/// with it off (a setting for Redis's own encodings, so a MAVG payload
/// must fare the same either way), checking after every 100 that the
/// server answers.
fn restore_all(
    server: &mut Server,
    conn: &mut RawConn,
    frame: &Frame,
    payloads: &[Fuzzed],
    tally: &mut Tally,
) -> TestResult {
    let mut passes = Vec::new();
    for sanitize in ["yes", "no"] {
        conn.ok(&["CONFIG", "SET", "sanitize-dump-payload", sanitize])?;
        let mut accepted = Vec::new();
        for (i, fuzzed) in payloads.iter().enumerate() {
            let what = format!("payload {i}, sanitize {sanitize}");
            accepted.push(restore_fuzzed(conn, frame, fuzzed, &what, tally)?);
            if i % 100 == 99 || i + 1 == payloads.len() {
                let pong = conn.call(&["PING"]).context(&what)?;
                assert_eq!(pong, Reply::status("PONG"), "after {what}");
                assert!(server.is_running(), "log:\n{}", server.log_tail());
            }
        }
        passes.push(accepted);
    }
    let differs = (0..payloads.len()).find(|&i| passes[0][i] != passes[1][i]);
    if let Some(i) = differs {
        return fail(format!("payload {i} fares differently by sanitizing"));
    }
    Ok(())
}

/// `used_memory` once the database is flushed.
fn memory_when_empty(conn: &mut RawConn) -> TestResult<i64> {
    conn.ok(&["FLUSHALL", "SYNC"])?;
    common::server::info_int(conn, "memory", "used_memory")
}

#[test]
fn generated_payloads_are_refused_or_load_whole() -> TestResult {
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    let frame = Frame::read(&mut conn)?;
    let seed = fuzz_seed();
    let mut rng = Rng(seed);
    let payloads: Vec<Fuzzed> = (0..FUZZ_PAYLOADS)
        .map(|_| generate(&mut rng, &frame))
        .collect();

    let mut warm_up = Tally::default();
    let first = &payloads[..WARM_UP_PAYLOADS];
    restore_all(&mut server, &mut conn, &frame, first, &mut warm_up)?;
    let before = memory_when_empty(&mut conn)?;
    let mut tally = Tally::default();
    restore_all(&mut server, &mut conn, &frame, &payloads, &mut tally)?;
    let after = memory_when_empty(&mut conn)?;

    let verdicts = |v| payloads.iter().filter(|p| p.verdict == v).count();
    let mut faults = std::collections::BTreeMap::new();
    for fault in payloads.iter().flat_map(|p| &p.faults) {
        *faults.entry(*fault).or_insert(0) += 1;
    }
    eprintln!("RESTORE fuzz, faults put in: {faults:?}");
    eprintln!(
        "RESTORE fuzz, seed {seed}: {} payloads ({} valid, {} invalid, \
         {} either), {} RESTOREs: {} refused, {} accepted; used_memory \
         {before} -> {after}",
        payloads.len(),
        verdicts(Verdict::Accepted),
        verdicts(Verdict::Refused),
        verdicts(Verdict::Either),
        tally.tried,
        tally.refused,
        tally.accepted,
    );
    assert!(
        (after - before).abs() <= MEMORY_TOLERANCE,
        "used_memory went from {before} to {after} over the run"
    );
    assert!(server.is_running(), "log:\n{}", server.log_tail());
    let warned = server.log().contains("mavg-type: refused a value");
    assert!(warned, "the log has no warning of a refused payload");
    Ok(())
}
