//! The v0 wad: an amount of bitcoin, optionally denominated in another asset.

use super::text::Text;
use crate::json::{Num, Object, ObjectWriter, Value};
use crate::sink::{Overflow, Sink};
use core::fmt;

/// The nine keys of a v0 wad, in the order the Python reference writes them.
pub const WAD_KEYS: [&str; 9] = [
    "msats",
    "asset_stable",
    "asset_units",
    "code",
    "countries",
    "decimals",
    "iso_num",
    "name",
    "symbol",
];

/// Why a wad object was refused. `Display` gives the Python reference's texts (typos
/// included) except where noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WadError {
    /// Missing or extra keys.
    KeySet,
    /// `msats` is not a JSON integer.
    MsatsNotInteger,
    /// `msats` < 0.
    MsatsNegative,
    /// `msats` does not fit a `u64` (Python accepts any size; this crate does not).
    MsatsTooLarge,
    /// `asset_stable` is not a boolean.
    AssetStableNotBool,
    /// `asset_units` is not a number.
    AssetUnitsNotNumber,
    /// `asset_units` < 0.
    AssetUnitsNegative,
    /// `code` is not a string.
    CodeNotString,
    /// `code` longer than 20 characters.
    CodeTooLong,
    /// `countries` neither null nor a string.
    CountriesNotString,
    /// `countries` longer than 200 characters.
    CountriesTooLong,
    /// `decimals` neither null nor an integer.
    DecimalsNotInt,
    /// `decimals` < 0.
    DecimalsNegative,
    /// `decimals` > 10.
    DecimalsTooLarge,
    /// `iso_num` neither null nor a number (Python does not check it; this crate does).
    IsoNumNotNumber,
    /// `name` neither null nor a string.
    NameNotString,
    /// `name` longer than 50 characters.
    NameTooLong,
    /// `symbol` neither null nor a string.
    SymbolNotString,
    /// `symbol` longer than 5 characters.
    SymbolTooLong,
}

impl WadError {
    /// The error text (the Python reference's where it has one).
    pub fn as_str(&self) -> &'static str {
        match self {
            WadError::KeySet => "key set not consistent with wad dictionary",
            WadError::MsatsNotInteger => "msats valie not iteger",
            WadError::MsatsNegative => "msats value negative",
            WadError::MsatsTooLarge => "msats value too large",
            WadError::AssetStableNotBool => "asset_stable not bool",
            WadError::AssetUnitsNotNumber => "asset_units not float",
            WadError::AssetUnitsNegative => "asset_units value negative",
            WadError::CodeNotString => "code not string",
            WadError::CodeTooLong => "code string too long",
            WadError::CountriesNotString => "countries not string",
            WadError::CountriesTooLong => "countries string too long",
            WadError::DecimalsNotInt => "decimals not int",
            WadError::DecimalsNegative => "decimals negative value",
            WadError::DecimalsTooLarge => "decimals more than 10?",
            WadError::IsoNumNotNumber => "iso_num not number",
            WadError::NameNotString => "name not string",
            WadError::NameTooLong => "name string too long",
            WadError::SymbolNotString => "symbol not string",
            WadError::SymbolTooLong => "symbol string too long",
        }
    }
}

impl fmt::Display for WadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WadError {}

/// A v0 wad. For bitcoin wads (`asset_stable == false`) the reference puts the msat count in
/// `asset_units` too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wad<'a> {
    /// Value in millisatoshi.
    pub msats: u64,
    /// `false`: plain bitcoin; `true`: denominated in another asset.
    pub asset_stable: bool,
    /// Amount in asset units (int or float; the msat count for bitcoin wads).
    pub asset_units: Num<'a>,
    /// Asset code: `BTC`, an ISO-4217 code, or custom (≤ 20 characters).
    pub code: Text<'a>,
    /// Where the asset is used (≤ 200 characters).
    pub countries: Option<Text<'a>>,
    /// Decimal places to display (0..=10).
    pub decimals: Option<u8>,
    /// ISO-4217 numeric code (not validated by the reference).
    pub iso_num: Option<Num<'a>>,
    /// Asset name (≤ 50 characters).
    pub name: Option<Text<'a>>,
    /// Asset symbol (≤ 5 characters).
    pub symbol: Option<Text<'a>>,
}

fn opt_text<'a>(
    v: Value<'a>,
    max: usize,
    not_string: WadError,
    too_long: WadError,
) -> Result<Option<Text<'a>>, WadError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.char_count() > max => Err(too_long),
        Value::String(s) => Ok(Some(Text::Json(s))),
        _ => Err(not_string),
    }
}

fn opt_text_check(t: &Option<Text<'_>>, max: usize, too_long: WadError) -> Result<(), WadError> {
    match t {
        Some(t) if t.char_count() > max => Err(too_long),
        _ => Ok(()),
    }
}

