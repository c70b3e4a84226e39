//! Moneysocket in the browser (and Node): the core's sans-IO [`SessionHost`] driven over
//! the page's `WebSocket`, with the page's timers (`setTimeout`), clock (`performance.now`,
//! `Date.now`) and entropy (`crypto.getRandomValues`). The browser twin of
//! `moneysocket-driver`; see docs/web.md for the JavaScript API and a one-page example.
//!
//! On `wasm32` the crate exports, through wasm-bindgen, the classes `Consumer` and
//! `Provider` (with the opinion-seller extension), the wallet's `Allowance`, and the
//! functions `beacon_decode`, `beacon_encode`, `beacon_new`, `bolt11_msats`,
//! `bolt11_payment_hash`, `sha256_hex` and `uuid_new`. Msat amounts cross the boundary as
//! JS `BigInt`s, both ways ([`msats`]). On other targets it is only its plain-Rust parts
//! ([`allowance`], [`beacon`], [`msats`], [`opinion`]), which are tested there.
//!
//! [`SessionHost`]: moneysocket_core::host::SessionHost
#![cfg_attr(not(target_arch = "wasm32"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod allowance;
pub mod beacon;
pub mod msats;
pub mod opinion;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
mod events;
#[cfg(target_arch = "wasm32")]
mod js;

/// The amount of a BOLT11 invoice in msat (`None`: no amount, or not an invoice).
pub fn bolt11_msats(bolt11: &str) -> Option<u64> {
    moneysocket_core::bolt11::Invoice::parse(bolt11.trim())
        .ok()?
        .amount_msat()
}

/// SHA-256 (a preimage's payment hash).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
