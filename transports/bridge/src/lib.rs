//! The device bridge: carries frames between a device link (a serial port, or TCP such as
//! QEMU's serial on a socket) and a websocket to a Moneysocket relay. See `docs/firmware.md`
//! and `docs/uart-framing.md`.
//!
//! * One websocket per device link: it is dialed when the device link is up, and closed when
//!   the link goes. Both sides reconnect by themselves, with growing delays.
//! * Device → relay: each frame of [`serial_framing`](moneysocket_core::serial_framing)
//!   becomes one websocket message; a zero-length frame closes the websocket and a new one is
//!   dialed. Relay → device: each websocket message becomes one frame; every newly opened
//!   websocket is announced to the device with a zero-length frame (a new transport).
//! * The bridge never looks inside Moneysocket frames. It only tells apart the
//!   [`device_message`](moneysocket_core::device_message)s, which are for it, not for the
//!   relay: provisioning (answering the device's hello) and BOLT11s to pay (host → device,
//!   [`Command`]) and the device's invoices and status lines (device → host, [`BridgeEvent`]).
//! * Line noise: the core's decoder resynchronises (bounded length, idle gap); each dropped
//!   run of bytes is one log line, at most one per second per kind.
//!
//! ```no_run
//! use moneysocket_bridge::{Bridge, BridgeConfig, DeviceAddr};
//! # fn main() -> std::io::Result<()> {
//! let config = BridgeConfig::new(DeviceAddr::Tcp("127.0.0.1:4444".into()), "ws://127.0.0.1:11060");
//! let mut bridge = Bridge::new(config)?;
//! let mut events = Vec::new();
//! loop {
//!     bridge.poll(&mut events, None)?;
//!     for ev in events.drain(..) {
//!         println!("{ev}");
//!     }
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bridge;
mod limit;
mod link;

pub use bridge::{
    relay_of_beacon, Bridge, BridgeConfig, BridgeEvent, BridgeHandle, BridgeStats, Command,
};
pub use link::DeviceAddr;

/// The device's frame bound (bytes of one frame body): the firmware's `FRAME`. Longer relay
/// messages are dropped (and logged), never truncated; longer lengths from the device make its
/// decoder resynchronise.
pub const MAX_FRAME: usize = 1024;
