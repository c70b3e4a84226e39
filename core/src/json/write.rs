//! Output byte-identical to Python's `json.dumps` defaults (`ensure_ascii=True`,
//! separators `", "` / `": "`, floats as `float.__repr__`).

use crate::sink::{Overflow, Sink};
use core::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_u16_escape<S: Sink + ?Sized>(sink: &mut S, v: u32) -> Result<(), Overflow> {
    let nib = |shift: u32| {
        HEX.get(((v >> shift) & 0xf) as usize)
            .copied()
            .unwrap_or(b'0')
    };
    sink.put(&[b'\\', b'u', nib(12), nib(8), nib(4), nib(0)])
}

/// Writes one code point the way Python's ASCII-only encoder does (lone surrogates as
/// `\udXXX`, astral characters as surrogate pairs, lowercase hex).
fn put_code_point<S: Sink + ?Sized>(sink: &mut S, cp: u32) -> Result<(), Overflow> {
    match cp {
        0x22 => sink.put(b"\\\""),
        0x5c => sink.put(b"\\\\"),
        0x0a => sink.put(b"\\n"),
        0x0d => sink.put(b"\\r"),
        0x09 => sink.put(b"\\t"),
        0x08 => sink.put(b"\\b"),
        0x0c => sink.put(b"\\f"),
        0x20..=0x7e => sink.put(&[cp as u8]),
        0..=0xffff => put_u16_escape(sink, cp),
        _ => {
            let v = cp.wrapping_sub(0x10000);
            put_u16_escape(sink, 0xD800 + ((v >> 10) & 0x3ff))?;
            put_u16_escape(sink, 0xDC00 + (v & 0x3ff))
        }
    }
}

fn is_plain(c: u8) -> bool {
    (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\'
}

/// Writes `s` as a quoted JSON string, escaped exactly as Python's `json.dumps`.
pub fn write_str<S: Sink + ?Sized>(sink: &mut S, s: &str) -> Result<(), Overflow> {
    sink.put(b"\"")?;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let run = b
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .take_while(|&&c| is_plain(c))
            .count();
        if run > 0 {
            sink.put(b.get(i..i + run).unwrap_or(&[]))?;
            i += run;
            continue;
        }
        match s.get(i..).and_then(|r| r.chars().next()) {
            Some(c) => {
                put_code_point(sink, u32::from(c))?;
                i += c.len_utf8();
            }
            None => break,
        }
    }
    sink.put(b"\"")
}

/// Writes a quoted JSON string from code points (surrogate values allowed, as Python keeps
/// lone surrogates from `\uXXXX` escapes).
pub fn write_code_points<S: Sink + ?Sized, I: IntoIterator<Item = u32>>(
    sink: &mut S,
    cps: I,
) -> Result<(), Overflow> {
    sink.put(b"\"")?;
    for cp in cps {
        put_code_point(sink, cp)?;
    }
    sink.put(b"\"")
}

/// `v / 10` and `v % 10` with 32-bit divisions only (long division over 16-bit limbs): on
/// 32-bit targets a 64-bit division is a library routine of about 900 bytes of flash.
fn div_rem_10(v: u64) -> (u64, u8) {
    let mut q = 0u64;
    let mut r = 0u32;
    for shift in [48u32, 32, 16, 0] {
        let cur = (r << 16) | (((v >> shift) as u32) & 0xffff);
        q |= u64::from(cur / 10) << shift;
        r = cur % 10;
    }
    (q, r as u8)
}

/// Writes an unsigned integer.
pub fn write_u64<S: Sink + ?Sized>(sink: &mut S, v: u64) -> Result<(), Overflow> {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        let (q, digit) = div_rem_10(v);
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + digit;
        }
        v = q;
        if v == 0 || i == 0 {
            break;
        }
    }
    sink.put(buf.get(i..).unwrap_or(&[]))
}

/// Writes a signed integer.
pub fn write_i64<S: Sink + ?Sized>(sink: &mut S, v: i64) -> Result<(), Overflow> {
    if v < 0 {
        sink.put(b"-")?;
    }
    write_u64(sink, v.unsigned_abs())
}

