//! The client examples, each run against a real server with the module:
//! `examples/python/mavg_example.py` (redis-py, RESP2 and RESP3),
//! `examples/node/` (node-redis, RESP2 and RESP3) and `examples/client.rs`
//! (the `redis` crate). Each must print what its header promises.
//!
//! Python gets a venv under `target/clients/venv` with
//! `examples/python/requirements.txt` from PyPI; Node gets a copy of
//! `examples/node/` under `target/clients/node` and `npm install` there.
//! Without python3 or node the tests say so and pass, except under CI
//! (`$CI` set), where they fail. A failed install always fails.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::server::Server;
use common::{fail, Context, TestResult};

/// What each example prints, but for its own way of writing numbers and
/// errors.
fn expected(by_id: &str, error: &str) -> String {
    [
        "added 3 values",
        "average: 13.2",
        "oldest: 12.5",
        &format!("by id: {by_id}"),
        &format!("error: {error}"),
    ]
    .map(|line| format!("{line}\n"))
    .concat()
}

fn source_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Whether `program` runs; when not, fails under CI and otherwise says
/// the test is skipped.
fn available(program: &str) -> TestResult<bool> {
    let runs = Command::new(program).arg("--version").output();
    if runs.is_ok_and(|output| output.status.success()) {
        return Ok(true);
    }
    if std::env::var_os("CI").is_some() {
        return fail(format!("{program} is needed under CI and missing"));
    }
    eprintln!("skipped: {program} is not installed");
    Ok(false)
}

/// Runs `command` and returns its standard output, failing on a non-zero
/// exit with what it printed.
fn run(command: &mut Command) -> TestResult<String> {
    let what = format!("{command:?}");
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().context(format!("running {what}"))?;
    let stdout = String::from_utf8(stdout)?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        return fail(format!("{what}: {status}\n{stdout}\n{stderr}"));
    }
    Ok(stdout)
}

/// The Python of a venv with redis-py, made on first use.
fn python_with_redis() -> TestResult<PathBuf> {
    let venv = source_path("target/clients/venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    let requirements = source_path("examples/python/requirements.txt");
    run(Command::new(&python)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(requirements))?;
    Ok(python)
}

/// A copy of `examples/node/` with its dependencies installed.
fn node_example() -> TestResult<PathBuf> {
    let dir = source_path("target/clients/node");
    fs::create_dir_all(&dir)?;
    for file in ["package.json", "mavg_example.js"] {
        let source = source_path(&format!("examples/node/{file}"));
        fs::copy(&source, dir.join(file)).context(format!("{source:?}"))?;
    }
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
        .current_dir(&dir))?;
    Ok(dir.join("mavg_example.js"))
}

#[test]
fn python_example_resp2_and_resp3() -> TestResult {
    if !available("python3")? {
        return Ok(());
    }
    let python = python_with_redis()?;
    let server = Server::start()?;
    let port = server.port().to_string();
    let script = source_path("examples/python/mavg_example.py");

    for protocol in ["2", "3"] {
        let printed = run(Command::new(&python).arg(&script).args([
            "--port",
            &port,
            "--protocol",
            protocol,
        ]))?;
        let want = expected("14.0", "value is not a valid float");
        assert_eq!(printed, want, "RESP{protocol}");
    }
    Ok(())
}

#[test]
fn node_example_resp2_and_resp3() -> TestResult {
    if !available("node")? || !available("npm")? {
        return Ok(());
    }
    let script = node_example()?;
    let server = Server::start()?;
    let port = server.port().to_string();

    for protocol in ["2", "3"] {
        let printed = run(Command::new("node").arg(&script).args([
            "--port",
            &port,
            "--protocol",
            protocol,
        ]))?;
        let want = expected("14", "ERR value is not a valid float");
        assert_eq!(printed, want, "RESP{protocol}");
    }
    Ok(())
}

#[test]
fn rust_example() -> TestResult {
    let server = Server::start()?;
    let port = server.port().to_string();

    let printed = run(Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--release", "--example", "client"])
        .args(["--", "--port", &port])
        .current_dir(env!("CARGO_MANIFEST_DIR")))?;
    let want = expected("14", "ERR value is not a valid float");
    assert_eq!(printed, want);
    Ok(())
}
