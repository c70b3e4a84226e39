//! Field value types: [`Text`], [`Hex256`], [`Timestamp`].

use crate::json::{write_code_points, write_str, CodePoints, JsonStr, Number};
use crate::seed::RendezvousId;
use crate::sink::{Overflow, Sink};
use core::fmt;

/// A string field: borrowed raw-escaped JSON (after parsing) or plain text (built by the
/// application). Equality compares the unescaped text.
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    /// Still escaped, as found in the parsed JSON.
    Json(JsonStr<'a>),
    /// Plain text.
    Plain(&'a str),
}

/// Iterator over a [`Text`]'s code points (lone surrogates from JSON escapes included).
#[derive(Debug, Clone)]
pub struct TextCodePoints<'a>(TcpInner<'a>);

#[derive(Debug, Clone)]
enum TcpInner<'a> {
    Json(CodePoints<'a>),
    Plain(core::str::Chars<'a>),
}

impl Iterator for TextCodePoints<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        match &mut self.0 {
            TcpInner::Json(c) => c.next(),
            TcpInner::Plain(c) => c.next().map(u32::from),
        }
    }
}

impl<'a> Text<'a> {
    /// The code points Python would hold for this string.
    pub fn code_points(&self) -> TextCodePoints<'a> {
        TextCodePoints(match self {
            Text::Json(j) => TcpInner::Json(j.code_points()),
            Text::Plain(s) => TcpInner::Plain(s.chars()),
        })
    }

    /// The unescaped characters (lone surrogates as U+FFFD).
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        self.code_points()
            .map(|cp| char::from_u32(cp).unwrap_or('\u{FFFD}'))
    }

    /// The text without copying, when it needs no unescaping.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Text::Json(j) => j.as_unescaped(),
            Text::Plain(s) => Some(s),
        }
    }

    /// Python's `len()`: the number of code points.
    pub fn char_count(&self) -> usize {
        match self {
            Text::Json(j) => j.char_count(),
            Text::Plain(s) => s.chars().count(),
        }
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Text::Json(j) => j.is_empty(),
            Text::Plain(s) => s.is_empty(),
        }
    }

    /// Whether the unescaped text equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        match self {
            Text::Json(j) => j.eq_str(s),
            Text::Plain(p) => *p == s,
        }
    }

    /// Whether the unescaped text starts with `prefix` (Python's `str.startswith`).
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self {
            Text::Json(j) => j.starts_with(prefix),
            Text::Plain(p) => p.starts_with(prefix),
        }
    }

    /// Unescapes into `buf` and returns the text.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, Overflow> {
        match self {
            Text::Json(j) => j.unescape_into(buf),
            Text::Plain(s) => {
                let dst = buf.get_mut(..s.len()).ok_or(Overflow)?;
                dst.copy_from_slice(s.as_bytes());
                core::str::from_utf8(dst).map_err(|_| Overflow)
            }
        }
    }

    /// The unescaped text as an owned `String`.
    #[cfg(feature = "alloc")]
    #[allow(clippy::inherent_to_string_shadow_display)]
    pub fn to_string(&self) -> alloc::string::String {
        self.chars().collect()
    }

    /// Writes the quoted JSON string as Python's `json.dumps` would.
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        match self {
            Text::Plain(s) => write_str(sink, s),
            Text::Json(j) => match j.as_unescaped() {
                Some(s) => write_str(sink, s),
                None => write_code_points(sink, j.code_points()),
            },
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (self.as_str(), other.as_str()) {
            return a == b;
        }
        self.code_points().eq(other.code_points())
    }
}
impl Eq for Text<'_> {}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.eq_str(other)
    }
}
impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.eq_str(other)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::Plain(s)
    }
}

impl<'a> From<JsonStr<'a>> for Text<'a> {
    fn from(s: JsonStr<'a>) -> Self {
        Text::Json(s)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        match self {
            Text::Plain(s) => f.write_str(s),
            Text::Json(j) => {
                for c in j.chars() {
                    f.write_char(c)?;
                }
                Ok(())
            }
        }
    }
}

/// Why a text is not a 256-bit hex value (Python checks the characters first, then length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Hex256Error {
    /// A character that is not in `string.hexdigits`.
    NotHex,
    /// All hex digits, but not exactly 64 of them.
    BadLength,
}

impl fmt::Display for Hex256Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hex256Error::NotHex => "not hex string",
            Hex256Error::BadLength => "not 256-bit value hex string",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Hex256Error {}

