//! The append-only file rebuilds every key exactly: values, ids, windows
//! and sequence positions. A `BGREWRITEAOF` must succeed with and without
//! the RDB preamble; without it, the rewritten base file must hold, per
//! key, one `MAVG.CREATE ... IDTAG tag SEQ s` and `MAVG.ADD` commands of
//! at most 1,024 values (the README's contract). A restart from the
//! rewritten file, and then from it plus the writes logged after it (the
//! incremental file), must give back every key as it was.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use common::mavg::{add, dataset, info, same_dataset, texts, SEQ_MAX};
use common::resp::{cmd, RawConn, Reply};
use common::server::{rewrite_aof, Server};
use common::{fail, Context, TestResult};

/// Values in the key that spans several `MAVG.ADD` commands of a rewrite.
const BIG: usize = 5_000;

/// The most values the README allows in one rewritten `MAVG.ADD`.
const AOF_CHUNK: usize = 1_024;

/// A value of many digits, of either sign and of varied magnitude.
fn value_text(i: usize) -> String {
    let scale = if i % 3 == 0 { -1e-3 } else { 1e5 };
    format!("{}", (i as f64 + 0.5).sqrt() * scale)
}

/// `count` values from [`value_text`], starting at `from`.
fn values(from: usize, count: usize) -> Vec<String> {
    (from..from + count).map(value_text).collect()
}

/// Sends `MAVG.ADD key [WINDOW n] values...`, which must succeed.
fn add_all(
    conn: &mut RawConn,
    key: &str,
    window: Option<&str>,
    values: &[String],
) -> TestResult {
    let mut args: Vec<&str> = Vec::new();
    if let Some(window) = window {
        args.extend(["WINDOW", window]);
    }
    args.extend(values.iter().map(String::as_str));
    add(conn, key, &args).map(|_| ())
}

/// Makes keys of every shape a rewrite must handle: one past four AOF
/// commands, one of exactly one command and one just past it, a wrapped
/// window, extreme and exact-sum values, an empty key with a restored
/// sequence, a restored id space near its end, the default window, and
/// a key of another type beside them.
fn fill(conn: &mut RawConn) -> TestResult {
    add_all(conn, "big", Some("6000"), &values(0, BIG))?;
    add_all(conn, "edge:1024", Some("1024"), &values(0, AOF_CHUNK))?;
    add_all(conn, "edge:1025", Some("2000"), &values(7, AOF_CHUNK + 1))?;
    add(
        conn,
        "wrapped",
        &["WINDOW", "3", "1e16", "1", "1", "1", "1"],
    )?;
    let extremes = [
        "5e-324",
        "-0.0",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "0.1",
        "1e16",
        "-2.5e-7",
        "123456789.123456789",
    ];
    add(conn, "extreme", &[&["WINDOW", "8"][..], &extremes].concat())?;
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "7", "SEQ", "12"])?;
    let seq = (SEQ_MAX - 10).to_string();
    let tag = "ffffffffffffffff";
    conn.ok(&[
        "MAVG.CREATE",
        "restored",
        "WINDOW",
        "4",
        "IDTAG",
        tag,
        "SEQ",
        &seq,
    ])?;
    add(conn, "restored", &["1", "2"])?;
    add_all(conn, "default", None, &values(100, 150))?;
    conn.ok(&["SET", "other", "not a series"])?;
    Ok(())
}

/// Writes of every kind after a rewrite, for the incremental file: adds
/// to existing keys, keys created by `MAVG.ADD` and by `MAVG.CREATE`, a
/// key deleted and created again, `MULTI`, a script, `COPY`, `RENAME`,
/// and refused writes that must leave no trace.
fn write_more(conn: &mut RawConn) -> TestResult {
    add_all(conn, "big", None, &values(BIG, 100))?;
    add(conn, "wrapped", &["2", "3"])?;
    add(conn, "empty", &["-4.5"])?;
    add(conn, "restored", &["3"])?;
    add(conn, "new:add", &["WINDOW", "5", "0.3", "0.6"])?;
    conn.ok(&["MAVG.CREATE", "new:create", "WINDOW", "9", "SEQ", "77"])?;
    add(conn, "new:create", &["1e-300"])?;
    conn.ok(&["DEL", "edge:1024"])?;
    add(conn, "edge:1024", &["WINDOW", "2", "8", "9", "10"])?;
    let multi = [
        cmd(&["MULTI"]),
        cmd(&["MAVG.ADD", "extreme", "42"]),
        cmd(&["MAVG.ADD", "new:multi", "1", "2"]),
        cmd(&["EXEC"]),
    ];
    for reply in conn.pipeline(&multi)? {
        if reply.is_error() {
            return fail(format!("MULTI: {reply:?}"));
        }
    }
    let script = "return redis.call('MAVG.ADD', KEYS[1], '4', '5')";
    conn.ok(&["EVAL", script, "1", "new:script"])?;
    assert_eq!(conn.ok(&["COPY", "big", "big:copy"])?, Reply::Int(1));
    conn.ok(&["RENAME", "edge:1025", "edge:renamed"])?;
    conn.err(&["MAVG.ADD", "wrapped", "1", "abc"])?;
    conn.err(&["MAVG.ADD", "wrapped", "WINDOW", "4", "1"])?;
    conn.err(&["MAVG.CREATE", "big", "WINDOW", "3"])?;
    Ok(())
}

