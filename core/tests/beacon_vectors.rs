//! Runs every beacon vector: v0 (`beacons.json`, `beacon-errors.json`) and the RFC v1 files
//! (`02-beacon-encode-decode.json`, `02-beacon-decode-error.json`).

mod common;

use moneysocket_core::beacon::{self, v0, v1, Beacon, Location, WebSocket};
use moneysocket_core::bech;
use moneysocket_core::hex::{self, Hex};
use moneysocket_core::seed::SharedSeed;
use serde_json::{json, Value};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} not a string in {v}"))
}

fn seed(v: &Value, k: &str) -> SharedSeed {
    SharedSeed::from_hex(s(v, k)).unwrap()
}

/// The `decoded` form of `beacons.json`.
fn v0_json(b: &Beacon) -> Value {
    let Beacon::V0(b) = b else {
        panic!("expected a v0 beacon, got {b:?}")
    };
    let locations: Vec<Value> = b
        .locations()
        .map(|l| match l {
            Location::WebSocket(ws) => json!({
                "type": "WebSocket", "host": ws.host, "port": ws.port, "use_tls": ws.use_tls
            }),
            Location::WebRtc(t) => json!({"type": "WebRTC", "placeholder_string": t}),
            Location::Bluetooth(t) => json!({"type": "Bluetooth", "placeholder_string": t}),
            Location::Nfc(t) => json!({"type": "NFC", "placeholder_string": t}),
            Location::Unknown { .. } => panic!("unknown location in a v0 beacon"),
        })
        .collect();
    json!({"shared_seed": b.shared_seed().to_string(), "locations": locations})
}

/// The `decoded` form of the RFC vectors (v1-draft.md 3.6).
fn v1_json(b: &Beacon) -> Value {
    let Beacon::V1(b) = b else {
        panic!("expected a v1 beacon, got {b:?}")
    };
    let v = b.generator_version();
    let locations: Vec<Value> = b
        .locations()
        .map(|l| match l {
            Location::WebSocket(ws) => json!({
                "location_type": "WebSocket", "generator_preference": ws.preference,
                "hostname": ws.host, "port": ws.port, "use_tls": ws.use_tls, "path": ws.path
            }),
            Location::Unknown { tlv_type, bytes } => json!({
                "location_type": "Unknown", "tlv_type": tlv_type, "bytes": Hex(bytes).to_string()
            }),
            other => panic!("{other:?} in a v1 beacon"),
        })
        .collect();
    let unknown: Vec<Value> = b
        .unknown_tlvs()
        .map(|r| json!({"t": r.typ, "l": r.value.len(), "v": Hex(r.value).to_string()}))
        .collect();
    json!({
        "hrp": b.hrp(),
        "generator_version": {"major": v.major, "minor": v.minor, "patch": v.patch},
        "role_hint": b.role_hint().map(|r| r.name()),
        "shared_seed": b.shared_seed().to_string(),
        "locations": locations,
        "unknown_tlvs": unknown,
    })
}

fn tlv_bytes(b: &Beacon) -> Vec<u8> {
    let mut v = Vec::new();
    b.encode_tlv(&mut v).unwrap();
    v
}

fn data_of(beacon: &str) -> Vec<u8> {
    let c = bech::Checked::new(beacon).unwrap();
    let mut buf = vec![0u8; beacon.len()];
    c.bytes_into(&mut buf).unwrap().to_vec()
}

