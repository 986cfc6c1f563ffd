//! The module among Redis's own tools: `COMMAND DOCS`, `COMMAND INFO` and
//! `COMMAND GETKEYS` describe every MAVG command; `mavg.default-window`
//! and `mavg.max-window` are configs like Redis's own; the `INFO` section
//! `mavg` counts keys, values and memory exactly; and the module loads
//! and serves on Redis 6.2 and Valkey 8.1 (from `REDIS_62_SERVER` and
//! `VALKEY_SERVER`, when set).
//!
//! Command docs and configs need Redis 7.0 or later: their tests skip on
//! an older server.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::mavg::{add, info};
use common::resp::{RawConn, Reply};
use common::server::{info_field, module_path, wait_until, Server};
use common::{fail, Context, TestResult};

/// The default maximum window, which the window error names.
const WINDOW_ERROR: &str =
    "ERR window must be an integer from 1 to 1000000000";

/// Whether the server is Redis 7.0 or later (Valkey reports 7.2.4); says
/// on stderr that `what` is skipped when not.
fn has_redis_7(conn: &mut RawConn, what: &str) -> TestResult<bool> {
    let version = info_field(conn, "server", "redis_version")?;
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .context(format!("redis_version:{version}"))?;
    if major < 7 {
        eprintln!("skipped: {what} needs Redis 7.0+, server is {version}");
    }
    Ok(major >= 7)
}

/// The pairs of a flat `name, value, ...` array, by name.
fn field<'a>(reply: &'a Reply, name: &str) -> TestResult<&'a Reply> {
    let items = reply.items().context(format!("{reply:?} as an array"))?;
    items
        .chunks(2)
        .find(|pair| pair[0].text() == Some(name))
        .map(|pair| &pair[1])
        .context(format!("{name} in {reply:?}"))
}

/// An array of flags, as `COMMAND` replies them: status replies.
fn flags(names: &[&str]) -> Reply {
    Reply::Array(names.iter().map(|name| Reply::status(name)).collect())
}

/// Every command, its arity, its key spec flags, and the names of its
/// arguments in order.
const COMMANDS: [(&str, i64, &[&str], &[&str]); 6] = [
    (
        "mavg.create",
        -4,
        &["RW", "insert"],
        &["key", "window", "tag", "next", "count"],
    ),
    ("mavg.add", -3, &["RW", "update"], &["key", "n", "value"]),
    ("mavg.avg", 2, &["RO", "access"], &["key"]),
    ("mavg.get", 3, &["RO", "access"], &["key", "ref"]),
    (
        "mavg.range",
        -4,
        &["RO", "access"],
        &["key", "start", "stop", "withids"],
    ),
    ("mavg.info", 2, &["RO", "access"], &["key"]),
];

#[test]
fn command_docs_describe_every_command() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "COMMAND DOCS")? {
        return Ok(());
    }

    for (name, _, _, arg_names) in COMMANDS {
        let reply = conn.ok(&["COMMAND", "DOCS", name])?;
        let docs = field(&reply, name)?;
        for key in ["summary", "complexity"] {
            let text = field(docs, key)?.text().unwrap_or("");
            if text.is_empty() {
                return fail(format!("{name}: no {key} in {docs:?}"));
            }
        }
        assert_eq!(field(docs, "since")?.text(), Some("0.1.0"), "{name}");
        assert_eq!(field(docs, "module")?.text(), Some("mavg"), "{name}");

        let args = field(docs, "arguments")?.items().context("arguments")?;
        let names: Vec<&str> = args
            .iter()
            .map(|arg| field(arg, "name").map(|n| n.text().unwrap_or("")))
            .collect::<TestResult<_>>()?;
        assert_eq!(names, arg_names, "{name}");
        assert_eq!(field(&args[0], "type")?.text(), Some("key"), "{name}");
    }
    Ok(())
}

