//! Arbitrary bytes as v1 wad / provider info JSON and as a v1 message envelope.
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::v1;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = v1::Message::decode(data, 1_800_000_000) {
        let again = msg.encode();
        v1::Message::decode(&again, 1_800_000_000).expect("our own encoding must decode");
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(wad) = v1::Wad::from_json(&value) {
            let _ = wad.to_string();
            v1::Wad::from_json(&wad.to_json()).expect("re-serialised wad must validate");
        }
        if let Ok(info) = v1::ProviderInfo::from_json(&value) {
            v1::ProviderInfo::from_json(&info.to_json())
                .expect("re-serialised provider info must validate");
        }
    }
});
