//! A `redis-server` with the module loaded, owned by one test.
//!
//! Each server gets a port no other test in this process uses (and that
//! nothing else holds when it starts), a fresh directory for its RDB and
//! log, and a guard whose `Drop` kills it and removes the directory, so a
//! failing test leaves nothing behind.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use super::resp::{RawConn, Reply};
use super::{fail, Context, TestResult};

/// How long a server may take to accept commands: generous, for a loaded
/// two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports handed out in this process so far.
static PORTS_TAKEN: AtomicU32 = AtomicU32::new(0);

/// Directories made in this process so far.
static DIRS_MADE: AtomicU32 = AtomicU32::new(0);

/// A running server; dropping it kills the server and removes its
/// directory.
pub struct Server {
    process: Option<Child>,
    port: u16,
    dir: TempDir,
    extra_args: Vec<String>,
}

impl Server {
    /// Starts a server with the module loaded.
    pub fn start() -> TestResult<Server> {
        Server::start_with(&[])
    }

    /// Starts a server with the module loaded and `extra_args` appended to
    /// its command line (`--replica-read-only`, `--maxmemory`, ...).
    pub fn start_with(extra_args: &[&str]) -> TestResult<Server> {
        let mut server = Server {
            process: None,
            port: 0,
            dir: TempDir::new()?,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        server.launch()?;
        Ok(server)
    }

    /// The port the server listens on (it changes on restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory, where its RDB goes.
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// A new RESP2 connection.
    pub fn connect(&self) -> TestResult<RawConn> {
        RawConn::connect(self.port)
    }

    /// A new connection switched to RESP3.
    pub fn connect_resp3(&self) -> TestResult<RawConn> {
        let mut conn = self.connect()?;
        conn.hello3()?;
        Ok(conn)
    }

    /// A new connection through the `redis` client crate.
    pub fn client(&self) -> TestResult<redis::Connection> {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let client = redis::Client::open(url)?;
        client.get_connection().context("redis client connection")
    }

    /// Kills the server and starts it again on the same directory (so it
    /// loads the RDB saved there), with the same arguments, on a new port.
    pub fn restart(&mut self) -> TestResult {
        self.stop();
        self.launch()
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The server's whole log so far, from every start in its directory.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The Redis version the server reports (`redis_version`), as
    /// (major, minor, patch). Valkey reports the Redis version it is
    /// compatible with (7.2.4 for Valkey 8).
    pub fn version(&self) -> TestResult<(u32, u32, u32)> {
        let text =
            info_field(&mut self.connect()?, "server", "redis_version")?;
        let mut parts = text.split('.').map(|part| part.parse().ok());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) => {
                Ok((major, minor, patch))
            }
            _ => fail(format!("redis_version:{text}")),
        }
    }

    /// Whether the server is Valkey (it reports `valkey_version`).
    pub fn is_valkey(&self) -> TestResult<bool> {
        let reply = self.connect()?.ok(&["INFO", "server"])?;
        let text = reply.text().context("INFO server text")?;
        Ok(text.contains("valkey_version:"))
    }

    /// Whether the server is at least Redis `major.minor` (or compatible
    /// with it); when not, says on stderr that `what` is skipped, for the
    /// test to return early.
    pub fn at_least(
        &self,
        major: u32,
        minor: u32,
        what: &str,
    ) -> TestResult<bool> {
        let (have_major, have_minor, _) = self.version()?;
        if (have_major, have_minor) >= (major, minor) {
            return Ok(true);
        }
        eprintln!(
            "skipped: {what} needs Redis {major}.{minor}+, \
             this server is {have_major}.{have_minor}"
        );
        Ok(false)
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path.join("redis.log")
    }

    /// Starts the process, trying other ports if one was taken meanwhile.
    fn launch(&mut self) -> TestResult {
        let module = module_path()?;
        let mut last_error = String::new();
        for _ in 0..5 {
            self.port = free_port()?;
            self.process = Some(self.spawn(&module)?);
            match self.wait_ready() {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
            self.stop();
            if !self.log_tail().contains("Address already in use") {
                break;
            }
        }
        fail(format!("redis-server did not start: {last_error}"))
    }

    fn spawn(&self, module: &Path) -> TestResult<Child> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let port = self.port.to_string();
        let dir = self.dir.path.to_str().context("temp dir path")?;
        let module = module.to_str().context("module path")?;
        Command::new(server_program())
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--dir", dir, "--save", "", "--appendonly", "no"])
            .args(debug_command_args())
            .args(["--loadmodule", module])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(format!(
                "running {:?} (set REDIS_SERVER)",
                server_program()
            ))
    }

    /// Waits until the server answers PING and has loaded its data.
    fn wait_ready(&mut self) -> TestResult {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                let log = self.log_tail();
                return fail(format!("redis-server exited; log:\n{log}"));
            }
            if self.answers_loaded() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.log_tail();
                return fail(format!("no answer in time; log:\n{log}"));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server answers PING and is not loading an RDB.
    fn answers_loaded(&self) -> bool {
        let Ok(mut conn) = self.connect() else {
            return false;
        };
        let pong = Reply::Status("PONG".into());
        if conn.call(&["PING"]).ok() != Some(pong) {
            return false;
        }
        let info = conn.call(&["INFO", "persistence"]).ok();
        let text = info.as_ref().and_then(Reply::text).unwrap_or("");
        text.contains("loading:0")
    }

