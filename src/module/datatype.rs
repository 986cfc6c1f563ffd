//! The `mavg-type` data type: how Redis stores, loads, rewrites, measures,
//! digests, copies and frees a MAVG key, and typed access to keys. The
//! RDB encoding itself lives in `encoding.rs`.

use std::ffi::{c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use redis_module::key::{RedisKey, RedisKeyWritable};
use redis_module::logging::{log_io_error, RedisLogLevel};
use redis_module::native_types::RedisType;
use redis_module::raw;

use super::encoding::{decode, encode, RdbInput, RdbOutput, ENCODING_VERSION};
use super::info::{self, Footprint};
use super::series::Series;
use super::text::format_double;
use crate::{Error, MovingAverage};

/// Values per `MAVG.ADD` command in an AOF rewrite.
const AOF_CHUNK_VALUES: usize = 1024;

/// The type, registered at load.
pub(crate) static MAVG_TYPE: RedisType = RedisType::new(
    "mavg-type",
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        aux_load: None,
        aux_save: None,
        aux_save2: None,
        aux_save_triggers: 0,
        free_effort: Some(free_effort),
        unlink: None,
        copy: Some(copy),
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
    },
);

/// The series a key holds, `None` for a missing key.
///
/// # Errors
///
/// [`Error::WrongType`] for a key of another type.
pub(crate) fn read_series(key: &RedisKey) -> Result<Option<&Series>, Error> {
    key.get_value::<Series>(&MAVG_TYPE)
        .map_err(|_| Error::WrongType)
}

/// The series a key holds, mutable; `None` for a missing key.
///
/// # Errors
///
/// [`Error::WrongType`] for a key of another type.
pub(crate) fn read_series_mut(
    key: &RedisKeyWritable,
) -> Result<Option<&mut Series>, Error> {
    key.get_value::<Series>(&MAVG_TYPE)
        .map_err(|_| Error::WrongType)
}

/// Stores `series` in an empty key.
pub(crate) fn write_series(
    key: &RedisKeyWritable,
    series: Series,
) -> Result<(), Error> {
    let footprint = Footprint::of(&series);
    key.set_value(&MAVG_TYPE, series)
        .map_err(|_| Error::WrongType)?;
    info::count(footprint);
    Ok(())
}

/// Runs a type callback, turning a panic into `fallback`.
fn guard<T>(fallback: T, callback: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(callback)).unwrap_or(fallback)
}

/// The series behind a value pointer Redis hands a callback.
///
/// # Safety
///
/// `value` must be a pointer this type's `rdb_load` or `write_series`
/// made from a boxed [`Series`], not yet freed.
unsafe fn series_of<'a>(value: *const c_void) -> &'a Series {
    // SAFETY: guaranteed by the caller.
    unsafe { &*value.cast::<Series>() }
}

unsafe extern "C" fn rdb_save(
    rdb: *mut raw::RedisModuleIO,
    value: *mut c_void,
) {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    guard((), || encode(series, &mut RedisIo(rdb)));
}

unsafe extern "C" fn rdb_load(
    rdb: *mut raw::RedisModuleIO,
    encoding: c_int,
) -> *mut c_void {
    let loaded = guard(Err("the module failed while loading"), || {
        decode(&mut RedisIo(rdb), encoding)
    });
    match loaded {
        Ok(series) => {
            info::count(Footprint::of(&series));
            Box::into_raw(Box::new(series)).cast()
        }
        Err(reason) => {
            let message = format!("mavg-type: refused a value: {reason}");
            log_io_error(rdb, RedisLogLevel::Warning, &message);
            ptr::null_mut()
        }
    }
}

/// The RDB stream Redis hands `rdb_save` and `rdb_load`.
struct RedisIo(*mut raw::RedisModuleIO);

impl RdbOutput for RedisIo {
    fn unsigned(&mut self, value: u64) {
        raw::save_unsigned(self.0, value);
    }

    fn buffer(&mut self, bytes: &[u8]) {
        raw::save_slice(self.0, bytes);
    }
}

impl RdbInput for RedisIo {
    fn unsigned(&mut self) -> Option<u64> {
        raw::load_unsigned(self.0).ok()
    }