impl<'a> Wad<'a> {
    /// A bitcoin wad as the reference's `Wad.bitcoin(msats)` builds it.
    pub fn bitcoin(msats: u64) -> Wad<'static> {
        Wad {
            msats,
            asset_stable: false,
            asset_units: Num::U64(msats),
            code: Text::Plain("BTC"),
            countries: Some(Text::Plain("All")),
            decimals: Some(0),
            iso_num: None,
            name: Some(Text::Plain("Bitcoin")),
            symbol: Some(Text::Plain("\u{20bf}")),
        }
    }

    /// Reads and validates a wad object in the Python reference's order.
    pub fn from_object(obj: Object<'a>) -> Result<Self, WadError> {
        let mut seen = 0u16;
        for (k, _) in obj.members() {
            let i = WAD_KEYS
                .iter()
                .position(|name| k.eq_str(name))
                .ok_or(WadError::KeySet)?;
            seen |= 1 << i;
        }
        if seen != (1 << WAD_KEYS.len()) - 1 {
            return Err(WadError::KeySet);
        }
        let get = |k: &str| obj.get(k).unwrap_or(Value::Null);

        let msats = match get("msats") {
            Value::Number(n) if n.is_integer() => n,
            _ => return Err(WadError::MsatsNotInteger),
        };
        if msats.is_negative() {
            return Err(WadError::MsatsNegative);
        }
        let msats = msats.as_u64().ok_or(WadError::MsatsTooLarge)?;
        let asset_stable = get("asset_stable")
            .as_bool()
            .ok_or(WadError::AssetStableNotBool)?;
        let asset_units = get("asset_units")
            .as_number()
            .ok_or(WadError::AssetUnitsNotNumber)?;
        if asset_units.is_negative() {
            return Err(WadError::AssetUnitsNegative);
        }
        let code = match get("code") {
            Value::String(s) if s.char_count() > 20 => return Err(WadError::CodeTooLong),
            Value::String(s) => Text::Json(s),
            _ => return Err(WadError::CodeNotString),
        };
        let countries = opt_text(
            get("countries"),
            200,
            WadError::CountriesNotString,
            WadError::CountriesTooLong,
        )?;
        let decimals = match get("decimals") {
            Value::Null => None,
            Value::Number(n) if n.is_integer() => {
                if n.is_negative() {
                    return Err(WadError::DecimalsNegative);
                }
                match n.as_u64() {
                    Some(d) if d <= 10 => Some(d as u8),
                    _ => return Err(WadError::DecimalsTooLarge),
                }
            }
            _ => return Err(WadError::DecimalsNotInt),
        };
        let iso_num = match get("iso_num") {
            Value::Null => None,
            Value::Number(n) => Some(Num::Json(n)),
            _ => return Err(WadError::IsoNumNotNumber),
        };
        let name = opt_text(
            get("name"),
            50,
            WadError::NameNotString,
            WadError::NameTooLong,
        )?;
        let symbol = opt_text(
            get("symbol"),
            5,
            WadError::SymbolNotString,
            WadError::SymbolTooLong,
        )?;
        Ok(Wad {
            msats,
            asset_stable,
            asset_units: Num::Json(asset_units),
            code,
            countries,
            decimals,
            iso_num,
            name,
            symbol,
        })
    }

    /// Applies the reference's rules to a wad built by the application (so that a peer
    /// running the reference will accept it).
    pub fn validate(&self) -> Result<(), WadError> {
        if self.asset_units.is_negative() {
            return Err(WadError::AssetUnitsNegative);
        }
        if self.code.char_count() > 20 {
            return Err(WadError::CodeTooLong);
        }
        opt_text_check(&self.countries, 200, WadError::CountriesTooLong)?;
        if self.decimals.is_some_and(|d| d > 10) {
            return Err(WadError::DecimalsTooLarge);
        }
        opt_text_check(&self.name, 50, WadError::NameTooLong)?;
        opt_text_check(&self.symbol, 5, WadError::SymbolTooLong)
    }

    /// Writes the wad object with the reference's key order and formatting.
    pub fn write_json<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        fn opt<S: Sink + ?Sized>(
            o: &mut ObjectWriter<'_, S>,
            k: &str,
            t: &Option<Text<'_>>,
        ) -> Result<(), Overflow> {
            match t {
                Some(t) => t.write_json(o.key(k)?),
                None => o.null(k),
            }
        }
        let mut o = ObjectWriter::begin(sink)?;
        o.u64("msats", self.msats)?;
        o.bool("asset_stable", self.asset_stable)?;
        self.asset_units.write_json(o.key("asset_units")?)?;
        self.code.write_json(o.key("code")?)?;
        opt(&mut o, "countries", &self.countries)?;
        match self.decimals {
            Some(d) => o.u64("decimals", u64::from(d))?,
            None => o.null("decimals")?,
        }
        match &self.iso_num {
            Some(n) => n.write_json(o.key("iso_num")?)?,
            None => o.null("iso_num")?,
        }
        opt(&mut o, "name", &self.name)?;
        opt(&mut o, "symbol", &self.symbol)?;
        o.end()
    }
}

