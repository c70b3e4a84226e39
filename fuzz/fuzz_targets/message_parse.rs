//! Arbitrary bytes into the v0 message parser, the opinion-seller extension parser and the
//! JSON reader; whatever parses must re-serialise and parse back to an equal message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::message::opinion::OpinionMessage;
use moneysocket_core::{json, message::Message};

fuzz_target!(|data: &[u8]| {
    let _ = json::parses_as_json(data);
    if let Ok(msg) = Message::parse(data) {
        let text = msg.to_json_string();
        let again = Message::parse(text.as_bytes()).expect("our own output must parse");
        assert_eq!(again, msg);
        assert_eq!(text.len(), msg.json_len());
    }
    if let Ok(msg) = OpinionMessage::parse(data) {
        assert!(
            Message::parse(data).is_err(),
            "v0 must not read an extension message"
        );
        let text = msg.to_json_string();
        let again = OpinionMessage::parse(text.as_bytes()).expect("our own output must parse");
        assert_eq!(again, msg);
        assert_eq!(text.len(), msg.json_len());
    }
});