#[test]
fn command_docs_give_types_tokens_and_flags() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "COMMAND DOCS")? {
        return Ok(());
    }

    let reply = conn.ok(&["COMMAND", "DOCS", "mavg.add"])?;
    let args = field(field(&reply, "mavg.add")?, "arguments")?;
    let args = args.items().context("arguments")?;
    assert_eq!(field(&args[1], "type")?.text(), Some("integer"));
    assert_eq!(field(&args[1], "token")?.text(), Some("WINDOW"));
    assert_eq!(field(&args[1], "flags")?, &flags(&["optional"]));
    assert_eq!(field(&args[2], "type")?.text(), Some("double"));
    assert_eq!(field(&args[2], "flags")?, &flags(&["multiple"]));

    let reply = conn.ok(&["COMMAND", "DOCS", "mavg.get"])?;
    let args = field(field(&reply, "mavg.get")?, "arguments")?;
    let reference = &args.items().context("arguments")?[1];
    assert_eq!(field(reference, "type")?.text(), Some("oneof"));
    let choices = field(reference, "arguments")?.items().context("oneof")?;
    let kinds: Vec<_> = choices
        .iter()
        .map(|c| field(c, "type").map(|t| t.text().unwrap_or("")))
        .collect::<TestResult<_>>()?;
    assert_eq!(kinds, ["integer", "string"]);

    let reply = conn.ok(&["COMMAND", "DOCS", "mavg.range"])?;
    let args = field(field(&reply, "mavg.range")?, "arguments")?;
    let with_ids = &args.items().context("arguments")?[3];
    assert_eq!(field(with_ids, "type")?.text(), Some("pure-token"));
    assert_eq!(field(with_ids, "token")?.text(), Some("WITHIDS"));
    Ok(())
}

#[test]
fn command_info_gives_arity_and_key_specs() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "key specs")? {
        return Ok(());
    }

    for (name, arity, key_flags, _) in COMMANDS {
        let reply = conn.ok(&["COMMAND", "INFO", name])?;
        let entry = reply.items().and_then(|i| i.first());
        let entry = entry.and_then(Reply::items).context(name)?;
        assert_eq!(entry[1], Reply::Int(arity), "{name} arity");
        let (first, last, step) = (&entry[3], &entry[4], &entry[5]);
        assert_eq!([first, last, step], [&Reply::Int(1); 3], "{name}");

        let specs = entry[8].items().context("key specs")?;
        assert_eq!(specs.len(), 1, "{name}: {specs:?}");
        let spec = &specs[0];
        assert_eq!(field(spec, "flags")?, &flags(key_flags), "{name}");
        let begin = field(spec, "begin_search")?;
        assert_eq!(field(begin, "type")?.text(), Some("index"));
        assert_eq!(field(field(begin, "spec")?, "index")?, &Reply::Int(1));
        let find = field(spec, "find_keys")?;
        assert_eq!(field(find, "type")?.text(), Some("range"));
        let range = field(find, "spec")?;
        assert_eq!(field(range, "lastkey")?, &Reply::Int(0), "{name}");
        assert_eq!(field(range, "keystep")?, &Reply::Int(1), "{name}");
        assert_eq!(field(range, "limit")?, &Reply::Int(0), "{name}");
    }
    Ok(())
}

#[test]
fn command_getkeys_finds_the_key() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;

    let calls: [&[&str]; 6] = [
        &["MAVG.CREATE", "k", "WINDOW", "3"],
        &["MAVG.ADD", "k", "1"],
        &["MAVG.AVG", "k"],
        &["MAVG.GET", "k", "0"],
        &["MAVG.RANGE", "k", "0", "-1", "WITHIDS"],
        &["MAVG.INFO", "k"],
    ];
    for call in calls {
        let request = [&["COMMAND", "GETKEYS"][..], call].concat();
        assert_eq!(conn.ok(&request)?, Reply::bulks(&["k"]), "{call:?}");
    }
    Ok(())
}

/// `CONFIG GET name` as its one value.
fn config_get(conn: &mut RawConn, name: &str) -> TestResult<String> {
    let reply = conn.ok(&["CONFIG", "GET", name])?;
    let value = field(&reply, name)?.text().context(name)?;
    Ok(value.to_string())
}

#[test]
fn configs_are_read_and_set_within_their_range() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "module configs")? {
        return Ok(());
    }

    assert_eq!(config_get(&mut conn, "mavg.default-window")?, "100");
    assert_eq!(config_get(&mut conn, "mavg.max-window")?, "1000000000");
    for name in ["mavg.default-window", "mavg.max-window"] {
        conn.ok(&["CONFIG", "SET", name, "7"])?;
        assert_eq!(config_get(&mut conn, name)?, "7");
        for bad in ["0", "-1", "1000000001"] {
            let error = conn.err(&["CONFIG", "SET", name, bad])?;
            let expected = "argument must be between 1 and 1000000000";
            assert!(error.contains(expected), "{name} {bad}: {error}");
        }
        let error = conn.err(&["CONFIG", "SET", name, "abc"])?;
        assert!(error.starts_with("ERR CONFIG SET failed"), "{error}");
        assert_eq!(config_get(&mut conn, name)?, "7");
    }
    Ok(())
}

