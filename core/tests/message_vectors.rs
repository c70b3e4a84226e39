//! Conformance against `v0/messages.json`.
//!
//! * every `valid` entry parses as its kind and re-serialises byte-for-byte;
//! * every `invalid` entry is accepted iff Python accepts it (`py_result.ok`), except where the
//!   crate is deliberately stricter (none so far: UUIDs follow Python's lenient parser);
//! * where Python gives an error text, ours is compared and the matches are counted.

mod common;

use moneysocket_core::json::parses_as_json;
use moneysocket_core::message::{Message, MessageKind};

#[test]
fn valid_vectors() {
    let Some(v) = common::load("v0/messages.json") else {
        return;
    };
    let cases = v["valid"].as_array().expect("valid array");
    let mut done = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let wire = case["wire_json"].as_str().unwrap();
        let msg = Message::parse(wire.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: valid vector rejected: {e}"));
        assert_eq!(msg.kind().name(), name);
        assert_eq!(case["py_result"]["ok"].as_str(), Some(name));
        assert_eq!(
            msg.must_be_cleartext(),
            case["must_be_cleartext"].as_bool().unwrap(),
            "{name}"
        );
        let mut out = Vec::new();
        msg.write_json(&mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            wire,
            "{name}: re-serialisation"
        );
        assert_eq!(msg.json_len(), wire.len());
        assert_eq!(msg.to_json_string(), wire);
        // A fixed buffer of exactly the right size works; one byte less overflows.
        let mut buf = vec![0u8; wire.len()];
        let mut sink = moneysocket_core::sink::SliceSink::new(&mut buf);
        msg.write_json(&mut sink).unwrap();
        let mut small = vec![0u8; wire.len() - 1];
        let mut sink = moneysocket_core::sink::SliceSink::new(&mut small);
        assert!(msg.write_json(&mut sink).is_err());
        assert!(parses_as_json(wire.as_bytes()));
        done += 1;
    }
    assert_eq!(done, cases.len());
    // The kinds table agrees with MessageKind.
    let kinds = v["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), MessageKind::ALL.len());
    for k in kinds {
        let kind = MessageKind::from_name(k["name"].as_str().unwrap()).unwrap();
        assert_eq!(kind.class().name(), k["message_class"].as_str().unwrap());
        assert_eq!(
            kind.must_be_cleartext(),
            k["must_be_cleartext"].as_bool().unwrap()
        );
    }
}

#[test]
fn invalid_vectors() {
    let Some(v) = common::load("v0/messages.json") else {
        return;
    };
    let cases = v["invalid"].as_array().expect("invalid array");
    let (mut done, mut with_text, mut text_matches) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let json = case["json"].as_str().unwrap();
        let py = &case["py_result"];
        let result = Message::parse(json.as_bytes());
        if let Some(kind) = py["ok"].as_str() {
            let msg = result.unwrap_or_else(|e| panic!("{name}: Python accepts, we reject: {e}"));
            assert_eq!(msg.kind().name(), kind, "{name}");
            // What we accept we can re-serialise, and the result parses to an equal message.
            let text = msg.to_json_string();
            let again = Message::parse(text.as_bytes()).unwrap();
            assert_eq!(again, msg, "{name}");
        } else if let Some(err) = py["error"].as_str() {
            let e = result
                .err()
                .unwrap_or_else(|| panic!("{name}: Python rejects, we accept"));
            with_text += 1;
            if e.to_string() == err {
                text_matches += 1;
            } else {
                mismatches.push(format!(
                    "{name}: ours {:?}, Python {:?}",
                    e.to_string(),
                    err
                ));
            }
            assert!(!e.python_raises(), "{name}");
        } else {
            assert!(py.get("exception").is_some(), "{name}: unknown verdict");
            let e = result
                .err()
                .unwrap_or_else(|| panic!("{name}: Python raises, we accept"));
            assert!(e.python_raises(), "{name}: {e:?}");
        }
        done += 1;
    }
    assert_eq!(done, cases.len());
    eprintln!(
        "messages.json invalid: {done} cases, {text_matches}/{with_text} error texts identical to Python"
    );
    assert!(
        mismatches.is_empty(),
        "error text mismatches: {mismatches:#?}"
    );
}

mod props {
    use moneysocket_core::json::{self, parses_as_json, Num};
    use moneysocket_core::message::{Hex256, Message, ProviderInfo, Text, Timestamp, Wad};
    use moneysocket_core::uuid::Uuid;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct WadData {
        msats: u64,
        stable: bool,
        units: Result<u64, f64>,
        code: String,
        countries: Option<String>,
        decimals: Option<u8>,
        iso_num: Option<u64>,
        name: Option<String>,
        symbol: Option<String>,
    }

    #[derive(Debug, Clone)]
    struct Data {
        kind: usize,
        uuid: [u8; 16],
        reference: Option<[u8; 16]>,
        micros: u64,
        hex: [u8; 32],
        upper: bool,
        msats: u64,
        text: String,
        ext: Option<String>,
        version: String,
        payer: bool,
        payee: bool,
        account: [u8; 16],
        wad: Option<WadData>,
    }