/// Adds one value to every MAVG key and checks its id continues the key's
/// sequence with the key's tag.
fn adds_continue_the_ids(conn: &mut RawConn) -> TestResult {
    for key in texts(&conn.ok(&["KEYS", "*"])?)? {
        if key == "other" {
            continue;
        }
        let before = info(conn, &key)?;
        let id = add(conn, &key, &["42"])?[0];
        assert_eq!(id.seq, before.added as u64, "next id of {key}");
        assert_eq!(id.tag, before.idtag, "tag of {key}");
    }
    Ok(())
}

/// The AOF file of type `kind` (`b` for the base, `i` for the last
/// incremental one) that the manifest names now.
fn aof_file(server: &Server, kind: &str) -> TestResult<PathBuf> {
    let dir = server.dir().join("appendonlydir");
    let manifest = fs::read_dir(&dir)
        .context(format!("listing {dir:?}"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with(".manifest"))
        .context("the AOF manifest")?;
    let text = fs::read_to_string(&manifest)?;
    // Lines read `file NAME seq N type T`; the last of a type is current.
    let name = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<&str>>())
        .filter(|words| words.len() == 6 && words[5] == kind)
        .map(|words| words[1].to_string())
        .next_back()
        .context(format!("a file of type {kind} in {text:?}"))?;
    Ok(dir.join(name))
}

/// The commands of an AOF file without RDB preamble: RESP arrays of bulk
/// strings, one after the other.
fn aof_commands(path: &PathBuf) -> TestResult<Vec<Vec<String>>> {
    let bytes = fs::read(path).context(format!("reading {path:?}"))?;
    let mut rest = &bytes[..];
    let mut commands = Vec::new();
    while !rest.is_empty() {
        let count = header(&mut rest, b'*')?;
        let mut command = Vec::with_capacity(count);
        for _ in 0..count {
            let len = header(&mut rest, b'$')?;
            let arg = rest.get(..len).context("a short argument")?;
            command.push(String::from_utf8(arg.to_vec())?);
            if rest.get(len..len + 2) != Some(b"\r\n") {
                return fail("an argument without its CRLF");
            }
            rest = &rest[len + 2..];
        }
        commands.push(command);
    }
    Ok(commands)
}

/// Reads a `*n` or `$n` line off `rest`.
fn header(rest: &mut &[u8], kind: u8) -> TestResult<usize> {
    let end = rest
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .context("a header line")?;
    let line = std::str::from_utf8(&rest[..end])?;
    let number = match line.as_bytes().first() {
        Some(&first) if first == kind => line[1..].parse()?,
        _ => return fail(format!("{line:?} where {} was due", kind as char)),
    };
    *rest = &rest[end + 2..];
    Ok(number)
}

/// What a rewrite wrote for one key.
#[derive(Default)]
struct Rewritten {
    /// The arguments of its `MAVG.CREATE`s after the key.
    creates: Vec<Vec<String>>,
    /// The number of values of each `MAVG.ADD`, in order.
    chunks: Vec<usize>,
    /// Every value added, in order.
    values: Vec<String>,
}

/// Groups the MAVG commands of a rewritten file by key.
fn rewritten(
    commands: &[Vec<String>],
) -> TestResult<BTreeMap<String, Rewritten>> {
    let mut keys: BTreeMap<String, Rewritten> = BTreeMap::new();
    for command in commands {
        let [name, key, args @ ..] = &command[..] else {
            continue;
        };
        let name = name.to_ascii_uppercase();
        if name == "SELECT" || name == "SET" {
            continue;
        }
        let written = keys.entry(key.clone()).or_default();
        match name.as_str() {
            "MAVG.CREATE" => written.creates.push(args.to_vec()),
            "MAVG.ADD" => {
                written.chunks.push(args.len());
                written.values.extend(args.iter().cloned());
            }
            _ => return fail(format!("unexpected command {command:?}")),
        }
    }
    Ok(keys)
}

