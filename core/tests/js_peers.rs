//! Frames recorded from the unmodified JavaScript reference library (js-moneysocket, run
//! under Node by `tests/interop/js/`; docs/quirks-js-peers.md): what it sends must open and parse,
//! and its habits (compact JSON, millisecond timestamps, a balance update that references
//! whatever request the provider layer saw last) must reach the application.

use moneysocket_core::frame;
use moneysocket_core::message::{Message, MessageKind};
use moneysocket_core::session::ConsumerConfig;
use moneysocket_core::uuid::Uuid;

#[path = "support/test_rng.rs"]
mod test_rng;
#[path = "support/world.rs"]
mod world;

use world::{seed, Ev, World, CLIENT};

/// The library's `NotifyProvider` for `Wad.bitcoin(50000000)` as its provider layer sends
/// an update (`sendProviderInfoUpdate`): the reference is the uuid of the last
/// REQUEST_PROVIDER or REQUEST_PING that layer handled, not null. 512 bytes of UTF-8 (the
/// `₿` is 3), so the library pads a whole block of NULs.
const JS_NOTIFY_PROVIDER: &str = r#"{"timestamp":1796412112.827,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","request_reference_uuid":"e8f99851-3a7f-4d07-a1e8-6e6080d8e4de","notification_name":"NOTIFY_PROVIDER","account_uuid":"5c0b1d7e-3f1a-4c2b-9d8e-7f6a5b4c3d2e","payer":true,"payee":true,"wad":{"msats":50000000,"asset_stable":false,"asset_units":50000000,"code":"BTC","countries":"All","decimals":0,"iso_num":null,"name":"Bitcoin","symbol":"₿"}}"#;

/// [`JS_NOTIFY_PROVIDER`] as the library's codec sealed it under seed
/// `000102030405060708090a0b0c0d0e0f` (`world::seed(0)`), random IV.
const JS_NOTIFY_PROVIDER_FRAME: &str = "76dfbd70b0b8dcf7ea8758692e9ba9fa59aaf5af749875480d9d2f5fb15061ece2d043dd034fcc34e4770c56b38a6424f3e4abd27084676c880c15eaf71cbc1ba8693b85986909404a5cff1ca0ad9f32cba08ed33f27357da70410fb4b158e5289e26932550a77cb8d6b4a7ee353c0b0494a3a8f6c9ff712de8dd514bc649513f96143ad7be3ed3092c76de7ddf7b33498ac1e239ab9c0ff369f8c141f008777625a5010fa9e0635585602df0634b3316611cb72b5b7c610ee051970c7bef5de06cda8a99eabcff2d7a043645f868001029f5384a648e140e9afccd40fc8e31cf3b924a8a12ca1d49a00c11abd06b00424703d0cbe8996e700d60062b65ad8eff0af49f8bc87b05fffe317f5b24aa769a7875bcdb7c0d22d41bcc7480fdb60666634fd852d47be32b971263b68173f03e75273b43a663ddacaa372b13b0f5adad7eaaf558c6bd51762d74f47207677b9aea2baa2e43edd213d90654bf1581c4412a31b929013c8c0001bdb5d5f7ab71e69b27f1a3e90295f40006e78f764451d8a2f0667ca632ece0e740e64f711fe85c2ccebf1b54e67889b91747f7b6f0faac552b58910c5374fdaa8c9e3e3661a4c0aac944e8a30a2651beaba040cda47cd39eb32d28663b4159cead2403c66bfd3a3442d0c1ddd8ca692c687ec215dde64bdbf720499177ac5cf542de47e29a48cf638292455e3d27e05aa7e6f91cae1eb130478248af1f9d2a9374cb1913278aa6e1d5afd47f2e59682b8ba58626107eb";

