//! Zero-copy views over validated JSON text.

use super::read::{is_ws, skip_ws};
use crate::sink::Overflow;
use core::fmt;

/// Significant digits of 2^-1075 (= 0.DIGITS × 10^-323), half the smallest subnormal double:
/// a decimal literal at or below it rounds to zero when Python converts it to a float.
const HALF_MIN_SUBNORMAL_DIGITS: &str = "24703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125";

/// A JSON value inside validated text.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, including Python's `NaN`, `Infinity`, `-Infinity`.
    Number(Number<'a>),
    /// A string, still escaped.
    String(JsonStr<'a>),
    /// An object.
    Object(Object<'a>),
    /// An array.
    Array(Array<'a>),
}

fn skip_string(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    loop {
        match b.get(j) {
            None => return b.len(),
            Some(b'"') => return j + 1,
            Some(b'\\') => j += 2,
            Some(_) => j += 1,
        }
    }
}

fn skip_scalar(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if is_ws(c) || matches!(c, b',' | b'}' | b']' | b':') {
            break;
        }
        i += 1;
    }
    i
}

/// End of the (validated) value starting at `i`; counts brackets, no recursion.
fn skip_value(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => skip_scalar(b, i).max(i + 1),
        None => i,
    }
}

impl<'a> Value<'a> {
    /// The value at the start of `text`, which the reader has validated.
    pub(crate) fn from_validated(text: &'a str) -> Value<'a> {
        Self::at(text, skip_ws(text.as_bytes(), 0)).0
    }

    /// The value starting at byte `i` of validated `text`, and where it ends.
    fn at(text: &'a str, i: usize) -> (Value<'a>, usize) {
        let b = text.as_bytes();
        let end = skip_value(b, i);
        let raw = text.get(i..end).unwrap_or("");
        let v = match b.get(i) {
            Some(b'"') => Value::String(JsonStr {
                raw: text.get(i + 1..end.saturating_sub(1)).unwrap_or(""),
            }),
            Some(b'{') => Value::Object(Object { raw }),
            Some(b'[') => Value::Array(Array { raw }),
            Some(b't') => Value::Bool(true),
            Some(b'f') => Value::Bool(false),
            Some(b'n') => Value::Null,
            _ => Value::Number(Number::classify(raw)),
        };
        (v, end)
    }

    /// The string view, if this is a string.
    pub fn as_str(&self) -> Option<JsonStr<'a>> {
        match self {
            Value::String(s) => Some(*s),
            _ => None,
        }
    }
    /// The object view, if this is an object.
    pub fn as_object(&self) -> Option<Object<'a>> {
        match self {
            Value::Object(o) => Some(*o),
            _ => None,
        }
    }
    /// The array view, if this is an array.
    pub fn as_array(&self) -> Option<Array<'a>> {
        match self {
            Value::Array(a) => Some(*a),
            _ => None,
        }
    }
    /// The number view, if this is a number.
    pub fn as_number(&self) -> Option<Number<'a>> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A JSON object (raw text from `{` to `}`).
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    raw: &'a str,
}

impl<'a> Object<'a> {
    /// The object's text as it appeared in the input.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The members in input order, duplicates included.
    pub fn members(&self) -> Members<'a> {
        Members {
            text: self.raw,
            i: 1,
        }
    }

    /// The value of `key` (compared after unescaping). With duplicate keys the last one wins,
    /// as in Python's `json.loads`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let mut found = None;
        for (k, v) in self.members() {
            if k.eq_str(key) {
                found = Some(v);
            }
        }
        found
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.members().any(|(k, _)| k.eq_str(key))
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.members().next().is_none()
    }
}

