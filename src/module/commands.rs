//! The MAVG commands. Each handler parses its arguments, opens its key,
//! acts, and replies; the README documents each command's contract.

use std::ffi::CStr;

use redis_module::key::RedisKeyWritable;
use redis_module::raw;
use redis_module::{Context, RedisValue};

use super::args::{
    is_keyword, parse_count, parse_integer, parse_ref, parse_seq, parse_tag,
    parse_values, parse_window, Arg, Ref, Values,
};
use super::config::{default_window, window_limit};
use super::datatype::{read_series, read_series_mut, write_series};
use super::id::{element_id, random_tag};
use super::info::{self, Footprint};
use super::reply::{reply_double, Protocol, Reply, Stream};
use super::series::Series;
use crate::{Error, MovingAverage};

/// The window of a key that `MAVG.ADD` creates without `WINDOW`, unless
/// `mavg.default-window` says otherwise.
pub(crate) const DEFAULT_WINDOW: usize = 100;

/// `MAVG.CREATE key WINDOW n [IDTAG tag] [SEQ next] [COPIES count]`
pub(crate) fn create(ctx: &Context, args: &[Arg]) -> Reply {
    let [_, key, options @ ..] = args else {
        return Err(Error::WrongArity("mavg.create"));
    };
    if options.len() < 2 {
        return Err(Error::WrongArity("mavg.create"));
    }
    let spec = CreateOptions::parse(options, window_limit(ctx))?;

    let redis_key = ctx.open_key_writable(&key.to_redis_string());
    if !redis_key.is_empty() {
        return Err(Error::KeyExists);
    }
    let tag = spec.tag.unwrap_or_else(random_tag);
    let series = Series::new(spec.window, tag, spec.seq)?;
    series.copies.set(spec.copies);
    write_series(&redis_key, series)?;

    announce(ctx, key, &[c"mavg.create"]);
    replicate_create(ctx, key, spec.window, tag, spec.seq, spec.copies);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// The options of `MAVG.CREATE`.
struct CreateOptions {
    window: usize,
    tag: Option<u64>,
    seq: u64,
    copies: u64,
}

impl CreateOptions {
    /// Parses `NAME value` pairs, each name once, `WINDOW` required and
    /// at most `max_window`.
    fn parse(
        options: &[Arg],
        max_window: usize,
    ) -> Result<CreateOptions, Error> {
        let mut window = None;
        let mut tag = None;
        let mut seq = None;
        let mut copies = None;
        for pair in options.chunks(2) {
            let [name, value] = pair else {
                return Err(Error::Syntax);
            };
            if is_keyword(name, "WINDOW") && window.is_none() {
                window = Some(parse_window(value, max_window)?);
            } else if is_keyword(name, "IDTAG") && tag.is_none() {
                tag = Some(parse_tag(value)?);
            } else if is_keyword(name, "SEQ") && seq.is_none() {
                seq = Some(parse_seq(value)?);
            } else if is_keyword(name, "COPIES") && copies.is_none() {
                copies = Some(parse_count(value)?);
            } else {
                return Err(Error::Syntax);
            }
        }
        Ok(CreateOptions {
            window: window.ok_or(Error::Syntax)?,
            tag,
            seq: seq.unwrap_or(0),
            copies: copies.unwrap_or(0),
        })
    }
}

/// Tells Redis that `key` changed, for WATCH and client tracking, and
/// publishes `events` as keyspace notifications of the module class. Only
/// a write that succeeded calls this, so a refused one signals nothing.
fn announce(ctx: &Context, key: &Arg, events: &[&CStr]) {
    // SAFETY: the API pointers are set at load; `ctx` and `key` are live
    // for the whole command; each event name is a C string.
    unsafe {
        if let Some(signal) = raw::RedisModule_SignalModifiedKey {
            signal(ctx.ctx, key.as_ptr());
        }
        let Some(notify) = raw::RedisModule_NotifyKeyspaceEvent else {
            return;
        };
        for event in events {
            let class = raw::REDISMODULE_NOTIFY_MODULE;
            notify(ctx.ctx, class, event.as_ptr(), key.as_ptr());
        }
    }
}

/// Propagates the creation of a key with everything the primary chose.
fn replicate_create(
    ctx: &Context,
    key: &Arg,
    window: usize,
    tag: u64,
    seq: u64,
    copies: u64,
) {
    let window = window.to_string();
    let tag = format!("{tag:016x}");
    let seq = seq.to_string();
    let copies = copies.to_string();
    let args: [&[u8]; 9] = [
        key,
        b"WINDOW",
        window.as_bytes(),
        b"IDTAG",
        tag.as_bytes(),
        b"SEQ",
        seq.as_bytes(),
        b"COPIES",
        copies.as_bytes(),
    ];
    ctx.replicate("MAVG.CREATE", &args[..]);
}

/// `MAVG.ADD key [WINDOW n] value [value ...]`
pub(crate) fn add(ctx: &Context, args: &[Arg]) -> Reply {
    let request = AddRequest::parse(ctx, args)?;

    let redis_key = ctx.open_key_writable(&request.key.to_redis_string());
    let (tag, first) = match read_series_mut(&redis_key)? {
        Some(series) => add_to_existing(ctx, series, &request)?,
        None => add_to_new(ctx, &redis_key, &request, args)?,
    };

    let count = request.values.as_slice().len();
    let reply = Stream::array(ctx, count);
    for seq in first..first + count as u64 {
        reply.id(element_id(tag, seq));
    }
    reply.done()
}

/// The arguments of `MAVG.ADD`, parsed.
struct AddRequest<'a> {
    key: &'a Arg,
    window: Option<usize>,
    values: Values,
}

