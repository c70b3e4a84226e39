//! Wad: an amount of bitcoin (msat) with an optional non-bitcoin equivalent (draft §5).
//!
//! Validation follows `moneysocket1` check for check (order and error texts, typos
//! included); numbers keep their JSON integer/float nature through [`serde_json::Number`].

use super::iso4217;
use alloc::string::String;
use core::fmt;
use serde_json::{Map, Number, Value};

/// A validated wad.
#[derive(Debug, Clone, PartialEq)]
pub struct Wad {
    /// Millisatoshis; integer or float, any sign.
    pub msat: Number,
    /// The non-bitcoin equivalent, if any.
    pub non_btc: Option<NonBtc>,
}

/// The non-bitcoin part of a wad.
#[derive(Debug, Clone, PartialEq)]
pub struct NonBtc {
    /// Amount in the asset's units; integer or float.
    pub units: Number,
    /// Human-readable name; never empty.
    pub name: String,
    /// Asset code: empty, or 3 to 12 characters.
    pub code: String,
    /// Display symbol, at most 6 Unicode scalar values; may be empty.
    pub symbol: String,
    /// When the exchange rate was taken (seconds), `>= 0`.
    pub rate_timestamp: Option<Number>,
    /// ISO 4217 numeric code.
    pub iso_num: Option<u64>,
    /// Digits after the point when displayed, 0 to 12.
    pub fmt_decimals: Option<u8>,
}

/// Why a wad was refused. `Display` gives `moneysocket1`'s exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WadError {
    /// The wad is not a JSON object (no `moneysocket1` text; it would crash).
    NotAnObject,
    /// `no msat value given`
    NoMsat,
    /// `invalid type of msat value`
    MsatType,
    /// `no non_btc value given`
    NoNonBtc,
    /// `invald type of non_btc value` (sic)
    NonBtcType,
    /// `extra keys in wad_dict`
    ExtraKeys,
    /// `no units value given`
    NoUnits,
    /// `units is not an integer or float`
    UnitsType,
    /// `no name value given`
    NoName,
    /// `name value not string`
    NameType,
    /// `name value is empty string`
    NameEmpty,
    /// `rate_timestamp is not an integer or float`
    RateTimestampType,
    /// `rate_timestamp negative`
    RateTimestampNegative,
    /// `iso_num is not an integer`
    IsoNumType,
    /// `iso_num is not positive` (raised for negative values; 0 passes)
    IsoNumNegative,
    /// `iso_num without code`
    IsoNumWithoutCode,
    /// `code value with iso_num is not string`
    IsoCodeType,
    /// `code value with iso_num is empty string`
    IsoCodeEmpty,
    /// `iso_num and code mismatch`
    IsoMismatch,
    /// `code value not set`
    NoCode,
    /// `code value is not string`
    CodeType,
    /// `using non-standard code with iso_num assigned`
    CodeNeedsIsoNum,
    /// `code value longer than twelve characters`
    CodeTooLong,
    /// `code value less than three characters`
    CodeTooShort,
    /// `symbol value not set`
    NoSymbol,
    /// `symbol value not string type`
    SymbolType,
    /// `symbol value string too long`
    SymbolTooLong,
    /// `fmt_decimals not integer`
    FmtDecimalsType,
    /// `fmt_decimals negative value`
    FmtDecimalsNegative,
    /// `fmt_decimals too large`
    FmtDecimalsTooLarge,
}