/// Iterator over an object's `(key, value)` members.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (JsonStr<'a>, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.i);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        if b.get(i) != Some(&b'"') {
            self.i = b.len();
            return None;
        }
        let kend = skip_string(b, i);
        let key = JsonStr {
            raw: self.text.get(i + 1..kend.saturating_sub(1)).unwrap_or(""),
        };
        i = skip_ws(b, kend);
        if b.get(i) != Some(&b':') {
            self.i = b.len();
            return None;
        }
        i = skip_ws(b, i + 1);
        if i >= b.len() {
            self.i = b.len();
            return None;
        }
        let (v, end) = Value::at(self.text, i);
        self.i = end.max(i + 1);
        Some((key, v))
    }
}

/// A JSON array (raw text from `[` to `]`).
#[derive(Debug, Clone, Copy)]
pub struct Array<'a> {
    raw: &'a str,
}

impl<'a> Array<'a> {
    /// The array's text as it appeared in the input.
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    /// The elements in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            text: self.raw,
            i: 1,
        }
    }
    /// Number of elements (a scan).
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl<'a> IntoIterator for Array<'a> {
    type Item = Value<'a>;
    type IntoIter = ArrayIter<'a>;
    fn into_iter(self) -> ArrayIter<'a> {
        self.iter()
    }
}

/// Iterator over an array's elements.
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.i);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        match b.get(i) {
            None | Some(b']') => {
                self.i = b.len();
                None
            }
            Some(_) => {
                let (v, end) = Value::at(self.text, i);
                self.i = end.max(i + 1);
                Some(v)
            }
        }
    }
}

/// What kind of number a literal is, in Python's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NumberKind {
    /// No fraction and no exponent: a Python `int`.
    Integer,
    /// Fraction and/or exponent: a Python `float`.
    Float,
    /// `NaN` (a Python `float`).
    NaN,
    /// `Infinity` (a Python `float`).
    Infinity,
    /// `-Infinity` (a Python `float`).
    NegInfinity,
}

/// A JSON number, kept as its literal text.
#[derive(Debug, Clone, Copy)]
pub struct Number<'a> {
    raw: &'a str,
    kind: NumberKind,
}

/// A finite decimal literal split into sign, digits and exponent.
struct Decimal<'a> {
    int: &'a str,
    frac: &'a str,
    exp: i64,
}

impl<'a> Decimal<'a> {
    fn parse(raw: &'a str) -> Option<Self> {
        let body = raw.strip_prefix('-').unwrap_or(raw);
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(p) => (body.get(..p)?, body.get(p + 1..)?),
            None => (body, ""),
        };
        let (int, frac) = match mant.find('.') {
            Some(p) => (mant.get(..p)?, mant.get(p + 1..)?),
            None => (mant, ""),
        };
        let mut e: i64 = 0;
        let (eneg, edigits) = match exp.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, exp.strip_prefix('+').unwrap_or(exp)),
        };
        for c in edigits.bytes() {
            // Saturate: anything beyond this is far outside the double range anyway.
            e = (e * 10 + i64::from(c.wrapping_sub(b'0'))).min(1 << 40);
        }
        Some(Decimal {
            int,
            frac,
            exp: if eneg { -e } else { e },
        })
    }

    fn digits(&self) -> impl Iterator<Item = u8> + Clone + 'a {
        self.int.bytes().chain(self.frac.bytes())
    }

    /// Significant digits (leading zeros stripped) and `p` with value = 0.DIGITS × 10^p;
    /// `None` when all digits are zero.
    fn normalized(&self) -> Option<(impl Iterator<Item = u8> + Clone + 'a, i64)> {
        let lead = self.digits().take_while(|&c| c == b'0').count();
        let total = self.int.len() + self.frac.len();
        if lead == total {
            return None;
        }
        let p = self.int.len() as i64 + self.exp - lead as i64;
        Some((self.digits().skip(lead), p))
    }

    /// Whether the literal, converted to a double, is not zero.
    fn nonzero_as_double(&self) -> bool {
        let Some((digits, p)) = self.normalized() else {
            return false;
        };
        match p.cmp(&-323) {
            core::cmp::Ordering::Greater => true,
            core::cmp::Ordering::Less => false,
            core::cmp::Ordering::Equal => {
                // Compare 0.DIGITS with 0.HALF_MIN_SUBNORMAL_DIGITS; a tie rounds to zero.
                let mut t = HALF_MIN_SUBNORMAL_DIGITS.bytes();
                let mut d = digits;
                loop {
                    match (d.next(), t.next()) {
                        (Some(a), Some(b)) if a == b => continue,
                        (Some(a), Some(b)) => return a > b,
                        (Some(a), None) => {
                            if a != b'0' {
                                return true;
                            }
                            return d.any(|c| c != b'0');
                        }
                        (None, _) => return false,
                    }
                }
            }
        }
    }
}

