//! The browser pages (web wallet, seller, buyer, beacon tool, the scripted demo), embedded
//! in the binary with the WASM build of `moneysocket-wasm` and its JS glue, and the small
//! HTTP server that serves them.
//!
//! `pkg/` holds the generated `moneysocket_wasm.js` and `moneysocket_wasm_bg.wasm`, made by
//! `transports/wasm/build.sh` (cargo for wasm32 plus the wasm-bindgen CLI) and committed, so
//! a plain `cargo build` of the host needs neither (docs/web.md).
//!
//! Routes: the pages and assets below, `GET /demo.json` (the relay URL and the account
//! beacons the pages start from), `GET /qr.svg?text=…` (a QR code of a beacon or an invoice).

mod assets;
mod qr;
mod server;

pub use assets::{asset, ASSETS};
pub use server::{route, DemoConfig, WebServer};
