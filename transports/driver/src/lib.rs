//! A thin std driver for Moneysocket: runs the core's sans-IO
//! [`SessionHost`](moneysocket_core::host::SessionHost) over a frame transport (by default
//! the websocket transport of `moneysocket-ws`), with the clock, reconnects with backoff,
//! listening, and work that may block (a Lightning payment) run off the loop.
//!
//! It has no protocol logic of its own: the host decides everything about frames; the
//! driver moves them ([`FrameIo`]), keeps time, and reports what happened as owned
//! [`DriverEvent`]s. See `docs/driver.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use moneysocket_driver::{Driver, DriverConfig, DriverEvent};
//! use moneysocket_core::session::ConsumerConfig;
//! use moneysocket_core::seed::SharedSeed;
//! # fn main() -> std::io::Result<()> {
//! let mut driver: Driver = Driver::new(DriverConfig::default(), Default::default())?;
//! let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
//! let consumer = driver.add_consumer(&seed, ConsumerConfig::default());
//! driver.connect(consumer, ["ws://127.0.0.1:11060"]).unwrap();
//! let mut events = Vec::new();
//! loop {
//!     driver.poll(&mut events, Some(Duration::from_secs(1)))?;
//!     for ev in events.drain(..) {
//!         if let DriverEvent::Session { session, event } = ev {
//!             println!("{session}: {event:?}");
//!         }
//!     }
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod event;
mod io;
mod jobs;

pub use driver::{Backoff, ConnectError, DialState, Driver, DriverConfig, DEFAULT_CONNS};
pub use event::{
    ConsumerEvent, Disconnect, DriverEvent, ProviderEvent, ProviderUpdate, SessionEvent,
};
pub use io::{ConnectionClosed, FrameIo, IoError, IoEvent, WsIo, WAKE_SOURCE};
pub use jobs::{JobId, JobOutput, JobPanicked, SpawnError};

pub use moneysocket_core::host::{HostConfig, HostError, SessionId};
pub use moneysocket_core::matchmaker::Eviction;
pub use moneysocket_core::ConnId;
