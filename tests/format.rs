//! Format stability: for every encoding version N the module has written,
//! the RDB file `tests/fixtures/mavg-encoding-vN.rdb` must load into
//! exactly the keys `tests/fixtures/mavg-encoding-vN.expected` describes:
//! every value, id and `MAVG.INFO` field (and, from version 2 on, the tag
//! the next `COPY` of each key gets, which shows the count of copies).
//!
//! Any change of the encoding bumps `ENCODING_VERSION` (in
//! `src/module/datatype.rs`) and keeps every older fixture loading: those
//! files stay as they are and this test keeps passing. The new version
//! gets fixtures of its own, written the same way.
//!
//! The fixture is written by the ignored test `regenerate`, which starts a
//! server, makes the keys from fixed commands (fixed id tags and sequence
//! numbers, so nothing depends on chance), checks every value and id it
//! reads back, saves, and copies the RDB and the expected text into
//! `tests/fixtures/`:
//!
//! ```text
//! cargo build --release
//! cargo test --release --test format -- --ignored regenerate
//! ```
//!
//! It writes the fixture of [`CURRENT`], and refuses to run unless the
//! module writes that version.
//!
//! The fixture was saved by redis-server 7.0.15 (RDB format 10): servers
//! from 7.0 on read it, older ones refuse the file before the module sees
//! a byte.

mod common;

use std::fs;
use std::path::PathBuf;

use common::mavg::{info, texts, ElementId, SEQ_MAX};
use common::resp::{cmd, RawConn, Reply};
use common::server::Server;
use common::{fail, Context, TestResult};

/// The encoding version the module writes.
const CURRENT: u32 = 2;

/// Every encoding version with a fixture.
const VERSIONS: [u32; 2] = [1, CURRENT];

/// The RDB fixture of `version`.
fn rdb_path(version: u32) -> String {
    format!("tests/fixtures/mavg-encoding-v{version}.rdb")
}

/// What the RDB fixture of `version` holds, as [`render`] writes it.
fn expected_path(version: u32) -> String {
    format!("tests/fixtures/mavg-encoding-v{version}.expected")
}

/// The first lines of the expected file of `version`.
fn header(version: u32) -> String {
    format!(
        "# The keys {} holds, as tests/format.rs\n\
         # renders them: per key its MAVG.INFO fields, then MAVG.RANGE 0 -1\n\
         # WITHIDS as one `value id` line per element, oldest first (RESP2 \
         text).\n\
         # Written with the RDB by `cargo test --release --test format --\n\
         # --ignored regenerate`; never edit by hand.\n",
        rdb_path(version)
    )
}

/// Values in `long`, and its window: past two RDB chunks of 8,192.
const LONG_ADDED: usize = 20_500;
const LONG_WINDOW: usize = 20_000;

/// A path in the source tree.
fn source_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The values added to `long`: decimal fractions (not exact in binary)
/// and dyadic ones, of both signs.
fn long_value(i: usize) -> String {
    if i % 3 == 0 {
        format!("{}", i as f64 / 8.0 - 1000.0)
    } else {
        format!("{}", i as f64 * 0.1)
    }
}

/// A key of the fixture: how it is made and what it must then hold.
struct FixtureKey {
    name: &'static str,
    window: usize,
    tag: u64,
    first_seq: u64,
    copies: u64,
    added: Vec<String>,
}

