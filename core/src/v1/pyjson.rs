//! JSON text exactly as Python's `json.dumps(obj)` writes it with default arguments.
//!
//! That is: separators `", "` and `": "`, object members in the map's order, every
//! character outside printable ASCII (`' '..='~'`) escaped as `\uXXXX` with lowercase hex
//! (astral characters as UTF-16 surrogate pairs), the short escapes `\" \\ \n \r \t \b \f`,
//! and floats in Python's `repr` form (shortest round-trip digits; scientific notation with
//! a signed, at least two-digit exponent when the decimal exponent is below -4 or at least
//! 16; a `.0` on integral values in positional form).
//!
//! The `moneysocket1` encoder serialises the message language object this way, so
//! reproducing its bytes (and the message vectors) needs it. Receivers must not depend on
//! any of it.
//!
//! With the `std` feature, [`PyFormatter`] is a `serde_json` formatter for any
//! `Serialize` type. `serde_json` exposes formatters only with `std`, so [`to_string`] and
//! [`to_vec`] walk a [`Value`] directly with the same helpers; the two agree (tested).
//! Map order is the `Value`'s: insertion order with `std` (`preserve_order`), sorted keys
//! without it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use serde_json::{Map, Value};

/// Serialises `value` as Python's `json.dumps(value)` would.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Serialises `value` as Python's `json.dumps(value).encode("utf8")` would.
pub fn to_vec(value: &Value) -> Vec<u8> {
    to_string(value).into_bytes()
}

/// Serialises a JSON object as Python's `json.dumps(dict)` would.
pub fn object_to_string(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_object(&mut out, map);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(f) = n.as_f64() {
                push_float(out, f);
            }
        }
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_string(out, k);
        out.push_str(": ");
        write_value(out, v);
    }
    out.push('}');
}

/// Appends `s` as a quoted, ASCII-only JSON string.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends the escaped contents of `s` (no quotes), as Python's `py_encode_basestring_ascii`.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
}

