//! moneysocket-core: the sans-IO core of Moneysocket.
//!
//! Everything here is bytes in, bytes out: beacons, shared seeds and their derivations,
//! encrypted frames, the v0 messages, wads and provider info, the v1 draft encodings and a
//! BOLT11 reader. No sockets, clocks, threads or entropy of its own; entropy is passed in
//! through `rand_core` traits. Builds without `alloc` (bounded buffers); the `alloc` and
//! `std` features add growable conveniences and the v1 draft JSON objects.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod beacon;
pub mod bech;
pub mod bigsize;
pub mod bolt11;
pub mod civil;
pub mod conn;
pub mod device_message;
pub mod frame;
pub mod hex;
#[cfg(feature = "alloc")]
pub mod host;
pub mod json;
pub mod matchmaker;
pub mod message;
pub mod seed;
pub mod serial_framing;
pub mod session;
pub mod sink;
pub mod time;
pub mod tlv;
pub mod uuid;
#[cfg(feature = "alloc")]
pub mod v1;

pub use conn::{ConnId, Endpoint, LocalId};