    fn buffer<R>(&mut self, use_bytes: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let buffer = raw::load_string_buffer(self.0).ok()?;
        Some(use_bytes(buffer.as_ref()))
    }
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    guard((), || rewrite(aof, key, series));
}

/// Emits a `MAVG.CREATE` that restores the id space, then the values in
/// `MAVG.ADD` commands of at most [`AOF_CHUNK_VALUES`] values.
fn rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    series: &Series,
) {
    let create = [
        "WINDOW".to_string(),
        series.average.window().to_string(),
        "IDTAG".to_string(),
        format!("{:016x}", series.tag),
        "SEQ".to_string(),
        series.first_seq().to_string(),
        "COPIES".to_string(),
        series.copies.get().to_string(),
    ];
    emit(aof, "MAVG.CREATE", key, &create);

    let mut texts = Vec::with_capacity(AOF_CHUNK_VALUES);
    series.for_each_chunk(AOF_CHUNK_VALUES, |chunk| {
        texts.clear();
        texts.extend(chunk.map(format_double));
        emit(aof, "MAVG.ADD", key, &texts);
    });
}

/// Emits `command key args...` into the AOF.
fn emit(
    aof: *mut raw::RedisModuleIO,
    command: &str,
    key: *mut raw::RedisModuleString,
    args: &[String],
) {
    // SAFETY: the API pointers are set at load; the string pointers stay
    // valid for the call, and each created string is freed once after it.
    unsafe {
        let (Some(create), Some(free), Some(emit_aof)) = (
            raw::RedisModule_CreateString,
            raw::RedisModule_FreeString,
            raw::RedisModule_EmitAOF,
        ) else {
            return;
        };
        let mut strings: Vec<*mut raw::RedisModuleString> = args
            .iter()
            .map(|a| create(ptr::null_mut(), a.as_ptr().cast(), a.len()))
            .collect();
        let command = CString::new(command).unwrap_or_default();
        emit_aof(
            aof,
            command.as_ptr(),
            c"sv".as_ptr(),
            key,
            strings.as_mut_ptr(),
            strings.len(),
        );
        for string in strings {
            free(ptr::null_mut(), string);
        }
    }
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    series.memory()
}

unsafe extern "C" fn digest(
    md: *mut raw::RedisModuleDigest,
    value: *mut c_void,
) {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    guard((), || {
        // SAFETY: the API pointers are set at load; `md` is valid for the
        // callback and each buffer outlives its call.
        unsafe {
            let (Some(add_integer), Some(add_buffer), Some(end)) = (
                raw::RedisModule_DigestAddLongLong,
                raw::RedisModule_DigestAddStringBuffer,
                raw::RedisModule_DigestEndSequence,
            ) else {
                return;
            };
            add_integer(md, series.average.window() as i64);
            add_integer(md, series.tag as i64);
            add_integer(md, series.next_seq as i64);
            add_integer(md, series.copies.get() as i64);
            for value in series.average.iter() {
                let bytes = value.to_le_bytes();
                add_buffer(md, bytes.as_ptr().cast(), bytes.len());
            }
            end(md);
        }
    });
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    let copied = guard(None, || series.copy().ok());
    copied.map_or(ptr::null_mut(), |copy| {
        info::count(Footprint::of(&copy));
        Box::into_raw(Box::new(copy)).cast()
    })
}

/// The work of freeing a value, in pages of memory: Redis frees a value
/// above 64 of them (256 KiB) in a background thread on `UNLINK`.
unsafe extern "C" fn free_effort(
    _key: *mut raw::RedisModuleString,
    value: *const c_void,
) -> usize {
    // SAFETY: Redis passes a value of this type.
    let series = unsafe { series_of(value) };
    1 + series.average.heap_bytes() / 4096
}

/// Frees a value; may run in a background thread, so it touches nothing
/// of Redis but its allocator, which is thread-safe, and the atomic
/// totals of `INFO`.
unsafe extern "C" fn free(value: *mut c_void) {
    // SAFETY: Redis passes a value of this type, made by `Box::new`, once.
    let series = unsafe { Box::from_raw(value.cast::<Series>()) };
    info::uncount(&series);
    drop(series);
}