    fn chars(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..=max).prop_map(|v| v.into_iter().collect())
    }

    fn wad() -> impl Strategy<Value = WadData> {
        (
            (any::<u64>(), any::<bool>()),
            prop_oneof![
                any::<u64>().prop_map(Ok),
                (prop::num::f64::POSITIVE | prop::num::f64::ZERO).prop_map(Err)
            ],
            chars(20),
            prop::option::of(chars(200)),
            prop::option::of(0u8..=10),
            prop::option::of(any::<u64>()),
            prop::option::of(chars(50)),
            prop::option::of(chars(5)),
        )
            .prop_map(
                |((msats, stable), units, code, countries, decimals, iso_num, name, symbol)| {
                    WadData {
                        msats,
                        stable,
                        units,
                        code,
                        countries,
                        decimals,
                        iso_num,
                        name,
                        symbol,
                    }
                },
            )
    }

    fn data() -> impl Strategy<Value = Data> {
        (
            (
                0usize..14,
                any::<[u8; 16]>(),
                prop::option::of(any::<[u8; 16]>()),
            ),
            (any::<u64>(), any::<[u8; 32]>(), any::<bool>(), 1u64..),
            (chars(40), prop::option::of(chars(100)), chars(8)),
            (
                any::<bool>(),
                any::<bool>(),
                any::<[u8; 16]>(),
                prop::option::of(wad()),
            ),
        )
            .prop_map(
                |(
                    (kind, uuid, reference),
                    (micros, hex, upper, msats),
                    (text, ext, version),
                    (payer, payee, account, wad),
                )| Data {
                    kind,
                    uuid,
                    reference,
                    micros,
                    hex,
                    upper,
                    msats,
                    text,
                    ext,
                    version,
                    payer,
                    payee,
                    account,
                    wad,
                },
            )
    }

    fn build<'a>(d: &'a Data, bolt11: &'a str) -> Message<'a> {
        let uuid = Uuid::v4_from_bytes(d.uuid);
        let reference = d.reference.map(Uuid);
        let ts = Timestamp::from_micros(d.micros);
        let mut hex = Hex256::from_bytes(&d.hex);
        if d.upper {
            hex = Hex256::parse(&hex.as_str().to_uppercase()).unwrap();
        }
        let text = Text::Plain(&d.text);
        let wad = d.wad.as_ref().map(|w| Wad {
            msats: w.msats,
            asset_stable: w.stable,
            asset_units: match w.units {
                Ok(u) => Num::U64(u),
                Err(f) => Num::F64(f),
            },
            code: Text::Plain(&w.code),
            countries: w.countries.as_deref().map(Text::Plain),
            decimals: w.decimals,
            iso_num: w.iso_num.map(Num::U64),
            name: w.name.as_deref().map(Text::Plain),
            symbol: w.symbol.as_deref().map(Text::Plain),
        });
        let m = match d.kind {
            0 => Message::request_rendezvous(uuid, ts, hex),
            1 => Message::request_provider(uuid, ts),
            2 => Message::request_ping(uuid, ts),
            3 => Message::request_invoice(uuid, ts, d.msats),
            4 => Message::request_pay(uuid, ts, bolt11),
            5 => Message::notify_rendezvous(uuid, reference, ts, hex),
            6 => Message::notify_rendezvous_not_ready(uuid, reference, ts, hex),
            7 => Message::notify_rendezvous_end(uuid, ts, hex),
            8 => Message::notify_provider(
                uuid,
                reference,
                ts,
                ProviderInfo {
                    account_uuid: Uuid(d.account),
                    payer: d.payer,
                    payee: d.payee,
                    wad,
                },
            ),
            9 => Message::notify_provider_not_ready(uuid, reference, ts),
            10 => Message::notify_pong(uuid, reference, ts),
            11 => Message::notify_invoice(uuid, reference, ts, bolt11),
            12 => Message::notify_preimage(
                uuid,
                reference,
                ts,
                hex,
                d.ext.as_deref().map(Text::Plain),
            ),
            _ => Message::notify_error(uuid, reference, ts, text),
        };
        m.with_protocol_version(d.version.as_str())
    }

    fn valid_wires() -> Vec<String> {
        let Some(v) = super::common::load("v0/messages.json") else {
            return vec!["{}".into()];
        };
        v["valid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["wire_json"].as_str().unwrap().to_string())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn round_trip(d in data()) {
            let bolt11 = format!("lnbc{}", d.text);
            let msg = build(&d, &bolt11);
            let text = msg.to_json_string();
            prop_assert!(text.is_ascii());
            prop_assert_eq!(msg.json_len(), text.len());
            prop_assert!(parses_as_json(text.as_bytes()));
            // serde_json (an independent reader) agrees on the structure.
            let sv: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(sv["protocol"].as_str(), Some("Moneysocket"));
            let parsed = Message::parse(text.as_bytes());
            prop_assert!(parsed.is_ok(), "{:?} from {}", parsed, text);
            let parsed = parsed.unwrap();
            prop_assert_eq!(&parsed, &msg);
            // Writing the parsed message gives the same bytes again.
            prop_assert_eq!(parsed.to_json_string(), text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parses_as_json(&bytes);
            if let Ok(m) = Message::parse(&bytes) {
                let _ = m.to_json_string();
            }
            if let Ok(v) = json::parse(&bytes) {
                if let Some(o) = v.as_object() {
                    for (k, _) in o.members() {
                        let _ = k.char_count();
                    }
                }
            }
        }

        #[test]
        fn mutated_vectors_never_panic(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let wires = valid_wires();
            let mut bytes = pick.get(&wires).clone().into_bytes();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = parses_as_json(&bytes);
            if let Ok(m) = Message::parse(&bytes) {
                // Whatever we accept re-serialises to something we accept as an equal message.
                let text = m.to_json_string();
                let again = Message::parse(text.as_bytes()).unwrap();
                prop_assert_eq!(again, m);
            }
        }
    }
}