/// What the library builds for the other kinds (check 5 of tests/interop/js), compact JSON.
const JS_MESSAGES: &[(&str, &str)] = &[
    (
        "REQUEST_PROVIDER",
        r#"{"timestamp":1796412078.444,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"REQUEST","request_uuid":"7519fb56-bdf1-4d4e-8c88-527af48ea092","request_name":"REQUEST_PROVIDER"}"#,
    ),
    (
        "REQUEST_PING",
        r#"{"timestamp":1796412078.444,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"REQUEST","request_uuid":"5164f2a4-ab2c-430f-8e78-5113a52d86ff","request_name":"REQUEST_PING"}"#,
    ),
    (
        "REQUEST_INVOICE",
        r#"{"timestamp":1796412078.444,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"REQUEST","request_uuid":"9373c6d4-4086-4305-bb05-4290de3ab7eb","request_name":"REQUEST_INVOICE","msats":7000}"#,
    ),
    (
        "REQUEST_RENDEZVOUS",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"REQUEST","request_uuid":"683fdb29-8664-4f4a-a788-f8c5185bac95","request_name":"REQUEST_RENDEZVOUS","rendezvous_id":"8fe863b06d7378bfa479344217c0bc72118eeda8a78fb777b52deec3a35d652a"}"#,
    ),
    (
        "NOTIFY_PROVIDER",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"ebd7fc9b-f2ce-4adc-b16c-7b56e63eef7d","request_reference_uuid":null,"notification_name":"NOTIFY_PROVIDER","account_uuid":"f1d5939d-1bb9-42b4-b5c8-74732e60a8d7","payer":true,"payee":false,"wad":null}"#,
    ),
    (
        "NOTIFY_PROVIDER_NOT_READY",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"f6f2fb03-7d4d-47c4-b116-8131103fc75a","request_reference_uuid":"214dd04e-3521-4f3d-9aa3-720db6b6a4fc","notification_name":"NOTIFY_PROVIDER_NOT_READY"}"#,
    ),
    (
        "NOTIFY_PONG",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"2a5888c1-6c82-4153-9111-4a789b5da881","request_reference_uuid":"214dd04e-3521-4f3d-9aa3-720db6b6a4fc","notification_name":"NOTIFY_PONG"}"#,
    ),
    (
        "NOTIFY_PREIMAGE",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"89f543e6-3f9a-48da-b7f3-fdcdd01bd078","request_reference_uuid":"214dd04e-3521-4f3d-9aa3-720db6b6a4fc","notification_name":"NOTIFY_PREIMAGE","preimage":"1111111111111111111111111111111111111111111111111111111111111111","ext":null}"#,
    ),
    (
        "NOTIFY_ERROR",
        r#"{"timestamp":1796412078.445,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"01999187-9d35-407f-a5f9-fefcbfe9abcd","request_reference_uuid":"214dd04e-3521-4f3d-9aa3-720db6b6a4fc","notification_name":"NOTIFY_ERROR","error_msg":"insufficent account balance"}"#,
    ),
    (
        "NOTIFY_RENDEZVOUS",
        r#"{"timestamp":1796412078.446,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"e571e9b7-c73c-4856-a3a6-6b47357278c5","request_reference_uuid":"214dd04e-3521-4f3d-9aa3-720db6b6a4fc","notification_name":"NOTIFY_RENDEZVOUS","rendezvous_id":"8fe863b06d7378bfa479344217c0bc72118eeda8a78fb777b52deec3a35d652a"}"#,
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn js_sealed_frame_with_a_whole_block_of_padding_opens_and_parses() {
    assert_eq!(JS_NOTIFY_PROVIDER.len() % 16, 0);
    let key = seed(0).v0_aes_key();
    let bytes = unhex(JS_NOTIFY_PROVIDER_FRAME);
    let mut buf = vec![0u8; bytes.len()];
    let text = frame::open(&key, &bytes, &mut buf).unwrap();
    assert_eq!(text, JS_NOTIFY_PROVIDER.as_bytes());
    let msg = Message::parse(text).unwrap();
    assert_eq!(msg.kind(), MessageKind::NotifyProvider);
    assert_eq!(
        msg.reference_uuid(),
        Some(Uuid::parse_lenient("e8f99851-3a7f-4d07-a1e8-6e6080d8e4de").unwrap())
    );
}

#[test]
fn every_message_the_js_library_builds_parses() {
    for (name, json) in JS_MESSAGES {
        let msg = Message::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.kind().name(), *name);
    }
}

