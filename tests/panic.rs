//! The panic boundary: a panic inside a command must reach the client as
//! an error, change nothing and leave the server serving, however often
//! it happens.
//!
//! A normal build has no way to panic on purpose, so these tests load the
//! module built with the cargo feature `panic-probe`, in which every
//! command on the key `mavg:panic-probe` panics inside the module:
//! `$MAVG_PANIC_MODULE`, else `target/panic-probe/release/`, where
//! `make test` builds it (`cargo build --release --features panic-probe
//! --target-dir target/panic-probe`). Without it the tests say so and
//! pass, except under CI (`$CI` set), where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::mavg::add;
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::{fail, TestResult};

/// The key whose commands panic in the probe build.
const PROBE_KEY: &str = "mavg:panic-probe";

/// The error a caught panic becomes.
const INTERNAL: &str = "ERR internal error in the MAVG module";

/// What the module logs for each panic it catches.
const LOGGED: &str = "caught a panic";

/// The probe build's module.
fn probe_module() -> PathBuf {
    match std::env::var_os("MAVG_PANIC_MODULE") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/panic-probe/release/libredis_mavg.so"),
    }
}

/// Makes every server of this test binary load the probe build, and says
/// whether it exists.
///
/// The harness loads `$MAVG_MODULE`; this binary's tests all want the
/// probe, so it is set once, before any of them starts a server: each
/// test waits here until it is done.
fn use_probe_module() -> TestResult<bool> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let path = probe_module();
        if !path.is_file() {
            return None;
        }
        std::env::set_var("MAVG_MODULE", &path);
        Some(path)
    });
    match found {
        Some(_) => Ok(true),
        None if std::env::var_os("CI").is_some() => fail(format!(
            "no panic-probe module at {}: build it with `cargo build \
             --release --features panic-probe --target-dir \
             target/panic-probe`",
            probe_module().display()
        )),
        None => {
            eprintln!(
                "SKIPPED: no panic-probe module at {} (`make test` builds \
                 it; under CI this fails)",
                probe_module().display()
            );
            Ok(false)
        }
    }
}

/// Every MAVG command on the probe key.
fn probe_commands() -> [Vec<&'static str>; 6] {
    [
        vec!["MAVG.ADD", PROBE_KEY, "1"],
        vec!["MAVG.CREATE", PROBE_KEY, "WINDOW", "5"],
        vec!["MAVG.AVG", PROBE_KEY],
        vec!["MAVG.GET", PROBE_KEY, "0"],
        vec!["MAVG.RANGE", PROBE_KEY, "0", "-1"],
        vec!["MAVG.INFO", PROBE_KEY],
    ]
}

/// Sends `args`, which must panic in the module: the client gets the
/// internal error, the probe key stays missing, the data is unchanged
/// and the server answers.
fn panics(conn: &mut RawConn, args: &[&str]) -> TestResult {
    let before = conn.ok(&["DEBUG", "DIGEST"])?;
    let reply = conn.call(args)?;

    assert_eq!(reply, Reply::Error(INTERNAL.into()), "{args:?}");
    assert_eq!(conn.ok(&["EXISTS", PROBE_KEY])?, Reply::Int(0));
    assert_eq!(conn.ok(&["DEBUG", "DIGEST"])?, before, "{args:?}");
    assert_eq!(conn.ok(&["PING"])?, Reply::status("PONG"));
    Ok(())
}

/// How many panics the server has logged.
fn logged_panics(server: &Server) -> usize {
    server.log().lines().filter(|l| l.contains(LOGGED)).count()
}

#[test]
fn ten_panics_in_a_row_leave_the_server_serving() -> TestResult {
    if !use_probe_module()? {
        return Ok(());
    }
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    add(&mut conn, "k", &["WINDOW", "3", "1"])?;

    for round in 1..=10_usize {
        panics(&mut conn, &["MAVG.ADD", PROBE_KEY, "1"])?;

        assert!(server.is_running(), "log:\n{}", server.log_tail());
        add(&mut conn, "k", &[&round.to_string()])?;
        let newest = conn.ok(&["MAVG.GET", "k", "-1"])?;
        assert_eq!(newest, Reply::bulk(&round.to_string()));
        let average = conn.ok(&["MAVG.AVG", "k"])?.number();
        let expected = match round {
            1 => 1.0,
            2 => 4.0 / 3.0,
            _ => (round - 1) as f64,
        };
        assert_eq!(average, Some(expected), "round {round}");
        assert_eq!(logged_panics(&server), round, "round {round}");
    }
    Ok(())
}

#[test]
fn every_command_is_behind_the_boundary() -> TestResult {
    if !use_probe_module()? {
        return Ok(());
    }
    let mut server = Server::start()?;
    let mut conn = server.connect()?;
    let mut resp3 = server.connect_resp3()?;

    let commands = probe_commands();
    for args in &commands {
        panics(&mut conn, args)?;
        panics(&mut resp3, args)?;
    }
    conn.ok(&["MULTI"])?;
    conn.ok(&["MAVG.ADD", "k", "1"])?;
    conn.ok(&["MAVG.ADD", PROBE_KEY, "1"])?;
    let exec = conn.ok(&["EXEC"])?;

    let items = exec.items().map(<[Reply]>::to_vec).unwrap_or_default();
    assert_eq!(items.len(), 2, "EXEC replied {exec:?}");
    assert_eq!(items[1], Reply::Error(INTERNAL.into()));
    assert_eq!(conn.ok(&["MAVG.AVG", "k"])?, Reply::bulk("1"));
    assert!(server.is_running(), "log:\n{}", server.log_tail());
    assert_eq!(logged_panics(&server), 2 * commands.len() + 1);
    Ok(())
}