impl<'a> Number<'a> {
    pub(crate) fn classify(raw: &'a str) -> Number<'a> {
        let kind = match raw {
            "NaN" => NumberKind::NaN,
            "Infinity" => NumberKind::Infinity,
            "-Infinity" => NumberKind::NegInfinity,
            _ if raw.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) => NumberKind::Float,
            _ => NumberKind::Integer,
        };
        Number { raw, kind }
    }

    /// Parses a single JSON number literal (Python's grammar, including `NaN`/`Infinity`).
    pub fn parse(text: &'a str) -> Option<Number<'a>> {
        match super::read::validate(text.as_bytes()).ok()? {
            t if t.len() == text.len() => match Value::from_validated(t) {
                Value::Number(n) => Some(n),
                _ => None,
            },
            _ => None,
        }
    }

    /// The literal text.
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    /// The kind of literal.
    pub fn kind(&self) -> NumberKind {
        self.kind
    }
    /// Whether Python reads it as an `int` (no fraction, no exponent).
    pub fn is_integer(&self) -> bool {
        self.kind == NumberKind::Integer
    }
    /// Whether Python reads it as a `float` (including NaN and the infinities).
    pub fn is_float(&self) -> bool {
        !self.is_integer()
    }
    /// Whether it is `NaN`, `Infinity` or `-Infinity`.
    pub fn is_non_finite(&self) -> bool {
        matches!(
            self.kind,
            NumberKind::NaN | NumberKind::Infinity | NumberKind::NegInfinity
        )
    }

    /// The value of an integer literal that fits a `u64` (`-0` is 0).
    pub fn as_u64(&self) -> Option<u64> {
        if !self.is_integer() {
            return None;
        }
        let (neg, digits) = match self.raw.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, self.raw),
        };
        let mut v: u64 = 0;
        for c in digits.bytes() {
            v = v
                .checked_mul(10)?
                .checked_add(u64::from(c.wrapping_sub(b'0')))?;
        }
        if neg && v != 0 {
            return None;
        }
        Some(v)
    }

    /// The value of an integer literal that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        if !self.is_integer() {
            return None;
        }
        let (neg, digits) = match self.raw.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, self.raw),
        };
        let mut v: i64 = 0;
        for c in digits.bytes() {
            let d = i64::from(c.wrapping_sub(b'0'));
            v = v.checked_mul(10)?;
            v = if neg {
                v.checked_sub(d)?
            } else {
                v.checked_add(d)?
            };
        }
        Some(v)
    }

    /// The value as Python's `float()` would give it (correctly rounded; out of range
    /// literals become infinities). Only this method pulls float parsing into a build.
    pub fn as_f64(&self) -> f64 {
        match self.kind {
            NumberKind::NaN => f64::NAN,
            NumberKind::Infinity => f64::INFINITY,
            NumberKind::NegInfinity => f64::NEG_INFINITY,
            _ => self.raw.parse::<f64>().unwrap_or(f64::NAN),
        }
    }

    /// Python's `x < 0` for the value `json.loads` produces, without float arithmetic:
    /// `-0`, `-0.0` and negative literals that underflow to `-0.0` are not negative, NaN is not.
    pub fn is_negative(&self) -> bool {
        match self.kind {
            NumberKind::NaN | NumberKind::Infinity => false,
            NumberKind::NegInfinity => true,
            NumberKind::Integer => {
                self.raw.starts_with('-') && self.raw.bytes().any(|c| matches!(c, b'1'..=b'9'))
            }
            NumberKind::Float => {
                self.raw.starts_with('-')
                    && Decimal::parse(self.raw).is_some_and(|d| d.nonzero_as_double())
            }
        }
    }

    /// The integer part (truncation toward zero) of a finite, non-negative decimal literal,
    /// computed from the text (no float rounding); `None` if negative, non-finite or > u64.
    pub fn trunc_u64(&self) -> Option<u64> {
        if self.is_non_finite() || self.is_negative() {
            return None;
        }
        let d = Decimal::parse(self.raw)?;
        let Some((digits, p)) = d.normalized() else {
            return Some(0);
        };
        if p <= 0 {
            return Some(0);
        }
        if p > 20 {
            return None;
        }
        let mut v: u64 = 0;
        let mut digits = digits;
        for _ in 0..p {
            let c = digits.next().unwrap_or(b'0');
            v = v
                .checked_mul(10)?
                .checked_add(u64::from(c.wrapping_sub(b'0')))?;
        }
        Some(v)
    }
}