#[test]
fn default_window_sizes_keys_added_without_window() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "module configs")? {
        return Ok(());
    }

    add(&mut conn, "before", &["1"])?;
    conn.ok(&["CONFIG", "SET", "mavg.default-window", "3"])?;
    add(&mut conn, "after", &["1", "2", "3", "4"])?;
    add(&mut conn, "explicit", &["WINDOW", "5", "1"])?;

    assert_eq!(info(&mut conn, "before")?.window, 100);
    let after = info(&mut conn, "after")?;
    assert_eq!((after.window, after.length), (3, 3));
    assert_eq!(info(&mut conn, "explicit")?.window, 5);
    Ok(())
}

#[test]
fn default_window_can_be_given_at_startup() -> TestResult {
    // Redis 6.2 refuses to start on a config line it does not know.
    let plain = Server::start()?;
    if !has_redis_7(&mut plain.connect()?, "module configs")? {
        return Ok(());
    }

    let server = Server::start_with(&["--mavg.default-window", "4"])?;
    let mut conn = server.connect()?;
    add(&mut conn, "k", &["1"])?;
    assert_eq!(info(&mut conn, "k")?.window, 4);
    let refused = Server::start_with(&["--mavg.max-window", "0"]);
    assert!(refused.is_err(), "a max-window of 0 was accepted");
    Ok(())
}

#[test]
fn max_window_bounds_create_and_add() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    if !has_redis_7(&mut conn, "module configs")? {
        return Ok(());
    }
    let error = conn.err(&["MAVG.CREATE", "k", "WINDOW", "1000000001"])?;
    assert_eq!(error, WINDOW_ERROR);
    add(&mut conn, "big", &["WINDOW", "500", "1"])?;

    conn.ok(&["CONFIG", "SET", "mavg.max-window", "200"])?;
    let refused = "ERR window must be an integer from 1 to 200";
    let error = conn.err(&["MAVG.CREATE", "k", "WINDOW", "201"])?;
    assert_eq!(error, refused);
    let error = conn.err(&["MAVG.ADD", "k", "WINDOW", "201", "1"])?;
    assert_eq!(error, refused);
    conn.ok(&["MAVG.CREATE", "k", "WINDOW", "200"])?;
    assert_eq!(conn.call(&["EXISTS", "k"])?, Reply::Int(1));

    // A key made before keeps its window and takes values without it.
    add(&mut conn, "big", &["2"])?;
    assert_eq!(info(&mut conn, "big")?.length, 2);

    // A default above the maximum is refused like an explicit window.
    conn.ok(&["CONFIG", "SET", "mavg.max-window", "50"])?;
    let error = conn.err(&["MAVG.ADD", "new", "1"])?;
    assert_eq!(error, "ERR window must be an integer from 1 to 50");
    assert_eq!(conn.call(&["EXISTS", "new"])?, Reply::Int(0));
    Ok(())
}

#[test]
fn replicas_take_windows_above_their_own_maximum() -> TestResult {
    let primary = Server::start()?;
    let replica = Server::start()?;
    let mut to_primary = primary.connect()?;
    let mut to_replica = replica.connect()?;
    if !has_redis_7(&mut to_replica, "module configs")? {
        return Ok(());
    }
    to_replica.ok(&["CONFIG", "SET", "mavg.max-window", "10"])?;
    common::server::attach_replica(&primary, &mut to_replica)?;

    add(&mut to_primary, "k", &["WINDOW", "20", "1", "2"])?;
    common::server::wait_caught_up(&mut to_primary, &mut to_replica)?;
    assert_eq!(info(&mut to_replica, "k")?.window, 20);
    Ok(())
}

