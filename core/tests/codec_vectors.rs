//! BigSize and TLV against the Python reference's vectors (bigsize.json, tlv.json).

mod common;

use moneysocket_core::{bigsize, hex, tlv};
use serde_json::Value;

fn hex_of(v: &Value) -> Vec<u8> {
    common::unhex(v.as_str().expect("hex string"))
}

#[test]
fn bigsize_vectors() {
    let Some(v) = common::load("v0/bigsize.json") else {
        return;
    };
    let enc = v["encode"].as_array().expect("encode");
    for case in enc {
        let value: u64 = case["value_str"]
            .as_str()
            .expect("value_str")
            .parse()
            .expect("u64");
        let (buf, len) = bigsize::encode(value);
        assert_eq!(
            hex::encode(&buf[..len]),
            case["bytes_hex"].as_str().expect("hex"),
            "{value}"
        );
        assert_eq!(bigsize::decode(&buf[..len]), Ok((value, &[][..])));
    }
    let dec = v["decode"].as_array().expect("decode");
    for case in dec {
        let bytes = hex_of(&case["bytes_hex"]);
        let got = bigsize::decode(&bytes);
        match &case["py_result"] {
            r if r.get("error").is_some() => {
                let e = got.expect_err("python rejects");
                assert_eq!(e.to_string(), r["error"].as_str().expect("text"));
            }
            r => {
                let (value, rest) = got.expect("python accepts");
                assert_eq!(Some(value), r["ok"].as_u64());
                assert_eq!(
                    hex::encode(rest),
                    r["remainder_hex"].as_str().expect("rest")
                );
            }
        }
    }
    assert!(!enc.is_empty() && !dec.is_empty());
}

#[test]
fn tlv_vectors() {
    let Some(v) = common::load("v0/tlv.json") else {
        return;
    };
    let enc = v["encode"].as_array().expect("encode");
    for case in enc {
        let mut out = Vec::new();
        tlv::write_record(
            &mut out,
            case["type"].as_u64().expect("type"),
            &hex_of(&case["value_hex"]),
        )
        .expect("vec");
        assert_eq!(
            hex::encode(&out),
            case["tlv_hex"].as_str().expect("tlv_hex")
        );
    }
    let pops = v["pop"].as_array().expect("pop");
    for case in pops {
        let bytes = hex_of(&case["bytes_hex"]);
        let r = &case["py_result"];
        match tlv::pop(&bytes) {
            Ok((rec, rest)) => {
                assert_eq!(Some(rec.typ), r["ok"]["type"].as_u64(), "{case}");
                assert_eq!(
                    hex::encode(rec.value),
                    r["ok"]["value_hex"].as_str().expect("value")
                );
                assert_eq!(
                    hex::encode(rest),
                    r["remainder_hex"].as_str().expect("rest")
                );
            }
            Err(e) => assert_eq!(
                e.to_string(),
                r["error"].as_str().expect("python rejects too"),
                "{case}"
            ),
        }
    }
    let streams = v["stream_cases"].as_array().expect("stream_cases");
    for case in streams {
        let bytes = hex_of(&case["stream_hex"]);
        let iter = &case["py_iter_tlvs"];
        let got: Result<Vec<_>, _> = tlv::records(&bytes).collect();
        match iter.get("ok") {
            Some(list) => {
                let got = got.expect("iterates");
                let want: Vec<(u64, String)> = list
                    .as_array()
                    .expect("list")
                    .iter()
                    .map(|t| {
                        (
                            t["type"].as_u64().expect("type"),
                            t["value_hex"].as_str().expect("hex").to_owned(),
                        )
                    })
                    .collect();
                let got: Vec<(u64, String)> =
                    got.iter().map(|r| (r.typ, hex::encode(r.value))).collect();
                assert_eq!(got, want, "{}", case["name"]);
            }
            // Python raises on a malformed stream; we return an error.
            None => assert!(got.is_err(), "{}", case["name"]),
        }
        let strict = tlv::check_strict(&bytes, |t| t <= 2);
        let want = &case["py_strict_namespace_parse_known_0_1_2"];
        match want.get("error") {
            Some(text) => assert_eq!(
                strict.map_err(|e| e.to_string()).err().as_deref(),
                text.as_str(),
                "{}",
                case["name"]
            ),
            None => assert_eq!(strict, Ok(()), "{}", case["name"]),
        }
    }
    assert!(!enc.is_empty() && !pops.is_empty() && !streams.is_empty());
}
