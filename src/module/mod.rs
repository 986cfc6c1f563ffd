//! The Redis module: registration of the data type and the commands.
//!
//! Nothing here is public: Redis reaches the module through the
//! `RedisModule_OnLoad` symbol that `redis_module!` defines.

mod alloc;
mod args;
mod commands;
mod datatype;
mod encoding;
mod id;
mod reply;
mod series;
mod text;

use redis_module::raw::ModuleOptions;
use redis_module::{redis_module, Context, RedisString, Status};

use datatype::MAVG_TYPE;
use encoding::ENCODING_VERSION;
use reply::{guarded, Handler};

/// Registers `handler` behind the panic boundary of [`guarded`].
macro_rules! command {
    ($handler:path) => {
        |ctx: &Context, args: Vec<RedisString>| {
            guarded($handler as Handler, ctx, args)
        }
    };
}

/// Sets the module's options and logs its version, once, at load.
fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    // Keys are signalled as modified by the commands themselves, and only
    // when they succeed: a refused write must not fire WATCH or client
    // tracking.
    // The module keeps no state outside its keys, so a replica may load a
    // full sync in the background while it serves the old data
    // (`repl-diskless-load swapdb`).
    ctx.set_module_options(
        ModuleOptions::HANDLE_IO_ERRORS
            | ModuleOptions::NO_IMPLICIT_SIGNAL_MODIFIED
            | ModuleOptions::HANDLE_REPL_ASYNC_LOAD,
    );
    ctx.log_notice(&format!(
        "redis-mavg {} loaded: type mavg-type, encoding version {}",
        env!("CARGO_PKG_VERSION"),
        ENCODING_VERSION,
    ));
    Status::Ok
}

/// The module version Redis reports: major * 10000 + minor * 100 + patch.
const MODULE_VERSION: i32 = 100;

redis_module! {
    name: "mavg",
    version: MODULE_VERSION,
    allocator: (alloc::ModuleAllocator, alloc::ModuleAllocator),
    data_types: [MAVG_TYPE],
    init: init,
    commands: [
        ["mavg.create", command!(commands::create), "write deny-oom", 1, 1, 1, ""],
        ["mavg.add", command!(commands::add), "write deny-oom", 1, 1, 1, ""],
        ["mavg.avg", command!(commands::avg), "readonly fast", 1, 1, 1, ""],
        ["mavg.get", command!(commands::get), "readonly fast", 1, 1, 1, ""],
        ["mavg.range", command!(commands::range), "readonly", 1, 1, 1, ""],
        ["mavg.info", command!(commands::info), "readonly fast", 1, 1, 1, ""],
    ],
}
