//! `moneysocket consumer BEACON info|invoice AMOUNT|pay BOLT11|watch`: a consumer of the
//! provider behind a beacon, on the blocking client of `moneysocket-client`. JSON on stdout;
//! on failure exit 1 with the reason on stderr.

use std::io::Write as _;
use std::time::Duration;

use clap::{Args, Subcommand};
use moneysocket_client::{Client, ClientConfig, ClientEvent, ProviderInfo};
use moneysocket_core::bolt11::Invoice;
use moneysocket_core::hex;
use serde_json::{json, Value};

use super::terminus_cli::parse_msats;
use super::CmdResult;

/// Options of `moneysocket consumer`.
#[derive(Args)]
pub struct ConsumerArgs {
    /// The provider's beacon (v0 or v1) with a websocket location.
    beacon: String,
    /// Seconds to wait for the provider, and then for each answer.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// PEM certificates trusted for a wss:// location (e.g. a relay's self-signed
    /// certificate) [default: $SSL_CERT_FILE, else the built-in webpki roots].
    #[arg(long, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    verb: ConsumerVerb,
}

/// What to do once connected.
#[derive(Subcommand)]
enum ConsumerVerb {
    /// The balance (msat) and the provider's info.
    Info,
    /// An invoice to the account for AMOUNT (msat; suffixes msat, sat as terminus-cli).
    Invoice {
        /// The amount, e.g. 1000sat or 5000msat.
        amount: String,
    },
    /// Pay BOLT11 from the account; prints the preimage (checked against the invoice's
    /// payment hash).
    Pay {
        /// The invoice.
        bolt11: String,
    },
    /// One JSON line per event (provider updates, paid invoices, errors, disconnects)
    /// until interrupted.
    Watch,
}

/// The JSON form of the provider's info.
pub fn info_json(info: &ProviderInfo) -> Value {
    let message: Value = serde_json::from_str(info.json()).unwrap_or(Value::Null);
    json!({
        "balance_msats": info.msats,
        "account_uuid": info.account_uuid.to_string(),
        "payer": info.payer,
        "payee": info.payee,
        "wad": message.get("wad").cloned().unwrap_or(Value::Null),
    })
}

/// The JSON line `watch` prints for an event.
pub fn event_json(ev: &ClientEvent) -> Value {
    match ev {
        ClientEvent::Connected(i) => json!({"event": "connected", "provider": info_json(i)}),
        ClientEvent::Provider(i) => json!({"event": "provider", "provider": info_json(i)}),
        ClientEvent::Preimage(p) => json!({"event": "preimage", "preimage": hex::encode(p)}),
        ClientEvent::Error(e) => json!({"event": "error", "error": e}),
        ClientEvent::Disconnected { reason, retry_in } => json!({
            "event": "disconnected",
            "reason": reason,
            "retry_in_ms": retry_in.map(|d| d.as_millis() as u64),
        }),
        other => json!({"event": format!("{other:?}")}),
    }
}

/// The JSON `invoice` prints: the BOLT11, its own amount (`msats`) and the amount asked
/// for (`requested_msats`). They differ when the provider makes invoices in whole sats
/// (the Python terminus on LND rounds half-even; the client accepts that).
fn invoice_json(bolt11: &str, requested: u64) -> Result<Value, String> {
    let invoice = Invoice::parse(bolt11).map_err(|e| format!("invalid invoice: {e}"))?;
    let msats = invoice
        .amount_msat()
        .ok_or("the provider's invoice has no amount")?;
    Ok(json!({"bolt11": bolt11, "msats": msats, "requested_msats": requested}))
}

/// Runs `moneysocket consumer`.
pub fn run(a: ConsumerArgs) -> CmdResult {
    let timeout = Duration::try_from_secs_f64(a.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("--timeout must be a positive number of seconds")?;
    // arguments first: a bad one fails without connecting
    let amount = match &a.verb {
        ConsumerVerb::Invoice { amount } => Some(parse_msats(amount)?),
        _ => None,
    };
    let config = ClientConfig {
        connect_timeout: timeout,
        request_timeout: timeout,
        tls: moneysocket_host::trust::wss_client_tls(a.ca_file.as_deref())?,
        ..ClientConfig::default()
    };
    let client = Client::connect(a.beacon.as_str(), config).map_err(|e| with_tls_hint(&e))?;
    let out = match a.verb {
        ConsumerVerb::Info => {
            let info = client.provider_info().ok_or("no provider info")?;
            info_json(&info)
        }
        ConsumerVerb::Invoice { .. } => {
            let requested = amount.unwrap_or_default();
            let bolt11 = client
                .request_invoice(requested)
                .map_err(|e| e.to_string())?;
            invoice_json(&bolt11, requested)?
        }
        ConsumerVerb::Pay { bolt11 } => {
            let preimage = client.pay(bolt11.trim()).map_err(|e| e.to_string())?;
            json!({"preimage": hex::encode(&preimage)})
        }
        ConsumerVerb::Watch => return watch(&client),
    };
    client.close();
    Ok(out.to_string())
}

/// A connect error's text, with a hint when the peer's TLS certificate was refused.
fn with_tls_hint(e: &moneysocket_client::ClientError) -> String {
    let text = e.to_string();
    if moneysocket_host::trust::needs_ca_file(&text) {
        format!(
            "{text}; to trust a private or self-signed certificate give it with --ca-file \
             (or $SSL_CERT_FILE)"
        )
    } else {
        text
    }
}

/// Prints each event as one JSON line, flushed, until the process is interrupted (or the
/// client stops, or stdout is gone).
fn watch(client: &Client) -> CmdResult {
    let mut stdout = std::io::stdout();
    for ev in client.events() {
        let line = event_json(&ev).to_string();
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(String::new());
        }
    }
    Err("the client stopped".into())
}
