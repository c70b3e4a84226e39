//! The v1 draft JSON objects: wads, provider info and the binary message envelope.
//!
//! Everything follows the "implementer's digest" of the v1 draft (sections 5 to 7): the
//! validation order and error texts of `moneysocket1` (the Python reference, whose output
//! the RFC vectors record), with the deviations listed in `docs/quirks-v1.md`. JSON
//! numbers keep their integer/float nature (`serde_json::Number`). Sans-IO: the message
//! decoder takes the current time as a parameter.

pub mod iso4217;
pub mod message;
pub mod provider_info;
pub mod pyjson;
pub mod wad;

pub use message::{
    AdditionalTlv, Message, MessageError, MessageType, Subtype, Version, VersionPart, RFC_SUBTYPES,
    TRANSPORT_PING, TRANSPORT_PONG,
};
pub use provider_info::{ProviderInfo, ProviderInfoError, PublicKeyInfo};
pub use wad::{NonBtc, Wad, WadError};

/// Proptest strategies shared by the v1 unit tests.
#[cfg(all(test, feature = "std"))]
pub(crate) mod strategies {
    use proptest::prelude::*;
    use serde_json::{Number, Value};

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter_map("finite", Number::from_f64)
                .prop_map(Value::Number),
            ".*".prop_map(Value::String),
        ]
    }

    /// Arbitrary JSON values (depth <= 3).
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((".*", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Any finite JSON number, integer or float.
    pub(crate) fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            any::<f64>().prop_filter_map("finite", Number::from_f64),
        ]
    }
}
