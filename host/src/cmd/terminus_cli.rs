//! `moneysocket terminus-cli`: the terminus's control client. It checks its arguments
//! locally, sends one request to the running daemon (address and token from the data dir)
//! and prints the JSON result.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use moneysocket_core::beacon::Beacon;
use moneysocket_core::seed::SharedSeed;
use moneysocket_host::terminus::config::{default_data_dir, TerminusConfig};
use moneysocket_host::terminus::control::ControlClient;
use serde_json::{json, Map, Value};

use super::CmdResult;

/// The long help of `terminus-cli`.
pub const LONG_ABOUT: &str = "\
Control a running terminus (`moneysocket terminus`).

The CLI finds the daemon through two files in its data dir: control.addr (where its control
interface listens) and control.token (the bearer token, mode 0600, readable only by the user
running the daemon). Use the same --data-dir as the daemon, or --config with the daemon's
config file.

Amounts: a plain integer is msat; the suffixes msat, msats, sat and sats are accepted
(10000sat = 10000000). Negative and fractional amounts are refused.

Prints the result as JSON on stdout; a beacon is also shown as a QR code when stdout is a
terminal (not with --no-qr). On failure, exits 1 with the reason on stderr.";

/// Examples shown after the long help.
pub const AFTER_HELP: &str = "\
Examples:
  moneysocket terminus-cli create 100000sat -a wallet -c 1000000sat
  moneysocket terminus-cli listen wallet-0
  moneysocket terminus-cli connect wallet-0 moneysocket1lcqqzqdm...
  moneysocket terminus-cli getaccountinfo wallet-0
  moneysocket terminus-cli deposit wallet-0 5000sat
  moneysocket terminus-cli --data-dir /var/lib/moneysocket-terminus getinfo";

/// Options of `moneysocket terminus-cli`.
#[derive(Args)]
pub struct TerminusCliArgs {
    /// The daemon's data dir [default: the daemon's default, see terminus.example.toml].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The daemon's config file (TOML or the Python INI): its data_dir is used.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Do not draw beacons as QR codes.
    #[arg(long, global = true)]
    no_qr: bool,
    #[command(subcommand)]
    verb: Verb,
}

