//! The module's configuration: `mavg.default-window` and
//! `mavg.max-window`, set in redis.conf, on the command line or with
//! `CONFIG SET`, on servers with module configs (Redis 7.0 and later,
//! Valkey). On older servers the defaults apply.
//!
//! The values live in atomics, which the commands read without a lock.

use std::ffi::{c_char, c_int, c_longlong, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use redis_module::{raw, Context, ContextFlags};

use super::commands::DEFAULT_WINDOW;
use crate::MAX_WINDOW;

/// The window of a key `MAVG.ADD` creates without `WINDOW`.
static DEFAULT_WINDOW_SETTING: AtomicUsize = AtomicUsize::new(DEFAULT_WINDOW);

/// The largest window a client may ask for.
static MAX_WINDOW_SETTING: AtomicUsize = AtomicUsize::new(MAX_WINDOW);

/// The window of a key `MAVG.ADD` creates without `WINDOW`.
pub(crate) fn default_window() -> usize {
    DEFAULT_WINDOW_SETTING.load(Ordering::Relaxed)
}

/// The largest window the command being run may ask for:
/// `mavg.max-window` for a client, but [`MAX_WINDOW`] for what the
/// primary replicates or the server loads from its AOF, so that a
/// replica or a restart rebuilds every key the primary accepted.
pub(crate) fn window_limit(ctx: &Context) -> usize {
    let trusted = ContextFlags::REPLICATED | ContextFlags::LOADING;
    if ctx.get_flags().intersects(trusted) {
        return MAX_WINDOW;
    }
    MAX_WINDOW_SETTING.load(Ordering::Relaxed)
}

/// Whether the server has module configs.
pub(crate) fn supported() -> bool {
    // SAFETY: reading an API pointer, which the server set at load.
    let register = unsafe { raw::RedisModule_RegisterNumericConfig };
    register.is_some()
}

/// Registers both configs and applies the values given at startup, on a
/// server with module configs; does nothing on one without.
///
/// # Errors
///
/// When the server refuses a config or a value given at startup (out of
/// range): the module then fails to load, as Redis's own configs do.
pub(crate) fn register(ctx: &Context) -> Result<(), String> {
    // SAFETY: reading API pointers, which the server set at load.
    let api = unsafe {
        (
            raw::RedisModule_RegisterNumericConfig,
            raw::RedisModule_LoadConfigs,
        )
    };
    let (Some(register_numeric), Some(load_configs)) = api else {
        return Ok(());
    };
    let settings = [
        (c"default-window", DEFAULT_WINDOW, &DEFAULT_WINDOW_SETTING),
        (c"max-window", MAX_WINDOW, &MAX_WINDOW_SETTING),
    ];
    for (name, default, setting) in settings {
        // SAFETY: the name is a 'static C string; `privdata` points to a
        // static atomic, valid for as long as the module is loaded, and
        // the callbacks read it as one.
        let status = unsafe {
            register_numeric(
                ctx.ctx,
                name.as_ptr(),
                default as c_longlong,
                raw::REDISMODULE_CONFIG_DEFAULT,
                1,
                MAX_WINDOW as c_longlong,
                Some(get_setting),
                Some(set_setting),
                None,
                (setting as *const AtomicUsize).cast_mut().cast(),
            )
        };
        if status != raw::Status::Ok as c_int {
            let name = name.to_string_lossy();
            return Err(format!("mavg: could not register mavg.{name}"));
        }
    }
    // SAFETY: `ctx` is the load context, as LoadConfigs requires.
    if unsafe { load_configs(ctx.ctx) } != raw::Status::Ok as c_int {
        return Err("mavg: a mavg.* value given at startup was refused".into());
    }
    Ok(())
}

/// The current value of the setting `privdata` points to.
unsafe extern "C" fn get_setting(
    _name: *const c_char,
    privdata: *mut c_void,
) -> c_longlong {
    // SAFETY: `register` passes a pointer to a static atomic.
    let setting = unsafe { &*privdata.cast::<AtomicUsize>() };
    setting.load(Ordering::Relaxed) as c_longlong
}

/// Stores `value` in the setting `privdata` points to; the server has
/// already checked it is within 1 and [`MAX_WINDOW`].
unsafe extern "C" fn set_setting(
    _name: *const c_char,
    value: c_longlong,
    privdata: *mut c_void,
    _error: *mut *mut raw::RedisModuleString,
) -> c_int {
    // SAFETY: `register` passes a pointer to a static atomic.
    let setting = unsafe { &*privdata.cast::<AtomicUsize>() };
    let Ok(value) = usize::try_from(value) else {
        return raw::Status::Err as c_int;
    };
    setting.store(value, Ordering::Relaxed);
    raw::Status::Ok as c_int
}