    /// Kills the process, if any, and waits for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory of its own for one server, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> TestResult<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .subsec_nanos();
        let serial = DIRS_MADE.fetch_add(1, Ordering::SeqCst);
        let name =
            format!("redis-mavg-test-{}-{serial}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).context(format!("creating {path:?}"))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The module to load: `$MAVG_MODULE`, else the release build.
pub fn module_path() -> TestResult<PathBuf> {
    let path = match std::env::var_os("MAVG_MODULE") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/release/libredis_mavg.so"),
    };
    if !path.is_file() {
        return fail(format!(
            "module not found at {}: build it with \
             `cargo build --release`, or set MAVG_MODULE to its path",
            path.display()
        ));
    }
    Ok(path)
}

/// The server program to start: `$REDIS_SERVER`, else `redis-server` on
/// `PATH`.
pub fn server_program() -> std::ffi::OsString {
    std::env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into())
}

/// The arguments that enable `DEBUG`: Redis 7 and Valkey need them,
/// Redis 6 has the command always on and refuses the option.
fn debug_command_args() -> &'static [&'static str] {
    static VERSION_TEXT: OnceLock<String> = OnceLock::new();
    let text = VERSION_TEXT.get_or_init(|| {
        let output = Command::new(server_program()).arg("--version").output();
        output
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
            .unwrap_or_default()
    });
    if text.contains("Redis server v=6.") {
        &[]
    } else {
        &["--enable-debug-command", "yes"]
    }
}

/// A port below the kernel's ephemeral range that this process has not
/// handed out before and that nothing holds right now.
///
/// Each process starts from its own base (from its id), so test binaries
/// run side by side rarely meet; when they do, the bind check and the
/// retry in [`Server::launch`] settle it.
fn free_port() -> TestResult<u16> {
    let offset = (std::process::id() % 400) * 50;
    for _ in 0..2_000 {
        let serial = PORTS_TAKEN.fetch_add(1, Ordering::SeqCst);
        let port = (12_000 + (offset + serial) % 20_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    fail("no free port found")
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> TestResult<bool>,
) -> TestResult {
    let deadline = Instant::now() + timeout;
    while !check()? {
        if Instant::now() > deadline {
            return fail(format!("timed out waiting until {what}"));
        }
        sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Runs `BGREWRITEAOF` on `conn`'s server and waits for it to succeed.
pub fn rewrite_aof(conn: &mut RawConn) -> TestResult {
    conn.ok(&["BGREWRITEAOF"])?;
    let persistence = |conn: &mut RawConn| -> TestResult<String> {
        let reply = conn.ok(&["INFO", "persistence"])?;
        Ok(reply.text().unwrap_or("").to_string())
    };
    wait_until("the AOF rewrite ends", Duration::from_secs(60), || {
        let text = persistence(conn)?;
        Ok(text.contains("aof_rewrite_in_progress:0")
            && text.contains("aof_rewrite_scheduled:0"))
    })?;
    let text = persistence(conn)?;
    if !text.contains("aof_last_bgrewrite_status:ok") {
        return fail(format!("the AOF rewrite failed:\n{text}"));
    }
    Ok(())
}

/// Field `field` of `INFO section`, as text.
pub fn info_field(
    conn: &mut RawConn,
    section: &str,
    field: &str,
) -> TestResult<String> {
    let reply = conn.ok(&["INFO", section])?;
    let text = reply.text().context(format!("INFO {section} text"))?;
    let prefix = format!("{field}:");
    let line = text.lines().find(|line| line.starts_with(&prefix));
    let line = line.context(format!("{field} in INFO {section}"))?;
    Ok(line[prefix.len()..].trim().to_string())
}

/// Field `field` of `INFO section`, as an integer.
pub fn info_int(
    conn: &mut RawConn,
    section: &str,
    field: &str,
) -> TestResult<i64> {
    let text = info_field(conn, section, field)?;
    text.parse().context(format!("{field}:{text}"))
}

/// How long a replica may take to sync or catch up, on a loaded machine.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes `replica` (a connection to it) a replica of `primary` and waits
/// until the link is up and the first sync is loaded.
pub fn attach_replica(primary: &Server, replica: &mut RawConn) -> TestResult {
    let port = primary.port().to_string();
    replica.ok(&["REPLICAOF", "127.0.0.1", &port])?;
    wait_link_up(replica)
}

/// Waits until `replica`'s link to its primary is up and no sync is in
/// progress.
pub fn wait_link_up(replica: &mut RawConn) -> TestResult {
    wait_until("the replica's link is up", SYNC_TIMEOUT, || {
        let link = info_field(replica, "replication", "master_link_status")?;
        let syncing =
            info_field(replica, "replication", "master_sync_in_progress")?;
        Ok(link == "up" && syncing == "0")
    })
}

/// Waits until the one replica of `primary` has processed everything the
/// primary wrote so far.
pub fn wait_caught_up(
    primary: &mut RawConn,
    replica: &mut RawConn,
) -> TestResult {
    let acked = primary.ok(&["WAIT", "1", "60000"])?;
    if acked != Reply::Int(1) {
        return fail(format!("WAIT 1 replied {acked:?}"));
    }
    let target = info_int(primary, "replication", "master_repl_offset")?;
    wait_until("the replica's offset catches up", SYNC_TIMEOUT, || {
        let offset = info_int(replica, "replication", "slave_repl_offset")?;
        Ok(offset >= target)
    })
}
