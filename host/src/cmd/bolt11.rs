//! `moneysocket bolt11 decode`.

use super::CmdResult;
use clap::Subcommand;
use moneysocket_core::bolt11::{Description, VerifiedInvoice};
use moneysocket_core::hex;
use serde_json::json;

/// BOLT11 subcommands.
#[derive(Subcommand)]
pub enum Bolt11Cmd {
    /// Decode an invoice, verify its signature and print the fields apps need.
    Decode {
        /// The invoice (lnbc…, lntb…, lntbs…, lnbcrt…).
        invoice: String,
    },
}

/// Runs a BOLT11 subcommand.
pub fn run(cmd: Bolt11Cmd) -> CmdResult {
    let Bolt11Cmd::Decode { invoice } = cmd;
    let v = VerifiedInvoice::parse(invoice.trim()).map_err(|e| format!("invalid invoice: {e}"))?;
    let (description, description_hash) = match v.description() {
        Description::Direct(d) => (Some(d.as_str().to_owned()), None),
        Description::Hash(h) => (None, Some(hex::encode(h))),
    };
    Ok(json!({
        "network": v.network().prefix(),
        "amount_msat": v.amount_msat(),
        "timestamp": v.timestamp(),
        "expiry": v.expiry_secs(),
        "expires_at": v.expires_at(),
        "payment_hash": hex::encode(v.payment_hash()),
        "payment_secret": hex::encode(v.payment_secret()),
        "description": description,
        "description_hash": description_hash,
        "min_final_cltv_expiry_delta": v.min_final_cltv_expiry_delta(),
        "payee": hex::encode(v.payee_pubkey()),
    })
    .to_string())
}
