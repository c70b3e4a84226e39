//! One module per command group. Each `run` returns the text to print or the error text.

pub mod beacon;
pub mod bench;
pub mod bolt11;
pub mod bridge;
pub mod consumer;
pub mod demo;
pub mod frame;
pub mod relay;
pub mod seed;
pub mod simnet;
pub mod terminus;
pub mod terminus_cli;
pub mod wad;
pub mod wallet;
pub mod web;

/// What a command prints on success, or why it failed.
pub type CmdResult = Result<String, String>;