impl fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// A JSON string's contents between the quotes, still escaped.
#[derive(Clone, Copy)]
pub struct JsonStr<'a> {
    raw: &'a str,
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonStr(\"{}\")", self.raw)
    }
}

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.chars() {
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl PartialEq for JsonStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.code_points().eq(other.code_points())
    }
}
impl Eq for JsonStr<'_> {}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() != 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        v = v << 4 | (c as char).to_digit(16)?;
    }
    Some(v)
}

impl<'a> JsonStr<'a> {
    /// A view over already-escaped string contents (without the quotes). Returns `None` unless
    /// `"raw"` is a valid JSON string.
    pub fn from_escaped(raw: &'a str) -> Option<JsonStr<'a>> {
        let b = raw.as_bytes();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            match c {
                b'"' | 0..=0x1f => return None,
                b'\\' => match b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        hex4(b.get(i + 2..i + 6)?)?;
                        i += 6;
                    }
                    _ => return None,
                },
                _ => i += 1,
            }
        }
        Some(JsonStr { raw })
    }

    /// The escaped contents as they appear in the JSON text.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The contents as a `&str` when they contain no escapes (no copy needed).
    pub fn as_unescaped(&self) -> Option<&'a str> {
        if self.raw.contains('\\') {
            None
        } else {
            Some(self.raw)
        }
    }

    /// The code points Python's `json.loads` produces: escaped surrogate pairs are combined,
    /// lone escaped surrogates are kept as their (surrogate) values.
    pub fn code_points(&self) -> CodePoints<'a> {
        CodePoints {
            raw: self.raw,
            i: 0,
        }
    }

    /// The unescaped characters; lone surrogates become U+FFFD.
    pub fn chars(&self) -> Chars<'a> {
        Chars(self.code_points())
    }

    /// Whether the unescaped contents equal `s` (a lone surrogate never matches).
    pub fn eq_str(&self, s: &str) -> bool {
        if let Some(plain) = self.as_unescaped() {
            return plain == s;
        }
        self.code_points().eq(s.chars().map(u32::from))
    }

    /// Whether the unescaped contents start with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        let mut cps = self.code_points();
        prefix.chars().all(|c| cps.next() == Some(u32::from(c)))
    }

    /// Python's `len()` of the decoded string (code points).
    pub fn char_count(&self) -> usize {
        if self.raw.is_ascii() && !self.raw.contains('\\') {
            return self.raw.len();
        }
        self.code_points().count()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Unescapes into `buf` (lone surrogates as U+FFFD) and returns the text.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, Overflow> {
        let mut n = 0usize;
        for c in self.chars() {
            let len = c.len_utf8();
            let dst = buf.get_mut(n..n + len).ok_or(Overflow)?;
            c.encode_utf8(dst);
            n += len;
        }
        let out = buf.get(..n).ok_or(Overflow)?;
        core::str::from_utf8(out).map_err(|_| Overflow)
    }

    /// The unescaped text as an owned `String`.
    #[cfg(feature = "alloc")]
    #[allow(clippy::inherent_to_string_shadow_display)]
    pub fn to_string(&self) -> alloc::string::String {
        self.chars().collect()
    }
}

