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

use std::ffi::{c_int, CStr};

use redis_module::logging::log_warning;
use redis_module::raw::{self, ModuleOptions};
use redis_module::{redis_module, Context, RedisString, Status};

use datatype::MAVG_TYPE;
use encoding::ENCODING_VERSION;

/// The function Redis calls to run a command.
type Entry = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    c_int,
) -> c_int;

/// The entry point of a command whose handler is `handler`: the
/// arguments are read in place, without a copy (see `reply::dispatch`).
macro_rules! entry {
    ($handler:path) => {{
        unsafe extern "C" fn entry(
            ctx: *mut raw::RedisModuleCtx,
            argv: *mut *mut raw::RedisModuleString,
            argc: c_int,
        ) -> c_int {
            // SAFETY: Redis calls this with the command's own context
            // and arguments.
            unsafe { reply::dispatch($handler, ctx, argv, argc) }
        }
        entry as Entry
    }};
}

/// A command of the module. Each takes one key, its first argument.
struct Command {
    name: &'static CStr,
    entry: Entry,
    flags: &'static CStr,
    /// The ACL categories, which servers from 7.2 on (and Valkey) take;
    /// on older ones a user needs the commands granted by name
    /// (`+mavg.avg`).
    acl: &'static CStr,
}

/// The commands, as Redis lists them.
const COMMANDS: [Command; 6] = [
    Command {
        name: c"mavg.create",
        entry: entry!(commands::create),
        flags: c"write deny-oom",
        acl: c"write fast",
    },
    Command {
        name: c"mavg.add",
        entry: entry!(commands::add),
        flags: c"write deny-oom",
        acl: c"write fast",
    },
    Command {
        name: c"mavg.avg",
        entry: entry!(commands::avg),
        flags: c"readonly fast",
        acl: c"read fast",
    },
    Command {
        name: c"mavg.get",
        entry: entry!(commands::get),
        flags: c"readonly fast",
        acl: c"read fast",
    },
    Command {
        name: c"mavg.range",
        entry: entry!(commands::range),
        flags: c"readonly",
        acl: c"read slow",
    },
    Command {
        name: c"mavg.info",
        entry: entry!(commands::info),
        flags: c"readonly fast",
        acl: c"read fast",
    },
];

/// Creates every command of [`COMMANDS`], and puts each in its ACL
/// categories where the server has them.
fn register_commands(ctx: &Context) -> Result<(), String> {
    // SAFETY: reading API pointers, which the server set at load.
    let (create, get, set_acl) = unsafe {
        (
            raw::RedisModule_CreateCommand,
            raw::RedisModule_GetCommand,
            raw::RedisModule_SetCommandACLCategories,
        )
    };
    let create = create.ok_or("the server cannot create commands")?;
    for command in &COMMANDS {
        let name = command.name.to_string_lossy();
        // SAFETY: `ctx` is the load context; the name and flags are
        // 'static C strings; the entry has the signature Redis calls.
        let status = unsafe {
            create(
                ctx.ctx,
                command.name.as_ptr(),
                Some(command.entry),
                command.flags.as_ptr(),
                1,
                1,
                1,
            )
        };
        if status != raw::Status::Ok as c_int {
            return Err(format!("mavg: cannot create the command {name}"));
        }
        let (Some(get), Some(set_acl)) = (get, set_acl) else {
            continue;
        };
        // SAFETY: as above; the command was just created.
        let status = unsafe {
            let handle = get(ctx.ctx, command.name.as_ptr());
            set_acl(handle, command.acl.as_ptr())
        };
        if status != raw::Status::Ok as c_int {
            ctx.log_warning(&format!("mavg: no ACL categories for {name}"));
        }
    }
    Ok(())
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
    if let Err(reason) = register_commands(ctx) {
        ctx.log_warning(&reason);
        return Status::Err;
    }
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
    // Registered by `init`, whose entry points read the arguments in
    // place: the crate's own path copies them into a vector first.
    commands: [],
}
