//! The validating reader: an explicit state machine with a bitset stack, no recursion.

use super::value::Value;
use super::{JsonError, MAX_DEPTH, PY_INT_MAX_STR_DIGITS};

/// Open containers, one bit per level (1 = object, 0 = array).
struct Stack {
    bits: [u8; MAX_DEPTH / 8],
    len: usize,
}

impl Stack {
    fn new() -> Self {
        Stack {
            bits: [0; MAX_DEPTH / 8],
            len: 0,
        }
    }
    fn push(&mut self, is_object: bool) -> bool {
        if self.len >= MAX_DEPTH {
            return false;
        }
        if let Some(byte) = self.bits.get_mut(self.len / 8) {
            let mask = 1u8 << (self.len % 8);
            if is_object {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
        self.len += 1;
        true
    }
    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
    /// `Some(true)` inside an object, `Some(false)` inside an array, `None` at top level.
    fn top(&self) -> Option<bool> {
        let i = self.len.checked_sub(1)?;
        let byte = self.bits.get(i / 8)?;
        Some(byte & (1 << (i % 8)) != 0)
    }
}

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    i
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// `b[i]` is the opening quote; returns the offset after the closing quote.
fn scan_string(b: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut i = start + 1;
    loop {
        let c = *b.get(i).ok_or(JsonError::Syntax { offset: i })?;
        match c {
            b'"' => return Ok(i + 1),
            b'\\' => {
                let e = *b.get(i + 1).ok_or(JsonError::Syntax { offset: i })?;
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = b.get(i + 2..i + 6).ok_or(JsonError::Syntax { offset: i })?;
                        if !hex.iter().all(|&h| is_hex(h)) {
                            return Err(JsonError::Syntax { offset: i });
                        }
                        i += 6;
                    }
                    _ => return Err(JsonError::Syntax { offset: i }),
                }
            }
            0..=0x1f => return Err(JsonError::Syntax { offset: i }),
            _ => i += 1,
        }
    }
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
    }
    i
}

/// A number (or `-Infinity`) starting at `start`; returns its end. Like CPython's scanner,
/// a `.` or `e` not followed by digits ends the number (and the caller then fails on it).
fn scan_number(b: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
        if b.get(i..i + 8) == Some(b"Infinity") {
            return Ok(i + 8);
        }
    }
    let int_start = i;
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(b, i + 1),
        _ => return Err(JsonError::Syntax { offset: start }),
    }
    let int_digits = i - int_start;
    let mut integer = true;
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i = digits_end(b, i + 1);
        integer = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
            i = digits_end(b, j);
            integer = false;
        }
    }
    if integer && int_digits > PY_INT_MAX_STR_DIGITS {
        return Err(JsonError::IntegerTooLong { offset: start });
    }
    Ok(i)
}

fn expect_lit(b: &[u8], i: usize, lit: &[u8]) -> Result<usize, JsonError> {
    if b.get(i..i + lit.len()) == Some(lit) {
        Ok(i + lit.len())
    } else {
        Err(JsonError::Syntax { offset: i })
    }
}

/// Expects `"key" ws : ws` at `i`; returns the offset of the member value.
fn scan_key(b: &[u8], i: usize) -> Result<usize, JsonError> {
    if b.get(i) != Some(&b'"') {
        return Err(JsonError::Syntax { offset: i });
    }
    let i = skip_ws(b, scan_string(b, i)?);
    if b.get(i) != Some(&b':') {
        return Err(JsonError::Syntax { offset: i });
    }
    Ok(skip_ws(b, i + 1))
}

/// Validates one JSON document (already known to be UTF-8); returns the value's byte range.
fn validate_bytes(b: &[u8]) -> Result<(usize, usize), JsonError> {
    let mut stack = Stack::new();
    let start = skip_ws(b, 0);
    let mut i = start;
    loop {
        // A value starts at `i`.
        let c = *b.get(i).ok_or(JsonError::Syntax { offset: i })?;
        match c {
            b'{' | b'[' => {
                let is_object = c == b'{';
                if !stack.push(is_object) {
                    return Err(JsonError::TooDeep { offset: i });
                }
                i = skip_ws(b, i + 1);
                let close = if is_object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    stack.pop();
                    i += 1;
                } else {
                    if is_object {
                        i = scan_key(b, i)?;
                    }
                    continue;
                }
            }
            b'"' => i = scan_string(b, i)?,
            b't' => i = expect_lit(b, i, b"true")?,
            b'f' => i = expect_lit(b, i, b"false")?,
            b'n' => i = expect_lit(b, i, b"null")?,
            b'N' => i = expect_lit(b, i, b"NaN")?,
            b'I' => i = expect_lit(b, i, b"Infinity")?,
            b'-' | b'0'..=b'9' => i = scan_number(b, i)?,
            _ => return Err(JsonError::Syntax { offset: i }),
        }
        // After a complete value: close containers or move to the next element.
        loop {
            let end = i;
            i = skip_ws(b, i);
            match stack.top() {
                None => {
                    return if i == b.len() {
                        Ok((start, end))
                    } else {
                        Err(JsonError::Syntax { offset: i })
                    };
                }
                Some(is_object) => match b.get(i) {
                    Some(b',') => {
                        i = skip_ws(b, i + 1);
                        if is_object {
                            i = scan_key(b, i)?;
                        }
                        break;
                    }
                    Some(b'}') if is_object => {
                        stack.pop();
                        i += 1;
                    }
                    Some(b']') if !is_object => {
                        stack.pop();
                        i += 1;
                    }
                    _ => return Err(JsonError::Syntax { offset: i }),
                },
            }
        }
    }
}

