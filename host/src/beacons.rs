//! Making beacons: a seed and one websocket location, as the terminus's `listen`, the
//! wallet's listener, the demo and the benchmarks hand them out (one place for all of them).

use moneysocket_core::beacon::{v0, Beacon, WebSocket};
use moneysocket_core::seed::SharedSeed;
use rand_core::OsRng;

/// The v0 beacon (the format every deployed peer reads) of `seed` at the websocket `url`
/// (`ws[s]://host[:port]`).
pub fn at_url(seed: SharedSeed, url: &str) -> Result<String, String> {
    let ws = WebSocket::parse_url(url).map_err(|e| format!("location {url}: {e}"))?;
    let mut b = v0::Beacon::new(seed);
    b.push_websocket(ws)
        .map_err(|e| format!("location {url}: {e}"))?;
    Ok(Beacon::from(b).to_string())
}

/// A beacon with a fresh random seed at `url`.
pub fn fresh(url: &str) -> Result<String, String> {
    at_url(SharedSeed::generate(&mut OsRng), url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacons_read_back() {
        let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        let text = at_url(seed, "ws://127.0.0.1:11060").unwrap();
        let b = Beacon::decode(&text).unwrap();
        assert_eq!(b.shared_seed(), seed);
        assert_eq!(
            b.first_websocket().unwrap().to_string(),
            "ws://127.0.0.1:11060"
        );
        assert_ne!(
            fresh("ws://127.0.0.1:1").unwrap(),
            fresh("ws://127.0.0.1:1").unwrap()
        );
        assert!(at_url(seed, "http://nope").is_err());
    }
}