/// The verbs.
#[derive(Subcommand)]
enum Verb {
    /// Every account with its balance, cap, listen beacons and connections.
    Getinfo,
    /// The named accounts (none named: an empty list).
    Getaccountinfo {
        /// Account names.
        accounts: Vec<String>,
    },
    /// An account's receipts, newest session and entry first.
    Getaccountreceipts {
        /// Account name.
        account: String,
    },
    /// Create an account with a starting balance of AMOUNT.
    #[command(after_help = "Example: create 100000sat -a wallet -c 1000000sat")]
    Create {
        /// Starting balance (msat, or with a msat/sat suffix).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Base of the generated name: BASE-N with the smallest free N [default: account].
        #[arg(short = 'a', long = "account-name", value_name = "BASE")]
        name: Option<String>,
        /// Most the balance may reach through invoices (0 = no cap).
        #[arg(short = 'c', long, allow_hyphen_values = true)]
        cap: Option<String>,
    },
    /// Serve an account on the terminus's listener; prints the beacon for the consumer.
    Listen {
        /// Account name.
        account: String,
        /// Use this shared seed (32 hex digits) instead of a random one.
        #[arg(short = 's', long = "shared-seed", value_name = "SEED")]
        seed: Option<String>,
    },
    /// Serve an account at a beacon made elsewhere (the terminus dials its relay).
    Connect {
        /// Account name.
        account: String,
        /// The beacon (moneysocket1...), with a websocket location.
        beacon: String,
    },
    /// Remove one connection of an account: a connect beacon or a listen seed.
    Disconnect {
        /// Account name.
        account: String,
        /// The beacon, or the shared seed (32 hex digits).
        #[arg(value_name = "BEACON|SEED")]
        target: String,
    },
    /// Remove every listen seed and connect beacon of an account.
    Clear {
        /// Account name.
        account: String,
    },
    /// Delete an account (refused while it has connections: clear it first).
    Rm {
        /// Account name.
        account: String,
    },
    /// Set an account's cap (0 = no cap).
    Setcap {
        /// Account name.
        account: String,
        /// The cap (msat, or with a msat/sat suffix).
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Add to an account's balance (recorded as a deposit).
    Deposit {
        /// Account name.
        account: String,
        /// Amount (msat, or with a msat/sat suffix).
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Take from an account's balance (recorded as a withdrawal).
    Withdraw {
        /// Account name.
        account: String,
        /// Amount (msat, or with a msat/sat suffix).
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// Check the ledger's invariant (balances and reserves against the recorded flows).
    Check,
    /// Import the Python terminus's account files (`<AccountPersistDir>/*.json`): balances
    /// (recorded as deposits), caps, pending invoices, listen seeds and beacons.
    #[command(name = "import-python")]
    ImportPython {
        /// The Python terminus's AccountPersistDir (read by the daemon: give a path it sees).
        dir: std::path::PathBuf,
    },
    /// Simulated node only: invoices made by a peer node of the simulated network (the world
    /// outside the terminus), for an account to pay.
    #[command(name = "simnet-invoice")]
    SimnetInvoice {
        /// Amount (msat, or with a msat/sat suffix).
        amount: String,
        /// How many invoices.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Which peer node.
        #[arg(long, default_value_t = 0)]
        peer: u64,
    },
    /// Simulated node only: a peer node pays BOLT11 (e.g. an account's invoice); the account
    /// is credited when the payment settles.
    #[command(name = "simnet-pay")]
    SimnetPay {
        /// The invoice.
        bolt11: String,
        /// Which peer node.
        #[arg(long, default_value_t = 0)]
        peer: u64,
    },
    /// Simulated node only: the peer nodes and what they can spend.
    #[command(name = "simnet-info")]
    SimnetInfo,
}

/// Most msats there can be (21 million BTC).
const MAX_MSATS: u64 = 21_000_000 * 100_000_000 * 1000;

/// Reads an amount as the Python CLI does: a plain integer is msat; `msat`/`msats` suffixes
/// are msat, `sat`/`sats` ×1000. Fractions and other text: `could not parse msat value`;
/// negative amounts (or more than 21 million BTC): `invalid msatoshis value`.
pub fn parse_msats(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("msats").or_else(|| t.strip_suffix("msat")) {
        (n, 1)
    } else if let Some(n) = t.strip_suffix("sats").or_else(|| t.strip_suffix("sat")) {
        (n, 1000)
    } else {
        (t, 1)
    };
    let unparsable = || format!("could not parse msat value: {text:?}");
    let invalid = || format!("invalid msatoshis value: {text:?}");
    let (neg, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unparsable());
    }
    if neg {
        return Err(invalid());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n <= MAX_MSATS)
        .ok_or_else(invalid)
}

fn nonempty<'a>(what: &str, s: &'a str) -> Result<&'a str, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("{what}: empty"));
    }
    Ok(s)
}

fn decode_beacon(text: &str) -> Result<String, String> {
    let t = text.trim();
    let b = Beacon::decode(t).map_err(|e| format!("could not decode beacon: {e}"))?;
    if b.first_websocket().is_none() {
        return Err(
            "can't connect to beacon location: the beacon has no websocket location".into(),
        );
    }
    Ok(t.to_owned())
}