/// A 256-bit value as 64 hex digits, spelled exactly as received (`rendezvous_id`,
/// `preimage`): relays compare rendezvous ids as strings, case-sensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hex256(heapless::String<64>);

impl Hex256 {
    /// Validates like the Python reference: every character a hex digit (either case), then
    /// exactly 64 of them.
    pub fn parse(s: &str) -> Result<Self, Hex256Error> {
        Self::from_text(&Text::Plain(s))
    }

    /// As [`Hex256::parse`], for a possibly escaped text.
    pub fn from_text(t: &Text<'_>) -> Result<Self, Hex256Error> {
        let mut out = heapless::String::<64>::new();
        let mut n = 0usize;
        for cp in t.code_points() {
            let c = char::from_u32(cp).filter(char::is_ascii_hexdigit);
            let c = c.ok_or(Hex256Error::NotHex)?;
            n += 1;
            let _ = out.push(c);
        }
        if n != 64 {
            return Err(Hex256Error::BadLength);
        }
        Ok(Hex256(out))
    }

    /// The lowercase hex form of 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut s = heapless::String::new();
        crate::hex::push_hex(&mut s, bytes);
        Hex256(s)
    }

    /// The text, as received.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The 32 bytes (either case accepted).
    pub fn to_bytes(&self) -> [u8; 32] {
        crate::hex::decode_array(self.as_str()).unwrap_or([0; 32])
    }
}

impl From<&RendezvousId> for Hex256 {
    fn from(rid: &RendezvousId) -> Self {
        Hex256(rid.to_hex())
    }
}

impl From<RendezvousId> for Hex256 {
    fn from(rid: RendezvousId) -> Self {
        Hex256(rid.to_hex())
    }
}

impl fmt::Display for Hex256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `timestamp` field: seconds since the Unix epoch. A parsed timestamp keeps its JSON
/// literal (so int vs float and precision survive re-serialisation); one built from
/// microseconds prints as a Python float would (`1612345678.123456`, `1612345678.0`).
/// Equality compares the serialised text.
#[derive(Debug, Clone, Copy)]
pub struct Timestamp<'a>(TsRepr<'a>);

#[derive(Debug, Clone, Copy)]
enum TsRepr<'a> {
    Json(Number<'a>),
    Micros(u64),
}

impl<'a> Timestamp<'a> {
    /// From integer microseconds since the epoch.
    pub fn from_micros(us: u64) -> Self {
        Timestamp(TsRepr::Micros(us))
    }

    /// The Unix time of `at` on the caller's clock (`clock` maps it), to the millisecond.
    pub fn at(clock: crate::time::UnixClock, at: crate::time::Instant) -> Self {
        Timestamp::from_micros(clock.unix_ms(at).saturating_mul(1_000))
    }

    /// From whole seconds since the epoch (printed as `S.0`).
    pub fn from_secs(secs: u64) -> Self {
        Timestamp(TsRepr::Micros(secs.saturating_mul(1_000_000)))
    }

    /// From a JSON number literal, kept verbatim.
    pub fn from_json(n: Number<'a>) -> Self {
        Timestamp(TsRepr::Json(n))
    }

