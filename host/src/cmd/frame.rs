//! `moneysocket frame open|seal` (wired once the message codec lands).

use super::CmdResult;
use clap::Subcommand;

/// Frame subcommands.
#[derive(Subcommand)]
pub enum FrameCmd {}

/// Runs a frame subcommand.
pub fn run(cmd: FrameCmd) -> CmdResult {
    match cmd {}
}
