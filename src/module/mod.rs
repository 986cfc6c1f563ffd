//! The Redis module: registration of the data type and the commands.
//!
//! Nothing here is public: Redis reaches the module through the
//! `RedisModule_OnLoad` symbol that `redis_module!` defines.

mod alloc;
mod args;
mod commands;
mod config;
mod datatype;
mod encoding;
#[cfg(test)]
mod fuzz;
mod id;
mod info;
mod metadata;
mod reply;
mod series;
mod text;

use redis_module::logging::log_warning;
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

/// Sets the module's options, registers what the server supports of
/// command docs, configs and the `INFO` section, and logs its version,
/// once, at load.
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
    // A panic is caught at the command boundary and answered with an
    // error; its message and location go to the server log.
    std::panic::set_hook(Box::new(|panic| {
        // The log call reads its text as a printf format.
        let text = format!("mavg: caught a panic: {panic}");
        log_warning(text.replace('%', "%%"));
    }));
    if let Err(reason) = config::register(ctx) {
        ctx.log_warning(&reason);
        return Status::Err;
    }
    let docs = metadata::register(ctx);
    let info = info::register(ctx);
    let on = |enabled: bool| if enabled { "on" } else { "off" };
    ctx.log_notice(&format!(
        "redis-mavg {} loaded: type mavg-type, encoding version {}, \
         command docs {}, configs {}, INFO section {}",
        env!("CARGO_PKG_VERSION"),
        ENCODING_VERSION,
        on(docs),
        on(config::supported()),
        on(info),
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
    // The last element of each command is its ACL categories, optional:
    // servers from 7.2 on (and Valkey) put the commands in `@read` or
    // `@write` and `@fast` or `@slow`; older ones have no such API, and
    // there a user needs the commands granted by name (`+mavg.avg`).
    commands: [
        ["mavg.create", command!(commands::create), "write deny-oom", 1, 1, 1, "", "write fast"],
        ["mavg.add", command!(commands::add), "write deny-oom", 1, 1, 1, "", "write fast"],
        ["mavg.avg", command!(commands::avg), "readonly fast", 1, 1, 1, "", "read fast"],
        ["mavg.get", command!(commands::get), "readonly fast", 1, 1, 1, "", "read fast"],
        ["mavg.range", command!(commands::range), "readonly", 1, 1, 1, "", "read slow"],
        ["mavg.info", command!(commands::info), "readonly fast", 1, 1, 1, "", "read fast"],
    ],
}
