//! Conformance with the Go reference peer, xplorfin/moneysocket-go at commit `0ac5477`
//! (docs/quirks-go-peers.md). It cannot be built here, so the checks are its own test
//! vectors (constants below, each naming the Go file it comes from) and the JSON its code
//! puts on the wire, written out as Go's `encoding/json` writes a `map[string]interface{}`:
//! keys sorted, compact, `float64` timestamps of nanosecond precision. What Go *reads* is
//! mirrored by [`go_reads`], a transcription of its decoder's checks (`message/codec.go`,
//! `request/*.go`, `notification/*.go`, buger/jsonparser's typed getters).

use moneysocket_core::beacon::{v0, Beacon, Location, WebSocket};
use moneysocket_core::frame::{self, FrameError};
use moneysocket_core::hex;
use moneysocket_core::message::opinion::{OpinionItem, OpinionMessage};
use moneysocket_core::message::{
    Hex256, Message, MessageError, MessageKind, ProviderInfo, Timestamp, Wad,
};
use moneysocket_core::seed::{AesKey, SharedSeed};
use moneysocket_core::session::{CloseReason, ConsumerConfig, FrameRefusal, ProviderConfig};
use moneysocket_core::uuid::Uuid;
use serde_json::Value;

#[path = "support/test_rng.rs"]
mod test_rng;
#[path = "support/world.rs"]
mod world;

use world::{Ev, World, CLIENT, S};

// ---------------------------------------------------------------------------------------
// Beacons and shared seeds (moneysocket/beacon/**/*_test.go)
// ---------------------------------------------------------------------------------------

/// The seed every Go parity test uses.
const GO_SEED: &[u8; 16] = b"hello from light";

/// `beacon_test.go` `TestCases[0]`: the seed, no location.
const GO_BEACON_EMPTY: &str =
    "moneysocket1lcqqzqdmy0lqqqgph5gxsetvd3hjqenjdakjqmrfva58flsqqyquzpl7qqqsr0cpqqpwt49e";

/// `beacon_test.go` `TestCases[1]`: the seed; `relay.socket.money` with TLS, then the
/// WebRTC, Bluetooth and NFC placeholders with Go's default strings.
const GO_BEACON_ALL: &str = "moneysocket1lcqqzqdmstlqqqgph5gxsetvd3hjqenjdakjqmrfva58flsqqyquzeh7qqqsr0cpqnlqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uluqqpq8z3zqq0wajkyun5vvsxsetjwpskgetjlcqqzqw8zsqpycnvw4jhgmm0w35zq6r9wfcxzer9wtlqqqgpey8qqrrwve3jq6r9wfcxzer9wgmv4l2e";

/// `shared_seed_test.go`: AES key, rendezvous id and encoded seed TLV of [`GO_SEED`].
const GO_AES_KEY: &str = "48dacfc16eed1b0a40891c73655ae8137960de419841432c4bbeea2bcaeacd83";
const GO_RENDEZVOUS_ID: &str = "d678c107fe2913ae1ab79bfba00694aaed75b5a2b0187ea0719919cbfedf9758";
const GO_SEED_TLV: &str = "fe000101bd1068656c6c6f2066726f6d206c69676874";

/// One location record from `location/*_test.go` and what it decodes to.
struct GoLocation {
    file: &'static str,
    tlv: &'static str,
    location: Location<'static>,
}

fn go_locations() -> Vec<GoLocation> {
    let ws = |host, tls| Location::WebSocket(WebSocket::new(host, tls));
    vec![
        GoLocation {
            file: "websocket_test.go [0]",
            tlv: "fe000101c314001272656c61792e736f636b65742e6d6f6e6579",
            location: ws("relay.socket.money", true),
        },
        GoLocation {
            file: "websocket_test.go [1]",
            tlv: "fe000101c317001272656c61792e736f636b65742e6d6f6e6579010100",
            location: ws("relay.socket.money", false),
        },
        GoLocation {
            file: "websocket_test.go [2]",
            tlv: "fe000101c314000c72656c61792e736f636b6574010100020132",
            location: Location::WebSocket(WebSocket::new("relay.socket", false).with_port(50)),
        },
        GoLocation {
            file: "websocket_test.go [3]",
            tlv: "fe000101c311000c72656c61792e736f636b6574020132",
            location: Location::WebSocket(WebSocket::new("relay.socket", true).with_port(50)),
        },
        GoLocation {
            file: "webrtc_test.go",
            tlv: "fe000101c511000f776562727463206865727061646572",
            location: Location::WebRtc("webrtc herpader"),
        },
        GoLocation {
            file: "bluetooth_test.go",
            tlv: "fe000101c7140012626c7565746f6f7468206865727061646572",
            location: Location::Bluetooth("bluetooth herpader"),
        },
        GoLocation {
            file: "nfc_test.go",
            tlv: "fe000101c90e000c6e6663206865727061646572",
            location: Location::Nfc("nfc herpader"),
        },
    ]
}

fn go_seed() -> SharedSeed {
    SharedSeed(*GO_SEED)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode_vec(s).unwrap()
}

/// A TLV record with a one-byte length (every record here is shorter than 253 bytes).
fn tlv(typ: &[u8], value: &[u8]) -> Vec<u8> {
    assert!(value.len() < 0xfd);
    let mut v = typ.to_vec();
    v.push(value.len() as u8);
    v.extend_from_slice(value);
    v
}

/// The v0 beacon TLV around `locations` (already encoded records), as Go's
/// `Beacon.EncodeTLV` lays it out.
fn beacon_tlv(seed: &[u8; 16], count: u8, locations: &[u8]) -> Vec<u8> {
    let mut list = tlv(&unhex("fe000101bf"), &[count]);
    list.extend_from_slice(locations);
    let mut body = tlv(&unhex("fe000101bd"), seed);
    body.extend(tlv(&unhex("fe000101c1"), &list));
    tlv(&unhex("fe000101bb"), &body)
}

fn encode_tlv(b: &v0::Beacon) -> Vec<u8> {
    let mut v = Vec::new();
    b.encode_tlv(&mut v).unwrap();
    v
}