/// Checks that `bytes` is one JSON document as Python's `json.loads` reads it (after a strict
/// UTF-8 decode) and returns the text of the top-level value, without surrounding whitespace.
pub fn validate(bytes: &[u8]) -> Result<&str, JsonError> {
    let text = core::str::from_utf8(bytes).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let (start, end) = validate_bytes(text.as_bytes())?;
    text.get(start..end)
        .ok_or(JsonError::Syntax { offset: start })
}

/// Whether Python's `json.loads(bytes.decode("utf8"))` would succeed: the cleartext test of
/// the v0 frame layer. Never panics, never allocates.
pub fn parses_as_json(bytes: &[u8]) -> bool {
    validate(bytes).is_ok()
}

/// Validates `bytes` and returns a zero-copy view of the top-level value.
pub fn parse(bytes: &[u8]) -> Result<Value<'_>, JsonError> {
    let text = validate(bytes)?;
    Ok(Value::from_validated(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::String;

    fn ok(s: &str) -> bool {
        parses_as_json(s.as_bytes())
    }

    #[test]
    fn python_accepts() {
        for s in [
            "0",
            "-0",
            " 1 ",
            "\t\n\r[1,2]\n",
            "1.5e+10",
            "1E-3",
            "-1.25",
            "NaN",
            "Infinity",
            "-Infinity",
            "[NaN, -Infinity, Infinity]",
            "\"\"",
            "\"\\ud800\"",
            "\"\\ud83c\\udf46\"",
            "\"\\u20Bf\\/\\b\\f\\n\\r\\t\\\\\\\"\"",
            "{}",
            "[]",
            "{\"a\": {\"b\": [[], {}]}, \"a\": 2}",
            "true",
            "false",
            "null",
            "\"\u{20bf} \u{1f346}\"",
            "\"\u{7f}\"",
        ] {
            assert!(ok(s), "{s:?}");
        }
    }

    #[test]
    fn python_rejects() {
        for s in [
            "",
            " ",
            "{not json",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "-",
            "nan",
            "inf",
            "-NaN",
            "[1] x",
            "1 2",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"a\nb\"",
            "\"\t\"",
            "{1: 2}",
            "{\"a\" 1}",
            "[",
            "]",
            "{\"a\":1]",
            "[1}",
            "\u{feff}1",
            "tru",
            "\"abc",
            "'a'",
        ] {
            assert!(!ok(s), "{s:?}");
        }
    }

    #[test]
    fn invalid_utf8_rejected() {
        assert!(!parses_as_json(b"\"\xff\""));
        assert!(!parses_as_json(b"\"\xed\xa0\x80\"")); // UTF-8-encoded surrogate
        assert!(!parses_as_json(b"\"\xc0\xaf\"")); // overlong
        assert_eq!(
            validate(b"[\"\xe2\x82\"]"),
            Err(JsonError::InvalidUtf8 { offset: 2 })
        );
    }

    #[test]
    fn depth_bound() {
        let mut s = String::new();
        for _ in 0..MAX_DEPTH {
            s.push('[');
        }
        for _ in 0..MAX_DEPTH {
            s.push(']');
        }
        assert!(ok(&s));
        let deep = std::format!("[{s}]");
        assert_eq!(
            validate(deep.as_bytes()),
            Err(JsonError::TooDeep { offset: MAX_DEPTH })
        );
        let mut objs = String::new();
        for _ in 0..MAX_DEPTH + 1 {
            objs.push_str("{\"a\":");
        }
        assert!(matches!(
            validate(objs.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
        // Very deep input is refused quickly and without recursion.
        let huge = "[".repeat(1_000_000);
        assert!(!ok(&huge));
    }

    #[test]
    fn long_integers() {
        let n = "9".repeat(PY_INT_MAX_STR_DIGITS);
        assert!(ok(&n));
        let n2 = "9".repeat(PY_INT_MAX_STR_DIGITS + 1);
        assert!(!ok(&n2));
        // Floats are not limited.
        assert!(ok(&std::format!("{n2}.0")));
    }

    #[test]
    fn trailing_garbage_and_offsets() {
        assert_eq!(validate(b"  {} x"), Err(JsonError::Syntax { offset: 5 }));
        assert_eq!(validate(b"  {} \n"), Ok("{}"));
    }
}
