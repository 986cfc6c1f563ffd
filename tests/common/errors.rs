//! The error replies the README promises, exactly as a raw socket reads
//! them (code included), shared by the tests of bad input.

pub const NOT_A_FLOAT: &str = "ERR value is not a valid float";
pub const NOT_FINITE: &str = "ERR value is not a finite number";
pub const BAD_WINDOW: &str =
    "ERR window must be an integer from 1 to 1000000000";
pub const SYNTAX: &str = "ERR syntax error";
pub const KEY_EXISTS: &str = "ERR key already exists";
pub const BAD_IDTAG: &str = "ERR idtag must be 16 hexadecimal digits";
pub const BAD_SEQ: &str =
    "ERR seq must be an integer from 0 to 288230376151711743";
pub const BAD_COPIES: &str =
    "ERR copies must be an integer from 0 to 18446744073709551615";
pub const OTHER_WINDOW: &str = "ERR key exists with a different window";
pub const NO_IDS_LEFT: &str = "ERR key has no element ids left";
pub const BAD_REF: &str = "ERR ref is not a position or an element id";
pub const FOREIGN_ID: &str = "ERR element id is not from this key";
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
