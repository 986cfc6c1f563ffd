//! What `COMMAND DOCS`, `COMMAND INFO` and redis-cli's hints show of the
//! MAVG commands: summary, complexity, arity, arguments and key specs,
//! declared here once and handed to the server at load.
//!
//! Only servers with `RedisModule_SetCommandInfo` (Redis 7.0 and later,
//! Valkey) take this; on Redis 6.2 the commands keep the key positions
//! given when they were created, and nothing else.

use std::ffi::{c_int, CStr};
use std::ptr;

use redis_module::raw;
use redis_module::Context;

/// The module version that introduced every command.
const SINCE: &CStr = c"0.1.0";

/// How the one key of a command is used.
#[derive(Clone, Copy)]
enum KeyUse {
    /// Reads the key's values and returns them (`RO ACCESS`).
    Read,
    /// Creates the key, which must not exist (`RW INSERT`).
    Create,
    /// Adds values, creating the key if needed, and evicts the oldest
    /// ones (`RW UPDATE`, as `XADD`, which also trims).
    Update,
}

impl KeyUse {
    fn flags(self) -> u64 {
        let flags = match self {
            KeyUse::Read => {
                raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS
            }
            KeyUse::Create => {
                raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT
            }
            KeyUse::Update => {
                raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE
            }
        };
        u64::from(flags)
    }
}

/// One argument of a command, as `COMMAND DOCS` lists it.
struct Arg {
    name: &'static CStr,
    kind: raw::RedisModuleCommandArgType,
    token: Option<&'static CStr>,
    flags: u32,
    /// The choices of a `oneof`, the parts of a `block`.
    parts: &'static [Arg],
}

/// An argument of type `kind`, mandatory, without a token.
const fn arg(
    name: &'static CStr,
    kind: raw::RedisModuleCommandArgType,
) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        flags: raw::REDISMODULE_CMD_ARG_NONE,
        parts: &[],
    }
}

/// An integer argument behind a `token` (`WINDOW n`).
const fn named(
    name: &'static CStr,
    token: &'static CStr,
    kind: raw::RedisModuleCommandArgType,
) -> Arg {
    Arg {
        token: Some(token),
        ..arg(name, kind)
    }
}

/// `argument` made optional.
const fn optional(argument: Arg) -> Arg {
    Arg {
        flags: argument.flags | raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..argument
    }
}

const KEY: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY;
const INTEGER: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER;
const DOUBLE: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_DOUBLE;
const STRING: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING;
const PURE_TOKEN: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN;
const ONEOF: raw::RedisModuleCommandArgType =
    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF;

/// The key, first argument of every command.
const KEY_ARG: Arg = arg(c"key", KEY);

/// One command's documentation.
struct Doc {
    name: &'static CStr,
    summary: &'static CStr,
    complexity: &'static CStr,
    arity: c_int,
    key: KeyUse,
    /// The arguments after the key.
    args: &'static [Arg],
}

/// Every MAVG command, as the README documents it.
const DOCS: [Doc; 6] = [
    Doc {
        name: c"mavg.create",
        summary: c"Creates an empty moving average of the last n values",
        complexity: c"O(1)",
        arity: -4,
        key: KeyUse::Create,
        args: &[
            named(c"window", c"WINDOW", INTEGER),
            optional(named(c"tag", c"IDTAG", STRING)),
            optional(named(c"next", c"SEQ", INTEGER)),
            optional(named(c"count", c"COPIES", INTEGER)),
        ],
    },
    Doc {
        name: c"mavg.add",
        summary: c"Appends values to a moving average, creating it if needed",
        complexity: c"O(1) for each value added",
        arity: -3,
        key: KeyUse::Update,
        args: &[
            optional(named(c"n", c"WINDOW", INTEGER)),
            Arg {
                flags: raw::REDISMODULE_CMD_ARG_MULTIPLE,
                ..arg(c"value", DOUBLE)
            },
        ],
    },
    Doc {
        name: c"mavg.avg",
        summary: c"Returns the exact average of the values in the window",
        complexity: c"O(1)",
        arity: 2,
        key: KeyUse::Read,
        args: &[],
    },
    Doc {
        name: c"mavg.get",
        summary: c"Returns one value of the window, by position or element id",
        complexity: c"O(1)",
        arity: 3,
        key: KeyUse::Read,
        args: &[Arg {
            parts: &[arg(c"position", INTEGER), arg(c"id", STRING)],
            ..arg(c"ref", ONEOF)
        }],
    },
    Doc {
        name: c"mavg.range",
        summary: c"Returns the values from start to stop, oldest first",
        complexity: c"O(m) for m values returned",
        arity: -4,
        key: KeyUse::Read,
        args: &[
            arg(c"start", INTEGER),
            arg(c"stop", INTEGER),
            optional(named(c"withids", c"WITHIDS", PURE_TOKEN)),
        ],
    },
    Doc {
        name: c"mavg.info",
        summary:
            c"Returns the window, length, count added, average and id tag",
        complexity: c"O(1)",
        arity: 2,
        key: KeyUse::Read,
        args: &[],
    },
];