/// Iterator over a JSON string's code points (see [`JsonStr::code_points`]).
#[derive(Debug, Clone)]
pub struct CodePoints<'a> {
    raw: &'a str,
    i: usize,
}

impl Iterator for CodePoints<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let rest = self.raw.get(self.i..)?;
        let b = rest.as_bytes();
        if *b.first()? != b'\\' {
            let c = rest.chars().next()?;
            self.i += c.len_utf8();
            return Some(u32::from(c));
        }
        let e = *b.get(1)?;
        if e != b'u' {
            self.i += 2;
            return Some(match e {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => 0x0a,
                b'r' => 0x0d,
                b't' => 0x09,
                other => u32::from(other),
            });
        }
        let v = hex4(b.get(2..6)?)?;
        self.i += 6;
        if (0xD800..0xDC00).contains(&v) && b.get(6..8) == Some(b"\\u") {
            if let Some(lo) = b.get(8..12).and_then(hex4) {
                if (0xDC00..0xE000).contains(&lo) {
                    self.i += 6;
                    return Some(0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
                }
            }
        }
        Some(v)
    }
}

/// Iterator over a JSON string's characters (see [`JsonStr::chars`]).
#[derive(Debug, Clone)]
pub struct Chars<'a>(CodePoints<'a>);