#[test]
fn go_parity_beacons_decode_and_reencode_identically() {
    let all = [
        Location::WebSocket(WebSocket::new("relay.socket.money", true)),
        Location::WebRtc("webrtc herpader"),
        Location::Bluetooth("bluetooth herpader"),
        Location::Nfc("nfc herpader"),
    ];
    for (text, locations) in [(GO_BEACON_EMPTY, &all[..0]), (GO_BEACON_ALL, &all[..])] {
        let decoded = Beacon::decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let Beacon::V0(b) = &decoded else {
            panic!("not v0: {decoded:?}")
        };
        assert_eq!(b.shared_seed(), go_seed());
        assert_eq!(b.locations().collect::<Vec<_>>(), locations);
        assert_eq!(decoded.to_string(), text, "re-encoded");
        // Built from scratch, as the Go test builds it.
        let mut built = v0::Beacon::new(go_seed());
        for l in locations {
            built.push_location(*l).unwrap();
        }
        assert_eq!(Beacon::V0(built).to_string(), text, "built");
    }
}

#[test]
fn go_shared_seed_derivations_and_tlv() {
    let s = go_seed();
    assert_eq!(hex::encode(&s.v0_aes_key().0), GO_AES_KEY);
    assert_eq!(hex::encode(&s.v0_rendezvous_id().0), GO_RENDEZVOUS_ID);
    // The seed record is the first thing inside the beacon record (5-byte type, 1-byte
    // length: 6 bytes of header).
    let tlv = encode_tlv(&v0::Beacon::new(s));
    assert_eq!(hex::encode(&tlv[6..6 + GO_SEED_TLV.len() / 2]), GO_SEED_TLV);
}

#[test]
fn go_location_records_decode_and_reencode_identically() {
    for g in go_locations() {
        let data = beacon_tlv(GO_SEED, 1, &unhex(g.tlv));
        let b = v0::Beacon::decode_tlv(&data).unwrap_or_else(|e| panic!("{}: {e}", g.file));
        assert_eq!(
            b.locations().collect::<Vec<_>>(),
            [g.location],
            "{}",
            g.file
        );
        assert_eq!(
            hex::encode(&encode_tlv(&b)),
            hex::encode(&data),
            "{}",
            g.file
        );
    }
}

#[test]
fn go_use_tls_quirk_and_unknown_location_kinds() {
    // Go's decoder reads the mere presence of sub-TLV 1 as "no TLS"; the Python rule (1 =
    // TLS, other values refused) is ours. Go's encoder only ever writes `01 01 00`, so no
    // Go beacon carries the disputed value.
    let host = tlv(&[0], b"relay.socket");
    let mut tls_one = host.clone();
    tls_one.extend([1, 1, 1]);
    let data = beacon_tlv(GO_SEED, 1, &tlv(&unhex("fe000101c3"), &tls_one));
    let b = v0::Beacon::decode_tlv(&data).unwrap();
    assert_eq!(
        b.locations().collect::<Vec<_>>(),
        [Location::WebSocket(WebSocket::new("relay.socket", true))]
    );
    // A location type after NFC (65995): Go's `DecodeTLV` panics ("location type … not yet
    // implemented"); v0-wire 4.5 step 7 says refuse it, and we do, with an error.
    let data = beacon_tlv(GO_SEED, 1, &tlv(&unhex("fe000101cb"), &tlv(&[0], b"x")));
    let e = v0::Beacon::decode_tlv(&data).unwrap_err();
    assert_eq!(e.to_string(), "unknown location type");
    // Counted past the known ones: the WebSocket location still decodes when the unknown
    // record is beyond the count (extras are ignored, Python and Go alike).
    let mut two = unhex(go_locations()[0].tlv);
    two.extend(tlv(&unhex("fe000101cb"), &tlv(&[0], b"x")));
    let b = v0::Beacon::decode_tlv(&beacon_tlv(GO_SEED, 1, &two)).unwrap();
    assert_eq!(b.locations().count(), 1);
}

// ---------------------------------------------------------------------------------------
// Encryption (moneysocket/message/aes.go, aes_test.go, message_test.go)
// ---------------------------------------------------------------------------------------

/// `message_test.go` `TestPythonDecode`: a Python-made frame (zero padding) that Go's
/// `WireDecode` must read under [`GO_SEED`]: a REQUEST_PING.
const PY_FRAME_IN_GO_TEST: &str = "181dbd096191cd7825fe8cc97991d9374cd89840b8a4fad9f5f89f0eb32b9ee9fc69e0e29485c5f4d011e34645f2f07e30d879cf3d1ca9d7971f2768ef4f70d79ddd22352cd687852128796bc80a47bd8ec5b40424a8a32161f264ef2d39a6b17f2dbd2274abd254200ddb8c97c23e6da4b8527ab54e1306b8c8d3d21886ae1f9136ecf25d2fb6998d3d3e9045868888eb148232eb4cebcbfa6c882608d19054d20859b3505565011e897f86f1a5b6dca25fdd317afc84c301e1de2d440be77de958801c29971e1206e285f359edee38a51863efdd678509130fb017a4fb3032";

/// A Go consumer's REQUEST_PROVIDER (`request/provider.go` `ToJSON`), 197 bytes.
const GO_REQUEST_PROVIDER: &str = r#"{"message_class":"REQUEST","protocol":"Moneysocket","protocol_version":"0.0.0","request_name":"REQUEST_PROVIDER","request_uuid":"6f1c4a2e-9b3d-4e8f-a1c2-3d4e5f607182","timestamp":1624982400.123456}"#;
/// A Go consumer's REQUEST_INVOICE (`request/invoice.go`), 208 bytes: block-aligned.
const GO_REQUEST_INVOICE: &str = r#"{"message_class":"REQUEST","msats":1000,"protocol":"Moneysocket","protocol_version":"0.0.0","request_name":"REQUEST_INVOICE","request_uuid":"0c7a3e55-2f41-4b8e-9d6a-5b1c2d3e4f50","timestamp":1624982400.12345}"#;