/// Python's `round()` (half to even) for doubles, without `std`.
/// Rounds to the nearest integer, ties to even (Python's `round`), without `std`'s float
/// intrinsics. Shared with the v1 wad display.
pub(crate) fn round_half_even(x: f64) -> f64 {
    if x.is_nan() || x.abs() >= 4_503_599_627_370_496.0 {
        return x; // ≥ 2^52: already integral (or NaN / infinite)
    }
    let t = x as i64 as f64;
    let frac = (x - t).abs();
    let step = if x < 0.0 { -1.0 } else { 1.0 };
    if frac > 0.5 || (frac == 0.5 && (t as i64) % 2 != 0) {
        t + step
    } else {
        t
    }
}

fn fmt_fixed(f: &mut fmt::Formatter<'_>, x: f64, decimals: usize) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    write!(f, "{x:.decimals$}")
}

/// `Wad.__str__` of the Python v0 library (`fmt_short`):
/// bitcoin wads as `"<symbol> <msats/1000 with 3 decimals> sat"` (e.g. `₿ 10000.000 sat`);
/// other assets as `"<symbol> <asset_units with `decimals` places> <code>"` (the symbol and
/// its space omitted when empty or null; with `decimals` null the units are rounded half to
/// even). Where Python would raise (rounding NaN or infinity) this prints `nan` / `inf`.
impl fmt::Display for Wad<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.asset_stable {
            match &self.symbol {
                Some(s) => write!(f, "{s}")?,
                None => f.write_str("None")?,
            }
            return write!(f, " {:.3} sat", self.msats as f64 / 1000.0);
        }
        if let Some(s) = self.symbol.filter(|s| !s.is_empty()) {
            write!(f, "{s} ")?;
        }
        match self.decimals {
            Some(d) => fmt_fixed(f, self.asset_units.as_f64(), usize::from(d))?,
            None => match self.asset_units {
                Num::Json(n) if n.is_integer() => {
                    if n.raw().bytes().all(|c| c == b'-' || c == b'0') {
                        f.write_str("0")?
                    } else {
                        f.write_str(n.raw())?
                    }
                }
                Num::U64(v) => write!(f, "{v}")?,
                Num::I64(v) => write!(f, "{v}")?,
                other => {
                    let r = round_half_even(other.as_f64());
                    if r == 0.0 {
                        f.write_str("0")?
                    } else {
                        fmt_fixed(f, r, 0)?
                    }
                }
            },
        }
        write!(f, " {}", self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, Number};
    extern crate std;
    use std::string::ToString;

    #[test]
    fn display_like_python_fmt_short() {
        assert_eq!(
            Wad::bitcoin(10_000_000).to_string(),
            "\u{20bf} 10000.000 sat"
        );
        assert_eq!(Wad::bitcoin(1234).to_string(), "\u{20bf} 1.234 sat");
        assert_eq!(Wad::bitcoin(1).to_string(), "\u{20bf} 0.001 sat");
        let mut cad = Wad {
            msats: 21_000_000,
            asset_stable: true,
            asset_units: Num::F64(2.5),
            code: Text::Plain("CAD"),
            countries: Some(Text::Plain("Canada")),
            decimals: Some(2),
            iso_num: Some(Num::U64(124)),
            name: Some(Text::Plain("Canadian dollar")),
            symbol: Some(Text::Plain("$")),
        };
        assert_eq!(cad.to_string(), "$ 2.50 CAD");
        cad.symbol = Some(Text::Plain(""));
        cad.decimals = None;
        assert_eq!(cad.to_string(), "2 CAD"); // round(2.5) == 2
        cad.asset_units = Num::F64(3.5);
        assert_eq!(cad.to_string(), "4 CAD");
        cad.symbol = None;
        cad.asset_units = Num::Json(Number::parse("7").unwrap());
        assert_eq!(cad.to_string(), "7 CAD");
        cad.decimals = Some(3);
        cad.symbol = Some(Text::Plain("\u{1f346}"));
        cad.asset_units = Num::F64(4.56789);
        assert_eq!(cad.to_string(), "\u{1f346} 4.568 CAD");
    }

    #[test]
    fn parse_and_write() {
        let text = r#"{"msats": 21000000, "asset_stable": false, "asset_units": 21000000, "code": "BTC", "countries": "All", "decimals": 0, "iso_num": null, "name": "Bitcoin", "symbol": "\u20bf"}"#;
        let obj = parse(text.as_bytes()).unwrap().as_object().unwrap();
        let w = Wad::from_object(obj).unwrap();
        assert_eq!(w, Wad::bitcoin(21_000_000));
        let mut out = std::vec::Vec::new();
        w.write_json(&mut out).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), text);
        out.clear();
        Wad::bitcoin(21_000_000).write_json(&mut out).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), text);
        assert_eq!(w.validate(), Ok(()));
    }
}
