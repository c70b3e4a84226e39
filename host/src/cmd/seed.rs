//! `moneysocket seed HEX`.

use super::CmdResult;
use moneysocket_core::seed::SharedSeed;
use serde_json::json;

/// Prints the seed, its v0 AES key and v0 rendezvous id.
pub fn run(seed_hex: &str) -> CmdResult {
    let seed = SharedSeed::from_hex(seed_hex).map_err(|e| format!("invalid shared seed: {e}"))?;
    Ok(json!({
        "shared_seed": seed.to_string(),
        "aes_key": seed.v0_aes_key().to_string(),
        "rendezvous_id": seed.v0_rendezvous_id().to_string(),
    })
    .to_string())
}
