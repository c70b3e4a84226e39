//! Provider info: what a provider tells a consumer about the account (draft §6).
//!
//! Validation follows the draft's order and texts (`moneysocket1`). A missing
//! `feature_data`, which crashes the Python code, is refused with
//! `feature_data value not included`.

use super::wad::{char_len, Wad, WadError};
use crate::uuid::Uuid;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde_json::{Map, Value};

/// The members [`ProviderInfo`] interprets; anything else is kept in `extra`.
const KNOWN: [&str; 7] = [
    "account_uuid",
    "wad",
    "payer",
    "payee",
    "features",
    "feature_data",
    "public_keys",
];

/// A validated provider-info object.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    /// The account UUID text as received (a version-4 UUID; see [`ProviderInfo::uuid`]).
    pub account_uuid: String,
    /// The account balance.
    pub wad: Wad,
    /// Whether the provider can pay.
    pub payer: bool,
    /// Whether the provider can be paid.
    pub payee: bool,
    /// Declared features (duplicates allowed, order kept).
    pub features: Vec<String>,
    /// Per-feature data, keyed by declared feature names; values never null.
    pub feature_data: Map<String, Value>,
    /// Public keys, in the order received.
    pub public_keys: Vec<PublicKeyInfo>,
    /// Any further top-level members, in the order received.
    pub extra: Map<String, Value>,
}

/// One entry of `public_keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKeyInfo {
    /// The member name: the key in hex, as received.
    pub key: String,
    /// The key bytes decoded from `key`.
    pub key_bytes: Vec<u8>,
    /// The curve name; never empty.
    pub curve: String,
    /// Optional display name, 1 to 64 characters.
    pub friendly_name: Option<String>,
    /// Supported features; non-empty strings.
    pub features: Vec<String>,
    /// Any further members, in the order received.
    pub extra: Map<String, Value>,
}

/// Why provider info was refused. `Display` gives the exact text (draft §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderInfoError {
    /// The value is not a JSON object (no `moneysocket1` text).
    NotAnObject,
    /// `no account_uuid included`
    NoAccountUuid,
    /// `account_uuid type is not a string`
    AccountUuidType,
    /// `invalid account_uuid`
    InvalidAccountUuid,
    /// `account_uuid is not uuid version 4`
    AccountUuidNotV4,
    /// `wad value not included`
    NoWad,
    /// `wad value not an object`
    WadType,
    /// `invalid wad: <wad error>`
    Wad(WadError),
    /// `no payee setting included`
    NoPayee,
    /// `payee must be boolean type`
    PayeeType,
    /// `no payer setting included`
    NoPayer,
    /// `payer must be boolean type`
    PayerType,
    /// `features value not included`
    NoFeatures,
    /// `features value must be a list`
    FeaturesType,
    /// `features list entry not a string`
    FeatureType,
    /// `feature_data value not included` (the Python code crashes instead)
    NoFeatureData,
    /// `features value must be an object` (sic: about `feature_data`)
    FeatureDataType,
    /// `feature_data for undeclared feature`
    FeatureDataUndeclared,
    /// `feature_data value is null`
    FeatureDataNull,
    /// `public_keys value not included`
    NoPublicKeys,
    /// `public_keys value not object type`
    PublicKeysType,
    /// `public key not interpretable as bytes`
    PublicKeyNotHex,
    /// `public key info value not object type`
    PublicKeyInfoType,
    /// `curve of public key not specified`
    NoCurve,
    /// `curve value not a string`
    CurveType,
    /// `curve value is an empty string`
    CurveEmpty,
    /// `friendly_name value is not a string`
    FriendlyNameType,
    /// `friendly_name value is empty string`
    FriendlyNameEmpty,
    /// `friendly_name string is longer than 64 chars`
    FriendlyNameTooLong,
    /// `features list not included in object`
    NoKeyFeatures,
    /// `features value not an array`
    KeyFeaturesType,
    /// `feature string not a string`
    KeyFeatureType,
    /// `feature string an empty string`
    KeyFeatureEmpty,
}

