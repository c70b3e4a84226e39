use super::*;
use crate::message::Message;
use crate::sink::SliceSink;
extern crate std;
use std::format;
use std::string::String;

const REQ_UUID: &str = "43291db8-bef4-4da0-ba48-7fa973d2c92b";
const NOTE_UUID: &str = "9d3c6d2b-7b7e-4c1e-8f0e-3a1b2c3d4e5f";

fn uuid(s: &str) -> Uuid {
    Uuid::parse_canonical(s).unwrap()
}

fn request(name: &str, fields: &str) -> String {
    format!(
        r#"{{"timestamp": 1612345678.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "{REQ_UUID}", "request_name": "{name}"{fields}}}"#
    )
}

fn notification(name: &str, fields: &str) -> String {
    format!(
        r#"{{"timestamp": 1612345678.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "{NOTE_UUID}", "request_reference_uuid": "{REQ_UUID}", "notification_name": "{name}"{fields}}}"#
    )
}

fn written(msg: &OpinionMessage<'_>) -> String {
    let mut buf = [0u8; 1024];
    let mut sink = SliceSink::new(&mut buf);
    msg.write_json(&mut sink).unwrap();
    let out = String::from_utf8(sink.written().to_vec()).unwrap();
    assert_eq!(out.len(), msg.json_len());
    out
}

