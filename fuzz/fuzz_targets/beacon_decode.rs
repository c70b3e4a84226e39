//! Any string into Beacon::decode; whatever decodes must re-encode and decode to the same beacon.
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::beacon::Beacon;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(beacon) = Beacon::decode(text) {
        let again = beacon.to_string();
        let reparsed = Beacon::decode(&again).expect("our own encoding must decode");
        assert_eq!(reparsed.shared_seed(), beacon.shared_seed());
        assert_eq!(reparsed.locations().count(), beacon.locations().count());
    }
});