/// Independent BIP-173 encoder (accepts an empty HRP, which the library refuses), used to
/// check the RFC vectors' data chunks.
fn reference_bech32(hrp: &str, data: &[u8]) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fn polymod(values: &[u8]) -> u32 {
        const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
        let mut chk = 1u32;
        for &v in values {
            let top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
            for (i, g) in GEN.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    chk ^= g;
                }
            }
        }
        chk
    }
    let mut groups = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            groups.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        groups.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend(&groups);
    values.extend([0u8; 6]);
    let pm = polymod(&values) ^ 1;
    let mut out = String::from(hrp);
    out.push('1');
    for g in groups {
        out.push(CHARSET[usize::from(g)] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((pm >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

#[test]
fn v0_encode_cases() {
    let Some(file) = common::load("v0/beacons.json") else {
        return;
    };
    let cases = file["encode_cases"].as_array().unwrap();
    let mut n = 0;
    for c in cases {
        let name = s(c, "name");
        let mut b = v0::Beacon::new(seed(c, "shared_seed"));
        for l in c["locations"].as_array().unwrap() {
            let loc = match s(l, "type") {
                "WebSocket" => {
                    let tls = l["use_tls"].as_bool().unwrap();
                    let mut ws = WebSocket::new(s(l, "host"), tls);
                    if let Some(p) = l["port"].as_u64() {
                        ws = ws.with_port(p);
                    }
                    Location::WebSocket(ws)
                }
                "WebRTC" => Location::WebRtc(s(l, "placeholder_string")),
                "Bluetooth" => Location::Bluetooth(s(l, "placeholder_string")),
                "NFC" => Location::Nfc(s(l, "placeholder_string")),
                t => panic!("{name}: location type {t}"),
            };
            b.push_location(loc).unwrap();
        }
        let b = Beacon::V0(b);
        assert_eq!(hex::encode(&tlv_bytes(&b)), s(c, "tlv_hex"), "{name}: tlv");
        assert_eq!(b.to_string(), s(c, "beacon"), "{name}: beacon");
        let d = Beacon::decode(s(c, "beacon")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v0_json(&d), c["decoded"], "{name}: decoded");
        assert_eq!(d, b, "{name}: decoded beacon");
        n += 1;
    }
    assert_eq!(n, cases.len());
    eprintln!("v0 encode_cases: {n}/{} pass", cases.len());
}

#[test]
fn v0_decode_cases() {
    let Some(file) = common::load("v0/beacons.json") else {
        return;
    };
    let cases = file["decode_cases"].as_array().unwrap();
    let mut n = 0;
    for c in cases {
        let name = s(c, "name");
        let beacon = s(c, "beacon");
        if let Some(h) = c["tlv_hex"].as_str() {
            assert_eq!(hex::encode(&data_of(beacon)), h, "{name}: data part");
        }
        let expected = &c["py_result"]["ok"];
        assert!(expected.is_object(), "{name}: reference result is not ok");
        let d = Beacon::decode(beacon).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&v0_json(&d), expected, "{name}");
        n += 1;
    }
    assert_eq!(n, cases.len());
    eprintln!("v0 decode_cases: {n}/{} pass", cases.len());
}

#[test]
fn v0_beacon_errors() {
    let Some(file) = common::load("v0/beacon-errors.json") else {
        return;
    };
    let cases = file["cases"].as_array().unwrap();
    let (mut n, mut with_text, mut text_matches) = (0, 0, 0);
    for c in cases {
        let name = s(c, "name");
        let err = match Beacon::decode(s(c, "beacon")) {
            Ok(b) => panic!("{name}: accepted: {b:?}"),
            Err(e) => e.to_string(),
        };
        if let Some(expected) = c["py_result"]["error"].as_str() {
            with_text += 1;
            if err == expected {
                text_matches += 1;
            } else {
                eprintln!("{name}: text differs: ours {err:?}, reference {expected:?}");
            }
        } else {
            assert!(c["py_result"]["exception"].is_object(), "{name}");
            eprintln!("{name}: reference raises; ours: {err:?}");
        }
        n += 1;
    }
    assert_eq!(n, cases.len());
    eprintln!(
        "v0 beacon-errors: {n}/{} rejected; exact text {text_matches}/{with_text}",
        cases.len()
    );
    assert_eq!(text_matches, with_text, "some error texts differ");
}

fn v1_from_json(d: &Value) -> Beacon {
    let mut b = v1::Beacon::new(seed(d, "shared_seed"));
    b.set_hrp(s(d, "hrp")).unwrap();
    let v = &d["generator_version"];
    let n = |k: &str| u8::try_from(v[k].as_u64().unwrap()).unwrap();
    b.set_generator_version(v1::GeneratorVersion {
        major: n("major"),
        minor: n("minor"),
        patch: n("patch"),
    });
    let role = d["role_hint"].as_str().map(|name| {
        (0..3)
            .filter_map(v1::RoleHint::from_u8)
            .find(|r| r.name() == name)
            .unwrap()
    });
    b.set_role_hint(role);
    let bytes: Vec<Vec<u8>> = d["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["bytes"].as_str().map(common::unhex).unwrap_or_default())
        .collect();
    for (l, bytes) in d["locations"].as_array().unwrap().iter().zip(&bytes) {
        let loc = match s(l, "location_type") {
            "WebSocket" => Location::WebSocket(
                WebSocket::new(s(l, "hostname"), l["use_tls"].as_bool().unwrap())
                    .with_port(l["port"].as_u64().unwrap())
                    .with_path(s(l, "path"))
                    .with_preference(
                        u8::try_from(l["generator_preference"].as_u64().unwrap()).unwrap(),
                    ),
            ),
            "Unknown" => Location::Unknown {
                tlv_type: l["tlv_type"].as_u64().unwrap(),
                bytes,
            },
            t => panic!("location type {t}"),
        };
        b.push_location(loc).unwrap();
    }
    for u in d["unknown_tlvs"].as_array().unwrap() {
        let v = common::unhex(s(u, "v"));
        assert_eq!(u["l"].as_u64().unwrap(), v.len() as u64);
        b.push_unknown_tlv(u["t"].as_u64().unwrap(), &v).unwrap();
    }
    Beacon::V1(b)
}

#[test]
fn rfc_encode_decode() {
    let Some(file) = common::load("rfc/02-beacon-encode-decode.json") else {
        return;
    };
    let cases = file.as_array().unwrap();
    let mut n = 0;
    for c in cases {
        let name = s(c, "test_name");
        let encoded = s(c, "encoded");
        let d = Beacon::decode(encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v1_json(&d), c["decoded"], "{name}: decoded");
        assert_eq!(d.to_string(), encoded, "{name}: re-encoded");
        let built = v1_from_json(&c["decoded"]);
        assert_eq!(built.to_string(), encoded, "{name}: encoded from fields");
        assert_eq!(built, d, "{name}: built vs decoded");
        n += 1;
    }
    assert_eq!(n, cases.len());
    eprintln!("rfc encode-decode: {n}/{} pass", cases.len());
}

#[test]
fn rfc_decode_error() {
    let Some(file) = common::load("rfc/02-beacon-decode-error.json") else {
        return;
    };
    let cases = file.as_array().unwrap();
    let (mut n, mut chunk_checks) = (0, 0);
    for c in cases {
        let name = s(c, "test_name");
        let input = &c["input"];
        let beacon = s(input, "beacon");
        let err = match Beacon::decode(beacon) {
            Ok(b) => panic!("{name}: accepted: {b:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(err, s(c, "decode_error"), "{name}");
        if let Some(chunks) = input["beacon_data_part_chunks"].as_array() {
            let data: Vec<u8> = chunks
                .iter()
                .flat_map(|h| common::unhex(h.as_str().unwrap()))
                .collect();
            let hrp = s(input, "beacon_hrp");
            assert_eq!(reference_bech32(hrp, &data), beacon, "{name}: chunks");
            if !hrp.is_empty() {
                let mut ours = String::new();
                bech::encode_to_fmt(&mut ours, hrp, &data).unwrap();
                assert_eq!(ours, beacon, "{name}: chunks (library encoder)");
            }
            chunk_checks += 1;
        }
        n += 1;
    }
    assert_eq!(n, cases.len());
    eprintln!(
        "rfc decode-error: {n}/{} exact; {chunk_checks} chunk checks",
        cases.len()
    );
}

#[test]
fn capacities_cover_the_vectors() {
    // The longest vector host (253 characters) fits; so does a beacon at every limit.
    const { assert!(beacon::MAX_HOST_LEN >= 254) };
    let host = ["a"; 127].join(".");
    let mut b = v1::Beacon::new(SharedSeed([0; 16]));
    b.push_websocket(WebSocket::new(&host, true).with_path(&"p".repeat(beacon::MAX_PATH_LEN)))
        .unwrap();
    let s = b.to_string();
    assert_eq!(Beacon::decode(&s).unwrap(), Beacon::V1(b));
}