/// Each of the six, in the writer's field order: parse, then write back byte for byte.
#[test]
fn six_messages_round_trip() {
    let texts = [
        request(
            "REQUEST_OPINION_SELLER",
            r#", "extension_protocol": "OPINION_SELLER_DEMO_V0""#,
        ),
        request(
            "REQUEST_OPINION_INVOICE",
            r#", "item_id": "hello", "extension_protocol": "OPINION_SELLER_DEMO_V0""#,
        ),
        notification(
            "NOTIFY_OPINION_SELLER",
            &format!(
                r#", "items": [{{"item_id": "hello", "name": "Hello World", "msats": 1000}}, {{"item_id": "time", "name": "Current \u20bf Timestamp", "msats": 18446744073709551615}}], "seller_uuid": "{NOTE_UUID}""#
            ),
        ),
        notification("NOTIFY_OPINION_SELLER_NOT_READY", ""),
        notification("NOTIFY_OPINION_INVOICE", r#", "bolt11": "lnbc10n1xyz""#),
        notification(
            "NOTIFY_OPINION",
            r#", "opinion": "Sincere Hello!!", "item_id": "hello""#,
        ),
    ];
    for (text, kind) in texts.iter().zip(OpinionKind::ALL) {
        let msg = OpinionMessage::parse(text.as_bytes()).unwrap();
        assert_eq!(msg.kind(), kind);
        assert_eq!(&written(&msg), text);
        assert!(OpinionMessage::is_opinion(text.as_bytes()));
        // The v0 parser still refuses every one of them.
        assert!(matches!(
            Message::parse(text.as_bytes()),
            Err(MessageError::UnknownRequestName(_) | MessageError::UnknownNotificationName(_))
        ));
    }
}

#[test]
fn built_messages_read_back() {
    let items = [
        OpinionItem {
            item_id: "hello".into(),
            name: "Hello \"World\"".into(),
            msats: 1_000,
        },
        OpinionItem {
            item_id: "outlook".into(),
            name: "Market Outlook".into(),
            msats: 3_000,
        },
    ];
    let ts = Timestamp::from_secs(1_700_000_000);
    let msg = OpinionMessage::notify_opinion_seller(
        uuid(NOTE_UUID),
        Some(uuid(REQ_UUID)),
        ts,
        uuid(REQ_UUID),
        &items,
    );
    let text = written(&msg);
    let back = OpinionMessage::parse(text.as_bytes()).unwrap();
    assert_eq!(back, msg);
    assert_eq!(back.reference_uuid(), Some(uuid(REQ_UUID)));
    let OpinionBody::NotifyOpinionSeller { items: got, .. } = back.body() else {
        panic!("wrong body");
    };
    assert_eq!(got.len(), 2);
    assert!(got.iter().next().unwrap().name.eq_str("Hello \"World\""));

    let req = OpinionMessage::request_opinion_invoice(uuid(REQ_UUID), ts, "time");
    let text = written(&req);
    assert!(text.ends_with(r#""item_id": "time", "extension_protocol": "OPINION_SELLER_DEMO_V0"}"#));
    assert_eq!(OpinionMessage::parse(text.as_bytes()).unwrap(), req);
    let op = OpinionMessage::notify_opinion(uuid(NOTE_UUID), None, ts, "time", "1700000000");
    assert_eq!(OpinionMessage::parse(written(&op).as_bytes()).unwrap(), op);
}

#[test]
fn refusals_are_typed() {
    use OpinionError as E;
    let seller = |fields: &str| notification("NOTIFY_OPINION_SELLER", fields);
    let item = |it: &str| {
        seller(&format!(
            r#", "seller_uuid": "{NOTE_UUID}", "items": [{it}]"#
        ))
    };
    let cases: [(String, OpinionError); 17] = [
        (request("REQUEST_PING", ""), E::NotOpinion),
        // A notification name in a request is not an opinion message either.
        (request("NOTIFY_OPINION", ""), E::NotOpinion),
        (
            request(
                "REQUEST_OPINION_SELLER",
                r#", "extension_protocol": "OTHER""#,
            ),
            E::UnknownExtensionProtocol,
        ),
        (
            request("REQUEST_OPINION_SELLER", r#", "extension_protocol": 1"#),
            E::WrongType("extension_protocol"),
        ),
        (
            request("REQUEST_OPINION_INVOICE", ""),
            E::Missing("item_id"),
        ),
        (
            request("REQUEST_OPINION_INVOICE", r#", "item_id": 7"#),
            E::WrongType("item_id"),
        ),
        (seller(r#", "items": []"#), E::Missing("seller_uuid")),
        (
            seller(r#", "seller_uuid": "nope", "items": []"#),
            E::InvalidSellerUuid,
        ),
        (
            seller(&format!(r#", "seller_uuid": "{NOTE_UUID}", "items": {{}}"#)),
            E::WrongType("items"),
        ),
        (
            item(r#"{"name": "a", "msats": 1}"#),
            E::Missing("items[].item_id"),
        ),
        (
            item(r#"{"item_id": "a", "msats": 1}"#),
            E::Missing("items[].name"),
        ),
        (
            item(r#"{"item_id": "a", "name": "a"}"#),
            E::Missing("items[].msats"),
        ),
        (
            item(r#"{"item_id": "a", "name": "a", "msats": 1.5}"#),
            E::MsatsNotInteger,
        ),
        (
            item(r#"{"item_id": "a", "name": "a", "msats": "1"}"#),
            E::WrongType("items[].msats"),
        ),
        (
            item(r#"{"item_id": "a", "name": "a", "msats": -1}"#),
            E::MsatsOutOfRange,
        ),
        (
            item(r#"{"item_id": "a", "name": "a", "msats": 18446744073709551616}"#),
            E::MsatsOutOfRange,
        ),
        (item("3"), E::WrongType("items[]")),
    ];
    for (text, want) in cases {
        assert_eq!(OpinionMessage::parse(text.as_bytes()), Err(want), "{text}");
    }
    assert_eq!(
        OpinionMessage::parse(notification("NOTIFY_OPINION", r#", "item_id": "a""#).as_bytes()),
        Err(E::Missing("opinion"))
    );
    assert_eq!(
        OpinionMessage::parse(b"{\"message_class\": \"REQUEST\"}"),
        Err(E::Envelope(MessageError::NoTimestamp))
    );
    assert_eq!(
        OpinionMessage::parse(b"[1]"),
        Err(E::Envelope(MessageError::NotAnObject))
    );
    assert!(!OpinionMessage::is_opinion(
        request("REQUEST_PING", "").as_bytes()
    ));
    // A missing extension_protocol is accepted (only the prototype sends it).
    assert!(OpinionMessage::parse(request("REQUEST_OPINION_SELLER", "").as_bytes()).is_ok());
}

#[test]
fn writing_into_a_short_buffer_overflows() {
    let msg = OpinionMessage::notify_opinion_invoice(
        uuid(NOTE_UUID),
        None,
        Timestamp::from_secs(1),
        "lnbc1",
    );
    let mut buf = [0u8; 40];
    assert!(msg.write_json(&mut SliceSink::new(&mut buf)).is_err());
}