    /// The literal, when this timestamp came from JSON.
    pub fn as_number(&self) -> Option<Number<'a>> {
        match self.0 {
            TsRepr::Json(n) => Some(n),
            TsRepr::Micros(_) => None,
        }
    }

    /// Whole seconds (truncated), without floating point; `None` for negative, non-finite or
    /// out-of-range values.
    pub fn whole_seconds(&self) -> Option<u64> {
        match self.0 {
            TsRepr::Json(n) => n.trunc_u64(),
            TsRepr::Micros(us) => Some(us / 1_000_000),
        }
    }

    /// The value as a float (Python's view of it).
    pub fn as_f64(&self) -> f64 {
        match self.0 {
            TsRepr::Json(n) => n.as_f64(),
            TsRepr::Micros(us) => {
                ((us / 1_000_000) as f64) + ((us % 1_000_000) as f64) / 1_000_000.0
            }
        }
    }

    /// `S.F` with `F` the six fractional digits without trailing zeros (at least one). Built
    /// from the decimal digits of `us` (no 64-bit division, no `core::fmt`: both cost flash on
    /// 32-bit devices, which write timestamps in every request).
    fn micros_text(us: u64) -> heapless::String<32> {
        let mut digits = heapless::Vec::<u8, 20>::new();
        // 20 digits hold any u64.
        let _ = crate::json::write_u64(&mut digits, us);
        // At least one digit of seconds before the six of the fraction.
        let mut all = heapless::Vec::<u8, 27>::new();
        for _ in digits.len()..7 {
            let _ = all.push(b'0');
        }
        let _ = all.extend_from_slice(&digits);
        let cut = all.len().saturating_sub(6);
        let frac = all.get(cut..).unwrap_or(&[]);
        let frac_len = frac.iter().rposition(|&d| d != b'0').map_or(1, |i| i + 1);
        let mut out = heapless::Vec::<u8, 32>::new();
        let _ = out.extend_from_slice(all.get(..cut).unwrap_or(&[]));
        let _ = out.push(b'.');
        let _ = out.extend_from_slice(frac.get(..frac_len).unwrap_or(b"0"));
        heapless::String::from_utf8(out).unwrap_or_default()
    }

    /// Writes the JSON number.
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        match self.0 {
            TsRepr::Json(n) => sink.put(n.raw().as_bytes()),
            TsRepr::Micros(us) => sink.put(Self::micros_text(us).as_bytes()),
        }
    }
}

impl PartialEq for Timestamp<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (TsRepr::Micros(a), TsRepr::Micros(b)) => a == b,
            (TsRepr::Json(a), TsRepr::Json(b)) => a.raw() == b.raw(),
            (TsRepr::Json(n), TsRepr::Micros(us)) | (TsRepr::Micros(us), TsRepr::Json(n)) => {
                n.raw() == Self::micros_text(us).as_str()
            }
        }
    }
}

impl fmt::Display for Timestamp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TsRepr::Json(n) => f.write_str(n.raw()),
            TsRepr::Micros(us) => f.write_str(Self::micros_text(us).as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn timestamps() {
        assert_eq!(
            Timestamp::from_micros(1612345678123456).to_string(),
            "1612345678.123456"
        );
        assert_eq!(
            Timestamp::from_micros(1612345678000000).to_string(),
            "1612345678.0"
        );
        assert_eq!(
            Timestamp::from_micros(1612345678100000).to_string(),
            "1612345678.1"
        );
        assert_eq!(
            Timestamp::from_micros(1612345678000001).to_string(),
            "1612345678.000001"
        );
        assert_eq!(Timestamp::from_micros(5).to_string(), "0.000005");
        assert_eq!(Timestamp::from_secs(7).to_string(), "7.0");
        assert_eq!(Timestamp::from_micros(0).to_string(), "0.0");
        assert_eq!(Timestamp::from_micros(1_000_000).to_string(), "1.0");
        assert_eq!(Timestamp::from_micros(120).to_string(), "0.00012");
        assert_eq!(
            Timestamp::from_micros(u64::MAX).to_string(),
            "18446744073709.551615"
        );
        assert_eq!(
            Timestamp::from_micros(1612345678123456).whole_seconds(),
            Some(1612345678)
        );
        let n = Number::parse("1612345678.123456").unwrap();
        assert_eq!(
            Timestamp::from_json(n),
            Timestamp::from_micros(1612345678123456)
        );
        assert_ne!(
            Timestamp::from_json(Number::parse("1612345678").unwrap()),
            Timestamp::from_secs(1612345678)
        );
    }

    #[test]
    fn hex256() {
        let lower = "2acc58b612ab45f732bd60b9eb91910918d74ba3107800fea034d80f4171edb6";
        let h = Hex256::parse(lower).unwrap();
        assert_eq!(Hex256::from_bytes(&h.to_bytes()), h);
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 8) as u8);
        assert_eq!(
            Hex256::from_bytes(&bytes).as_str(),
            crate::hex::Hex(&bytes).to_string()
        );
        let upper = Hex256::parse(&lower.to_uppercase()).unwrap();
        assert_ne!(upper, h);
        assert_eq!(upper.to_bytes(), h.to_bytes());
        assert_eq!(Hex256::parse("00"), Err(Hex256Error::BadLength));
        assert_eq!(Hex256::parse(""), Err(Hex256Error::BadLength));
        assert_eq!(Hex256::parse("0g"), Err(Hex256Error::NotHex));
        assert_eq!(Hex256::parse(&"a".repeat(100)), Err(Hex256Error::BadLength));
    }
}
