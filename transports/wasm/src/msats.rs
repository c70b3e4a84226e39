//! Msat amounts at the JavaScript boundary: a JS `BigInt` both ways (integer msat everywhere;
//! a JS Number is exact only below 2^53). wasm-bindgen's own `u64` argument conversion wraps a
//! negative or too large BigInt (`BigInt.asUintN(64, …)`), so the bindings take an amount as
//! a JS value and decide here, on its decimal text, whether it is one: 0 ..= `u64::MAX`.

use alloc::string::String;
use core::fmt;

/// The amount shown in an error when it is at most this long; a longer one is described by
/// its number of digits.
const SHOWN: usize = 40;

/// Why a JS value is not an msat amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsatsError {
    /// Not a BigInt: a JS Number (shown as JS prints it) or a value of another type.
    NotBigInt {
        /// The value's `typeof` (`"number"`, `"string"`, `"undefined"`, …).
        js_type: String,
        /// The value, for a Number (`None` for other types).
        number: Option<String>,
    },
    /// A negative BigInt (its decimal text).
    Negative(String),
    /// A BigInt above `u64::MAX` (its decimal text).
    TooLarge(String),
    /// The BigInt's decimal text did not parse (not expected from a JS engine).
    Malformed(String),
}

/// `text`, or its length when it is long.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.trim_start_matches('-');
        if self.0.len() <= SHOWN {
            write!(f, "{}n", self.0)
        } else if self.0.starts_with('-') {
            write!(f, "a negative BigInt of {} digits", digits.len())
        } else {
            write!(f, "a BigInt of {} digits", digits.len())
        }
    }
}

impl fmt::Display for MsatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsatsError::NotBigInt {
                js_type,
                number: Some(n),
            } => write!(
                f,
                "msats must be a BigInt (e.g. 1000n), not the {js_type} {n}"
            ),
            MsatsError::NotBigInt { js_type, .. } => {
                write!(
                    f,
                    "msats must be a BigInt (e.g. 1000n), not a value of type {js_type}"
                )
            }
            MsatsError::Negative(t) => {
                write!(f, "msats must not be negative, not {}", Shown(t))
            }
            MsatsError::TooLarge(t) => write!(
                f,
                "msats must be at most 18446744073709551615n (2^64 - 1), not {}",
                Shown(t)
            ),
            MsatsError::Malformed(t) => {
                write!(
                    f,
                    "msats: not an integer: {:?}",
                    t.get(..SHOWN).unwrap_or(t)
                )
            }
        }
    }
}

/// The msat amount a BigInt's decimal text (`BigInt.prototype.toString()`, an optional `-`
/// then digits) stands for: 0 ..= `u64::MAX`, or why not.
pub fn from_decimal(text: &str) -> Result<u64, MsatsError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MsatsError::Malformed(text.into()));
    }
    let zero = digits.bytes().all(|b| b == b'0');
    if negative && !zero {
        return Err(MsatsError::Negative(text.into()));
    }
    // All digits: the only way `parse` fails is overflow.
    digits
        .parse::<u64>()
        .map_err(|_| MsatsError::TooLarge(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_whole_u64_range_and_nothing_else() {
        assert_eq!(from_decimal("0"), Ok(0));
        assert_eq!(from_decimal("-0"), Ok(0));
        assert_eq!(from_decimal("1000"), Ok(1000));
        // above 2^53, where a JS Number is no longer exact
        assert_eq!(from_decimal("9007199254740993"), Ok(9_007_199_254_740_993));
        assert_eq!(from_decimal("18446744073709551614"), Ok(u64::MAX - 1));
        assert_eq!(from_decimal("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            from_decimal("18446744073709551616"),
            Err(MsatsError::TooLarge("18446744073709551616".into()))
        );
        assert_eq!(from_decimal("-1"), Err(MsatsError::Negative("-1".into())));
        // -1 would wrap to u64::MAX, -2^64 + 5 to 5: neither is an amount
        assert_eq!(
            from_decimal("-18446744073709551611"),
            Err(MsatsError::Negative("-18446744073709551611".into()))
        );
        for bad in ["", "-", "1.5", "1e3", "0x10", " 1", "1n", "+1", "--1"] {
            assert!(
                matches!(from_decimal(bad), Err(MsatsError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_say_what_was_wrong() {
        let number = MsatsError::NotBigInt {
            js_type: "number".into(),
            number: Some("1000".into()),
        };
        assert_eq!(
            number.to_string(),
            "msats must be a BigInt (e.g. 1000n), not the number 1000"
        );
        let string = MsatsError::NotBigInt {
            js_type: "string".into(),
            number: None,
        };
        assert_eq!(
            string.to_string(),
            "msats must be a BigInt (e.g. 1000n), not a value of type string"
        );
        assert_eq!(
            from_decimal("-5").unwrap_err().to_string(),
            "msats must not be negative, not -5n"
        );
        assert_eq!(
            from_decimal("18446744073709551616")
                .unwrap_err()
                .to_string(),
            "msats must be at most 18446744073709551615n (2^64 - 1), not 18446744073709551616n"
        );
        let huge = "9".repeat(1000);
        assert_eq!(
            from_decimal(&huge).unwrap_err().to_string(),
            "msats must be at most 18446744073709551615n (2^64 - 1), not a BigInt of 1000 digits"
        );
    }
}