/// The method and params a verb sends.
fn request(verb: &Verb) -> Result<(&'static str, Value), String> {
    let account = |a: &str| -> Result<Value, String> { Ok(json!(nonempty("account", a)?)) };
    Ok(match verb {
        Verb::Getinfo => ("getinfo", json!({})),
        Verb::Getaccountinfo { accounts } => {
            let names = accounts
                .iter()
                .map(|a| account(a))
                .collect::<Result<Vec<_>, _>>()?;
            ("getaccountinfo", json!({ "accounts": names }))
        }
        Verb::Getaccountreceipts { account: a } => {
            ("getaccountreceipts", json!({ "account": account(a)? }))
        }
        Verb::Create { amount, name, cap } => {
            let mut p = Map::new();
            p.insert("msats".into(), json!(parse_msats(amount)?));
            if let Some(n) = name {
                p.insert("name".into(), json!(nonempty("account name", n)?));
            }
            if let Some(c) = cap {
                p.insert("cap".into(), json!(parse_msats(c)?));
            }
            ("create", Value::Object(p))
        }
        Verb::Listen { account: a, seed } => {
            let mut p = Map::new();
            p.insert("account".into(), account(a)?);
            if let Some(s) = seed {
                let s = SharedSeed::from_hex(s.trim())
                    .map_err(|e| format!("could not understand shared seed: {e}"))?;
                p.insert("seed".into(), json!(s.to_string()));
            }
            ("listen", Value::Object(p))
        }
        Verb::Connect { account: a, beacon } => (
            "connect",
            json!({ "account": account(a)?, "beacon": decode_beacon(beacon)? }),
        ),
        Verb::Disconnect { account: a, target } => {
            let t = target.trim();
            let p = if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                let s = SharedSeed::from_hex(t)
                    .map_err(|e| format!("could not understand shared seed: {e}"))?;
                json!({ "account": account(a)?, "seed": s.to_string() })
            } else {
                let b = decode_beacon(t)
                    .map_err(|e| format!("{e} (give a beacon or a 32-hex-digit shared seed)"))?;
                json!({ "account": account(a)?, "beacon": b })
            };
            ("disconnect", p)
        }
        Verb::Clear { account: a } => ("clear", json!({ "account": account(a)? })),
        Verb::Rm { account: a } => ("rm", json!({ "account": account(a)? })),
        Verb::Setcap { account: a, amount } => (
            "setcap",
            json!({ "account": account(a)?, "cap": parse_msats(amount)? }),
        ),
        Verb::Deposit { account: a, amount } | Verb::Withdraw { account: a, amount } => {
            let msats = parse_msats(amount)?;
            if msats == 0 {
                return Err("invalid msatoshis value: the amount must be above 0".into());
            }
            let method = match verb {
                Verb::Deposit { .. } => "deposit",
                _ => "withdraw",
            };
            (method, json!({ "account": account(a)?, "msats": msats }))
        }
        Verb::Check => ("check", json!({})),
        Verb::SimnetInvoice {
            amount,
            count,
            peer,
        } => (
            "simnet_invoice",
            json!({ "msats": parse_msats(amount)?, "count": count, "peer": peer }),
        ),
        Verb::SimnetPay { bolt11, peer } => (
            "simnet_pay",
            json!({ "bolt11": bolt11.trim(), "peer": peer }),
        ),
        Verb::SimnetInfo => ("simnet_info", json!({})),
        Verb::ImportPython { dir } => {
            let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            ("import_python", json!({ "dir": dir.to_string_lossy() }))
        }
    })
}

/// A QR code of `text` drawn with Unicode half blocks (light modules as blocks: for dark
/// terminals; scanners read inverted codes). Bech32 is case-insensitive, so the text is
/// upper-cased first: that fits the QR alphanumeric mode and makes a smaller code.
pub fn qr(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(
        text.to_ascii_uppercase().as_bytes(),
        qrcode::EcLevel::L,
    )
    .ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// Runs one verb against the daemon.
pub fn run(a: TerminusCliArgs) -> CmdResult {
    // arguments first: a bad one fails without the daemon
    let (method, params) = request(&a.verb)?;
    let data_dir = match (a.data_dir, &a.config) {
        (Some(d), _) => d,
        (None, Some(c)) => TerminusConfig::load(c)?.data_dir(),
        (None, None) => default_data_dir(),
    };
    let client = ControlClient::from_data_dir(&data_dir)?;
    let result = client.call(method, &params)?;
    let mut out = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
    if !a.no_qr && std::io::stdout().is_terminal() {
        if let Some(code) = result.get("beacon").and_then(Value::as_str).and_then(qr) {
            out.push('\n');
            out.push_str(&code);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_the_python_cli() {
        for (t, v) in [
            ("0", 0),
            ("1000", 1000),
            ("5msat", 5),
            ("5msats", 5),
            ("7sat", 7000),
            ("7sats", 7000),
            ("+3", 3),
            (" 4 ", 4),
        ] {
            assert_eq!(parse_msats(t), Ok(v), "{t}");
        }
        for t in [
            "", "sat", "1.5", "1.5sat", "abc", "1e3", "10 sat", "0x10", "--1",
        ] {
            assert!(
                parse_msats(t)
                    .unwrap_err()
                    .starts_with("could not parse msat value"),
                "{t}"
            );
        }
        for t in ["-1", "-5sat", "99999999999999999999", "2100000000000000001"] {
            assert!(
                parse_msats(t)
                    .unwrap_err()
                    .starts_with("invalid msatoshis value"),
                "{t}"
            );
        }
        assert_eq!(parse_msats("2100000000000000000"), Ok(MAX_MSATS));
    }

    #[test]
    fn qr_codes_render() {
        let code = qr("moneysocket1lcqqzqdm8hlqqqgph5gqqqgzqvzq2ps8pqys5zcvp58qllsqqyquzg07qqqsr0cpq8lqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uszxmrns").unwrap();
        assert!(code.lines().count() > 10);
        assert!(code.contains('█') || code.contains('▀') || code.contains('▄'));
    }
}