/// Checks the base file of a rewrite without preamble against the keys
/// as they were: for each key one `MAVG.CREATE` restoring its window, tag
/// and first sequence number, then its values exactly, in `MAVG.ADD`s of
/// 1 to 1,024 values.
fn check_base(conn: &mut RawConn, commands: &[Vec<String>]) -> TestResult {
    let keys = rewritten(commands)?;
    let names: Vec<&String> = keys.keys().collect();
    let expected = [
        "big",
        "default",
        "edge:1024",
        "edge:1025",
        "empty",
        "extreme",
        "restored",
        "wrapped",
    ];
    assert_eq!(names, expected, "keys in the rewritten file");

    for (key, written) in &keys {
        let info = info(conn, key)?;
        let create = [
            "WINDOW".to_string(),
            info.window.to_string(),
            "IDTAG".to_string(),
            format!("{:016x}", info.idtag),
            "SEQ".to_string(),
            (info.added - info.length).to_string(),
        ];
        // The count of copies that closes the command is not in INFO;
        // the restart comparison proves it.
        assert_eq!(written.creates.len(), 1, "MAVG.CREATE of {key}");
        let written_create = &written.creates[0];
        assert_eq!(written_create[..6], create, "MAVG.CREATE of {key}");
        assert_eq!(written_create[6..7], ["COPIES"], "MAVG.CREATE of {key}");
        let too_big = written.chunks.iter().find(|&&n| n > AOF_CHUNK);
        assert_eq!(too_big, None, "a MAVG.ADD of {key} past 1,024 values");
        assert!(!written.chunks.contains(&0), "an empty MAVG.ADD of {key}");
        same_values(conn, key, &written.values)?;
    }
    Ok(())
}

/// Checks that `written` reads as exactly the doubles `key` holds, bit
/// for bit (so `-0` stays negative).
fn same_values(
    conn: &mut RawConn,
    key: &str,
    written: &[String],
) -> TestResult {
    let held = texts(&conn.ok(&["MAVG.RANGE", key, "0", "-1"])?)?;
    assert_eq!(written.len(), held.len(), "values of {key} in the file");
    for (text, value) in written.iter().zip(&held) {
        let bits = |t: &str| -> TestResult<u64> {
            Ok(t.parse::<f64>().context(format!("value {t:?}"))?.to_bits())
        };
        assert_eq!(bits(text)?, bits(value)?, "{key}: {text} for {value}");
    }
    Ok(())
}

/// Starts a server that logs every write to its AOF and fsyncs it before
/// replying, so a killed server has logged everything it acknowledged.
fn aof_server(preamble: &str) -> TestResult<Server> {
    Server::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        preamble,
    ])
}

/// Restarts `server` from its AOF and checks it holds what it held.
fn restart_same(server: &mut Server, what: &str) -> TestResult<RawConn> {
    let before = dataset(&mut server.connect()?)?;
    server.restart().context(format!("restarting {what}"))?;
    let mut conn = server.connect()?;
    let after = dataset(&mut conn).context(what)?;
    if let Err(error) = same_dataset(&before, &after, what) {
        return fail(format!("{error}\nserver log:\n{}", server.log_tail()));
    }
    Ok(conn)
}

/// The part both preamble settings share: after the rewrite, a restart
/// from the rewritten file alone, then writes, a restart from both files,
/// and adds that must continue every id sequence.
fn replay_after_rewrite(server: &mut Server) -> TestResult {
    let mut conn = restart_same(server, "from the rewritten file")?;
    write_more(&mut conn)?;
    let incremental = fs::metadata(aof_file(server, "i")?)?.len();
    assert!(incremental > 0, "the writes are in the incremental file");
    drop(conn);

    let mut conn =
        restart_same(server, "from the rewritten and incremental files")?;
    adds_continue_the_ids(&mut conn)
}

#[test]
fn a_rewrite_without_preamble_rebuilds_every_key() -> TestResult {
    let mut server = aof_server("no")?;
    if !server.at_least(7, 0, "a multi-part AOF (appendonlydir)")? {
        return Ok(());
    }
    let mut conn = server.connect()?;
    fill(&mut conn)?;

    rewrite_aof(&mut conn)?;

    let base = aof_file(&server, "b")?;
    assert!(base.to_string_lossy().ends_with(".base.aof"), "{base:?}");
    check_base(&mut conn, &aof_commands(&base)?)?;
    drop(conn);
    replay_after_rewrite(&mut server)
}

#[test]
fn a_rewrite_with_preamble_rebuilds_every_key() -> TestResult {
    let mut server = aof_server("yes")?;
    if !server.at_least(7, 0, "a multi-part AOF (appendonlydir)")? {
        return Ok(());
    }
    let mut conn = server.connect()?;
    fill(&mut conn)?;

    rewrite_aof(&mut conn)?;

    let base = aof_file(&server, "b")?;
    assert!(base.to_string_lossy().ends_with(".base.rdb"), "{base:?}");
    let magic = fs::read(&base)?.get(..5).map(<[u8]>::to_vec);
    assert_eq!(magic.as_deref(), Some(&b"REDIS"[..]), "an RDB preamble");
    drop(conn);
    replay_after_rewrite(&mut server)
}