impl Iterator for Chars<'_> {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        self.0
            .next()
            .map(|cp| char::from_u32(cp).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    extern crate std;
    use std::string::String;

    fn s(json: &str) -> JsonStr<'_> {
        parse(json.as_bytes()).unwrap().as_str().unwrap()
    }

    #[test]
    fn escapes_and_surrogates() {
        let j = s(r#""a\"b\\c\/d\b\f\n\r\t\u20bf\ud83c\udf46""#);
        let got: String = j.chars().collect();
        assert_eq!(got, "a\"b\\c/d\u{8}\u{c}\n\r\t\u{20bf}\u{1f346}");
        assert_eq!(j.char_count(), 14);
        assert!(j.eq_str("a\"b\\c/d\u{8}\u{c}\n\r\t\u{20bf}\u{1f346}"));
        let lone = s(r#""x\ud800y\udc00""#);
        assert_eq!(lone.chars().collect::<String>(), "x\u{fffd}y\u{fffd}");
        assert_eq!(lone.char_count(), 4);
        assert!(!lone.eq_str("x\u{fffd}y\u{fffd}"));
        assert_eq!(
            lone.code_points().collect::<std::vec::Vec<_>>(),
            [0x78, 0xd800, 0x79, 0xdc00]
        );
        // high surrogate followed by a non-surrogate escape stays lone
        let hs = s(r#""\ud800\u0041""#);
        assert_eq!(
            hs.code_points().collect::<std::vec::Vec<_>>(),
            [0xd800, 0x41]
        );
        let mut buf = [0u8; 8];
        assert_eq!(s(r#""\u20bfA""#).unescape_into(&mut buf), Ok("\u{20bf}A"));
        assert_eq!(
            s(r#""\u20bf\u20bf\u20bf""#).unescape_into(&mut buf),
            Err(Overflow)
        );
        assert!(s(r#""lnbc\u0031""#).starts_with("lnbc1"));
        assert!(!s(r#""lnb""#).starts_with("lnbc"));
        assert_eq!(s(r#""\u20bf""#).to_string(), "\u{20bf}");
    }

    #[test]
    fn objects_last_key_wins() {
        let v = parse(br#" {"a": 1, "b": [1, {"a": 9}], "\u0061": "x", "c": {}} "#).unwrap();
        let o = v.as_object().unwrap();
        assert!(o.get("a").unwrap().as_str().unwrap().eq_str("x"));
        assert_eq!(o.members().count(), 4);
        let arr = o.get("b").unwrap().as_array().unwrap();
        assert_eq!(arr.len(), 2);
        assert!(o.get("c").unwrap().as_object().unwrap().is_empty());
        assert!(o.get("z").is_none());
        let e = parse(b"[]").unwrap().as_array().unwrap();
        assert!(e.is_empty());
        let nested = parse(br#"[[1,[2,"]"]],3 , "x"]"#)
            .unwrap()
            .as_array()
            .unwrap();
        assert_eq!(nested.len(), 3);
    }

    #[test]
    fn numbers() {
        fn n(t: &str) -> Number<'_> {
            Number::parse(t).unwrap()
        }
        assert!(Number::parse("1.").is_none());
        assert!(Number::parse(" 1").is_none());
        assert_eq!(n("1000").as_u64(), Some(1000));
        assert_eq!(n("-0").as_u64(), Some(0));
        assert_eq!(n("1000.0").as_u64(), None);
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("18446744073709551616").as_u64(), None);
        assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(n("1.5e3").as_f64(), 1500.0);
        assert!(n("NaN").as_f64().is_nan());
        assert_eq!(n("-Infinity").kind(), NumberKind::NegInfinity);
        assert!(n("NaN").is_float() && n("1e2").is_float() && n("12").is_integer());
        for neg in [
            "-1",
            "-0.5",
            "-1e-300",
            "-Infinity",
            "-2.4703282292062328e-324",
            "-1e400",
        ] {
            assert!(n(neg).is_negative(), "{neg}");
        }
        for non in [
            "0",
            "-0",
            "-0.0",
            "-0e5",
            "NaN",
            "Infinity",
            "-1e-400",
            "-2.4703282292062327e-324",
            "-2.47032822920623272088284396434110686182529901307162382212792841250337753635104375932649918180817996189898282347722858865463328355177969898199387398005390939063150356595155702263922908583924491051844359318028499365361525003193704576782492193656236698636584807570015857692699037063119282795585513329278343384093519780155312465972635795746227664652728272200563740064854999770965994704540208281662262378573934507363390079677619305775067401763246736009689513405355374585166611342237666786041621596804619144672918403005300575308490487653917113865916462395249126236538818796362393732804238910186723484976682350898633885879256283027559956575244555072551893136908362547791869486679949683240497058210285131854513962138377228261454376934125320985913276672363281250e-324",
        ] {
            assert!(!n(non).is_negative(), "{non}");
        }
        assert!(n("-2.470328229206232720882843964341106861825299013071623822127928412503377536351043759326499181808179961898982823477228588654633283551779698981993873980053909390631503565951557022639229085839244910518443593180284993653615250031937045767824921936562366986365848075700158576926990370631192827955855133292783433840935197801553124659726357957462276646527282722005637400648549997709659947045402082816622623785739345073633900796776193057750674017632467360096895134053553745851666113422376667860416215968046191446729184030053005753084904876539171138659164623952491262365388187963623937328042389101867234849766823508986338858792562830275599565752445550725518931369083625477918694866799496832404970582102851318545139621383772282614543769341253209859132766723632812500000001e-324").is_negative());
        assert_eq!(n("1612345678.999999").trunc_u64(), Some(1612345678));
        assert_eq!(n("1612345678").trunc_u64(), Some(1612345678));
        assert_eq!(n("1.6e9").trunc_u64(), Some(1600000000));
        assert_eq!(n("16e-1").trunc_u64(), Some(1));
        assert_eq!(n("0.5").trunc_u64(), Some(0));
        assert_eq!(n("-0.0").trunc_u64(), Some(0));
        assert_eq!(n("1e30").trunc_u64(), None);
        assert_eq!(n("NaN").trunc_u64(), None);
    }
}