#[test]
fn js_shapes_that_python_refuses_too_are_refused() {
    // `requestInvoice(1500.5)`: the library's validator takes any number.
    let float = r#"{"timestamp":1796412078.446,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"REQUEST","request_uuid":"9041663a-233f-4680-96e3-01d58a146374","request_name":"REQUEST_INVOICE","msats":1500.5}"#;
    let e = Message::parse(float.as_bytes()).unwrap_err();
    assert_eq!(e.to_string(), "unknown msats type");
    // `new NotifyRendezvousEnd(rid)` has no reference parameter: the key is missing and
    // the library's own validator refuses it too (no JS relay exists to send it).
    let end = r#"{"timestamp":1796412078.446,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"f5c2269e-4eb3-4188-81e6-7e00570b4b5a","notification_name":"NOTIFY_RENDEZVOUS_END","rendezvous_id":"8fe863b06d7378bfa479344217c0bc72118eeda8a78fb777b52deec3a35d652a"}"#;
    let e = Message::parse(end.as_bytes()).unwrap_err();
    assert_eq!(e.to_string(), "no request_reference_uuid included");
}

#[test]
fn consumer_takes_a_js_balance_update_that_references_an_old_request() {
    let mut w = World::new();
    let s = seed(0);
    let c = w.add_consumer(CLIENT, &s, ConsumerConfig::default());
    w.connect(c).unwrap();
    let rid = w.c(c).rendezvous_id();
    // The relay pairs it (a JS provider is on the other side) and the provider answers the
    // handshake the way the library does.
    let paired = format!(
        r#"{{"timestamp":1796412078.446,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"e571e9b7-c73c-4856-a3a6-6b47357278c5","request_reference_uuid":null,"notification_name":"NOTIFY_RENDEZVOUS","rendezvous_id":"{rid}"}}"#
    );
    w.inject(c, paired.as_bytes());
    let hello = r#"{"timestamp":1796412078.447,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a12","request_reference_uuid":null,"notification_name":"NOTIFY_PROVIDER","account_uuid":"5c0b1d7e-3f1a-4c2b-9d8e-7f6a5b4c3d2e","payer":true,"payee":true,"wad":{"msats":47000000,"asset_stable":false,"asset_units":47000000,"code":"BTC","countries":"All","decimals":0,"iso_num":null,"name":"Bitcoin","symbol":"₿"}}"#;
    let key = s.v0_aes_key();
    let mut sealed = vec![0u8; frame::sealed_len(hello.len())];
    let sealed = frame::seal(&key, [9; 16], hello.as_bytes(), &mut sealed).unwrap();
    w.inject(c, sealed);
    assert!(w.c(c).is_ready(), "{:?}", w.events(c));
    w.events(c);
    // After a payment to the account: the unsolicited preimage, then the new balance whose
    // reference is a request this consumer never made (or made long ago).
    let preimage = r#"{"timestamp":1796412079.001,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"89f543e6-3f9a-48da-b7f3-fdcdd01bd078","request_reference_uuid":null,"notification_name":"NOTIFY_PREIMAGE","preimage":"1111111111111111111111111111111111111111111111111111111111111111","ext":null}"#;
    let mut buf = vec![0u8; frame::sealed_len(preimage.len())];
    w.inject(
        c,
        frame::seal(&key, [7; 16], preimage.as_bytes(), &mut buf).unwrap(),
    );
    w.inject(c, &unhex(JS_NOTIFY_PROVIDER_FRAME));
    let ev = w.events(c);
    assert!(
        matches!(&ev[..], [Ev::Preimage { request: None, preimage }, Ev::Provider(u)]
            if *preimage == [0x11; 32] && u.msats == Some(50_000_000)),
        "{ev:?}"
    );
    assert!(w.c(c).is_ready());
}