/// The fixture's keys: a wrapped window of values that defeat running
/// sums and text round trips, an empty key with a sequence position, a
/// window of 10^9 never used, `long`, and a key at the end of the id
/// space with a tag of all ones.
fn fixture_keys() -> Vec<FixtureKey> {
    let tricky = [
        "3.5",
        "2.25",
        "1e16",
        "0.1",
        "-0.0",
        "5e-324",
        "1.7976931348623157e308",
        "-1e16",
    ];
    vec![
        FixtureKey {
            name: "tricky",
            window: 6,
            tag: 0x0123_4567_89ab_cdef,
            first_seq: 100,
            copies: 3,
            added: tricky.map(String::from).to_vec(),
        },
        FixtureKey {
            name: "empty",
            window: 10,
            tag: 0xfedc_ba98_7654_3210,
            first_seq: 42,
            copies: 0,
            added: Vec::new(),
        },
        FixtureKey {
            name: "unused",
            window: 1_000_000_000,
            tag: 1,
            first_seq: 0,
            copies: 0,
            added: Vec::new(),
        },
        FixtureKey {
            name: "long",
            window: LONG_WINDOW,
            tag: 0x8000_0000_0000_0000,
            first_seq: 123_456_789,
            copies: 0,
            added: (0..LONG_ADDED).map(long_value).collect(),
        },
        FixtureKey {
            name: "last",
            window: 3,
            tag: u64::MAX,
            first_seq: SEQ_MAX - 5,
            copies: 0,
            added: ["-2.5e-7", "1e-300", "-7", "65536"]
                .map(String::from)
                .into(),
        },
    ]
}

/// Makes `key` with its fixed tag and sequence, then adds its values.
fn make(conn: &mut RawConn, key: &FixtureKey) -> TestResult {
    conn.ok(&[
        "MAVG.CREATE",
        key.name,
        "WINDOW",
        &key.window.to_string(),
        "IDTAG",
        &format!("{:016x}", key.tag),
        "SEQ",
        &key.first_seq.to_string(),
        "COPIES",
        &key.copies.to_string(),
    ])?;
    let commands: Vec<Vec<String>> = key
        .added
        .chunks(1_000)
        .map(|values| {
            let mut command = cmd(&["MAVG.ADD", key.name]);
            command.extend(values.iter().cloned());
            command
        })
        .collect();
    for reply in conn.pipeline(&commands)? {
        if reply.is_error() {
            return fail(format!("filling {}: {reply:?}", key.name));
        }
    }
    Ok(())
}

/// Checks that `key` holds its last `window` values, bit for bit, with
/// the ids its tag and sequence numbers give, and the right `MAVG.INFO`.
fn check(conn: &mut RawConn, key: &FixtureKey) -> TestResult {
    let held = key.added.len().min(key.window);
    let kept = &key.added[key.added.len() - held..];
    let first = key.first_seq + (key.added.len() - held) as u64;
    let range = conn.ok(&["MAVG.RANGE", key.name, "0", "-1", "WITHIDS"])?;
    let range = texts(&range)?;
    assert_eq!(range.len(), 2 * held, "elements of {}", key.name);
    for (i, (pair, added)) in range.chunks(2).zip(kept).enumerate() {
        let bits = |text: &str| -> TestResult<u64> {
            let value: f64 = text.parse().context(format!("{text:?}"))?;
            Ok(value.to_bits())
        };
        assert_eq!(bits(&pair[0])?, bits(added)?, "{} at {i}", key.name);
        let id = ElementId {
            tag: key.tag,
            seq: first + i as u64,
        };
        assert_eq!(pair[1], id.text(), "id of {} at {i}", key.name);
    }
    let info = info(conn, key.name)?;
    assert_eq!(info.window, key.window as i64, "window of {}", key.name);
    assert_eq!(info.idtag, key.tag, "tag of {}", key.name);
    let added = key.first_seq + key.added.len() as u64;
    assert_eq!(info.added, added as i64, "added of {}", key.name);
    Ok(())
}

/// Every key of the server as text: `key NAME`, then `info FIELD VALUE`
/// per `MAVG.INFO` field in reply order, then `value TEXT ID` per element,
/// oldest first.
fn render(conn: &mut RawConn, version: u32) -> TestResult<String> {
    let mut names = texts(&conn.ok(&["KEYS", "*"])?)?;
    names.sort();
    let mut out = String::new();
    for name in names {
        out.push_str(&format!("key {name}\n"));
        let reply = conn.ok(&["MAVG.INFO", &name])?;
        let fields = reply.items().context(format!("INFO {reply:?}"))?;
        for pair in fields.chunks(2) {
            let field = pair[0].text().context("an INFO field name")?;
            let value = match &pair[1] {
                Reply::Int(n) => n.to_string(),
                Reply::Nil => "nil".to_string(),
                other => other.text().context("an INFO value")?.to_string(),
            };
            out.push_str(&format!("info {field} {value}\n"));
        }
        let range = conn.ok(&["MAVG.RANGE", &name, "0", "-1", "WITHIDS"])?;
        for pair in texts(&range)?.chunks(2) {
            out.push_str(&format!("value {} {}\n", pair[0], pair[1]));
        }
        if version >= 2 {
            out.push_str(&format!("copy-tag {}\n", copy_tag(conn, &name)?));
        }
    }
    Ok(out)
}

