//! A pipelined load client for `make bench`, for what `redis-benchmark`
//! cannot send: a request of several commands, here the capped list of
//! the README's comparison (`MULTI`, `LPUSH`, `LTRIM`, `EXEC`). It sends
//! `INCR` too, so the transaction is reported against a baseline measured
//! by the same client.
//!
//! ```text
//! cargo run --release --example bench_load -- --port PORT \
//!     --workload incr|multi --key KEY [--clients 50] [--pipeline 1] \
//!     [--seconds 1.5]
//! ```
//!
//! Like `redis-benchmark -c clients -P pipeline`, each of `clients`
//! connections keeps `pipeline` requests in flight: it writes them in one
//! batch and reads every reply before the next batch. It runs for about
//! `seconds` and prints the requests (transactions for `multi`) per
//! second. An error reply, a lost connection or a reply it cannot parse
//! fails the run. Raw RESP over `TcpStream`, all connections in one
//! thread around `poll(2)`, as redis-benchmark runs its event loop. It
//! uses std only, so scripts/bench.py builds it with `rustc` alone.
//!
//! The file holds, in order: options, requests, the RESP reply scanner,
//! the connections, and `main`.

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_short, c_ulong};
use std::time::{Duration, Instant};

/// The values the requests push, as text, cycled through.
const VALUES: [&str; 8] = [
    "12.5", "103.25", "7", "0.125", "99.75", "42", "3.5", "250.5",
];

/// The window of the capped list: `LTRIM key 0 (WINDOW - 1)`.
const WINDOW: usize = 100;

/// What each request sends.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// `INCR key`: one command, one reply.
    Incr,
    /// `MULTI`, `LPUSH key value`, `LTRIM key 0 99`, `EXEC`: four replies.
    Multi,
}

/// The command line.
struct Options {
    port: u16,
    workload: Workload,
    key: String,
    clients: usize,
    pipeline: usize,
    seconds: f64,
}

impl Options {
    /// Reads `--name value` pairs; `--port`, `--workload` and `--key` are
    /// required.
    fn parse(args: &[String]) -> Result<Options, Box<dyn Error>> {
        let mut options = Options {
            port: 0,
            workload: Workload::Incr,
            key: String::new(),
            clients: 50,
            pipeline: 1,
            seconds: 1.5,
        };
        let mut workload = None;
        for pair in args.chunks(2) {
            let [name, value] = pair else {
                return Err(format!("{} needs a value", pair[0]).into());
            };
            match name.as_str() {
                "--port" => options.port = value.parse()?,
                "--workload" => workload = Some(parse_workload(value)?),
                "--key" => options.key = value.clone(),
                "--clients" => options.clients = value.parse()?,
                "--pipeline" => options.pipeline = value.parse()?,
                "--seconds" => options.seconds = value.parse()?,
                _ => return Err(format!("unknown option {name}").into()),
            }
        }
        options.workload = workload.ok_or("--workload is required")?;
        if options.port == 0 || options.key.is_empty() {
            return Err("--port and --key are required".into());
        }
        if options.clients == 0 || options.pipeline == 0 {
            return Err("--clients and --pipeline must be positive".into());
        }
        Ok(options)
    }
}

/// `incr` or `multi`.
fn parse_workload(name: &str) -> Result<Workload, Box<dyn Error>> {
    match name {
        "incr" => Ok(Workload::Incr),
        "multi" => Ok(Workload::Multi),
        _ => Err(format!("unknown workload {name}").into()),
    }
}