/// The three totals of the `mavg` section of `INFO`.
fn totals(conn: &mut RawConn) -> TestResult<[i64; 3]> {
    let reply = conn.ok(&["INFO", "mavg"])?;
    let text = reply.text().context("INFO mavg text")?.to_string();
    let read = |name: &str| -> TestResult<i64> {
        let prefix = format!("{name}:");
        let line = text.lines().find(|line| line.starts_with(&prefix));
        let line = line.context(format!("{name} in {text}"))?;
        line[prefix.len()..]
            .trim()
            .parse()
            .context(name.to_string())
    };
    Ok([
        read("mavg_keys")?,
        read("mavg_values")?,
        read("mavg_memory_bytes")?,
    ])
}

#[test]
fn info_section_counts_keys_values_and_memory() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    assert_eq!(totals(&mut conn)?, [0, 0, 0]);

    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "3"])?;
    let [keys, values, header] = totals(&mut conn)?;
    assert_eq!((keys, values), (1, 0));
    assert!(header > 0, "an empty key takes {header} bytes");

    add(&mut conn, "a", &["WINDOW", "2", "1", "2", "3", "4", "5"])?;
    let [keys, values, memory] = totals(&mut conn)?;
    assert_eq!((keys, values), (2, 2), "evicted values are uncounted");
    assert!(memory > 2 * header, "{memory} bytes for two keys");

    // The same values in a second key take the same memory again.
    add(&mut conn, "b", &["WINDOW", "2", "1", "2", "3", "4", "5"])?;
    let [_, _, with_b] = totals(&mut conn)?;
    assert_eq!(with_b - memory, memory - header);

    conn.ok(&["DEL", "a", "b"])?;
    assert_eq!(totals(&mut conn)?, [1, 0, header]);
    // Valkey flushes in a background thread by default.
    conn.ok(&["FLUSHALL"])?;
    wait_until("FLUSHALL frees the key", Duration::from_secs(10), || {
        Ok(totals(&mut conn)? == [0, 0, 0])
    })?;
    Ok(())
}

#[test]
fn info_section_follows_copy_restore_reload_and_overwrite() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    add(&mut conn, "k", &["WINDOW", "10", "1", "2", "3"])?;
    let one = totals(&mut conn)?;
    let double = one.map(|total| 2 * total);

    conn.ok(&["COPY", "k", "copy"])?;
    assert_eq!(totals(&mut conn)?, double, "after COPY");
    conn.ok(&["DEBUG", "RELOAD"])?;
    assert_eq!(totals(&mut conn)?, double, "after DEBUG RELOAD");
    conn.ok(&["DEL", "copy"])?;

    let dump = conn.ok(&["DUMP", "k"])?;
    let payload = match dump {
        Reply::Bulk(bytes) => bytes,
        other => return fail(format!("DUMP replied {other:?}")),
    };
    let mut restore: Vec<Vec<u8>> =
        vec![b"RESTORE".to_vec(), b"r".to_vec(), b"0".to_vec(), payload];
    conn.ok(&restore)?;
    assert_eq!(totals(&mut conn)?, double, "after RESTORE");
    restore.push(b"REPLACE".to_vec());
    conn.ok(&restore)?;
    assert_eq!(totals(&mut conn)?, double, "after RESTORE REPLACE");

    conn.ok(&["SET", "r", "a string now"])?;
    assert_eq!(totals(&mut conn)?, one, "after an overwrite");
    conn.ok(&["RENAME", "k", "renamed"])?;
    assert_eq!(totals(&mut conn)?, one, "after RENAME");
    Ok(())
}

#[test]
fn info_section_follows_expiry_and_lazy_frees() -> TestResult {
    let server = Server::start_with(&["--lazyfree-lazy-user-flush", "yes"])?;
    let mut conn = server.connect()?;

    add(&mut conn, "short", &["1", "2"])?;
    conn.ok(&["PEXPIRE", "short", "1"])?;
    wait_until("the key expires", Duration::from_secs(10), || {
        Ok(totals(&mut conn)? == [0, 0, 0])
    })?;

    // Big enough (over 256 KiB) to be freed in a background thread.
    let values: Vec<String> = (0..40_000).map(|n| n.to_string()).collect();
    let mut args = vec!["WINDOW", "50000"];
    args.extend(values.iter().map(String::as_str));
    add(&mut conn, "big", &args)?;
    add(&mut conn, "big2", &args)?;
    assert_eq!(totals(&mut conn)?[..2], [2, 80_000]);

    conn.ok(&["UNLINK", "big"])?;
    conn.ok(&["FLUSHALL", "ASYNC"])?;
    wait_until("the lazy frees end", Duration::from_secs(10), || {
        Ok(totals(&mut conn)? == [0, 0, 0])
    })
}

