//! The v1 draft wad, provider-info and message vectors (RFC `03-*`, py-moneysocket `04-*`).

mod common;

use moneysocket_core::v1::{pyjson, Message, ProviderInfo, Wad};
use serde_json::Value;

/// 2026-01-01T00:00:00Z: the receiver clock for the future-timestamp check.
const NOW: u64 = 1_767_225_600;

fn cases(file: &str) -> Option<Vec<Value>> {
    let v = common::load(file)?;
    Some(
        v.as_array()
            .unwrap_or_else(|| panic!("{file}: not an array"))
            .clone(),
    )
}

fn name(case: &Value) -> &str {
    case["test_name"].as_str().unwrap_or("?")
}

#[test]
fn wad_encode() {
    let Some(cases) = cases("rfc/03-wad-encode.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let input = &case["wad"];
        let wad = Wad::from_json(input).unwrap_or_else(|e| panic!("{}: {e}", name(case)));
        assert_eq!(&wad.to_json(), input, "{}: round trip", name(case));
        assert_eq!(
            Some(wad.to_string().as_str()),
            case["string_fmt"].as_str(),
            "{}: display",
            name(case)
        );
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 5);
}

#[test]
fn wad_decode_error() {
    let Some(cases) = cases("rfc/03-wad-decode-error.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let got = Wad::from_json(&case["input"]).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(|_| ()).map_err(String::as_str),
            Err(case["decode_error"].as_str().unwrap()),
            "{}",
            name(case)
        );
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 28);
}

#[test]
fn provider_info_encode() {
    let Some(cases) = cases("rfc/03-provider-info-encode.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let input = &case["provider_info"];
        let pi = ProviderInfo::from_json(input).unwrap_or_else(|e| panic!("{}: {e}", name(case)));
        assert_eq!(&pi.to_json(), input, "{}: round trip", name(case));
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 7);
}

#[test]
fn provider_info_decode_error() {
    let Some(cases) = cases("rfc/03-provider-info-decode-error.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let got = ProviderInfo::from_json(&case["input"]).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(|_| ()).map_err(String::as_str),
            Err(case["decode_error"].as_str().unwrap()),
            "{}",
            name(case)
        );
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 30);
}

/// Builds a message from the vectors' "decoded" form (no additional TLVs in the file).
fn from_decoded(d: &Value) -> Message {
    use moneysocket_core::v1::{AdditionalTlv, MessageType, Version};
    let v = &d["sender_version"];
    let part = |k: &str| v[k].as_u64().and_then(|x| u8::try_from(x).ok()).unwrap();
    Message {
        sender_version: Version {
            major: part("major"),
            minor: part("minor"),
            patch: part("patch"),
        },
        msg_type: MessageType::from_number(d["type"].as_u64().unwrap() as u8).unwrap(),
        subtype: d["subtype"].as_u64().unwrap(),
        language_object: d["language_object"].as_object().unwrap().clone(),
        additional_tlvs: d["additional_tlvs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| AdditionalTlv {
                typ: t["t"].as_u64().unwrap(),
                value: common::unhex(t["v"].as_str().unwrap()),
            })
            .collect(),
    }
}

#[test]
fn message_encode_decode() {
    let Some(cases) = cases("rfc/04-message-encode-decode.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let bytes = common::unhex(case["encoded"].as_str().unwrap());
        let msg = Message::decode(&bytes, NOW).unwrap_or_else(|e| panic!("{}: {e}", name(case)));
        assert_eq!(msg.to_json(), case["decoded"], "{}: decode", name(case));
        assert_eq!(msg.encode(), bytes, "{}: re-encode", name(case));
        let built = from_decoded(&case["decoded"]);
        assert_eq!(built, msg, "{}: from decoded form", name(case));
        assert_eq!(
            moneysocket_core::hex::encode(&built.encode()),
            case["encoded"].as_str().unwrap(),
            "{}: encode",
            name(case)
        );
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 3);
}

#[test]
fn message_decode_error() {
    let Some(cases) = cases("rfc/04-message-decode-error.json") else {
        return;
    };
    let mut done = 0;
    for case in &cases {
        let mut bytes = Vec::new();
        for chunk in case["input_chunks"].as_array().unwrap() {
            match chunk {
                Value::String(h) => bytes.extend(common::unhex(h)),
                // Python's default json.dumps, in the file's member order (draft 7.7).
                obj @ Value::Object(_) => bytes.extend(pyjson::to_vec(obj)),
                other => panic!("{}: odd chunk {other}", name(case)),
            }
        }
        let got = Message::decode(&bytes, NOW).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(|_| ()).map_err(String::as_str),
            Err(case["decode_error"].as_str().unwrap()),
            "{}",
            name(case)
        );
        done += 1;
    }
    assert_eq!(done, cases.len());
    assert_eq!(done, 62);
}