/// [`GO_REQUEST_PROVIDER`] sealed as `aes.go` `Encrypt` does (PKCS#7: eleven 0x0b bytes,
/// not JSON whitespace, so Python and JavaScript cannot read it) under [`GO_SEED`]'s key,
/// IV `00 01 … 0f`. Computed offline with Python `cryptography` following `aes.go`.
const GO_FRAME_PROVIDER: &str = "000102030405060708090a0b0c0d0e0f7db716df1e8dfa1478d4b515f34af509a54ec878fd6821922a0c7e9eb962096e849f071250098c33be5cc7d738faabbba5d8e6d8b9b8e54011476e88de1dbe270bd3c5fc91bc769329dcc0f02e810d9d095174f220ee88f674f346e104a0420d21d98b529ad72b336c3d25141de6dd2c8c1a6955db2182086970c9b1eb60dc85dfc7b29548eca08e8aa61ad765f0e90f62b1b4d5c8b647b0bb84149f26ee1302000592182a3f2d0ac5f2f08429cef1ea2e4c3d635ba5386dd8c7992f52f91461300ec0dc85b98e31ef10be040a6e50d7";
/// [`GO_REQUEST_INVOICE`] sealed the same way (a whole block of 0x10), IV `10 11 … 1f`.
const GO_FRAME_INVOICE: &str = "101112131415161718191a1b1c1d1e1f3a14e95e1467618a9eb804760c70ae3eaf44b6ab145e1c6d5cb03a2c10044c6da3620014ca4a705723f5a49f5ff0ea2eee3cfb59bac5575f234a262d08491768ff12e13b71de6e9b38df505fad3b0fc29fb8c41afed05a68cf5cc77a590abdfb85e4cd6e585da10690b04739d5c6b4dcbafb1b03b58e3fccb5ee7606aa041f1c9fbf4d678de93582fe9cf13703be36f25113bf4c0ad117c00e5fcef22544b50b491b6d980fcfcf9119ce6539bca5c281c472b11cb0913e58316f1181072fc1ccf134749c3de419870e33b3c7aae163d2dfee9814bb67710bc687669dd9dcaaa1";

/// `aes_test.go`: its raw 32-byte key and plaintexts, sealed as `Encrypt` does with IVs
/// `a0…`, `a1…`, `a2…`, `a3…` (offline, as above).
const GO_AES_TEST_KEY: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
const GO_AES_TEST: &[(&str, &str)] = &[
    ("1234567890", "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0d0195755942bb03dab89191b440a77b8"),
    (
        "123456789012345678901234567890123456789012345678901234567890",
        "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1ad901e3f29cb1d32a8d7b91b0180bf1e28be5dfe1a32d36e73923ac02f0f1e8f92b35ce3b390c7b801f064fdd4663bff069e04a45fb7fa3b7af250091fa79bf4",
    ),
    ("1", "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a25449b3d0e4c49ad2f6388892c032ca71"),
    ("", "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a38dd85b6d73be9594853acc5bc76c0783"),
];

#[test]
fn the_python_frame_of_the_go_tests_opens() {
    let bytes = unhex(PY_FRAME_IN_GO_TEST);
    let mut buf = vec![0u8; bytes.len()];
    let text = frame::open(&go_seed().v0_aes_key(), &bytes, &mut buf).unwrap();
    let msg = Message::parse(text).unwrap();
    assert_eq!(msg.kind(), MessageKind::RequestPing);
    assert_eq!(
        msg.uuid(),
        Uuid::parse_lenient("1eba490f-3b70-4f53-8a8b-f48b0a6ec89d").unwrap()
    );
}

#[test]
fn go_pkcs7_frames_open_and_parse() {
    let key = go_seed().v0_aes_key();
    for (frame_hex, json, kind) in [
        (
            GO_FRAME_PROVIDER,
            GO_REQUEST_PROVIDER,
            MessageKind::RequestProvider,
        ),
        (
            GO_FRAME_INVOICE,
            GO_REQUEST_INVOICE,
            MessageKind::RequestInvoice,
        ),
    ] {
        let bytes = unhex(frame_hex);
        assert!(!frame::is_cleartext(&bytes));
        let mut buf = vec![0u8; bytes.len()];
        let padded = frame::decrypt(&key, &bytes, &mut buf).unwrap().to_vec();
        let pad = usize::from(*padded.last().unwrap());
        assert!(pad == 11 || pad == 16, "PKCS#7 tail {pad}");
        // The Python/JavaScript rule (strip NULs) leaves the PKCS#7 bytes after the `}`.
        assert!(serde_json::from_slice::<Value>(frame::strip_zero_padding(&padded)).is_err());
        let text = frame::open(&key, &bytes, &mut buf).unwrap();
        assert_eq!(text, json.as_bytes());
        assert_eq!(Message::parse(text).unwrap().kind(), kind);
    }
}

#[test]
fn go_aes_test_vectors_decrypt_with_its_raw_key() {
    // `Encrypt(msg, key)` takes the key as given (the message codec passes the seed's
    // double SHA-256, the same key as ours); the padding is PKCS#7, a whole block for "".
    let key = AesKey(*GO_AES_TEST_KEY);
    for (plain, frame_hex) in GO_AES_TEST {
        let bytes = unhex(frame_hex);
        let mut buf = vec![0u8; bytes.len()];
        let padded = frame::decrypt(&key, &bytes, &mut buf).unwrap();
        assert_eq!(
            frame::strip_pkcs7(padded),
            Some(plain.as_bytes()),
            "{plain:?}"
        );
        // The Go test encrypts bare digits (JSON numbers) and "" (not JSON): opened or
        // refused as such, never a panic.
        match frame::open(&key, &bytes, &mut buf) {
            Ok(text) => assert_eq!(text, plain.as_bytes()),
            Err(e) => assert_eq!((e, *plain), (FrameError::NotJson, "")),
        }
    }
}

#[test]
fn go_reads_our_zero_padding() {
    // Go's `Decrypt` removes as many bytes as the last plaintext byte says (unchecked, and
    // panics if that exceeds the length). Our padding always ends in NUL, so it removes
    // nothing, and its JSON scanner ignores the trailing NULs (`go_reads` below).
    let key = go_seed().v0_aes_key();
    for len in 0..=64usize {
        let text = vec![b' '; len];
        let mut out = vec![0u8; frame::sealed_len(len)];
        let sealed = frame::seal(&key, [7; 16], &text, &mut out)
            .unwrap()
            .to_vec();
        let mut buf = vec![0u8; sealed.len()];
        let padded = frame::decrypt(&key, &sealed, &mut buf).unwrap();
        assert_eq!(padded.last(), Some(&0), "len {len}");
    }
}

