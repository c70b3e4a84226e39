//! `moneysocket beacon decode|encode`.

use super::CmdResult;
use clap::{Subcommand, ValueEnum};
use moneysocket_core::beacon::v0::V0Error;
use moneysocket_core::beacon::{v0, v1, Beacon, BeaconError, Location, WebSocket};
use moneysocket_core::hex;
use moneysocket_core::seed::SharedSeed;
use rand_core::OsRng;
use serde_json::{json, Value};
use std::io::IsTerminal;

/// Beacon subcommands.
#[derive(Subcommand)]
pub enum BeaconCmd {
    /// Decode a v0 or v1 beacon and print it as JSON.
    Decode {
        /// The beacon string (any case).
        beacon: String,
    },
    /// Encode a beacon from a seed and websocket locations (none: a beacon without
    /// location, as the Python encoder makes).
    Encode {
        /// The shared seed, 32 hex digits.
        #[arg(long)]
        seed: String,
        /// A websocket location: ws://host:port[/path] or wss://host[:port][/path]. Repeatable.
        #[arg(long = "location")]
        locations: Vec<String>,
        /// Beacon format (v0 is what deployed peers understand; v0 cannot carry a path).
        #[arg(long, value_enum, default_value_t = Format::V0)]
        format: Format,
    },
    /// A new beacon with a fresh random seed at a relay; printed as a string, and also as a
    /// QR code when stdout is a terminal (not with --no-qr).
    New {
        /// The relay: ws://host:port[/path] or wss://host[:port][/path]. Repeatable; none: a
        /// beacon without location.
        #[arg(long = "relay")]
        relays: Vec<String>,
        /// Beacon format (v0 is what deployed peers understand; v0 cannot carry a path).
        #[arg(long, value_enum, default_value_t = Format::V0)]
        format: Format,
        /// Do not draw the beacon as a QR code.
        #[arg(long)]
        no_qr: bool,
    },
}

/// Beacon wire format.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The deployed format (Python, JavaScript, Go peers).
    V0,
    /// The draft RFC format.
    V1,
}

/// Runs a beacon subcommand.
pub fn run(cmd: BeaconCmd) -> CmdResult {
    match cmd {
        BeaconCmd::Decode { beacon } => decode(&beacon),
        BeaconCmd::Encode {
            seed,
            locations,
            format,
        } => {
            let seed =
                SharedSeed::from_hex(&seed).map_err(|e| format!("invalid shared seed: {e}"))?;
            encode(seed, &locations, format)
        }
        BeaconCmd::New {
            relays,
            format,
            no_qr,
        } => {
            let mut beacon = encode(SharedSeed::generate(&mut OsRng), &relays, format)?;
            if !no_qr && std::io::stdout().is_terminal() {
                if let Some(code) = super::terminus_cli::qr(&beacon) {
                    beacon.push('\n');
                    beacon.push_str(&code);
                }
            }
            Ok(beacon)
        }
    }
}

fn decode(text: &str) -> CmdResult {
    let text = text.trim();
    let beacon = Beacon::decode(text).map_err(|e| explain(text, &e))?;
    Ok(beacon_json(&beacon).to_string())
}

/// The reference's error text, and what was wrong: the bech32 layer's own error (checksum,
/// characters, length, padding), a wrong prefix, or the TLV content.
fn explain(text: &str, e: &BeaconError) -> String {
    use moneysocket_core::bech::Checked;
    match e {
        BeaconError::Bech32 => match Checked::new(text) {
            Err(b) => format!("{e}: {b}"),
            Ok(c) => match c.bytes_into(&mut vec![0u8; text.len()]) {
                Err(b) => format!("{e}: {b}"),
                Ok(_) => e.to_string(),
            },
        },
        BeaconError::V0(V0Error::NotMoneysocket) => {
            let hrp = text.rsplit_once('1').map_or(text, |(h, _)| h);
            format!("{e}: wrong prefix {hrp:?}, expected \"moneysocket\"")
        }
        BeaconError::V0(_) => format!("{e} (bad TLV content in a v0 beacon)"),
        BeaconError::V1(_) => format!("{e} (bad TLV content in a v1 beacon)"),
        _ => e.to_string(),
    }
}

/// The JSON form printed by `beacon decode`.
pub fn beacon_json(beacon: &Beacon) -> Value {
    let locations: Vec<Value> = beacon.locations().map(location_json).collect();
    let mut out = json!({
        "format": match beacon { Beacon::V0(_) => "v0", Beacon::V1(_) => "v1" },
        "hrp": beacon.hrp(),
        "shared_seed": beacon.shared_seed().to_string(),
        "locations": locations,
    });
    if let Beacon::V1(b) = beacon {
        let v = b.generator_version();
        out["version"] = json!({"major": v.major, "minor": v.minor, "patch": v.patch});
        out["role_hint"] = b.role_hint().map_or(Value::Null, |h| Value::from(h.name()));
        out["unknown_tlvs"] = b
            .unknown_tlvs()
            .map(|r| json!({"t": r.typ, "l": r.value.len(), "v": hex::encode(r.value)}))
            .collect();
    }
    out
}

fn location_json(loc: Location<'_>) -> Value {
    match loc {
        Location::WebSocket(ws) => {
            let mut v = json!({
                "type": "websocket",
                "host": ws.host,
                "port": ws.port,
                "use_tls": ws.use_tls,
                "path": ws.path,
                "url": ws.to_string(),
            });
            if ws.preference != moneysocket_core::beacon::DEFAULT_PREFERENCE {
                v["generator_preference"] = ws.preference.into();
            }
            v
        }
        Location::WebRtc(p) => json!({"type": "webrtc", "placeholder": p}),
        Location::Bluetooth(p) => json!({"type": "bluetooth", "placeholder": p}),
        Location::Nfc(p) => json!({"type": "nfc", "placeholder": p}),
        Location::Unknown { tlv_type, bytes } => {
            json!({"type": "unknown", "tlv_type": tlv_type, "bytes": hex::encode(bytes)})
        }
    }
}

fn encode(seed: SharedSeed, urls: &[String], format: Format) -> CmdResult {
    let mut parsed = Vec::with_capacity(urls.len());
    for url in urls {
        parsed
            .push(WebSocket::parse_url(url).map_err(|e| format!("invalid location {url:?}: {e}"))?);
    }
    let beacon: Beacon = match format {
        Format::V0 => {
            let mut b = v0::Beacon::new(seed);
            for ws in parsed {
                b.push_websocket(ws)
                    .map_err(|e| format!("cannot put {ws} in a v0 beacon: {e}"))?;
            }
            b.into()
        }
        Format::V1 => {
            let mut b = v1::Beacon::new(seed);
            for ws in parsed {
                b.push_websocket(ws)
                    .map_err(|e| format!("cannot put {ws} in a v1 beacon: {e}"))?;
            }
            b.into()
        }
    };
    Ok(beacon.to_string())
}
