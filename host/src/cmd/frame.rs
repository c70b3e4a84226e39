//! `moneysocket frame open|seal`.

use super::CmdResult;
use clap::Subcommand;
use moneysocket_core::frame::{self, FramePolicy};
use moneysocket_core::hex;
use moneysocket_core::message::Message;
use moneysocket_core::seed::SharedSeed;

/// Frame subcommands.
#[derive(Subcommand)]
pub enum FrameCmd {
    /// Open a received frame (ciphertext or cleartext) and print the message JSON.
    Open {
        /// The shared seed, 32 hex digits.
        #[arg(long)]
        seed: String,
        /// The frame bytes as hex (IV ‖ ciphertext, or cleartext JSON bytes).
        frame: String,
    },
    /// Encrypt a message (zero padding, like the Python peer) and print the frame as hex.
    Seal {
        /// The shared seed, 32 hex digits.
        #[arg(long)]
        seed: String,
        /// Fixed IV as 32 hex digits. FOR TEST VECTORS ONLY: a reused IV leaks plaintext
        /// structure; without it a fresh random IV is drawn from the OS.
        #[arg(long)]
        iv: Option<String>,
        /// Seal the text as given even when it is not a valid Moneysocket message (for test
        /// vectors of the cipher; a peer's `frame open` rejects it).
        #[arg(long)]
        raw: bool,
        /// A Moneysocket message's JSON (checked unless --raw); sealed byte-for-byte as given.
        json: String,
    },
}

/// Runs a frame subcommand.
pub fn run(cmd: FrameCmd) -> CmdResult {
    match cmd {
        FrameCmd::Open { seed, frame } => open(&seed, &frame),
        FrameCmd::Seal {
            seed,
            iv,
            raw,
            json,
        } => {
            if !raw {
                Message::parse(json.as_bytes()).map_err(|e| {
                    format!("not a Moneysocket message ({e}); --raw seals it anyway")
                })?;
            }
            seal(&seed, iv.as_deref(), &json)
        }
    }
}

fn parse_seed(text: &str) -> Result<SharedSeed, String> {
    SharedSeed::from_hex(text).map_err(|e| format!("invalid shared seed: {e}"))
}

fn open(seed: &str, frame_hex: &str) -> CmdResult {
    let key = parse_seed(seed)?.v0_aes_key();
    let frame = hex::decode_vec(frame_hex.trim()).map_err(|e| format!("invalid frame hex: {e}"))?;
    let mut buf = vec![0u8; frame.len()];
    let received = frame::receive(Some(&key), FramePolicy::Handshake, &frame, &mut buf)
        .map_err(|e| e.to_string())?;
    Ok(received.message.to_json_string())
}

fn seal(seed: &str, iv: Option<&str>, json: &str) -> CmdResult {
    let key = parse_seed(seed)?.v0_aes_key();
    let mut out = vec![0u8; frame::sealed_len(json.len())];
    let sealed = match iv {
        Some(iv) => {
            let iv = hex::decode_array::<16>(iv).map_err(|e| format!("invalid iv: {e}"))?;
            frame::seal(&key, iv, json.as_bytes(), &mut out)
        }
        None => frame::seal_with_rng(&key, &mut rand_core::OsRng, json.as_bytes(), &mut out),
    }
    .map_err(|e| e.to_string())?;
    Ok(hex::encode(sealed))
}