/// Writes `true` or `false`.
pub fn write_bool<S: Sink + ?Sized>(sink: &mut S, v: bool) -> Result<(), Overflow> {
    sink.put(if v { b"true" } else { b"false" })
}

/// Writes `null`.
pub fn write_null<S: Sink + ?Sized>(sink: &mut S) -> Result<(), Overflow> {
    sink.put(b"null")
}

/// Writes a float as `json.dumps` does: `repr(v)`, or `NaN` / `Infinity` / `-Infinity`.
///
/// Without the `float` feature finite values are refused with [`Overflow`] (the float
/// formatting code is ~13 KB of flash a device rarely needs: parsed numbers are re-written
/// from their literal, integers without floats).
pub fn write_f64<S: Sink + ?Sized>(sink: &mut S, v: f64) -> Result<(), Overflow> {
    if v.is_nan() {
        return sink.put(b"NaN");
    }
    if v.is_infinite() {
        return sink.put(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    }
    write_finite(sink, v)
}

#[cfg(not(feature = "float"))]
fn write_finite<S: Sink + ?Sized>(_sink: &mut S, _v: f64) -> Result<(), Overflow> {
    Err(Overflow)
}

#[cfg(feature = "float")]
fn write_finite<S: Sink + ?Sized>(sink: &mut S, v: f64) -> Result<(), Overflow> {
    fmt::write(
        &mut crate::sink::FmtSink(sink),
        format_args!("{}", PyFloat(v)),
    )
    .map_err(|_| Overflow)
}

/// Fixed buffer for float digits.
struct Buf {
    b: [u8; 48],
    n: usize,
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.n + s.len();
        let dst = self.b.get_mut(self.n..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// Displays an `f64` exactly as Python's `repr(float)`: shortest round-trip digits, fixed
/// notation with at least one fractional digit when the decimal exponent is in -4..16, else
/// `1.5e+16` style; `inf`, `-inf`, `nan`.
#[derive(Debug, Clone, Copy)]
pub struct PyFloat(pub f64);

impl fmt::Display for PyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("nan");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "inf" } else { "-inf" });
        }
        let mut buf = Buf { b: [0; 48], n: 0 };
        fmt::write(&mut buf, format_args!("{v:e}"))?;
        let text = buf.b.get(..buf.n).ok_or(fmt::Error)?;
        let (neg, text) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, text),
        };
        let epos = text.iter().position(|&c| c == b'e').ok_or(fmt::Error)?;
        let (mant, exp) = text.split_at(epos);
        let exp = exp.get(1..).unwrap_or(&[]);
        let (eneg, edigits) = match exp.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, exp),
        };
        let mut e: i32 = 0;
        for &c in edigits {
            e = e * 10 + i32::from(c.wrapping_sub(b'0'));
        }
        if eneg {
            e = -e;
        }
        let mut digits = [0u8; 24];
        let mut n = 0;
        for &c in mant.iter().filter(|&&c| c != b'.') {
            if let Some(d) = digits.get_mut(n) {
                *d = c;
                n += 1;
            }
        }
        let digits =
            core::str::from_utf8(digits.get(..n).ok_or(fmt::Error)?).map_err(|_| fmt::Error)?;
        let decpt = e + 1;
        if neg {
            f.write_str("-")?;
        }
        if decpt <= -4 || decpt > 16 {
            let (first, rest) = digits.split_at(1.min(digits.len()));
            f.write_str(first)?;
            if !rest.is_empty() {
                f.write_str(".")?;
                f.write_str(rest)?;
            }
            let sign = if e < 0 { '-' } else { '+' };
            write!(f, "e{sign}{:02}", e.unsigned_abs())
        } else if decpt <= 0 {
            f.write_str("0.")?;
            for _ in 0..-decpt {
                f.write_str("0")?;
            }
            f.write_str(digits)
        } else {
            let decpt = decpt as usize;
            if decpt >= digits.len() {
                f.write_str(digits)?;
                for _ in digits.len()..decpt {
                    f.write_str("0")?;
                }
                f.write_str(".0")
            } else {
                let (a, b) = digits.split_at(decpt);
                write!(f, "{a}.{b}")
            }
        }
    }
}

/// Writes a JSON object member by member, Python style (`{"a": 1, "b": 2}`).
pub struct ObjectWriter<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    first: bool,
}