impl WadError {
    /// The exact error text.
    pub fn as_str(&self) -> &'static str {
        match self {
            WadError::NotAnObject => "wad is not an object",
            WadError::NoMsat => "no msat value given",
            WadError::MsatType => "invalid type of msat value",
            WadError::NoNonBtc => "no non_btc value given",
            WadError::NonBtcType => "invald type of non_btc value",
            WadError::ExtraKeys => "extra keys in wad_dict",
            WadError::NoUnits => "no units value given",
            WadError::UnitsType => "units is not an integer or float",
            WadError::NoName => "no name value given",
            WadError::NameType => "name value not string",
            WadError::NameEmpty => "name value is empty string",
            WadError::RateTimestampType => "rate_timestamp is not an integer or float",
            WadError::RateTimestampNegative => "rate_timestamp negative",
            WadError::IsoNumType => "iso_num is not an integer",
            WadError::IsoNumNegative => "iso_num is not positive",
            WadError::IsoNumWithoutCode => "iso_num without code",
            WadError::IsoCodeType => "code value with iso_num is not string",
            WadError::IsoCodeEmpty => "code value with iso_num is empty string",
            WadError::IsoMismatch => "iso_num and code mismatch",
            WadError::NoCode => "code value not set",
            WadError::CodeType => "code value is not string",
            WadError::CodeNeedsIsoNum => "using non-standard code with iso_num assigned",
            WadError::CodeTooLong => "code value longer than twelve characters",
            WadError::CodeTooShort => "code value less than three characters",
            WadError::NoSymbol => "symbol value not set",
            WadError::SymbolType => "symbol value not string type",
            WadError::SymbolTooLong => "symbol value string too long",
            WadError::FmtDecimalsType => "fmt_decimals not integer",
            WadError::FmtDecimalsNegative => "fmt_decimals negative value",
            WadError::FmtDecimalsTooLarge => "fmt_decimals too large",
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

/// Whether a JSON number is negative (integers exactly, floats by sign; `-0.0` is not).
pub(crate) fn is_negative(n: &Number) -> bool {
    if n.is_f64() {
        n.as_f64().is_some_and(|f| f < 0.0)
    } else {
        n.as_i64().is_some_and(|i| i < 0)
    }
}

/// Whether a JSON number was written as an integer (fits i64 or u64).
pub(crate) fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64()
}

/// Number of Unicode scalar values, Python's `len(str)`.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

impl NonBtc {
    fn from_map(m: &Map<String, Value>) -> Result<NonBtc, WadError> {
        let units = match m.get("units") {
            None => return Err(WadError::NoUnits),
            Some(Value::Number(n)) => n.clone(),
            Some(_) => return Err(WadError::UnitsType),
        };
        let name = match m.get("name") {
            None => return Err(WadError::NoName),
            Some(Value::String(s)) if s.is_empty() => return Err(WadError::NameEmpty),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(WadError::NameType),
        };
        let rate_timestamp = match m.get("rate_timestamp") {
            None => None,
            Some(Value::Number(n)) if is_negative(n) => {
                return Err(WadError::RateTimestampNegative)
            }
            Some(Value::Number(n)) => Some(n.clone()),
            Some(_) => return Err(WadError::RateTimestampType),
        };
        let code_val = m.get("code");
        let iso_num = match m.get("iso_num") {
            Some(v) => {
                let n = match v {
                    Value::Number(n) if is_integer(n) => n,
                    _ => return Err(WadError::IsoNumType),
                };
                let iso = n.as_u64().ok_or(WadError::IsoNumNegative)?;
                let code = match code_val {
                    None => return Err(WadError::IsoNumWithoutCode),
                    Some(Value::String(s)) if s.is_empty() => return Err(WadError::IsoCodeEmpty),
                    Some(Value::String(s)) => s,
                    Some(_) => return Err(WadError::IsoCodeType),
                };
                if iso4217::code_for_number(iso).is_some_and(|c| c != code) {
                    return Err(WadError::IsoMismatch);
                }
                Some(iso)
            }
            None => {
                match code_val {
                    None => return Err(WadError::NoCode),
                    Some(Value::String(s)) if iso4217::number_for_code(s).is_some() => {
                        return Err(WadError::CodeNeedsIsoNum)
                    }
                    Some(Value::String(_)) => {}
                    Some(_) => return Err(WadError::CodeType),
                }
                None
            }
        };
        // Both branches above return unless `code` is a string.
        let code = match code_val {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(WadError::NoCode),
        };
        if !code.is_empty() {
            let len = char_len(&code);
            if len > 12 {
                return Err(WadError::CodeTooLong);
            }
            if len < 3 {
                return Err(WadError::CodeTooShort);
            }
        }
        let symbol = match m.get("symbol") {
            None => return Err(WadError::NoSymbol),
            Some(Value::String(s)) if char_len(s) > 6 => return Err(WadError::SymbolTooLong),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(WadError::SymbolType),
        };
        let fmt_decimals = match m.get("fmt_decimals") {
            None => None,
            Some(Value::Number(n)) if is_integer(n) => {
                if is_negative(n) {
                    return Err(WadError::FmtDecimalsNegative);
                }
                match n.as_u64() {
                    Some(d) if d <= 12 => Some(d as u8),
                    _ => return Err(WadError::FmtDecimalsTooLarge),
                }
            }
            Some(_) => return Err(WadError::FmtDecimalsType),
        };
        Ok(NonBtc {
            units,
            name,
            code,
            symbol,
            rate_timestamp,
            iso_num,
            fmt_decimals,
        })
    }

