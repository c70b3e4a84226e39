//! Beacon helpers for pages: decode to JSON, encode from a seed and locations, a fresh
//! beacon for a relay URL (the prototype's "Generate Beacon", host-apps §3).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use moneysocket_core::beacon::{v0, Beacon, Location, WebSocket};
use moneysocket_core::seed::SharedSeed;
use serde_json::{json, Value};

/// A beacon (v0 or v1, any case) as JSON: `{format, hrp, shared_seed, locations:[{type,
/// url?}]}`; a typed message when it does not decode.
pub fn decode(text: &str) -> Result<Value, String> {
    let beacon = Beacon::decode(text.trim()).map_err(|e| format!("invalid beacon: {e}"))?;
    let locations: Vec<Value> = beacon
        .locations()
        .map(|l| match l {
            Location::WebSocket(ws) => json!({"type": "websocket", "url": ws.to_string()}),
            Location::WebRtc(_) => json!({"type": "webrtc"}),
            Location::Bluetooth(_) => json!({"type": "bluetooth"}),
            Location::Nfc(_) => json!({"type": "nfc"}),
            Location::Unknown { tlv_type, .. } => json!({"type": "unknown", "tlv_type": tlv_type}),
        })
        .collect();
    Ok(json!({
        "format": match beacon { Beacon::V0(_) => "v0", Beacon::V1(_) => "v1" },
        "hrp": beacon.hrp(),
        "shared_seed": moneysocket_core::hex::encode(beacon.shared_seed().as_bytes()),
        "locations": locations,
    }))
}

/// The websocket URLs of a beacon, in order (what a session dials), with its seed.
pub fn dial_plan(text: &str) -> Result<(SharedSeed, Vec<String>), String> {
    let beacon = Beacon::decode(text.trim()).map_err(|e| format!("invalid beacon: {e}"))?;
    let urls: Vec<String> = beacon.websockets().map(|ws| ws.to_string()).collect();
    if urls.is_empty() {
        return Err("the beacon has no websocket location".into());
    }
    Ok((beacon.shared_seed(), urls))
}

/// A v0 beacon (the format deployed peers read) for `seed` and websocket `urls`.
pub fn encode(seed: &SharedSeed, urls: &[&str]) -> Result<String, String> {
    let mut b = v0::Beacon::new(*seed);
    for url in urls {
        let ws = WebSocket::parse_url(url).map_err(|e| format!("invalid location {url:?}: {e}"))?;
        b.push_websocket(ws)
            .map_err(|e| format!("cannot put {url:?} in a v0 beacon: {e}"))?;
    }
    Ok(Beacon::from(b).to_string())
}

/// `encode` with the seed in hex (32 digits).
pub fn encode_hex(seed_hex: &str, urls: &[&str]) -> Result<String, String> {
    let seed =
        SharedSeed::from_hex(seed_hex.trim()).map_err(|e| format!("invalid shared seed: {e}"))?;
    encode(&seed, urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let seed = SharedSeed([7; 16]);
        let b = encode(&seed, &["ws://127.0.0.1:11060"]).unwrap();
        let j = decode(&b).unwrap();
        assert_eq!(j["format"], "v0");
        assert_eq!(j["shared_seed"], "07".repeat(16));
        assert_eq!(j["locations"][0]["url"], "ws://127.0.0.1:11060");
        let (s, urls) = dial_plan(&b.to_uppercase()).unwrap();
        assert_eq!(s, seed);
        assert_eq!(urls, ["ws://127.0.0.1:11060"]);
        assert_eq!(
            encode_hex(&"07".repeat(16), &["ws://127.0.0.1:11060"]).unwrap(),
            b
        );
    }

    #[test]
    fn bad_input_is_a_typed_message() {
        assert!(decode("moneysocket1xyz")
            .unwrap_err()
            .starts_with("invalid beacon"));
        assert!(encode_hex("zz", &[])
            .unwrap_err()
            .starts_with("invalid shared seed"));
        assert!(encode(&SharedSeed([0; 16]), &["http://x"])
            .unwrap_err()
            .starts_with("invalid location"));
        let empty = encode(&SharedSeed([0; 16]), &[]).unwrap();
        assert!(dial_plan(&empty).unwrap_err().contains("no websocket"));
    }
}