impl<'a> AddRequest<'a> {
    fn parse(ctx: &Context, args: &'a [Arg]) -> Result<AddRequest<'a>, Error> {
        let arity = Error::WrongArity("mavg.add");
        let [_, key, rest @ ..] = args else {
            return Err(arity);
        };
        let (window, values) = match rest {
            [option, n, values @ ..] if is_keyword(option, "WINDOW") => {
                (Some(parse_window(n, window_limit(ctx))?), values)
            }
            [option] if is_keyword(option, "WINDOW") => return Err(arity),
            _ => (None, rest),
        };
        if values.is_empty() {
            return Err(arity);
        }

        let values = parse_values(values.iter().map(|v| &**v))?;
        Ok(AddRequest {
            key,
            window,
            values,
        })
    }
}

/// Adds to a key that exists; returns its tag and the first new
/// sequence number.
fn add_to_existing(
    ctx: &Context,
    series: &mut Series,
    request: &AddRequest,
) -> Result<(u64, u64), Error> {
    if request.window.is_some_and(|n| n != series.average.window()) {
        return Err(Error::WindowMismatch);
    }

    let before = Footprint::of(series);
    let first = series.add(request.values.as_slice())?;
    info::recount(before, series);
    announce(ctx, request.key, &[c"mavg.add"]);
    ctx.replicate_verbatim();
    Ok((series.tag, first))
}

/// Creates the key with the values; returns its tag and the first
/// sequence number. Replicas get the tag drawn here, then the same add.
/// Without `WINDOW`, the key gets `mavg.default-window`, which must not
/// exceed the largest window this caller may ask for.
fn add_to_new(
    ctx: &Context,
    redis_key: &RedisKeyWritable,
    request: &AddRequest,
    args: &[Arg],
) -> Result<(u64, u64), Error> {
    let window = request.window.unwrap_or_else(default_window);
    let max_window = window_limit(ctx);
    if window > max_window {
        return Err(Error::WindowOutOfRange(max_window));
    }
    let mut series = Series::new(window, random_tag(), 0)?;
    let first = series.add(request.values.as_slice())?;
    let tag = series.tag;
    write_series(redis_key, series)?;

    announce(ctx, request.key, &[c"mavg.create", c"mavg.add"]);
    replicate_create(ctx, request.key, window, tag, 0, 0);
    let add_args: Vec<&[u8]> = args[1..].iter().map(|a| &**a).collect();
    ctx.replicate("MAVG.ADD", &add_args[..]);
    Ok((tag, first))
}

/// `MAVG.AVG key`
pub(crate) fn avg(ctx: &Context, args: &[Arg]) -> Reply {
    let [_, key] = args else {
        return Err(Error::WrongArity("mavg.avg"));
    };

    let redis_key = ctx.open_key(&key.to_redis_string());
    let average = read_series(&redis_key)?.and_then(|s| s.average.average());

    reply_double(ctx, average)
}

/// `MAVG.GET key ref`
pub(crate) fn get(ctx: &Context, args: &[Arg]) -> Reply {
    let [_, key, reference] = args else {
        return Err(Error::WrongArity("mavg.get"));
    };
    let reference = parse_ref(reference)?;

    let redis_key = ctx.open_key(&key.to_redis_string());
    let Some(series) = read_series(&redis_key)? else {
        return Ok(RedisValue::Null);
    };
    let value = match reference {
        Ref::Position(position) => isize::try_from(position)
            .ok()
            .and_then(|p| series.average.get(p)),
        Ref::Id(id) => series.get_by_id(id)?,
    };

    reply_double(ctx, value)
}

/// `MAVG.RANGE key start stop [WITHIDS]`
pub(crate) fn range(ctx: &Context, args: &[Arg]) -> Reply {
    let (key, start, stop, with_ids) = match args {
        [_, key, start, stop] => (key, start, stop, false),
        [_, key, start, stop, option] if is_keyword(option, "WITHIDS") => {
            (key, start, stop, true)
        }
        [_, _, _, _, _] => return Err(Error::Syntax),
        _ => return Err(Error::WrongArity("mavg.range")),
    };
    let start = parse_integer(start)?;
    let stop = parse_integer(stop)?;

    let redis_key = ctx.open_key(&key.to_redis_string());
    let Some(series) = read_series(&redis_key)? else {
        return Ok(RedisValue::Array(Vec::new()));
    };
    let positions = clamp_range(start, stop, series.average.len());

    let per_value = 1 + usize::from(with_ids);
    let reply = Stream::array(ctx, positions.len() * per_value);
    let values = series.average.iter().skip(positions.start);
    for (position, value) in positions.zip(values) {
        reply.double(value);
        if with_ids {
            reply.id(series.id_at(position));
        }
    }
    reply.done()
}

/// `MAVG.INFO key`
pub(crate) fn info(ctx: &Context, args: &[Arg]) -> Reply {
    let [_, key] = args else {
        return Err(Error::WrongArity("mavg.info"));
    };

    let redis_key = ctx.open_key(&key.to_redis_string());
    let series = read_series(&redis_key)?.ok_or(Error::NoSuchKey)?;

    let protocol = Protocol::of(ctx);
    let count = |n: usize| RedisValue::Integer(n as i64);
    Ok(RedisValue::Array(vec![
        "window".into(),
        count(series.average.window()),
        "length".into(),
        count(series.average.len()),
        "added".into(),
        RedisValue::Integer(series.next_seq as i64),
        "average".into(),
        protocol.optional_double(series.average.average()),
        "idtag".into(),
        RedisValue::BulkString(format!("{:016x}", series.tag)),
    ]))
}

/// The positions `start..=stop` selects in a window of `len` values, by
/// `LRANGE`'s rules.
fn clamp_range(start: i64, stop: i64, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let from_end = |p: i64| if p < 0 { p.saturating_add(len) } else { p };
    let start = from_end(start).max(0);
    let stop = from_end(stop).min(len - 1);
    if start > stop {
        return 0..0;
    }
    start as usize..stop as usize + 1
}