impl<'s, S: Sink + ?Sized> ObjectWriter<'s, S> {
    /// Writes `{`.
    pub fn begin(sink: &'s mut S) -> Result<Self, Overflow> {
        sink.put(b"{")?;
        Ok(ObjectWriter { sink, first: true })
    }

    /// Writes the separator, `"key": ` and returns the sink for the member's value.
    pub fn key(&mut self, key: &str) -> Result<&mut S, Overflow> {
        if !self.first {
            self.sink.put(b", ")?;
        }
        self.first = false;
        write_str(self.sink, key)?;
        self.sink.put(b": ")?;
        Ok(self.sink)
    }

    /// A string member.
    pub fn str(&mut self, key: &str, v: &str) -> Result<(), Overflow> {
        let s = self.key(key)?;
        write_str(s, v)
    }

    /// An unsigned integer member.
    pub fn u64(&mut self, key: &str, v: u64) -> Result<(), Overflow> {
        let s = self.key(key)?;
        write_u64(s, v)
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, v: bool) -> Result<(), Overflow> {
        let s = self.key(key)?;
        write_bool(s, v)
    }

    /// A `null` member.
    pub fn null(&mut self, key: &str) -> Result<(), Overflow> {
        let s = self.key(key)?;
        write_null(s)
    }

    /// A member whose value is already JSON text (written verbatim).
    pub fn raw(&mut self, key: &str, json: &str) -> Result<(), Overflow> {
        let s = self.key(key)?;
        s.put(json.as_bytes())
    }

    /// Writes `}`.
    pub fn end(self) -> Result<(), Overflow> {
        self.sink.put(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn out(f: impl FnOnce(&mut Vec<u8>) -> Result<(), Overflow>) -> String {
        let mut v = Vec::new();
        f(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers_without_64_bit_division() {
        for v in [
            0u64,
            9,
            10,
            65_535,
            65_536,
            u64::from(u32::MAX),
            1 << 32,
            1_612_345_678_123_456,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(div_rem_10(v), (v / 10, (v % 10) as u8), "{v}");
            assert_eq!(out(|s| write_u64(s, v)), v.to_string());
        }
        assert_eq!(out(|s| write_i64(s, i64::MIN)), i64::MIN.to_string());
    }

    #[test]
    fn strings_like_python() {
        // json.dumps("a\"b\\c/\b\f\n\r\t\x00\x1f\x7f é₿🍆")
        assert_eq!(
            out(|s| write_str(s, "a\"b\\c/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f} é₿🍆")),
            r#""a\"b\\c/\b\f\n\r\t\u0000\u001f\u007f \u00e9\u20bf\ud83c\udf46""#
        );
        assert_eq!(
            out(|s| write_code_points(s, [0xd800, 0x41, 0xdfff])),
            r#""\ud800A\udfff""#
        );
    }

    #[test]
    fn floats_like_python_repr() {
        for (v, py) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1612345678.123456, "1612345678.123456"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e-8, "1e-08"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (21000000.0, "21000000.0"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(PyFloat(v).to_string(), py);
        }
        assert_eq!(out(|s| write_f64(s, f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(out(|s| write_f64(s, f64::NAN)), "NaN");
        assert_eq!(out(|s| write_f64(s, 1e-8)), "1e-08");
    }

    #[test]
    fn objects_and_ints() {
        let s = out(|s| {
            let mut o = ObjectWriter::begin(s)?;
            o.u64("a", 0)?;
            o.u64("b", u64::MAX)?;
            o.bool("c", true)?;
            o.null("d")?;
            o.str("\u{20bf}", "x")?;
            o.raw("e", "[1, 2]")?;
            write_i64(o.key("f")?, i64::MIN)?;
            o.end()
        });
        assert_eq!(
            s,
            r#"{"a": 0, "b": 18446744073709551615, "c": true, "d": null, "\u20bf": "x", "e": [1, 2], "f": -9223372036854775808}"#
        );
        let mut buf = [0u8; 3];
        let mut sink = crate::sink::SliceSink::new(&mut buf);
        assert_eq!(write_str(&mut sink, "abcd"), Err(Overflow));
    }
}