#[test]
fn cleartext_kinds_are_the_ones_go_sends_in_clear() {
    // `MustBeClearText() == true` in Go: request/rendezvous.go, notification/
    // notify_rendezvous.go, rendezvous_not_ready.go, rendezvous_end.go (and
    // op_not_ready.go, an extension: below).
    let go_clear = [
        "REQUEST_RENDEZVOUS",
        "NOTIFY_RENDEZVOUS",
        "NOTIFY_RENDEZVOUS_NOT_READY",
        "NOTIFY_RENDEZVOUS_END",
    ];
    for k in MessageKind::ALL {
        assert_eq!(k.must_be_cleartext(), go_clear.contains(&k.name()), "{k:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Messages: what Go sends (its `ToJSON`s) and what it reads (`go_reads`)
// ---------------------------------------------------------------------------------------

const GO_RID: &str = GO_RENDEZVOUS_ID;
const GO_BOLT11: &str = "lnbc10u1p0hrefzpp5qw0p5h0yh0fm9dkavxq7lmq2d9dlyqfwvzu57kyu5lwljnwfzk4qdqqcqzpgsp5ll5w7hr6alqkdtfv7xdmrl6k6gaz5gj9m5aw9jlmzpk7uwt0yfks9qy9qsqtxrg4ulr3eym6fvqv8rqkf0vfwprnhk8jqd4g6drqqhq3qnkqh3sxd3e5m7ywn8hqmzq7fjkqvl2ac8u8wrxvexfv8frkqs3gq4z0fuqp6g9rxu";

/// A JSON object as Go's `json.Marshal` writes a `map[string]interface{}`: keys sorted,
/// no spaces. Values are raw JSON.
fn go_json(fields: &[(&str, String)]) -> String {
    let mut f = fields.to_vec();
    f.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = f.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// A Go notification (`EncodeMoneySocketNotification` + the kind's fields), its float64
/// timestamp of nanosecond precision.
fn go_notification(name: &str, reference: &str, extra: &[(&str, String)]) -> String {
    let mut f = vec![
        ("timestamp", "1624982400.1234567".to_string()),
        ("protocol", q("Moneysocket")),
        ("protocol_version", q("0.0.0")),
        ("message_class", q("NOTIFICATION")),
        (
            "notification_uuid",
            q("3b8e0f6a-2c4d-4e1f-9a7b-8c6d5e4f3a21"),
        ),
        ("request_reference_uuid", q(reference)),
        ("notification_name", q(name)),
    ];
    f.extend_from_slice(extra);
    go_json(&f)
}

/// A Go request (`EncodeMoneysocketRequest` + the kind's fields).
fn go_request(name: &str, extra: &[(&str, String)]) -> String {
    let mut f = vec![
        ("timestamp", "1624982400.1234567".to_string()),
        ("protocol", q("Moneysocket")),
        ("protocol_version", q("0.0.0")),
        ("message_class", q("REQUEST")),
        ("request_uuid", q("9d2f4b6a-1c3e-4a5b-8d7f-0e1a2b3c4d5e")),
        ("request_name", q(name)),
    ];
    f.extend_from_slice(extra);
    go_json(&f)
}

/// What our parser makes of a Go message: `Ok(name)` or the error text.
fn ours(json: &str) -> Result<String, String> {
    match Message::parse(json.as_bytes()) {
        Ok(m) => Ok(m.kind().name().to_string()),
        Err(MessageError::UnknownNotificationName(_) | MessageError::UnknownRequestName(_)) => {
            OpinionMessage::parse(json.as_bytes())
                .map(|m| m.kind().name().to_string())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Every message shape Go's code sends, with the sender in Go and what our parser says.
fn go_sent() -> Vec<(&'static str, String, Result<&'static str, &'static str>)> {
    const REF: &str = "7c1e9a3b-5d2f-4e6a-8b0c-1d2e3f4a5b6c";
    let rid = || ("rendezvous_id", q(GO_RID));
    let bolt11 = || ("bolt11", q(GO_BOLT11));
    // `wad.Wad`: a struct, so its fields in declaration order; `currency` is unexported.
    let provider = |reference: &str| {
        go_notification(
            "NOTIFY_PROVIDER",
            reference,
            &[
                ("account_uuid", q("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d")),
                ("payer", "true".into()),
                ("payee", "true".into()),
                (
                    "wad",
                    r#"{"MSats":50000000,"asset_stable":false,"asset_unit":0.0005}"#.into(),
                ),
            ],
        )
    };
    vec![
        (
            "outgoing rendezvous nexus: REQUEST_RENDEZVOUS",
            go_request("REQUEST_RENDEZVOUS", &[rid()]),
            Ok("REQUEST_RENDEZVOUS"),
        ),
        (
            "consumer nexus: REQUEST_PROVIDER",
            GO_REQUEST_PROVIDER.to_string(),
            Ok("REQUEST_PROVIDER"),
        ),
        (
            "consumer nexus: REQUEST_PING",
            go_request("REQUEST_PING", &[]),
            Ok("REQUEST_PING"),
        ),
        (
            "consumer transact nexus: REQUEST_INVOICE",
            GO_REQUEST_INVOICE.to_string(),
            Ok("REQUEST_INVOICE"),
        ),
        (
            "consumer transact nexus: REQUEST_PAY (key `Bolt11`)",
            go_request("REQUEST_PAY", &[("Bolt11", q(GO_BOLT11))]),
            Err("no bolt11 included"),
        ),
        (
            "relay: NOTIFY_RENDEZVOUS (the request's uuid)",
            go_notification("NOTIFY_RENDEZVOUS", REF, &[rid()]),
            Ok("NOTIFY_RENDEZVOUS"),
        ),
        (
            "relay: NOTIFY_RENDEZVOUS_NOT_READY",
            go_notification("NOTIFY_RENDEZVOUS_NOT_READY", REF, &[rid()]),
            Ok("NOTIFY_RENDEZVOUS_NOT_READY"),
        ),
        (
            "relay: NOTIFY_RENDEZVOUS_END (reference \"\")",
            go_notification("NOTIFY_RENDEZVOUS_END", "", &[rid()]),
            Err("invalid request_reference_uuid"),
        ),
        (
            "provider nexus: NOTIFY_PROVIDER (reference \"\", Go wad)",
            provider(""),
            Err("invalid request_reference_uuid"),
        ),
        (
            "provider transact nexus: NOTIFY_PROVIDER (random reference, Go wad)",
            provider(REF),
            Err("key set not consistent with wad dictionary"),
        ),
        (
            "provider nexus: NOTIFY_PROVIDER_NOT_READY (reference \"\")",
            go_notification("NOTIFY_PROVIDER_NOT_READY", "", &[]),
            Err("invalid request_reference_uuid"),
        ),
        (
            "provider nexus: NOTIFY_PONG (reference \"\")",
            go_notification("NOTIFY_PONG", "", &[]),
            Err("invalid request_reference_uuid"),
        ),
        (
            "NewNotifyPong(uuid), as the Go tests build it",
            go_notification("NOTIFY_PONG", REF, &[]),
            Ok("NOTIFY_PONG"),
        ),
        (
            "provider transact nexus: NOTIFY_INVOICE",
            go_notification("NOTIFY_INVOICE", REF, &[bolt11()]),
            Ok("NOTIFY_INVOICE"),
        ),
        (
            "provider transact nexus: NOTIFY_PREIMAGE (`ext` \"\")",
            go_notification(
                "NOTIFY_PREIMAGE",
                REF,
                &[("preimage", q(&"11".repeat(32))), ("ext", q(""))],
            ),
            Ok("NOTIFY_PREIMAGE"),
        ),
        (
            "seller: REQUEST_OPINION_INVOICE (no extension_protocol)",
            go_request(
                "REQUEST_OPINION_INVOICE",
                &[("item_id", q("4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"))],
            ),
            Ok("REQUEST_OPINION_INVOICE"),
        ),
        (
            "seller: NOTIFY_OPINION_SELLER (items: struct fields in declaration order)",
            go_notification(
                "NOTIFY_OPINION_SELLER",
                REF,
                &[
                    ("seller_uuid", q("2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901")),
                    (
                        "items",
                        r#"[{"item_id":"4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8","name":"word","msats":50}]"#
                            .into(),
                    ),
                ],
            ),
            Ok("NOTIFY_OPINION_SELLER"),
        ),
        (
            "seller: NOTIFY_OPINION_SELLER_NOT_READY (sent in clear)",
            go_notification("NOTIFY_OPINION_SELLER_NOT_READY", REF, &[]),
            Ok("NOTIFY_OPINION_SELLER_NOT_READY"),
        ),
        (
            "seller: NOTIFY_OPINION_INVOICE",
            go_notification("NOTIFY_OPINION_INVOICE", REF, &[bolt11()]),
            Ok("NOTIFY_OPINION_INVOICE"),
        ),
    ]
}

#[test]
fn every_message_go_sends_as_our_parser_reads_it() {
    let mut n = 0;
    for (what, json, want) in go_sent() {
        // Well-formed JSON with Go's key order (sorted, compact).
        let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what}: {e}"));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{what}: Go writes map keys sorted");
        // Go reads back what it sends, except its own NOTIFY_PROVIDER and NOTIFY_PREIMAGE
        // (no decoder for them in `notification/from_text.go`).
        let name = v["request_name"]
            .as_str()
            .or(v["notification_name"].as_str())
            .unwrap();
        let back = go_reads(json.as_bytes());
        if name == "NOTIFY_PROVIDER" || name == "NOTIFY_PREIMAGE" {
            let e = format!("message type {name} not yet implemented");
            assert_eq!(back, GoRead::Error(e), "{what}");
        } else {
            assert!(
                matches!(back, GoRead::Ok(n) if n == name),
                "{what}: {back:?}"
            );
        }
        let got = ours(&json);
        assert_eq!(
            got,
            want.map(String::from).map_err(String::from),
            "{what}: {json}"
        );
        n += 1;
    }
    eprintln!("Go-shaped messages: {n} checked");
}

/// What Go's `WireDecode` does with a decrypted (or clear) text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GoRead {
    /// Decoded into this Go message type.
    Ok(&'static str),
    /// Returned an error; the websocket nexus logs it and passes a nil message up, which
    /// the next layer dereferences: a panic in a goroutine of its own, the process ends.
    Error(String),
    /// Panicked in the decoder itself (`MessageTypeFromString`, `MessageClassFromString`).
    Panic(&'static str),
}

/// Go message names known to `base.MessageTypeFromString` (anything else panics).
const GO_NAMES: &[&str] = &[
    "REQUEST_PING",
    "REQUEST_PROVIDER",
    "REQUEST_INVOICE",
    "REQUEST_PAY",
    "REQUEST_RENDEZVOUS",
    "REQUEST_OPINION_INVOICE",
    "REQUEST_OPINION_SELLER",
    "NOTIFY_RENDEZVOUS_END",
    "NOTIFY_INVOICE",
    "NOTIFY_PREIMAGE",
    "NOTIFY_PROVIDER",
    "NOTIFY_OPINION_SELLER",
    "NOTIFY_OPINION_SELLER_NOT_READY",
    "NOTIFY_OPINION_INVOICE",
    "NOTIFY_PROVIDER_NOT_READY",
    "NOTIFY_PONG",
    "NOTIFY_RENDEZVOUS",
    "NOTIFY_RENDEZVOUS_NOT_READY",
];

/// jsonparser `GetString`: present and a JSON string.
fn get_string<'v>(obj: &'v serde_json::Map<String, Value>, key: &str) -> Result<&'v str, String> {
    match obj.get(key) {
        None => Err(format!("Key path not found: {key}")),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(format!("Value is not a string: {v}")),
    }
}

/// jsonparser `GetInt`: a JSON number written as an integer.
fn get_int(obj: &serde_json::Map<String, Value>, key: &str) -> Result<i64, String> {
    match obj.get(key) {
        None => Err(format!("Key path not found: {key}")),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("Value is not a int: {n}")),
        Some(v) => Err(format!("Value is not a number: {v}")),
    }
}

/// jsonparser `GetFloat`: any JSON number.
fn get_float(obj: &serde_json::Map<String, Value>, key: &str) -> Result<f64, String> {
    match obj.get(key) {
        None => Err(format!("Key path not found: {key}")),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
        Some(v) => Err(format!("Value is not a number: {v}")),
    }
}

/// A transcription of Go's decoding of one message text (after decryption: trailing NULs
/// of our zero padding are never reached by jsonparser's key scan, so they are cut here).
fn go_reads(text: &[u8]) -> GoRead {
    let text = frame::strip_zero_padding(text);
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(text) else {
        return GoRead::Error("not a JSON object".into());
    };
    let r = (|| -> Result<Result<&'static str, &'static str>, String> {
        let class = get_string(&obj, "message_class")?;
        let class = match class {
            "REQUEST" => "REQUEST",
            "NOTIFICATION" => "NOTIFICATION",
            _ => return Ok(Err("message not recognized")),
        };
        let name_key = if class == "REQUEST" {
            "request_name"
        } else {
            "notification_name"
        };
        let name = get_string(&obj, name_key)?;
        let Some(name) = GO_NAMES.iter().find(|n| **n == name) else {
            return Ok(Err("name not found"));
        };
        let decodable: &[&str] = if class == "REQUEST" {
            &[
                "REQUEST_PING",
                "REQUEST_PROVIDER",
                "REQUEST_INVOICE",
                "REQUEST_PAY",
                "REQUEST_RENDEZVOUS",
                "REQUEST_OPINION_INVOICE",
            ]
        } else {
            &[
                "NOTIFY_RENDEZVOUS",
                "NOTIFY_RENDEZVOUS_NOT_READY",
                "NOTIFY_RENDEZVOUS_END",
                "NOTIFY_INVOICE",
                "NOTIFY_OPINION_SELLER",
                "NOTIFY_OPINION_SELLER_NOT_READY",
                "NOTIFY_OPINION_INVOICE",
                "NOTIFY_PROVIDER_NOT_READY",
                "NOTIFY_PONG",
            ]
        };
        if !decodable.contains(name) {
            return Err(format!("message type {name} not yet implemented"));
        }
        // base.DecodeBaseBaseMoneysocketMessage
        get_float(&obj, "timestamp")?;
        get_string(&obj, "message_class")?;
        get_string(&obj, "protocol_version")?;
        get_string(&obj, "protocol")?;
        if class == "REQUEST" {
            get_string(&obj, "request_uuid")?;
            get_string(&obj, "request_name")?;
        } else {
            get_string(&obj, "notification_uuid")?;
            get_string(&obj, "notification_name")?;
            get_string(&obj, "request_reference_uuid")?;
        }
        match *name {
            "REQUEST_INVOICE" => {
                get_int(&obj, "msats")?;
            }
            "REQUEST_PAY" => {
                get_string(&obj, "Bolt11")?;
            }
            // A missing `rendezvous_id` decodes as an empty one without an error.
            "REQUEST_RENDEZVOUS" => {}
            "REQUEST_OPINION_INVOICE" => {
                get_string(&obj, "item_id")?;
            }
            "NOTIFY_RENDEZVOUS" | "NOTIFY_RENDEZVOUS_NOT_READY" | "NOTIFY_RENDEZVOUS_END" => {
                get_string(&obj, "rendezvous_id")?;
            }
            "NOTIFY_INVOICE" | "NOTIFY_OPINION_INVOICE" => {
                get_string(&obj, "bolt11")?;
            }
            "NOTIFY_OPINION_SELLER" => {
                get_string(&obj, "seller_uuid")?;
                let Some(Value::Array(items)) = obj.get("items") else {
                    return Err("items".into());
                };
                for i in items {
                    let Value::Object(i) = i else {
                        return Err("item".into());
                    };
                    for k in ["item_id", "name"] {
                        if !matches!(i.get(k), None | Some(Value::String(_))) {
                            return Err(format!("item {k}"));
                        }
                    }
                    match i.get("msats") {
                        None => {}
                        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
                        Some(_) => return Err("item msats".into()),
                    }
                }
            }
            _ => {}
        }
        Ok(Ok(name))
    })();
    match r {
        Ok(Ok(name)) => GoRead::Ok(name),
        Ok(Err(p)) => GoRead::Panic(p),
        Err(e) => GoRead::Error(e),
    }
}

fn json_of(m: &Message<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    m.write_json(&mut v).unwrap();
    v
}

/// Every v0 message our encoder writes, as the sessions, the relay and the terminus send
/// them (references as they use them), and what a Go peer makes of it.
#[test]
fn what_go_reads_of_our_messages() {
    let u = Uuid::v4_from_bytes([3; 16]);
    let r = Some(Uuid::v4_from_bytes([4; 16]));
    let ts = Timestamp::from_secs(1_624_982_400);
    let rid = Hex256::parse(GO_RID).unwrap();
    let pre = Hex256::from_bytes(&[0x11; 32]);
    let info = ProviderInfo {
        account_uuid: u,
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(50_000_000)),
    };
    let not_impl = |n: &str| GoRead::Error(format!("message type {n} not yet implemented"));
    let null_ref = GoRead::Error("Value is not a string: null".into());
    let cases: Vec<(Message<'_>, GoRead)> = vec![
        (
            Message::request_rendezvous(u, ts, rid.clone()),
            GoRead::Ok("REQUEST_RENDEZVOUS"),
        ),
        (
            Message::request_provider(u, ts),
            GoRead::Ok("REQUEST_PROVIDER"),
        ),
        (Message::request_ping(u, ts), GoRead::Ok("REQUEST_PING")),
        (
            Message::request_invoice(u, ts, 1000),
            GoRead::Ok("REQUEST_INVOICE"),
        ),
        // Go's field is `Bolt11`: a Go provider cannot read any v0 REQUEST_PAY.
        (
            Message::request_pay(u, ts, GO_BOLT11),
            GoRead::Error("Key path not found: Bolt11".into()),
        ),
        (
            Message::notify_rendezvous(u, r, ts, rid.clone()),
            GoRead::Ok("NOTIFY_RENDEZVOUS"),
        ),
        (
            Message::notify_rendezvous_not_ready(u, r, ts, rid.clone()),
            GoRead::Ok("NOTIFY_RENDEZVOUS_NOT_READY"),
        ),
        // The reference is null (v0-wire 7.4): Go's `GetString` refuses null.
        (
            Message::notify_rendezvous_end(u, ts, rid.clone()),
            null_ref.clone(),
        ),
        (
            Message::notify_provider(u, r, ts, info),
            not_impl("NOTIFY_PROVIDER"),
        ),
        (
            Message::notify_provider(u, None, ts, info),
            not_impl("NOTIFY_PROVIDER"),
        ),
        (
            Message::notify_provider_not_ready(u, r, ts),
            GoRead::Ok("NOTIFY_PROVIDER_NOT_READY"),
        ),
        (Message::notify_pong(u, r, ts), GoRead::Ok("NOTIFY_PONG")),
        (
            Message::notify_invoice(u, r, ts, GO_BOLT11),
            GoRead::Ok("NOTIFY_INVOICE"),
        ),
        (
            Message::notify_preimage(u, r, ts, pre.clone(), None),
            not_impl("NOTIFY_PREIMAGE"),
        ),
        (
            Message::notify_error(u, r, ts, "insufficent account balance"),
            GoRead::Panic("name not found"),
        ),
    ];
    let mut kinds: Vec<MessageKind> = cases.iter().map(|(m, _)| m.kind()).collect();
    kinds.dedup();
    assert_eq!(kinds, MessageKind::ALL, "every kind once, in order");
    for (m, want) in &cases {
        let json = json_of(m);
        assert_eq!(&go_reads(&json), want, "{}", String::from_utf8_lossy(&json));
    }
    // An answer-shaped notification with a null reference (what an unsolicited update
    // looks like) fails in Go the same way.
    assert_eq!(
        go_reads(&json_of(&Message::notify_pong(u, None, ts))),
        null_ref
    );

    // The opinion-seller extension as our codec writes it (the prototype's shapes).
    let items = [OpinionItem {
        item_id: "hello".into(),
        name: "Hello World".into(),
        msats: 1000,
    }];
    let ext = |m: OpinionMessage<'_>| {
        let mut v = Vec::new();
        m.write_json(&mut v).unwrap();
        go_reads(&v)
    };
    assert_eq!(
        ext(OpinionMessage::request_opinion_seller(u, ts)),
        not_impl("REQUEST_OPINION_SELLER")
    );
    assert_eq!(
        ext(OpinionMessage::request_opinion_invoice(u, ts, "hello")),
        GoRead::Ok("REQUEST_OPINION_INVOICE")
    );
    assert_eq!(
        ext(OpinionMessage::notify_opinion_seller(u, r, ts, u, &items)),
        GoRead::Ok("NOTIFY_OPINION_SELLER")
    );
    assert_eq!(
        ext(OpinionMessage::notify_opinion_seller_not_ready(u, r, ts)),
        GoRead::Ok("NOTIFY_OPINION_SELLER_NOT_READY")
    );
    assert_eq!(
        ext(OpinionMessage::notify_opinion_invoice(u, r, ts, GO_BOLT11)),
        GoRead::Ok("NOTIFY_OPINION_INVOICE")
    );
    assert_eq!(
        ext(OpinionMessage::notify_opinion(u, r, ts, "hello", "fine")),
        GoRead::Panic("name not found")
    );
}

// ---------------------------------------------------------------------------------------
// Behaviour: our consumer and provider through a Go relay (relay/relay.go, layer/relay,
// layer/rendezvous/incoming.go, nexus/rendezvous/*, ws/server/*)
// ---------------------------------------------------------------------------------------

/// The Go relay as its code behaves: one `IncomingSocket` and one broadcast hub for the
/// whole server, so every frame it sends reaches *every* connected client, the sender's
/// own ciphertext included; a second `REQUEST_RENDEZVOUS` for an id sends two
/// `NOTIFY_RENDEZVOUS` (the second client's reference first); a departure sends
/// `NOTIFY_RENDEZVOUS_END` with reference `""` and closes nobody.
struct GoRelay {
    clients: Vec<S>,
    seen: Vec<usize>,
    /// (client index, rendezvous id, request uuid) of the unpaired registration.
    unpeered: Option<(usize, String, String)>,
    gone: Vec<bool>,
    /// Frames broadcast so far (each to every client still there).
    broadcasts: usize,
}

impl GoRelay {
    fn new() -> GoRelay {
        GoRelay {
            clients: Vec::new(),
            seen: Vec::new(),
            unpeered: None,
            gone: Vec::new(),
            broadcasts: 0,
        }
    }

    fn connect(&mut self, w: &mut World, s: S) {
        w.connect(s).unwrap();
        self.clients.push(s);
        self.seen.push(0);
        self.gone.push(false);
        self.pump(w);
    }

    fn broadcast(&mut self, w: &mut World, frame: &[u8]) {
        self.broadcasts += 1;
        for (i, s) in self.clients.clone().into_iter().enumerate() {
            if !self.gone[i] {
                w.inject(s, frame);
            }
        }
    }

    /// Delivers what the clients sent until nobody sends anything more.
    fn pump(&mut self, w: &mut World) {
        for _ in 0..100 {
            // Nothing reaches the world's own relay host: this relay replaces it.
            w.lose();
            let mut out = Vec::new();
            for (i, s) in self.clients.iter().enumerate() {
                let sent = w.sent(*s);
                out.extend(sent[self.seen[i]..].iter().map(|f| (i, f.clone())));
                self.seen[i] = sent.len();
            }
            if out.is_empty() {
                return;
            }
            for (i, f) in out {
                if self.gone[i] {
                    continue;
                }
                match serde_json::from_slice::<Value>(&f) {
                    Ok(Value::Object(o)) => self.rendezvous(w, i, &o),
                    _ => self.broadcast(w, &f),
                }
            }
        }
        panic!("no quiescence");
    }

    fn rendezvous(&mut self, w: &mut World, i: usize, o: &serde_json::Map<String, Value>) {
        assert_eq!(o["request_name"], "REQUEST_RENDEZVOUS", "{o:?}");
        let rid = o["rendezvous_id"].as_str().unwrap().to_string();
        let uuid = o["request_uuid"].as_str().unwrap().to_string();
        let rid_field = [("rendezvous_id", q(&rid))];
        match self.unpeered.take() {
            Some((peer, prid, puuid)) if prid == rid && peer != i => {
                let mine = go_notification("NOTIFY_RENDEZVOUS", &uuid, &rid_field);
                let theirs = go_notification("NOTIFY_RENDEZVOUS", &puuid, &rid_field);
                self.broadcast(w, mine.as_bytes());
                self.broadcast(w, theirs.as_bytes());
            }
            other => {
                self.unpeered = other.or(Some((i, rid.clone(), uuid.clone())));
                let nr = go_notification("NOTIFY_RENDEZVOUS_NOT_READY", &uuid, &rid_field);
                self.broadcast(w, nr.as_bytes());
            }
        }
    }

    /// Client `i` went away: its peer hears END (reference `""`), nobody is closed.
    fn leave(&mut self, w: &mut World, i: usize, rid: &str) {
        self.gone[i] = true;
        let end = go_notification("NOTIFY_RENDEZVOUS_END", "", &[("rendezvous_id", q(rid))]);
        self.broadcast(w, end.as_bytes());
        self.pump(w);
    }
}

fn refusals(events: &[Ev]) -> Vec<FrameRefusal> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Refused(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn our_consumer_and_provider_work_through_a_go_relay() {
    let mut w = World::new();
    w.auto_settle = false;
    let consumer_host = w.add_host(Default::default());
    let s = go_seed();
    let info = ProviderInfo {
        account_uuid: Uuid::v4_from_bytes([0x42; 16]),
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(50_000_000)),
    };
    let p = w.add_provider(CLIENT, &s, ProviderConfig::default(), Some(&info));
    let c = w.add_consumer(consumer_host, &s, ConsumerConfig::default());
    let mut relay = GoRelay::new();
    relay.connect(&mut w, p);
    relay.connect(&mut w, c);
    assert!(w.c(c).is_ready(), "{:?}", w.events(c));
    assert!(w.p(p).is_ready(), "{:?}", w.events(p));

    // Each side heard both NOTIFY_RENDEZVOUS: the second is dropped as unexpected. Each
    // side also got its own frames back: refused, never acted on.
    let ev_c = w.events(c);
    assert!(ev_c.contains(&Ev::Paired), "{ev_c:?}");
    assert!(
        ev_c.iter()
            .any(|e| matches!(e, Ev::Provider(u) if u.msats == Some(50_000_000))),
        "{ev_c:?}"
    );
    for r in refusals(&ev_c) {
        assert!(
            matches!(
                r,
                FrameRefusal::Unexpected(MessageKind::NotifyRendezvous)
                    | FrameRefusal::Replayed(
                        MessageKind::RequestProvider | MessageKind::RequestPing
                    )
            ),
            "consumer: {r:?}"
        );
    }
    let ev_p = w.events(p);
    assert!(ev_p.contains(&Ev::ConsumerReady), "{ev_p:?}");
    for r in refusals(&ev_p) {
        assert!(
            matches!(
                r,
                FrameRefusal::Unexpected(MessageKind::NotifyRendezvous)
                    | FrameRefusal::Replayed(MessageKind::NotifyProvider | MessageKind::NotifyPong)
            ),
            "provider: {r:?}"
        );
    }

    // An invoice and a pay round trip, each frame echoed to its sender.
    let req = w.request_invoice(c, 7_000).unwrap();
    relay.pump(&mut w);
    let ev = w.events(p);
    assert!(
        ev.contains(&Ev::InvoiceRequested {
            request: req,
            msats: 7_000
        }),
        "{ev:?}"
    );
    w.send_invoice(p, req, GO_BOLT11).unwrap();
    relay.pump(&mut w);
    let ev = w.events(c);
    assert!(
        ev.contains(&Ev::Invoice {
            request: req,
            bolt11: GO_BOLT11.to_string()
        }),
        "{ev:?}"
    );
    assert!(!ev.iter().any(|e| matches!(e, Ev::Closed(_))), "{ev:?}");
    let pay = w.pay(c, GO_BOLT11).unwrap();
    relay.pump(&mut w);
    assert!(w
        .events(p)
        .iter()
        .any(|e| matches!(e, Ev::PayRequested { request, .. } if *request == pay)));
    w.send_preimage(p, Some(pay), &[0x22; 32]).unwrap();
    relay.pump(&mut w);
    let ev = w.events(c);
    assert!(
        ev.contains(&Ev::Preimage {
            request: Some(pay),
            preimage: [0x22; 32]
        }),
        "{ev:?}"
    );

    // The provider goes: the Go relay says so with reference "" and keeps the consumer's
    // socket open. Our consumer takes it as the peer gone (the lenient END reading).
    relay.leave(&mut w, 0, GO_RID);
    let ev = w.events(c);
    assert_eq!(
        ev.iter()
            .filter_map(|e| match e {
                Ev::Closed(r) => Some(*r),
                _ => None,
            })
            .collect::<Vec<_>>(),
        [CloseReason::PeerGone],
        "{ev:?}"
    );
    assert!(relay.broadcasts > 0);
}

#[test]
fn a_go_relay_end_names_a_rendezvous_and_carries_an_empty_reference() {
    // `nexus/rendezvous/incoming.go` `EndRendezvous`: `NewRendezvousEnd(rid, "")`. The v0
    // parser refuses the empty reference (as Python and JavaScript do); the session's
    // lenient reading takes it (core/src/session/rendezvous.rs `read_notice`).
    let end = go_notification("NOTIFY_RENDEZVOUS_END", "", &[("rendezvous_id", q(GO_RID))]);
    assert_eq!(
        Message::parse(end.as_bytes()).unwrap_err(),
        MessageError::InvalidRequestReferenceUuid
    );
    assert_eq!(
        moneysocket_core::session::read_notice(end.as_bytes()),
        Ok((moneysocket_core::session::RelayNotice::End, None))
    );
    // The same from the frame layer's point of view: clear, and refused as a v0 message.
    assert!(frame::is_cleartext(end.as_bytes()));
    assert!(matches!(
        frame::receive(
            None,
            frame::FramePolicy::Paired,
            end.as_bytes(),
            &mut [0u8; 1024]
        ),
        Err(FrameError::Message(
            MessageError::InvalidRequestReferenceUuid
        ))
    ));
}

#[test]
fn a_go_sellers_clear_not_ready_is_refused_and_the_session_goes_on() {
    // `notification/op_not_ready.go`: `MustBeClearText() == true`. After pairing only the
    // rendezvous kinds may come in clear; the prototype seller sends it encrypted.
    let mut w = World::new();
    let s = go_seed();
    let config = ConsumerConfig {
        extensions: true,
        ..ConsumerConfig::default()
    };
    let c = w.add_consumer(CLIENT, &s, config);
    w.connect(c).unwrap();
    let rid = w.c(c).rendezvous_id().to_string();
    let paired = go_notification(
        "NOTIFY_RENDEZVOUS",
        "7c1e9a3b-5d2f-4e6a-8b0c-1d2e3f4a5b6c",
        &[("rendezvous_id", q(&rid))],
    );
    w.inject(c, paired.as_bytes());
    assert!(w.events(c).contains(&Ev::Paired));
    let not_ready = go_notification(
        "NOTIFY_OPINION_SELLER_NOT_READY",
        "7c1e9a3b-5d2f-4e6a-8b0c-1d2e3f4a5b6c",
        &[],
    );
    w.inject(c, not_ready.as_bytes());
    let ev = w.events(c);
    assert!(
        matches!(
            &ev[..],
            [Ev::Refused(FrameRefusal::Frame(FrameError::Message(
                MessageError::UnknownNotificationName(_)
            )))]
        ),
        "{ev:?}"
    );
    // Sealed, as the prototype sends it, it reaches the application.
    let key = s.v0_aes_key();
    let mut out = vec![0u8; frame::sealed_len(not_ready.len())];
    let sealed = frame::seal(&key, [9; 16], not_ready.as_bytes(), &mut out).unwrap();
    w.inject(c, sealed);
    let ev = w.events(c);
    assert!(
        matches!(&ev[..], [Ev::Extension(j)] if j == &not_ready),
        "{ev:?}"
    );
}
