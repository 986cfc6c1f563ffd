//! Turning results into replies: doubles for either protocol, long arrays
//! written as they are produced, the crate's errors as Redis errors (the
//! one place that happens), and the boundary that keeps a panic from
//! reaching Redis.

use std::cell::OnceCell;
use std::ffi::{c_int, c_long};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::{
    raw, Context, ContextFlags, RedisError, RedisResult, RedisValue,
};
use uuid::Uuid;

use super::args::Arg;
use super::text::{format_double, DoubleText};
use crate::Error;

/// What a command handler returns.
pub(crate) type Reply = Result<RedisValue, Error>;

/// The one conversion of the crate's errors into Redis error replies:
/// `ERR ` and the message, or the standard `WRONGTYPE` error.
fn to_redis_error(error: Error) -> RedisError {
    match error {
        Error::WrongType => RedisError::WrongType,
        other => RedisError::String(format!("ERR {other}")),
    }
}

/// How doubles are written to the client of a command.
#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    /// RESP2: bulk strings of the shortest round-trip text.
    Resp2,
    /// RESP3: the protocol's own double type.
    Resp3,
}

impl Protocol {
    /// The protocol of the client calling the command.
    pub(crate) fn of(ctx: &Context) -> Protocol {
        if ctx.get_flags().contains(ContextFlags::FLAGS_RESP3) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    /// `value` as a reply in this protocol.
    pub(crate) fn double(self, value: f64) -> RedisValue {
        match self {
            Protocol::Resp2 => RedisValue::BulkString(format_double(value)),
            Protocol::Resp3 => RedisValue::Float(value),
        }
    }

    /// `value` as a reply, nil for `None`.
    pub(crate) fn optional_double(self, value: Option<f64>) -> RedisValue {
        value.map_or(RedisValue::Null, |v| self.double(v))
    }
}

/// Replies `value` to the caller, nil for `None`, as
/// [`Protocol::optional_double`] would, but written straight to the
/// client: the reply of the hot read commands allocates nothing.
pub(crate) fn reply_double(ctx: &Context, value: Option<f64>) -> Reply {
    let Some(value) = value else {
        raw::reply_with_null(ctx.ctx);
        return Ok(RedisValue::NoReply);
    };
    match Protocol::of(ctx) {
        Protocol::Resp2 => reply_text(ctx, DoubleText::new(value).as_str()),
        Protocol::Resp3 => {
            raw::reply_with_double(ctx.ctx, value);
        }
    }
    Ok(RedisValue::NoReply)
}

/// Replies `text` as a bulk string.
fn reply_text(ctx: &Context, text: &str) {
    raw::reply_with_string_buffer(ctx.ctx, text.as_ptr().cast(), text.len());
}

/// A reply written element by element, straight to the client, for arrays
/// too long to build in memory first (a million ids, a window of ten
/// million values). A handler that starts one must not fail afterwards:
/// it checks everything first.
pub(crate) struct Stream<'a> {
    ctx: &'a Context,
    /// The client's protocol, asked once, for the first double.
    protocol: OnceCell<Protocol>,
}

impl<'a> Stream<'a> {
    /// Starts an array of `len` elements.
    pub(crate) fn array(ctx: &'a Context, len: usize) -> Stream<'a> {
        raw::reply_with_array(ctx.ctx, len as c_long);
        Stream {
            ctx,
            protocol: OnceCell::new(),
        }
    }

    /// Writes a double, as [`Protocol::double`] would.
    pub(crate) fn double(&self, value: f64) {
        match self.protocol.get_or_init(|| Protocol::of(self.ctx)) {
            Protocol::Resp2 => self.text(DoubleText::new(value).as_str()),
            Protocol::Resp3 => {
                raw::reply_with_double(self.ctx.ctx, value);
            }
        }
    }

    /// Writes an element id in its hyphenated form.
    pub(crate) fn id(&self, id: Uuid) {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        self.text(id.hyphenated().encode_lower(&mut text));
    }

    /// Writes a bulk string.
    fn text(&self, text: &str) {
        reply_text(self.ctx, text);
    }

    /// The handler's result once the whole array is written.
    pub(crate) fn done(self) -> Reply {
        Ok(RedisValue::NoReply)
    }
}

/// The signature of every command handler.
pub(crate) type Handler = fn(&Context, &[Arg]) -> Reply;

/// Runs `handler` on the call Redis made, and replies its result.
///
/// # Safety
///
/// `ctx`, `argv` and `argc` must be what Redis passed the command.
pub(crate) unsafe fn dispatch(
    handler: Handler,
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let context = Context::new(ctx);
    // SAFETY: Redis keeps the arguments alive for the whole call.
    let args = unsafe { Arg::all(argv, argc) };
    let result = guarded(handler, &context, args);
    context.reply(result) as c_int
}

/// Runs `handler`, turning a panic into an error reply: a panic that
/// unwound into Redis would abort the server. Handlers validate all input
/// before they change anything, so a key is never left half-changed.
fn guarded(handler: Handler, ctx: &Context, args: &[Arg]) -> RedisResult {
    let run = || {
        #[cfg(feature = "panic-probe")]
        probe::panic_on_probe_key(args);
        handler(ctx, args)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(reply) => reply.map_err(to_redis_error),
        Err(_) => {
            Err(RedisError::Str("ERR internal error in the MAVG module"))
        }
    }
}

/// A way to prove the panic boundary: in a build with the `panic-probe`
/// feature, and only there, any command on the key [`probe::KEY`] panics
/// before it does anything.
#[cfg(feature = "panic-probe")]
pub(crate) mod probe {
    use super::Arg;

    /// The key whose commands panic.
    pub(crate) const KEY: &[u8] = b"mavg:panic-probe";

    /// Panics if the command's key is [`KEY`].
    pub(crate) fn panic_on_probe_key(args: &[Arg]) {
        if args.get(1).is_some_and(|key| **key == *KEY) {
            panic!("panic probe: a command on the probe key");
        }
    }
}
