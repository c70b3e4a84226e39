//! A Moneysocket consumer an application embeds: a small **blocking** API on the session
//! driver (`moneysocket-driver`). A background thread owns the connection to the provider
//! (through the beacon's relay), redials it with the same beacon when it drops, and
//! answers each call by its request uuid.
//!
//! ```no_run
//! use moneysocket_client::{Client, ClientConfig};
//! # fn main() -> Result<(), moneysocket_client::ClientError> {
//! let client = Client::connect("moneysocket1...", ClientConfig::default())?;
//! println!("balance: {:?} msat", client.balance());
//! let bolt11 = client.request_invoice(5_000)?;          // an invoice to this account
//! let preimage = client.pay("lnbc...")?;                // checked against the payment hash
//! # let _ = (bolt11, preimage);
//! # Ok(()) }
//! ```
//!
//! Streaming payments (pay per event with several in flight, or accrue and settle) are in
//! [`stream`]. See `docs/client.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod config;
mod error;
mod event;
mod worker;

pub mod stream;

pub use client::{AsBeacon, Client, Handle, Ticket};
pub use config::ClientConfig;
pub use error::ClientError;
pub use event::{ClientEvent, ProviderInfo};
pub use moneysocket_core::beacon::Beacon;
pub use moneysocket_driver::Backoff;
