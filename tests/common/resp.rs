//! A plain RESP connection over a `TcpStream`.
//!
//! Client libraries rewrite replies (redis-py strips `ERR `, most turn a
//! RESP3 double and a bulk string into the same thing), so the tests read
//! replies here, exactly as the server wrote them: an error keeps its code,
//! a bulk string stays a bulk string and a double stays a double.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{fail, Context, TestResult};

/// How long a reply may take before the test gives up: generous, for a
/// loaded machine.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One reply, RESP2 or RESP3, as the server sent it.
#[derive(Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Status(String),
    /// `-CODE text` or `!` (the text after the `-`, code included).
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` with its bytes.
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3's `_`.
    Nil,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `,text`, the text kept as sent.
    Double(String),
    /// RESP3 `#t` or `#f`.
    Bool(bool),
    /// RESP3 `%n`
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`
    Set(Vec<Reply>),
    /// RESP3 `=n`, without its format prefix.
    Verbatim(String),
    /// RESP3 `(digits`
    BigNumber(String),
    /// RESP3 `>n`
    Push(Vec<Reply>),
}

impl Reply {
    /// A bulk string reply holding `text`.
    pub fn bulk(text: &str) -> Reply {
        Reply::Bulk(text.as_bytes().to_vec())
    }

    /// A status reply holding `text` (`+OK`).
    pub fn status(text: &str) -> Reply {
        Reply::Status(text.to_string())
    }

    /// An array of bulk strings, one per text.
    pub fn bulks(texts: &[&str]) -> Reply {
        Reply::Array(texts.iter().map(|t| Reply::bulk(t)).collect())
    }

    /// The text of a bulk string or status reply.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Bulk(bytes) => std::str::from_utf8(bytes).ok(),
            Reply::Status(text) | Reply::Verbatim(text) => Some(text),
            _ => None,
        }
    }

    /// The elements of an array reply.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value of an integer reply.
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number a bulk string or a double reply holds.
    pub fn number(&self) -> Option<f64> {
        match self {
            Reply::Double(text) => text.parse().ok(),
            Reply::Bulk(_) => self.text()?.parse().ok(),
            _ => None,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status(text) => write!(f, "+{text}"),
            Reply::Error(text) => write!(f, "-{text}"),
            Reply::Int(n) => write!(f, ":{n}"),
            Reply::Bulk(bytes) => {
                write!(f, "{:?}", String::from_utf8_lossy(bytes))
            }
            Reply::Nil => write!(f, "nil"),
            Reply::Array(items) => f.debug_list().entries(items).finish(),
            Reply::Double(text) => write!(f, ",{text}"),
            Reply::Bool(b) => write!(f, "#{b}"),
            Reply::Map(pairs) => f
                .debug_map()
                .entries(pairs.iter().map(|(k, v)| (k, v)))
                .finish(),
            Reply::Set(items) => f.debug_set().entries(items).finish(),
            Reply::Verbatim(text) => write!(f, "={text:?}"),
            Reply::BigNumber(text) => write!(f, "({text}"),
            Reply::Push(items) => write!(f, ">{items:?}"),
        }
    }
}

/// A connection to one server, speaking RESP2 until [`RawConn::hello3`].
pub struct RawConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawConn {
    /// Connects to the server on 127.0.0.1:`port`.
    pub fn connect(port: u16) -> TestResult<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .context(format!("connecting to 127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(RawConn {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Switches the connection to RESP3 with `HELLO 3`.
    pub fn hello3(&mut self) -> TestResult {
        match self.call(&["HELLO", "3"])? {
            Reply::Map(_) => Ok(()),
            other => fail(format!("HELLO 3 replied {other:?}")),
        }
    }

    /// Sends one command and reads its reply, error replies included.
    pub fn call<S: AsRef<[u8]>>(&mut self, args: &[S]) -> TestResult<Reply> {
        let mut out = Vec::new();
        encode(&mut out, args);
        self.writer.write_all(&out).context("sending a command")?;
        self.read_reply()
    }

    /// Sends one command and fails on an error reply.
    pub fn ok<S: AsRef<[u8]>>(&mut self, args: &[S]) -> TestResult<Reply> {
        match self.call(args)? {
            Reply::Error(text) => {
                fail(format!("{} replied -{text}", show(args)))
            }
            reply => Ok(reply),
        }
    }

    /// Sends one command that must fail, and returns the error's text
    /// (code included, without the leading `-`).
    pub fn err<S: AsRef<[u8]>>(&mut self, args: &[S]) -> TestResult<String> {
        match self.call(args)? {
            Reply::Error(text) => Ok(text),
            reply => fail(format!("{} replied {reply:?}", show(args))),
        }
    }

    /// Sends all the commands at once, then reads their replies in order.
    pub fn pipeline<S: AsRef<[u8]>>(
        &mut self,
        commands: &[Vec<S>],
    ) -> TestResult<Vec<Reply>> {
        let mut out = Vec::new();
        for args in commands {
            encode(&mut out, args);
        }
        self.writer.write_all(&out).context("sending a pipeline")?;
        commands.iter().map(|_| self.read_reply()).collect()
    }

    /// Sends all the commands at once and reads nothing: the caller reads
    /// the replies with [`RawConn::read_reply`], one by one, and may stop
    /// part way (when the server dies mid-stream, say).
    pub fn send<S: AsRef<[u8]>>(&mut self, commands: &[Vec<S>]) -> TestResult {
        let mut out = Vec::new();
        for args in commands {
            encode(&mut out, args);
        }
        self.writer.write_all(&out).context("sending commands")
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> TestResult<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Ok(Reply::Status(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => Ok(Reply::Int(rest.parse().context("integer reply")?)),
            "$" => self
                .read_blob(rest)
                .map(|b| b.map_or(Reply::Nil, Reply::Bulk)),
            "*" => self.read_array(rest),
            "_" => Ok(Reply::Nil),
            "," => Ok(Reply::Double(rest.to_string())),
            "#" => Ok(Reply::Bool(rest == "t")),
            "(" => Ok(Reply::BigNumber(rest.to_string())),
            "!" => self.read_blob_text(rest).map(Reply::Error),
            "=" => self.read_verbatim(rest),
            "%" => self.read_map(rest),
            "~" => self.read_items(rest).map(Reply::Set),
            ">" => self.read_items(rest).map(Reply::Push),
            "|" => self.skip_attribute(rest),
            _ => fail(format!("unknown reply line {line:?}")),
        }
    }

    /// Reads an array reply one element at a time, handing each to
    /// `visit` and keeping none: for replies of millions of elements.
    /// Returns the array's length; an error reply fails with its text.
    pub fn read_array_with(
        &mut self,
        mut visit: impl FnMut(Reply) -> TestResult,
    ) -> TestResult<usize> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1);
        match kind {
            "*" => {
                let len: usize = rest.parse().context("array length")?;
                for _ in 0..len {
                    visit(self.read_reply()?)?;
                }
                Ok(len)
            }
            "-" => fail(format!("error reply -{rest}")),
            _ => fail(format!("not an array: {line:?}")),
        }
    }

    fn read_line(&mut self) -> TestResult<String> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .context("reading a reply")?;
        match line.strip_suffix("\r\n") {
            Some(body) if !body.is_empty() => Ok(body.to_string()),
            _ => fail(format!("bad reply line {line:?}")),
        }
    }

    fn read_blob(&mut self, len: &str) -> TestResult<Option<Vec<u8>>> {
        let len: i64 = len.parse().context("blob length")?;
        if len < 0 {
            return Ok(None);
        }
        let mut body = vec![0; len as usize + 2];
        self.reader
            .read_exact(&mut body)
            .context("reading a blob")?;
        if !body.ends_with(b"\r\n") {
            return fail("blob without its CRLF");
        }
        body.truncate(len as usize);
        Ok(Some(body))
    }

    fn read_blob_text(&mut self, len: &str) -> TestResult<String> {
        let body = self.read_blob(len)?.context("blob of length -1")?;
        String::from_utf8(body).context("blob text")
    }

    fn read_verbatim(&mut self, len: &str) -> TestResult<Reply> {
        let text = self.read_blob_text(len)?;
        let body = text.get(4..).context("verbatim format")?;
        Ok(Reply::Verbatim(body.to_string()))
    }

    fn read_items(&mut self, len: &str) -> TestResult<Vec<Reply>> {
        let len: usize = len.parse().context("aggregate length")?;
        (0..len).map(|_| self.read_reply()).collect()
    }

    fn read_array(&mut self, len: &str) -> TestResult<Reply> {
        if len.starts_with('-') {
            return Ok(Reply::Nil);
        }
        self.read_items(len).map(Reply::Array)
    }

    fn read_map(&mut self, len: &str) -> TestResult<Reply> {
        let len: usize = len.parse().context("map length")?;
        let mut pairs = Vec::with_capacity(len);
        for _ in 0..len {
            pairs.push((self.read_reply()?, self.read_reply()?));
        }
        Ok(Reply::Map(pairs))
    }

    fn skip_attribute(&mut self, len: &str) -> TestResult<Reply> {
        self.read_map(len)?;
        self.read_reply()
    }
}

/// Appends `args` to `out` as a RESP array of bulk strings.
fn encode<S: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[S]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// A command as text, for messages.
pub fn show<S: AsRef<[u8]>>(args: &[S]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a.as_ref())))
        .collect();
    words.join(" ")
}

/// A command from words, for pipelines.
pub fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}
