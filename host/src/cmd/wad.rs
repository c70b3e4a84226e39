//! `moneysocket wad format` and `moneysocket provider-info check`.

use super::CmdResult;
use clap::Subcommand;
use moneysocket_core::v1;
use serde_json::Value;

/// Wad subcommands.
#[derive(Subcommand)]
pub enum WadCmd {
    /// Print a wad's display string (v1 draft wad, or a v0 wad as carried in NOTIFY_PROVIDER).
    Format {
        /// The wad as JSON.
        json: String,
    },
}

/// Provider-info subcommands.
#[derive(Subcommand)]
pub enum ProviderInfoCmd {
    /// Validate a provider-info object (v1 draft rules); prints `ok` or the decode error.
    Check {
        /// The provider info as JSON.
        json: String,
    },
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("could not parse json: {e}"))
}

/// Runs a wad subcommand.
pub fn run_wad(cmd: WadCmd) -> CmdResult {
    let WadCmd::Format { json } = cmd;
    let value = parse_json(&json)?;
    // A v0 wad carries its nine fixed keys (asset_stable among them); anything else is read
    // as a v1 draft wad.
    if value.get("asset_stable").is_some() {
        let parsed = moneysocket_core::json::parse(json.as_bytes()).map_err(|e| e.to_string())?;
        let object = parsed.as_object().ok_or("wad must be a dictionary")?;
        let wad =
            moneysocket_core::message::wad::Wad::from_object(object).map_err(|e| e.to_string())?;
        return Ok(wad.to_string());
    }
    let wad = v1::Wad::from_json(&value).map_err(|e| e.to_string())?;
    Ok(wad.to_string())
}

/// Runs a provider-info subcommand.
pub fn run_provider_info(cmd: ProviderInfoCmd) -> CmdResult {
    let ProviderInfoCmd::Check { json } = cmd;
    let value = parse_json(&json)?;
    v1::ProviderInfo::from_json(&value).map_err(|e| e.to_string())?;
    Ok("ok".to_owned())
}
