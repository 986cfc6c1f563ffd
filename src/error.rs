//! The crate's one error type, shared by the library and the module.
//!
//! Each variant's `Display` text is the message a Redis client sees after
//! `ERR ` (the module adds the code in one place); `WrongType` is the one
//! error with a code of its own.

use std::fmt;

/// Everything that can go wrong in the library or in a MAVG command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A value is NaN or infinite, or overflowed the double range.
    NonFinite,
    /// A value is not a decimal floating-point number.
    NotAFloat,
    /// An integer argument is not an integer in the range of `i64`.
    NotAnInteger,
    /// A window is not an integer from 1 to the largest window allowed,
    /// which it holds: [`crate::MAX_WINDOW`] in the library, or less in
    /// the module when configured so.
    WindowOutOfRange(usize),
    /// Storage for more values could not be allocated.
    OutOfMemory,
    /// `WINDOW` names a window other than the existing key's.
    WindowMismatch,
    /// `MAVG.CREATE` on a key that exists.
    KeyExists,
    /// A command that needs an existing key found none.
    NoSuchKey,
    /// An unknown, repeated or missing option.
    Syntax,
    /// A reference is neither a position nor a UUID.
    BadRef,
    /// A UUID that is not an element id of this key.
    ForeignId,
    /// An `IDTAG` that is not 16 hexadecimal digits.
    BadIdTag,
    /// A `SEQ` outside the sequence numbers an id can hold.
    BadSeq,
    /// A `COPIES` that is not a non-negative integer.
    BadCopies,
    /// The key has handed out every sequence number an id can hold.
    IdsExhausted,
    /// The command got too few or too many arguments; holds its name.
    WrongArity(&'static str),
    /// The key holds a value of another type.
    WrongType,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::NonFinite => "value is not a finite number",
            Error::NotAFloat => "value is not a valid float",
            Error::NotAnInteger => "value is not an integer or out of range",
            Error::WindowOutOfRange(max) => {
                return write!(f, "window must be an integer from 1 to {max}");
            }
            Error::OutOfMemory => "out of memory",
            Error::WindowMismatch => "key exists with a different window",
            Error::KeyExists => "key already exists",
            Error::NoSuchKey => "no such key",
            Error::Syntax => "syntax error",
            Error::BadRef => "ref is not a position or an element id",
            Error::ForeignId => "element id is not from this key",
            Error::BadIdTag => "idtag must be 16 hexadecimal digits",
            Error::BadSeq => {
                "seq must be an integer from 0 to 288230376151711743"
            }
            Error::BadCopies => {
                "copies must be an integer from 0 to 18446744073709551615"
            }
            Error::IdsExhausted => "key has no element ids left",
            Error::WrongArity(command) => {
                return write!(
                    f,
                    "wrong number of arguments for '{command}' command"
                );
            }
            Error::WrongType => {
                "Operation against a key holding the wrong kind of value"
            }
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}