    /// Re-serialises as `moneysocket1` does: `units`, `name`, `code`, `symbol` always;
    /// `rate_timestamp`, `iso_num`, `fmt_decimals` only when present and non-zero (quirk).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("units".into(), Value::Number(self.units.clone()));
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("code".into(), Value::String(self.code.clone()));
        m.insert("symbol".into(), Value::String(self.symbol.clone()));
        if let Some(ts) = self.rate_timestamp.as_ref().filter(|n| !is_zero(n)) {
            m.insert("rate_timestamp".into(), Value::Number(ts.clone()));
        }
        if let Some(iso) = self.iso_num.filter(|n| *n != 0) {
            m.insert("iso_num".into(), Value::Number(iso.into()));
        }
        if let Some(d) = self.fmt_decimals.filter(|d| *d != 0) {
            m.insert("fmt_decimals".into(), Value::Number(d.into()));
        }
        Value::Object(m)
    }
}

fn is_zero(n: &Number) -> bool {
    n.as_f64() == Some(0.0)
}

impl Wad {
    /// A plain bitcoin wad.
    pub fn bitcoin(msat: u64) -> Wad {
        Wad {
            msat: msat.into(),
            non_btc: None,
        }
    }

    /// Validates a wad object (draft §5.2, in `moneysocket1`'s order).
    pub fn from_json(value: &Value) -> Result<Wad, WadError> {
        let m = value.as_object().ok_or(WadError::NotAnObject)?;
        let msat = match m.get("msat") {
            None => return Err(WadError::NoMsat),
            Some(Value::Number(n)) => n.clone(),
            Some(_) => return Err(WadError::MsatType),
        };
        let non_btc = match m.get("non_btc") {
            None => return Err(WadError::NoNonBtc),
            Some(Value::Null) => None,
            // Quirk: an empty object counts as null.
            Some(Value::Object(o)) if o.is_empty() => None,
            Some(Value::Object(o)) => Some(NonBtc::from_map(o)?),
            Some(_) => return Err(WadError::NonBtcType),
        };
        if m.len() != 2 {
            return Err(WadError::ExtraKeys);
        }
        Ok(Wad { msat, non_btc })
    }

    /// Re-serialises (draft §5.3): `{"msat": …, "non_btc": null | {…}}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("msat".into(), Value::Number(self.msat.clone()));
        m.insert(
            "non_btc".into(),
            self.non_btc.as_ref().map_or(Value::Null, NonBtc::to_json),
        );
        Value::Object(m)
    }
}

