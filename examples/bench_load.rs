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
//! fails the run. Raw RESP over `TcpStream`, one thread per connection.
//!
//! The file holds, in order: options, requests, the RESP reply scanner,
//! the connections, and `main`.

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
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

/// One connection: its socket and the bytes read but not yet scanned.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
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
        })
    }

    /// Writes batch and reads `replies` replies.
    fn round_trip(
        &mut self,
        batch: &[u8],
        replies: usize,
    ) -> Result<(), String> {
        self.stream
            .write_all(batch)
            .map_err(|e| format!("write: {e}"))?;
        let mut left = replies;
        let mut at = 0;
        while left > 0 {
            match scan_reply(&self.buf[..self.filled], at)? {
                Some(end) => {
                    at = end;
                    left -= 1;
                }
                None => {
                    self.compact(at);
                    at = 0;
                    self.fill()?;
                }
            }
        }
        self.compact(at);
        Ok(())
    }

    /// Drops the first `at` bytes of the buffer.
    fn compact(&mut self, at: usize) {
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
    }

    /// Reads more bytes, growing the buffer when it is full.
    fn fill(&mut self) -> Result<(), String> {
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
        Ok(())
    }
}

/// Runs one client until `deadline`, after everyone has connected;
/// returns the requests it completed.
fn run_client(
    mut connection: Connection,
    batches: Arc<Vec<Vec<u8>>>,
    options: Arc<Options>,
    start: Arc<Barrier>,
    deadline: Duration,
) -> Result<(u64, Instant), String> {
    let replies = options.pipeline * replies_per_request(options.workload);
    start.wait();
    let begun = Instant::now();
    let mut done = 0u64;
    let mut next = 0;
    while begun.elapsed() < deadline {
        connection.round_trip(&batches[next], replies)?;
        next = (next + 1) % batches.len();
        done += options.pipeline as u64;
    }
    Ok((done, Instant::now()))
}

/// Runs every client and returns the requests per second.
fn measure(options: Options) -> Result<f64, Box<dyn Error>> {
    let connections = (0..options.clients)
        .map(|_| Connection::open(options.port))
        .collect::<Result<Vec<_>, _>>()?;
    let batches = Arc::new(batches(&options));
    let deadline = Duration::from_secs_f64(options.seconds);
    let start = Arc::new(Barrier::new(options.clients + 1));
    let options = Arc::new(options);

    let handles: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            let (batches, options, start) =
                (batches.clone(), options.clone(), start.clone());
            thread::spawn(move || {
                run_client(connection, batches, options, start, deadline)
            })
        })
        .collect();
    start.wait();
    let begun = Instant::now();

    let mut total = 0;
    let mut last = begun;
    for handle in handles {
        let (done, ended) =
            handle.join().map_err(|_| "a client panicked")??;
        total += done;
        last = last.max(ended);
    }
    Ok(total as f64 / (last - begun).as_secs_f64())
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
