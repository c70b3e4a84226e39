//! Any string into the BOLT11 reader (with signature recovery).
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::bolt11::{Invoice, VerifiedInvoice};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(inv) = Invoice::parse(text) {
        let _ = inv.expires_at();
        let _ = VerifiedInvoice::new(inv);
    }
});