/// `x` as a double, as Python's `float(x)` would convert it.
fn as_double(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

/// Rounds half to even (Python's `round(x)`), for finite `x`; `core` has no
/// `round_ties_even` without `std`. Returns an `i64` when the result fits.
fn round_half_even(x: f64) -> Result<i64, f64> {
    // 2^52: from here on every double is an integer (and `as i64` would not be exact).
    const EXACT: f64 = 4_503_599_627_370_496.0;
    if x.is_nan() || x.abs() >= EXACT {
        return Err(x);
    }
    Ok(crate::message::wad::round_half_even(x) as i64)
}

/// The `string_fmt` rule of draft §5.4, exactly.
impl fmt::Display for Wad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(nb) = &self.non_btc else {
            return write!(f, "\u{20bf} {:.3} sat", as_double(&self.msat) / 1000.0);
        };
        if !nb.symbol.is_empty() {
            write!(f, "{} ", nb.symbol)?;
        }
        match nb.fmt_decimals {
            Some(d) => write!(f, "{:.*}", usize::from(d), as_double(&nb.units))?,
            None => {
                if let Some(u) = nb.units.as_u64() {
                    write!(f, "{u}")?;
                } else if let Some(i) = nb.units.as_i64() {
                    write!(f, "{i}")?;
                } else {
                    match round_half_even(as_double(&nb.units)) {
                        Ok(i) => write!(f, "{i}")?,
                        Err(big) => write!(f, "{big:.0}")?,
                    }
                }
            }
        }
        if !nb.code.is_empty() {
            write!(f, " {}", nb.code)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use serde_json::json;

    fn units_wad(units: Value, decimals: Option<u8>) -> Wad {
        let mut nb = json!({"units": units, "name": "Cucumber", "code": "CUCUMBER",
                            "symbol": "\u{1f952}"});
        if let Some(d) = decimals {
            nb["fmt_decimals"] = json!(d);
        }
        Wad::from_json(&json!({"msat": 1, "non_btc": nb})).unwrap()
    }

    fn shown(units: Value, decimals: Option<u8>) -> String {
        let s = units_wad(units, decimals).to_string();
        s.trim_start_matches("\u{1f952} ")
            .trim_end_matches(" CUCUMBER")
            .to_string()
    }

    #[test]
    fn display_rounding() {
        assert_eq!(shown(json!(55.55), Some(1)), "55.5");
        assert_eq!(shown(json!(2.5), None), "2");
        assert_eq!(shown(json!(3.5), None), "4");
        assert_eq!(shown(json!(-2.5), None), "-2");
        assert_eq!(shown(json!(-3.5), None), "-4");
        assert_eq!(shown(json!(-0.4), None), "0");
        assert_eq!(shown(json!(-0.5), None), "0");
        assert_eq!(shown(json!(0.5000000001), None), "1");
        assert_eq!(shown(json!(-0.4), Some(0)), "-0");
        assert_eq!(shown(json!(-0.001), Some(2)), "-0.00");
        assert_eq!(shown(json!(69.42), None), "69");
        assert_eq!(shown(json!(0.125), Some(2)), "0.12");
        assert_eq!(shown(json!(0.375), Some(2)), "0.38");
        assert_eq!(shown(json!(2.5), Some(0)), "2");
        assert_eq!(shown(json!(5), Some(2)), "5.00");
        assert_eq!(shown(json!(-7), None), "-7");
        assert_eq!(
            shown(json!(18446744073709551615u64), None),
            "18446744073709551615"
        );
        assert_eq!(shown(json!(1e20), None), "100000000000000000000");
        assert_eq!(shown(json!(4503599627370497.0), None), "4503599627370497");
        assert_eq!(shown(json!(123.456), Some(12)), "123.456000000000");
        assert_eq!(Wad::bitcoin(12345).to_string(), "\u{20bf} 12.345 sat");
        let w = Wad::from_json(&json!({"msat": 12350, "non_btc": null})).unwrap();
        assert_eq!(w.to_string(), "\u{20bf} 12.350 sat");
        let w = Wad::from_json(&json!({"msat": -0.0, "non_btc": null})).unwrap();
        assert_eq!(w.to_string(), "\u{20bf} -0.000 sat");
    }

    #[test]
    fn quirks() {
        // Empty non_btc is null; zero optional fields are dropped on output.
        let w = Wad::from_json(&json!({"msat": 1, "non_btc": {}})).unwrap();
        assert_eq!(w.to_json(), json!({"msat": 1, "non_btc": null}));
        let w = Wad::from_json(&json!({"msat": 1.0, "non_btc": {"units": 1.5, "name": "x",
            "code": "ABC", "symbol": "", "iso_num": 0, "fmt_decimals": 0, "rate_timestamp": 0.0,
            "extra": true}}))
        .unwrap();
        assert_eq!(w.to_string(), "2 ABC");
        let out = w.to_json();
        assert_eq!(
            out,
            json!({"msat": 1.0, "non_btc": {"units": 1.5, "name": "x", "code": "ABC", "symbol": ""}})
        );
        // fmt_decimals 0 is lost on output, so the display changes after a round trip.
        assert_eq!(Wad::from_json(&out).unwrap().to_string(), "2 ABC");
        // Type strictness.
        for (v, e) in [
            (json!({"msat": true, "non_btc": null}), WadError::MsatType),
            (json!({"msat": 1, "non_btc": []}), WadError::NonBtcType),
            (json!({"msat": 1, "non_btc": 5}), WadError::NonBtcType),
            (json!([]), WadError::NotAnObject),
        ] {
            assert_eq!(Wad::from_json(&v), Err(e));
        }
        let base = json!({"units": 1, "name": "x", "code": "ABCD", "symbol": ""});
        for (k, v, e) in [
            ("iso_num", json!(840.0), WadError::IsoNumType),
            ("iso_num", json!(true), WadError::IsoNumType),
            ("fmt_decimals", json!(2.0), WadError::FmtDecimalsType),
            ("fmt_decimals", json!(false), WadError::FmtDecimalsType),
            (
                "fmt_decimals",
                json!(18446744073709551615u64),
                WadError::FmtDecimalsTooLarge,
            ),
            ("units", json!(false), WadError::UnitsType),
            ("symbol", json!("1234567"), WadError::SymbolTooLong),
        ] {
            let mut nb = base.clone();
            nb[k] = v;
            assert_eq!(
                Wad::from_json(&json!({"msat": 1, "non_btc": nb})),
                Err(e),
                "{k}"
            );
        }
        // Unknown iso numbers take any code; iso_num 0 passes.
        let mut nb = base.clone();
        nb["iso_num"] = json!(0);
        assert!(Wad::from_json(&json!({"msat": 1, "non_btc": nb})).is_ok());
        // Six astral code points are six characters.
        let mut nb = base;
        nb["symbol"] = json!("\u{1f952}".repeat(6));
        assert!(Wad::from_json(&json!({"msat": 1, "non_btc": nb})).is_ok());
    }

    #[test]
    fn half_even() {
        for (x, want) in [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-1.5, -2),
            (-0.4, 0),
            (0.49999999999999994, 0),
            (4503599627370495.5, 4503599627370496),
        ] {
            assert_eq!(round_half_even(x), Ok(want), "{x}");
        }
    }

    #[cfg(feature = "std")]
    mod props {
        use super::*;
        use crate::v1::strategies::{json_value, number};
        use proptest::prelude::*;

        fn code_and_iso() -> impl Strategy<Value = (String, Option<u64>)> {
            prop_oneof![
                proptest::sample::select(iso4217::TABLE)
                    .prop_map(|(c, n)| (String::from(c), Some(u64::from(n)))),
                Just((String::new(), None)),
                "[A-Z\\u{1f952}]{3,12}"
                    .prop_filter("not an ISO code", |c| iso4217::number_for_code(c).is_none())
                    .prop_map(|c| (c, None)),
                ("[A-Z]{3,12}", 1000u64..).prop_map(|(c, n)| (c, Some(n))),
            ]
        }

        fn non_btc() -> impl Strategy<Value = NonBtc> {
            (
                number(),
                ".+",
                code_and_iso(),
                proptest::collection::vec(any::<char>(), 0..=6),
                proptest::option::of(prop_oneof![
                    (1u64..).prop_map(Number::from),
                    (1e-300f64..1e300).prop_filter_map("finite", Number::from_f64),
                ]),
                proptest::option::of(1u8..=12),
            )
                .prop_map(
                    |(units, name, (code, iso_num), symbol, rate_timestamp, fmt_decimals)| NonBtc {
                        units,
                        name,
                        code,
                        symbol: symbol.into_iter().collect(),
                        rate_timestamp,
                        iso_num,
                        fmt_decimals,
                    },
                )
        }

        fn wad() -> impl Strategy<Value = Wad> {
            (number(), proptest::option::of(non_btc()))
                .prop_map(|(msat, non_btc)| Wad { msat, non_btc })
        }

        proptest! {
            #[test]
            fn wads_round_trip(w in wad()) {
                let json = w.to_json();
                let back = Wad::from_json(&json);
                prop_assert_eq!(back.as_ref(), Ok(&w));
                // Through text too (Python-style JSON), and the display never panics.
                let text = crate::v1::pyjson::to_string(&json);
                let reparsed: Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(Wad::from_json(&reparsed), Ok(w.clone()));
                let _ = w.to_string();
            }

            #[test]
            fn arbitrary_json_never_panics(v in json_value(), nb in json_value(), keys in proptest::collection::vec(json_value(), 0..8)) {
                let _ = Wad::from_json(&v);
                let _ = crate::v1::ProviderInfo::from_json(&v);
                let names = ["units", "name", "code", "symbol", "rate_timestamp", "iso_num", "fmt_decimals", "x"];
                let m: Map<String, Value> = names.iter().map(|n| String::from(*n)).zip(keys).collect();
                let _ = Wad::from_json(&serde_json::json!({"msat": 1, "non_btc": m}));
                let _ = Wad::from_json(&serde_json::json!({"msat": 1, "non_btc": nb}));
            }
        }
    }
}
