//! Arbitrary frames into the receive path (classification, decryption, both paddings,
//! message validation, cleartext policy), with and without a key.
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::frame::{self, FramePolicy};
use moneysocket_core::seed::SharedSeed;

fuzz_target!(|data: &[u8]| {
    let key = SharedSeed([0x42; 16]).v0_aes_key();
    let mut buf = vec![0u8; data.len()];
    for policy in [FramePolicy::Handshake, FramePolicy::Paired] {
        let _ = frame::receive(Some(&key), policy, data, &mut buf);
        let _ = frame::receive(None, policy, data, &mut buf);
    }
    // Sealing arbitrary plaintext always opens back to it when it is JSON.
    let mut out = vec![0u8; frame::sealed_len(data.len())];
    let sealed = frame::seal(&key, [9u8; 16], data, &mut out)
        .expect("sized")
        .to_vec();
    if let Ok(text) = frame::open(&key, &sealed, &mut buf) {
        assert!(data.starts_with(text));
    }
});
