//! Connects to a provider, prints its balance, and pays an invoice (or asks for one).
//!
//! ```text
//! cargo run -p moneysocket-client --example pay -- BEACON pay lnbc...
//! cargo run -p moneysocket-client --example pay -- BEACON invoice 5000
//! cargo run -p moneysocket-client --example pay -- BEACON
//! ```

use std::process::ExitCode;

use moneysocket_client::{Client, ClientConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(beacon) = args.first() else {
        eprintln!("usage: pay BEACON [pay BOLT11 | invoice MSATS]");
        return ExitCode::FAILURE;
    };
    let client = match Client::connect(beacon, ClientConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("balance: {:?} msat", client.balance());
    let result = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("pay"), Some(bolt11)) => client.pay(bolt11).map(|preimage| {
            let hex: String = preimage.iter().map(|b| format!("{b:02x}")).collect();
            format!("paid, preimage {hex}")
        }),
        (Some("invoice"), Some(msats)) => match msats.parse::<u64>() {
            Ok(m) => client.request_invoice(m),
            Err(e) => {
                eprintln!("invalid amount {msats:?}: {e}");
                return ExitCode::FAILURE;
            }
        },
        (None, _) => Ok(String::new()),
        _ => {
            eprintln!("usage: pay BEACON [pay BOLT11 | invoice MSATS]");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            println!("balance: {:?} msat", client.balance());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
