//! Arbitrary bytes through the TLV readers; popped records re-encode to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use moneysocket_core::tlv;

fuzz_target!(|data: &[u8]| {
    let valid = tlv::is_valid_stream(data);
    let _ = tlv::check_strict(data, |t| t < 8);
    let mut out = Vec::new();
    let mut consumed = 0usize;
    for rec in tlv::records(data) {
        let Ok(rec) = rec else { break };
        tlv::write_record(&mut out, rec.typ, rec.value).expect("vec sink");
        consumed = out.len();
    }
    if valid {
        assert_eq!(
            &out[..],
            data,
            "a valid stream re-encodes byte-exactly (minimal BigSize)"
        );
    } else {
        assert_eq!(&out[..consumed], &data[..consumed]);
    }
});
