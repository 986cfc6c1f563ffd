//! The module's section of `INFO`: how many MAVG keys the server holds,
//! how many values they hold together, and the memory they take.
//!
//! The totals are kept as each value is made (a command, an RDB load,
//! `RESTORE`, `COPY`), changed (`MAVG.ADD`) or freed (`DEL`, an overwrite,
//! expiry, `FLUSHALL`), so `INFO` costs nothing per key. `free` may run in
//! a background thread, hence atomics.

use std::ffi::{c_int, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use redis_module::raw;

use super::series::Series;
use crate::MovingAverage;

/// The number of MAVG values alive in the server.
static KEYS: AtomicUsize = AtomicUsize::new(0);

/// The number of values they hold.
static VALUES: AtomicUsize = AtomicUsize::new(0);

/// Their memory in bytes, as `MEMORY USAGE` counts it.
static MEMORY: AtomicUsize = AtomicUsize::new(0);

/// What one series adds to the totals.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Footprint {
    values: usize,
    memory: usize,
}

impl Footprint {
    /// The footprint of `series` now.
    pub(crate) fn of(series: &Series) -> Footprint {
        Footprint {
            values: series.average.len(),
            memory: series.memory(),
        }
    }
}

/// Counts a series of footprint `footprint` the server now holds.
pub(crate) fn count(footprint: Footprint) {
    KEYS.fetch_add(1, Ordering::Relaxed);
    VALUES.fetch_add(footprint.values, Ordering::Relaxed);
    MEMORY.fetch_add(footprint.memory, Ordering::Relaxed);
}

/// Uncounts a series the server is freeing.
pub(crate) fn uncount(series: &Series) {
    let footprint = Footprint::of(series);
    KEYS.fetch_sub(1, Ordering::Relaxed);
    VALUES.fetch_sub(footprint.values, Ordering::Relaxed);
    MEMORY.fetch_sub(footprint.memory, Ordering::Relaxed);
}

/// Counts the change of a series that had footprint `before`. Once a
/// window is full an add changes nothing, and costs no atomic write.
pub(crate) fn recount(before: Footprint, series: &Series) {
    let after = Footprint::of(series);
    if after == before {
        return;
    }
    VALUES.fetch_add(after.values, Ordering::Relaxed);
    VALUES.fetch_sub(before.values, Ordering::Relaxed);
    MEMORY.fetch_add(after.memory, Ordering::Relaxed);
    MEMORY.fetch_sub(before.memory, Ordering::Relaxed);
}

/// Writes the section `# mavg` of `INFO`, fields `mavg_keys`,
/// `mavg_values` and `mavg_memory_bytes` (the server prefixes each field
/// with the module's name).
pub(crate) unsafe extern "C" fn write_section(
    ctx: *mut raw::RedisModuleInfoCtx,
    _for_crash_report: c_int,
) {
    // SAFETY: reading API pointers, which the server set at load.
    let api = unsafe {
        (
            raw::RedisModule_InfoAddSection,
            raw::RedisModule_InfoAddFieldULongLong,
        )
    };
    let (Some(add_section), Some(add_field)) = api else {
        return;
    };
    let fields: [(&CStr, &AtomicUsize); 3] = [
        (c"keys", &KEYS),
        (c"values", &VALUES),
        (c"memory_bytes", &MEMORY),
    ];
    // SAFETY: `ctx` is the info context the server passed for this call;
    // a null name asks for the section named after the module; each field
    // name is a 'static C string.
    unsafe {
        add_section(ctx, std::ptr::null_mut());
        for (name, total) in fields {
            add_field(
                ctx,
                name.as_ptr(),
                total.load(Ordering::Relaxed) as u64,
            );
        }
    }
}

/// Makes [`write_section`] the module's `INFO` callback, replacing the
/// crate's empty one. Returns whether the server took it.
pub(crate) fn register(ctx: &redis_module::Context) -> bool {
    // SAFETY: reading an API pointer, which the server set at load.
    let Some(register_info) = (unsafe { raw::RedisModule_RegisterInfoFunc })
    else {
        return false;
    };
    // SAFETY: `ctx` is the load context; the callback is a 'static
    // function of the expected signature.
    let status = unsafe { register_info(ctx.ctx, Some(write_section)) };
    status == raw::Status::Ok as c_int
}