impl fmt::Display for ProviderInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProviderInfoError as E;
        f.write_str(match self {
            E::NotAnObject => "provider info is not an object",
            E::NoAccountUuid => "no account_uuid included",
            E::AccountUuidType => "account_uuid type is not a string",
            E::InvalidAccountUuid => "invalid account_uuid",
            E::AccountUuidNotV4 => "account_uuid is not uuid version 4",
            E::NoWad => "wad value not included",
            E::WadType => "wad value not an object",
            E::Wad(e) => return write!(f, "invalid wad: {e}"),
            E::NoPayee => "no payee setting included",
            E::PayeeType => "payee must be boolean type",
            E::NoPayer => "no payer setting included",
            E::PayerType => "payer must be boolean type",
            E::NoFeatures => "features value not included",
            E::FeaturesType => "features value must be a list",
            E::FeatureType => "features list entry not a string",
            E::NoFeatureData => "feature_data value not included",
            E::FeatureDataType => "features value must be an object",
            E::FeatureDataUndeclared => "feature_data for undeclared feature",
            E::FeatureDataNull => "feature_data value is null",
            E::NoPublicKeys => "public_keys value not included",
            E::PublicKeysType => "public_keys value not object type",
            E::PublicKeyNotHex => "public key not interpretable as bytes",
            E::PublicKeyInfoType => "public key info value not object type",
            E::NoCurve => "curve of public key not specified",
            E::CurveType => "curve value not a string",
            E::CurveEmpty => "curve value is an empty string",
            E::FriendlyNameType => "friendly_name value is not a string",
            E::FriendlyNameEmpty => "friendly_name value is empty string",
            E::FriendlyNameTooLong => "friendly_name string is longer than 64 chars",
            E::NoKeyFeatures => "features list not included in object",
            E::KeyFeaturesType => "features value not an array",
            E::KeyFeatureType => "feature string not a string",
            E::KeyFeatureEmpty => "feature string an empty string",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProviderInfoError {}

/// Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs.
fn from_hex_lenient(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut it = text.bytes().peekable();
    loop {
        while it.next_if(|b| b.is_ascii_whitespace()).is_some() {}
        let Some(hi) = it.next() else {
            return Some(out);
        };
        let lo = it.next()?;
        let hi = char::from(hi).to_digit(16)?;
        let lo = char::from(lo).to_digit(16)?;
        out.push((hi << 4 | lo) as u8);
    }
}

fn string_list(
    v: &Value,
    not_list: ProviderInfoError,
    not_string: ProviderInfoError,
) -> Result<Vec<String>, ProviderInfoError> {
    let items = v.as_array().ok_or(not_list)?;
    items
        .iter()
        .map(|x| x.as_str().map(String::from).ok_or(not_string))
        .collect()
}

impl PublicKeyInfo {
    fn from_entry(key: &str, value: &Value) -> Result<PublicKeyInfo, ProviderInfoError> {
        use ProviderInfoError as E;
        let key_bytes = from_hex_lenient(key).ok_or(E::PublicKeyNotHex)?;
        let m = value.as_object().ok_or(E::PublicKeyInfoType)?;
        let curve = match m.get("curve") {
            None => return Err(E::NoCurve),
            Some(Value::String(s)) if s.is_empty() => return Err(E::CurveEmpty),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(E::CurveType),
        };
        let friendly_name = match m.get("friendly_name") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => return Err(E::FriendlyNameEmpty),
            Some(Value::String(s)) if char_len(s) > 64 => return Err(E::FriendlyNameTooLong),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(E::FriendlyNameType),
        };
        let list = m
            .get("features")
            .ok_or(E::NoKeyFeatures)?
            .as_array()
            .ok_or(E::KeyFeaturesType)?;
        let mut features = Vec::with_capacity(list.len());
        for x in list {
            match x.as_str() {
                None => return Err(E::KeyFeatureType),
                Some("") => return Err(E::KeyFeatureEmpty),
                Some(f) => features.push(String::from(f)),
            }
        }
        let extra = m
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "curve" | "friendly_name" | "features"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(PublicKeyInfo {
            key: key.into(),
            key_bytes,
            curve,
            friendly_name,
            features,
            extra,
        })
    }

    /// Re-serialises the value part (`curve`, `features`, `friendly_name`, extras).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("curve".into(), Value::String(self.curve.clone()));
        m.insert(
            "features".into(),
            Value::Array(self.features.iter().cloned().map(Value::String).collect()),
        );
        if let Some(n) = &self.friendly_name {
            m.insert("friendly_name".into(), Value::String(n.clone()));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

impl ProviderInfo {
    /// Validates a provider-info object (draft §6.2 order).
    pub fn from_json(value: &Value) -> Result<ProviderInfo, ProviderInfoError> {
        use ProviderInfoError as E;
        let m = value.as_object().ok_or(E::NotAnObject)?;

        let account_uuid = match m.get("account_uuid") {
            None => return Err(E::NoAccountUuid),
            Some(Value::String(s)) => s,
            Some(_) => return Err(E::AccountUuidType),
        };
        let uuid = Uuid::parse_lenient(account_uuid).map_err(|_| E::InvalidAccountUuid)?;
        if !uuid.is_v4() {
            return Err(E::AccountUuidNotV4);
        }

        let wad = match m.get("wad") {
            None => return Err(E::NoWad),
            Some(w @ Value::Object(_)) => Wad::from_json(w).map_err(E::Wad)?,
            Some(_) => return Err(E::WadType),
        };

        let payee = match m.get("payee") {
            None => return Err(E::NoPayee),
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(E::PayeeType),
        };
        let payer = match m.get("payer") {
            None => return Err(E::NoPayer),
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(E::PayerType),
        };

        let features = string_list(
            m.get("features").ok_or(E::NoFeatures)?,
            E::FeaturesType,
            E::FeatureType,
        )?;

        let feature_data = match m.get("feature_data") {
            None => return Err(E::NoFeatureData),
            Some(Value::Object(o)) => o,
            Some(_) => return Err(E::FeatureDataType),
        };
        // A set, not a scan per key: features × keys would be quadratic on hostile input.
        let declared: alloc::collections::BTreeSet<&str> =
            features.iter().map(|f| f.as_str()).collect();
        for (k, v) in feature_data {
            if !declared.contains(k.as_str()) {
                return Err(E::FeatureDataUndeclared);
            }
            if v.is_null() {
                return Err(E::FeatureDataNull);
            }
        }

        let public_keys = match m.get("public_keys") {
            None => return Err(E::NoPublicKeys),
            Some(Value::Object(o)) => o
                .iter()
                .map(|(k, v)| PublicKeyInfo::from_entry(k, v))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(E::PublicKeysType),
        };

        let extra = m
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();

        Ok(ProviderInfo {
            account_uuid: account_uuid.clone(),
            wad,
            payer,
            payee,
            features,
            feature_data: feature_data.clone(),
            public_keys,
            extra,
        })
    }

    /// The account UUID, parsed (it was validated as a version-4 UUID on input).
    pub fn uuid(&self) -> Option<Uuid> {
        Uuid::parse_lenient(&self.account_uuid).ok()
    }

    /// Re-serialises: the known members (the wad per draft §5.3, the rest as received),
    /// then the extra members in their original order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "account_uuid".into(),
            Value::String(self.account_uuid.clone()),
        );
        m.insert("wad".into(), self.wad.to_json());
        m.insert("payer".into(), Value::Bool(self.payer));
        m.insert("payee".into(), Value::Bool(self.payee));
        m.insert(
            "features".into(),
            Value::Array(self.features.iter().cloned().map(Value::String).collect()),
        );
        m.insert(
            "feature_data".into(),
            Value::Object(self.feature_data.clone()),
        );
        let keys = self
            .public_keys
            .iter()
            .map(|k| (k.key.clone(), k.to_json()))
            .collect();
        m.insert("public_keys".into(), Value::Object(keys));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use serde_json::json;

    fn base() -> Value {
        json!({"account_uuid": "a5b32936-3143-4856-bdea-7b3dda7aa5e8",
               "wad": {"msat": 1, "non_btc": null}, "payer": true, "payee": false,
               "features": ["f1", "f1"], "feature_data": {"f1": 0},
               "public_keys": {"00 ab\tCD": {"curve": "c", "features": [], "x": 1}},
               "zzz": [1]})
    }

    #[test]
    fn round_trip_and_extras() {
        let pi = ProviderInfo::from_json(&base()).unwrap();
        assert_eq!(pi.to_json(), base());
        assert_eq!(pi.public_keys[0].key_bytes, [0x00, 0xab, 0xcd]);
        assert!(pi.uuid().is_some_and(|u| u.is_v4()));
    }

    #[test]
    fn refusals() {
        let cases = [
            (
                "account_uuid",
                json!("a5b32936-3143-4856-0dea-7b3dda7aa5e8"),
                "account_uuid is not uuid version 4",
            ),
            (
                "account_uuid",
                json!("A5B32936-3143-4856-BDEA-7B3DDA7AA5E8"),
                "",
            ),
            (
                "feature_data",
                json!([]),
                "features value must be an object",
            ),
            ("payer", json!(1), "payer must be boolean type"),
            (
                "wad",
                json!({"msat": 1, "non_btc": null, "x": 1}),
                "invalid wad: extra keys in wad_dict",
            ),
            (
                "public_keys",
                json!({"abc": {}}),
                "public key not interpretable as bytes",
            ),
            (
                "public_keys",
                json!({"a b": {}}),
                "public key not interpretable as bytes",
            ),
            (
                "public_keys",
                json!({"": {"curve": "c", "features": ["", 1]}}),
                "feature string an empty string",
            ),
            (
                "public_keys",
                json!({"": {"curve": "c", "features": [1, ""]}}),
                "feature string not a string",
            ),
            (
                "public_keys",
                json!({"": {"curve": "c", "features": [], "friendly_name": "\u{1f952}".repeat(64)}}),
                "",
            ),
            (
                "public_keys",
                json!({"": {"curve": "c", "features": [], "friendly_name": "x".repeat(65)}}),
                "friendly_name string is longer than 64 chars",
            ),
        ];
        for (k, v, want) in cases {
            let mut input = base();
            input[k] = v;
            let got = ProviderInfo::from_json(&input)
                .map(|_| ())
                .map_err(|e| e.to_string());
            if want.is_empty() {
                assert_eq!(got, Ok(()), "{k}");
            } else {
                assert_eq!(got, Err(want.to_string()), "{k}");
            }
        }
        let mut input = base();
        input.as_object_mut().unwrap().remove("feature_data");
        assert_eq!(
            ProviderInfo::from_json(&input),
            Err(ProviderInfoError::NoFeatureData)
        );
        assert_eq!(
            ProviderInfo::from_json(&json!(null)),
            Err(ProviderInfoError::NotAnObject)
        );
    }
}
