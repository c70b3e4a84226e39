//! A number that is either JSON text from the input or a value supplied by the application.

use super::value::Number;
use super::write::{write_f64, write_i64, write_u64, PyFloat};
use crate::sink::{Overflow, Sink};
use core::fmt;

/// A number field: the literal from parsed JSON (kept verbatim, so int/float and precision
/// survive re-serialisation) or a value the application built.
#[derive(Debug, Clone, Copy)]
pub enum Num<'a> {
    /// A literal from the input.
    Json(Number<'a>),
    /// An integer (written as Python writes an `int`).
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float (written as Python's `repr`, `NaN`/`Infinity` for non-finite values).
    F64(f64),
}

impl<'a> Num<'a> {
    /// Whether Python would see an `int`.
    pub fn is_integer(&self) -> bool {
        match self {
            Num::Json(n) => n.is_integer(),
            Num::U64(_) | Num::I64(_) => true,
            Num::F64(_) => false,
        }
    }

    /// Python's `x < 0`.
    pub fn is_negative(&self) -> bool {
        match self {
            Num::Json(n) => n.is_negative(),
            Num::U64(_) => false,
            Num::I64(v) => *v < 0,
            Num::F64(v) => *v < 0.0,
        }
    }

    /// The value as an `f64` (Python's `float(x)`).
    pub fn as_f64(&self) -> f64 {
        match self {
            Num::Json(n) => n.as_f64(),
            Num::U64(v) => *v as f64,
            Num::I64(v) => *v as f64,
            Num::F64(v) => *v,
        }
    }

    /// The value of an integer that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Num::Json(n) => n.as_u64(),
            Num::U64(v) => Some(*v),
            Num::I64(v) => u64::try_from(*v).ok(),
            Num::F64(_) => None,
        }
    }

    /// The value of an integer that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Num::Json(n) => n.as_i64(),
            Num::U64(v) => i64::try_from(*v).ok(),
            Num::I64(v) => Some(*v),
            Num::F64(_) => None,
        }
    }

    /// Writes the JSON form.
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        match self {
            Num::Json(n) => sink.put(n.raw().as_bytes()),
            Num::U64(v) => write_u64(sink, *v),
            Num::I64(v) => write_i64(sink, *v),
            Num::F64(v) => write_f64(sink, *v),
        }
    }

    fn int_key(&self) -> Result<i128, &'a str> {
        if let Some(v) = self.as_i64() {
            return Ok(i128::from(v));
        }
        if let Some(v) = self.as_u64() {
            return Ok(i128::from(v));
        }
        match self {
            Num::Json(n) => Err(n.raw()),
            _ => Err(""),
        }
    }
}

/// Equal when both are integers with the same value, or both floats with the same value
/// (NaN equals NaN here, so that a message equals its own round trip).
impl PartialEq for Num<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.is_integer(), other.is_integer()) {
            (true, true) => self.int_key() == other.int_key(),
            (false, false) => {
                let (a, b) = (self.as_f64(), other.as_f64());
                a == b || (a.is_nan() && b.is_nan())
            }
            _ => false,
        }
    }
}

impl From<u64> for Num<'_> {
    fn from(v: u64) -> Self {
        Num::U64(v)
    }
}

impl From<f64> for Num<'_> {
    fn from(v: f64) -> Self {
        Num::F64(v)
    }
}

impl<'a> From<Number<'a>> for Num<'a> {
    fn from(n: Number<'a>) -> Self {
        Num::Json(n)
    }
}

/// The JSON form (`NaN`/`Infinity` spelled as JSON, not as Python's `repr`).
impl fmt::Display for Num<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Json(n) => f.write_str(n.raw()),
            Num::U64(v) => write!(f, "{v}"),
            Num::I64(v) => write!(f, "{v}"),
            Num::F64(v) if v.is_nan() => f.write_str("NaN"),
            Num::F64(v) if v.is_infinite() => {
                f.write_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Num::F64(v) => write!(f, "{}", PyFloat(*v)),
        }
    }
}
