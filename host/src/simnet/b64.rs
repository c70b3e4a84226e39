//! Base64 as LND's REST gateway writes it (standard alphabet, padded) and reads it (standard
//! or URL-safe alphabet, padding optional), on the `base64` crate.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Standard, padded base64 of `data`.
pub fn encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes standard or URL-safe base64, padded or not. `None`: not base64.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    STD_LENIENT
        .decode(s)
        .or_else(|_| URL_LENIENT.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in 0..70u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let e = encode(&data);
            assert_eq!(e.len() % 4, 0);
            assert_eq!(decode(&e).as_deref(), Some(&data[..]));
            let url = e.replace('+', "-").replace('/', "_");
            assert_eq!(
                decode(url.trim_end_matches('=')).as_deref(),
                Some(&data[..])
            );
        }
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(decode("Zm8"), Some(b"fo".to_vec()));
        assert_eq!(decode("Z"), None);
        assert_eq!(decode("Zm8*"), None);
    }
}