/// The id tag `COPY` gives a copy of `name` now; counts the copy in
/// `name`, so call it after reading everything else.
fn copy_tag(conn: &mut RawConn, name: &str) -> TestResult<String> {
    let probe = "copy-probe";
    assert_eq!(conn.ok(&["COPY", name, probe])?, Reply::Int(1));
    let tag = format!("{:016x}", info(conn, probe)?.idtag);
    conn.ok(&["DEL", probe])?;
    Ok(tag)
}

/// The expected text of `version` without its comment lines.
fn expected_text(version: u32) -> TestResult<String> {
    let path = source_path(&expected_path(version));
    let text = fs::read_to_string(&path).context(format!("{path:?}"))?;
    let lines = text.lines().filter(|line| !line.starts_with('#'));
    Ok(lines.map(|line| format!("{line}\n")).collect())
}

#[test]
fn every_fixture_loads_as_written() -> TestResult {
    for version in VERSIONS {
        fixture_loads_as_written(version)
            .context(format!("encoding version {version}"))?;
    }
    Ok(())
}

fn fixture_loads_as_written(version: u32) -> TestResult {
    let rdb = rdb_path(version);
    let mut server = Server::start_with(&["--dbfilename", "fixture.rdb"])?;
    if !server.at_least(7, 0, "loading an RDB file of format 10")? {
        return Ok(());
    }
    let copy = server.dir().join("fixture.rdb");
    fs::copy(source_path(&rdb), &copy).context(format!("copying {rdb}"))?;
    server.restart().context("loading the fixture")?;
    let mut conn = server.connect()?;

    let actual = render(&mut conn, version)?;

    let expected = expected_text(version)?;
    let mut lines = expected.lines().zip(actual.lines()).enumerate();
    if let Some((i, (want, got))) = lines.find(|(_, (want, got))| want != got)
    {
        let line = i + 1;
        return fail(format!("rendered line {line}: {got:?}, not {want:?}"));
    }
    let counts = (actual.lines().count(), expected.lines().count());
    assert_eq!(counts.0, counts.1, "lines rendered, lines expected");
    assert_eq!(conn.ok(&["DBSIZE"])?, Reply::Int(5), "keys loaded");
    Ok(())
}

/// The encoding version the loaded module announced in its log.
fn logged_version(server: &Server) -> TestResult<u32> {
    let log = server.log();
    let marker = "encoding version ";
    let at = log.find(marker).context("the module's load notice")?;
    let rest = &log[at + marker.len()..];
    let digits: String =
        rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().context("the encoding version")
}

#[test]
#[ignore = "writes the fixture into the source tree; run on purpose"]
fn regenerate() -> TestResult {
    let server = Server::start()?;
    let version = logged_version(&server)?;
    if version != CURRENT {
        return fail(format!(
            "the module writes encoding version {version}, not {CURRENT}: \
             keep the older fixtures and add one for the new version"
        ));
    }
    let mut conn = server.connect()?;
    let keys = fixture_keys();
    for key in &keys {
        make(&mut conn, key)?;
    }
    for key in &keys {
        check(&mut conn, key)?;
    }
    assert_eq!(conn.ok(&["SAVE"])?, Reply::status("OK"));
    let text = render(&mut conn, CURRENT)?;

    fs::create_dir_all(source_path("tests/fixtures"))?;
    let rdb = source_path(&rdb_path(CURRENT));
    fs::copy(server.dir().join("dump.rdb"), rdb)?;
    let expected = format!("{}{text}", header(CURRENT));
    fs::write(source_path(&expected_path(CURRENT)), expected)?;
    Ok(())
}