/// Appends `f` in Python's `repr(float)` form. Non-finite values (which a `Value` cannot
/// hold) are written as Python writes them: `NaN`, `Infinity`, `-Infinity`.
fn push_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `[-]d[.ddd]e[-]x`.
    let mut sci = String::new();
    let _ = write!(sci, "{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => (sci.as_str(), "0"),
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    // Python: value = 0.d1d2... * 10^decpt; positional when -4 < decpt <= 16.
    let decpt = exp + 1;
    let n = digits.len() as i32;
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..-decpt {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            for _ in 0..(decpt - n) {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac_part);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
}

/// A `serde_json` formatter producing Python `json.dumps` output (see the module docs),
/// for crates that can call `serde::Serialize::serialize` with
/// `serde_json::Serializer::with_formatter(writer, PyFormatter)`. This crate itself has no
/// `serde` dependency to drive it, so its own encoders use [`to_string`], which shares the
/// escaping and float code with this formatter.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct PyFormatter;

#[cfg(feature = "std")]
impl serde_json::ser::Formatter for PyFormatter {
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        let mut s = String::new();
        push_float(&mut s, v);
        w.write_all(s.as_bytes())
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut s = String::new();
        push_escaped(&mut s, fragment);
        w.write_all(s.as_bytes())
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        let c = match escape {
            CharEscape::Quote => '"',
            CharEscape::ReverseSolidus => '\\',
            CharEscape::Solidus => '/',
            CharEscape::Backspace => '\u{8}',
            CharEscape::FormFeed => '\u{c}',
            CharEscape::LineFeed => '\n',
            CharEscape::CarriageReturn => '\r',
            CharEscape::Tab => '\t',
            CharEscape::AsciiControl(b) => char::from(b),
        };
        let mut s = String::new();
        push_escaped(&mut s, c.encode_utf8(&mut [0u8; 4]));
        w.write_all(s.as_bytes())
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn float(f: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, f);
        s
    }

    #[test]
    fn floats_like_python_repr() {
        for (f, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (1623361001.983355, "1623361001.983355"),
            (3246722008.844661, "3246722008.844661"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (-1.25e-7, "-1.25e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (12345.678, "12345.678"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(float(f), want, "{f:e}");
        }
    }

    #[test]
    fn strings_like_python() {
        let v = json!({"k\u{e9}y": "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{7f}/\u{20bf}\u{1f952}"});
        assert_eq!(
            to_string(&v),
            r#"{"k\u00e9y": "a\"b\\c\n\r\t\b\f\u0001\u007f/\u20bf\ud83e\udd52"}"#
        );
        assert_eq!(
            to_string(&json!([
                1,
                -2,
                18446744073709551615u64,
                null,
                true,
                false,
                [],
                {}
            ])),
            "[1, -2, 18446744073709551615, null, true, false, [], {}]"
        );
    }

    /// Drives a formatter over a value with the call sequence of `serde_json::Serializer`
    /// (strings split into unescaped fragments and `CharEscape`s by serde_json's table:
    /// `"`, `\\` and controls below 0x20).
    #[cfg(feature = "std")]
    fn drive<F: serde_json::ser::Formatter>(f: &mut F, w: &mut Vec<u8>, v: &Value) {
        use serde_json::ser::CharEscape;
        fn string<F: serde_json::ser::Formatter>(f: &mut F, w: &mut Vec<u8>, s: &str) {
            f.begin_string(w).unwrap();
            let mut start = 0;
            for (i, b) in s.bytes().enumerate() {
                let esc = match b {
                    b'"' => CharEscape::Quote,
                    b'\\' => CharEscape::ReverseSolidus,
                    b'\n' => CharEscape::LineFeed,
                    b'\r' => CharEscape::CarriageReturn,
                    b'\t' => CharEscape::Tab,
                    0x08 => CharEscape::Backspace,
                    0x0c => CharEscape::FormFeed,
                    0..=0x1f => CharEscape::AsciiControl(b),
                    _ => continue,
                };
                if start < i {
                    f.write_string_fragment(w, &s[start..i]).unwrap();
                }
                f.write_char_escape(w, esc).unwrap();
                start = i + 1;
            }
            if start < s.len() {
                f.write_string_fragment(w, &s[start..]).unwrap();
            }
            f.end_string(w).unwrap();
        }
        match v {
            Value::Null => f.write_null(w).unwrap(),
            Value::Bool(b) => f.write_bool(w, *b).unwrap(),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    f.write_u64(w, u).unwrap()
                } else if let Some(i) = n.as_i64() {
                    f.write_i64(w, i).unwrap()
                } else {
                    f.write_f64(w, n.as_f64().unwrap()).unwrap()
                }
            }
            Value::String(s) => string(f, w, s),
            Value::Array(a) => {
                f.begin_array(w).unwrap();
                for (i, x) in a.iter().enumerate() {
                    f.begin_array_value(w, i == 0).unwrap();
                    drive(f, w, x);
                    f.end_array_value(w).unwrap();
                }
                f.end_array(w).unwrap();
            }
            Value::Object(m) => {
                f.begin_object(w).unwrap();
                for (i, (k, x)) in m.iter().enumerate() {
                    f.begin_object_key(w, i == 0).unwrap();
                    string(f, w, k);
                    f.end_object_key(w).unwrap();
                    f.begin_object_value(w).unwrap();
                    drive(f, w, x);
                    f.end_object_value(w).unwrap();
                }
                f.end_object(w).unwrap();
            }
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn via_formatter(v: &Value) -> String {
        let mut out = Vec::new();
        drive(&mut PyFormatter, &mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[cfg(feature = "std")]
    #[test]
    fn formatter_matches_walker() {
        let v = json!({"a": [1, 2.5, 1e-7, {"x": null}], "b": "\u{20bf}\u{1f952}\"\u{0}\u{7f}", "c": {}});
        assert_eq!(via_formatter(&v), to_string(&v));
    }
}
