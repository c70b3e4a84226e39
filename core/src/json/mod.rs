//! JSON the way the Python reference reads and writes it, without allocation.
//!
//! * [`validate`] / [`parses_as_json`] / [`parse`]: a validating reader over a byte slice.
//!   Strict UTF-8, the RFC 8259 grammar plus what Python's `json.loads` additionally accepts
//!   (`NaN`, `Infinity`, `-Infinity`, any top-level value, surrounding whitespace). Nesting is
//!   tracked with a fixed bitset of [`MAX_DEPTH`] levels, never by recursion.
//! * [`Value`], [`Object`], [`Array`], [`Number`], [`JsonStr`]: zero-copy views over validated
//!   text. Strings keep their raw escaped form and are unescaped lazily.
//! * [`ObjectWriter`], [`write_str`], [`write_f64`] ...: output byte-identical to Python's
//!   `json.dumps` with its defaults (`ensure_ascii=True`, separators `", "` and `": "`).
//!
//! Known differences from CPython's `json.loads` (documented in `docs/quirks-v0-messages.md`):
//! nesting deeper than [`MAX_DEPTH`] is refused (CPython's limit is its recursion limit, about
//! 1000), and integer literals longer than [`PY_INT_MAX_STR_DIGITS`] digits are refused, as
//! CPython ≥ 3.11 (and the security releases of 3.7–3.10) do.

mod num;
mod read;
mod value;
mod write;

pub use num::Num;
pub use read::{parse, parses_as_json, validate};
pub use value::{
    Array, ArrayIter, Chars, CodePoints, JsonStr, Members, Number, NumberKind, Object, Value,
};
pub use write::{
    write_bool, write_code_points, write_f64, write_i64, write_null, write_str, write_u64,
    ObjectWriter, PyFloat,
};

use core::fmt;

/// Deepest nesting of arrays/objects accepted by the reader.
pub const MAX_DEPTH: usize = 128;

/// Longest integer literal (in digits) accepted, as CPython's `sys.int_info.default_max_str_digits`.
pub const PY_INT_MAX_STR_DIGITS: usize = 4300;

/// Why a byte string is not JSON as Python's `json.loads` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JsonError {
    /// The bytes are not strict UTF-8 (error at this byte offset).
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A grammar violation (including trailing garbage and empty input) at this byte offset.
    Syntax {
        /// Byte offset where the input stopped making sense.
        offset: usize,
    },
    /// Arrays/objects nested deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Byte offset of the opening bracket that went too deep.
        offset: usize,
    },
    /// An integer literal longer than [`PY_INT_MAX_STR_DIGITS`] digits.
    IntegerTooLong {
        /// Byte offset of the literal.
        offset: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::InvalidUtf8 { offset } => write!(f, "invalid utf-8 at byte {offset}"),
            JsonError::Syntax { offset } => write!(f, "json syntax error at byte {offset}"),
            JsonError::TooDeep { offset } => {
                write!(f, "json nested deeper than {MAX_DEPTH} at byte {offset}")
            }
            JsonError::IntegerTooLong { offset } => write!(
                f,
                "integer literal longer than {PY_INT_MAX_STR_DIGITS} digits at byte {offset}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for JsonError {}