/// The layout of the structures below, which the server reads arrays by.
static INFO_VERSION: raw::RedisModuleCommandInfoVersion =
    raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<
            raw::RedisModuleCommandHistoryEntry,
        >(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };

/// Hands every command's documentation to the server, if it takes it.
/// Returns whether it did; a server that refuses a command's info keeps
/// serving the command without it.
pub(crate) fn register(ctx: &Context) -> bool {
    // SAFETY: reading API pointers, which the server set at load.
    let api = unsafe {
        (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo)
    };
    let (Some(get_command), Some(set_info)) = api else {
        return false;
    };
    let mut all = true;
    for doc in &DOCS {
        // SAFETY: the name is a C string literal; the command was created
        // at load, before `init` runs.
        let command = unsafe { get_command(ctx.ctx, doc.name.as_ptr()) };
        if command.is_null() {
            all = false;
            continue;
        }
        let mut key_specs = key_specs(doc.key);
        let mut arg_tree = ArgTree::new(doc.args);
        let info = raw::RedisModuleCommandInfo {
            version: &INFO_VERSION,
            summary: doc.summary.as_ptr(),
            complexity: doc.complexity.as_ptr(),
            since: SINCE.as_ptr(),
            history: ptr::null_mut(),
            tips: ptr::null(),
            arity: doc.arity,
            key_specs: key_specs.as_mut_ptr(),
            args: arg_tree.top.as_mut_ptr(),
        };
        // SAFETY: every pointer in `info` is to a 'static C string or to
        // an array that lives until the end of this iteration, ended by a
        // zeroed entry; the server copies what it keeps (Redis 7.0's
        // RM_SetCommandInfo duplicates every string and array).
        let status = unsafe { set_info(command, &info) };
        all &= status == raw::Status::Ok as c_int;
    }
    all
}

/// The one key spec of a command (the key at index 1), and the zeroed
/// entry that ends the array.
fn key_specs(key: KeyUse) -> [raw::RedisModuleCommandKeySpec; 2] {
    let mut spec = empty_key_spec();
    spec.flags = key.flags();
    spec.begin_search_type =
        raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    spec.find_keys_type =
        raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    spec.fk.range =
        raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
            lastkey: 0,
            keystep: 1,
            limit: 0,
        };
    [spec, empty_key_spec()]
}

/// A key spec of zeroes: the end of an array of them.
fn empty_key_spec() -> raw::RedisModuleCommandKeySpec {
    // SAFETY: the struct is plain C data (integers, null pointers and
    // unions of them) for which all-zero bytes is a valid value, and the
    // one the server reads as "no more specs".
    unsafe { std::mem::zeroed() }
}

/// A command's arguments as the server reads them: the key then the
/// others, each array ended by a zeroed entry. The arrays of `oneof`
/// choices live in `parts`, which the top-level entries point into.
struct ArgTree {
    top: Vec<raw::RedisModuleCommandArg>,
    /// Kept alive for the pointers in `top`; never read from Rust.
    _parts: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl ArgTree {
    fn new(args: &'static [Arg]) -> ArgTree {
        let mut parts = Vec::new();
        let mut top = vec![raw_arg(&KEY_ARG, 0, ptr::null_mut())];
        for argument in args {
            let mut subargs = ptr::null_mut();
            if !argument.parts.is_empty() {
                let mut list: Vec<_> = argument
                    .parts
                    .iter()
                    .map(|part| raw_arg(part, -1, ptr::null_mut()))
                    .chain([empty_arg()])
                    .collect();
                // The heap buffer does not move when `list` is pushed
                // into `parts`, so the pointer stays good.
                subargs = list.as_mut_ptr();
                parts.push(list);
            }
            top.push(raw_arg(argument, -1, subargs));
        }
        top.push(empty_arg());
        ArgTree { top, _parts: parts }
    }
}

/// `argument` as the server reads it.
fn raw_arg(
    argument: &Arg,
    key_spec_index: c_int,
    subargs: *mut raw::RedisModuleCommandArg,
) -> raw::RedisModuleCommandArg {
    raw::RedisModuleCommandArg {
        name: argument.name.as_ptr(),
        type_: argument.kind,
        key_spec_index,
        token: argument.token.map_or(ptr::null(), CStr::as_ptr),
        summary: ptr::null(),
        since: ptr::null(),
        flags: argument.flags as c_int,
        deprecated_since: ptr::null(),
        subargs,
        display_text: ptr::null(),
    }
}

/// An argument of zeroes: the end of an array of them.
fn empty_arg() -> raw::RedisModuleCommandArg {
    // SAFETY: plain C data (pointers, integers, an enum whose 0 is a
    // valid variant) for which all-zero bytes is valid; the server reads
    // a null name as the end of the array.
    unsafe { std::mem::zeroed() }
}