/// A server of another build (Redis 6.2, Valkey) with the module loaded,
/// killed and its directory removed on drop.
struct OtherServer {
    process: Child,
    port: u16,
    dir: PathBuf,
}

impl OtherServer {
    /// Starts the server `$variable` names, or `None` when it is unset.
    fn start(variable: &str) -> TestResult<Option<OtherServer>> {
        let Some(program) = std::env::var_os(variable) else {
            eprintln!("skipped: set {variable} to a server to test on it");
            return Ok(None);
        };
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let dir = std::env::temp_dir()
            .join(format!("redis-mavg-other-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let process = Command::new(&program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no"])
            .arg("--loadmodule")
            .arg(module_path()?)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(format!("running {program:?}"))?;
        let server = OtherServer { process, port, dir };
        server.wait_ready()?;
        Ok(Some(server))
    }

    fn wait_ready(&self) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut conn) = RawConn::connect(self.port) {
                if conn.call(&["PING"]).is_ok() {
                    return Ok(());
                }
            }
            sleep(Duration::from_millis(50));
        }
        fail("the other server did not answer")
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Every command works on `conn`, and the `INFO` section counts.
fn serves_every_command(conn: &mut RawConn) -> TestResult {
    conn.ok(&["MAVG.CREATE", "c", "WINDOW", "2"])?;
    add(conn, "k", &["WINDOW", "3", "1", "2", "4", "8"])?;
    assert_eq!(conn.ok(&["MAVG.AVG", "k"])?.number(), Some(14.0 / 3.0));
    assert_eq!(conn.ok(&["MAVG.GET", "k", "0"])?, Reply::bulk("2"));
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1"])?;
    assert_eq!(range, Reply::bulks(&["2", "4", "8"]));
    assert_eq!(info(conn, "k")?.length, 3);
    let getkeys = conn.ok(&["COMMAND", "GETKEYS", "MAVG.ADD", "k", "1"])?;
    assert_eq!(getkeys, Reply::bulks(&["k"]));
    assert_eq!(totals(conn)?[..2], [2, 3]);
    Ok(())
}

#[test]
fn loads_and_serves_on_redis_6_2_with_the_defaults() -> TestResult {
    let Some(server) = OtherServer::start("REDIS_62_SERVER")? else {
        return Ok(());
    };
    let mut conn = RawConn::connect(server.port)?;
    let version = info_field(&mut conn, "server", "redis_version")?;
    assert!(version.starts_with("6.2."), "redis_version:{version}");

    serves_every_command(&mut conn)?;
    let configs = conn.ok(&["CONFIG", "GET", "mavg.*"])?;
    assert_eq!(configs, Reply::Array(Vec::new()));
    add(&mut conn, "default", &["1"])?;
    assert_eq!(info(&mut conn, "default")?.window, 100);
    let error = conn.err(&["MAVG.CREATE", "x", "WINDOW", "1000000001"])?;
    assert_eq!(error, WINDOW_ERROR);
    Ok(())
}

#[test]
fn loads_and_serves_on_valkey_with_docs_and_configs() -> TestResult {
    let Some(server) = OtherServer::start("VALKEY_SERVER")? else {
        return Ok(());
    };
    let mut conn = RawConn::connect(server.port)?;
    let server_info = conn.ok(&["INFO", "server"])?;
    let text = server_info.text().unwrap_or("");
    assert!(text.contains("valkey_version:"), "not Valkey: {text}");

    serves_every_command(&mut conn)?;
    let reply = conn.ok(&["COMMAND", "DOCS", "mavg.add"])?;
    let docs = field(&reply, "mavg.add")?;
    assert_eq!(field(docs, "since")?.text(), Some("0.1.0"));
    conn.ok(&["CONFIG", "SET", "mavg.max-window", "10"])?;
    let error = conn.err(&["MAVG.CREATE", "x", "WINDOW", "11"])?;
    assert_eq!(error, "ERR window must be an integer from 1 to 10");
    Ok(())
}