/// Appends one command to out in RESP.
fn push_command(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends one request of workload to out, pushing value.
fn push_request(
    out: &mut Vec<u8>,
    workload: Workload,
    key: &str,
    value: &str,
) {
    match workload {
        Workload::Incr => push_command(out, &["INCR", key]),
        Workload::Multi => {
            let last = (WINDOW - 1).to_string();
            push_command(out, &["MULTI"]);
            push_command(out, &["LPUSH", key, value]);
            push_command(out, &["LTRIM", key, "0", &last]);
            push_command(out, &["EXEC"]);
        }
    }
}

/// The replies one request of workload gets.
fn replies_per_request(workload: Workload) -> usize {
    match workload {
        Workload::Incr => 1,
        Workload::Multi => 4,
    }
}

/// A batch for each start in VALUES: pipeline requests, each pushing the
/// next value, so successive batches push different values.
fn batches(options: &Options) -> Vec<Vec<u8>> {
    (0..VALUES.len())
        .map(|start| {
            let mut batch = Vec::new();
            for i in 0..options.pipeline {
                let value = VALUES[(start + i) % VALUES.len()];
                push_request(
                    &mut batch,
                    options.workload,
                    &options.key,
                    value,
                );
            }
            batch
        })
        .collect()
}

/// The end of the line that starts at `at`, past its `\r\n`, or None
/// while it is incomplete.
fn line_end(buf: &[u8], at: usize) -> Option<usize> {
    let found = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    Some(at + found + 2)
}

/// The integer of the header line `buf[at..end]` (its type byte skipped).
fn header_number(buf: &[u8], at: usize, end: usize) -> Result<i64, String> {
    let text = std::str::from_utf8(&buf[at + 1..end - 2])
        .map_err(|_| "a header that is not text".to_string())?;
    text.parse().map_err(|_| format!("a bad header {text:?}"))
}

/// Scans the reply starting at `at`: Ok(Some(end)) when it is complete,
/// Ok(None) when more bytes are needed, Err on an error reply (nested
/// ones included) or bytes that are not RESP2.
fn scan_reply(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(end) = line_end(buf, at) else {
        return Ok(None);
    };
    match buf[at] {
        b'+' | b':' => Ok(Some(end)),
        b'-' => Err(String::from_utf8_lossy(&buf[at..end - 2]).into()),
        b'$' => {
            let len = header_number(buf, at, end)?;
            if len < 0 {
                return Ok(Some(end));
            }
            let stop = end + len as usize + 2;
            Ok((stop <= buf.len()).then_some(stop))
        }
        b'*' => {
            let mut next = end;
            for _ in 0..header_number(buf, at, end)?.max(0) {
                match scan_reply(buf, next)? {
                    Some(stop) => next = stop,
                    None => return Ok(None),
                }
            }
            Ok(Some(next))
        }
        other => Err(format!("an unexpected reply type {:?}", other as char)),
    }
}

/// One connection: its socket, the bytes read but not yet scanned, and
/// the replies it still waits for.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
    pending: usize,
}

impl Connection {
    /// Connects to 127.0.0.1:port.
    fn open(port: u16) -> Result<Connection, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Connection {
            stream,
            buf: vec![0; 1 << 16],
            filled: 0,
            pending: 0,
        })
    }

    /// Writes batch, which gets `replies` replies.
    fn send(&mut self, batch: &[u8], replies: usize) -> Result<(), String> {
        self.pending = replies;
        self.stream
            .write_all(batch)
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads what the socket has and scans the complete replies; true
    /// once the batch has every reply.
    fn receive(&mut self) -> Result<bool, String> {
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let read = self
            .stream
            .read(&mut self.buf[self.filled..])
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        self.filled += read;

        let mut at = 0;
        while self.pending > 0 {
            match scan_reply(&self.buf[..self.filled], at)? {
                Some(end) => {
                    at = end;
                    self.pending -= 1;
                }
                None => break,
            }
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        Ok(self.pending == 0)
    }
}

/// `struct pollfd` of poll(2).
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

/// poll(2)'s event: data to read.
const POLLIN: c_short = 0x001;

extern "C" {
    /// poll(2), from the C library that std links.
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

/// The indexes of the connections in `waiting` that have data to read,
/// after waiting up to 100 ms for one.
fn ready(
    connections: &[Connection],
    waiting: &[usize],
) -> Result<Vec<usize>, String> {
    let mut fds: Vec<PollFd> = waiting
        .iter()
        .map(|&i| PollFd {
            fd: connections[i].stream.as_raw_fd(),
            events: POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: fds is a live, writable array of fds.len() pollfd structs,
    // laid out as the C struct, for the whole call.
    let count = unsafe { poll(fds.as_mut_ptr(), fds.len() as c_ulong, 100) };
    if count < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(waiting
        .iter()
        .zip(&fds)
        .filter(|(_, fd)| fd.revents != 0)
        .map(|(&i, _)| i)
        .collect())
}

/// Runs every connection until `seconds` have passed, each finishing the
/// batch it has in flight then; returns the requests per second.
fn measure(options: Options) -> Result<f64, Box<dyn Error>> {
    let mut connections = (0..options.clients)
        .map(|_| Connection::open(options.port))
        .collect::<Result<Vec<_>, _>>()?;
    let batches = batches(&options);
    let replies = options.pipeline * replies_per_request(options.workload);
    let deadline = Duration::from_secs_f64(options.seconds);

    let begun = Instant::now();
    for (i, connection) in connections.iter_mut().enumerate() {
        connection.send(&batches[i % batches.len()], replies)?;
    }
    let mut waiting: Vec<usize> = (0..connections.len()).collect();
    let mut done = 0u64;
    let mut sent = connections.len();
    while !waiting.is_empty() {
        for i in ready(&connections, &waiting)? {
            if !connections[i].receive()? {
                continue;
            }
            done += options.pipeline as u64;
            if begun.elapsed() < deadline {
                connections[i]
                    .send(&batches[sent % batches.len()], replies)?;
                sent += 1;
            } else {
                waiting.retain(|&w| w != i);
            }
        }
    }
    Ok(done as f64 / begun.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Options::parse(&args).and_then(measure);
    match result {
        Ok(rate) => println!("{rate:.1}"),
        Err(error) => {
            eprintln!("bench_load: {error}");
            std::process::exit(1);
        }
    }
}
