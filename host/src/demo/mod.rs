//! `moneysocket demo`: the whole system in one process, on the simulated Lightning node.
//!
//! A relay, a terminus with a seller account and a buyer account, the buyer's wallet (the
//! real `moneysocket wallet`, enforcing an allowance) and two apps speaking the
//! opinion-seller extension (`docs/extensions.md`): the seller's store (a consumer of the
//! seller's account and a provider to buyers) and the buyer (a consumer of its wallet and of
//! the store). The buyer buys opinions until the wallet refuses a purchase; the demo prints
//! each step, then a summary, and exits 0 when everything happened as it should.
//!
//! Every part is the same code the separate commands run: `relay::RelayThread`, the
//! terminus service (`cmd::terminus::start_terminus`), `moneysocket_host::wallet`, sessions
//! on `moneysocket-driver`.

mod apps;
mod narrate;
mod opinion;
pub(crate) mod terminus;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::relay::{RelayConfig, RelayThread};
use apps::{Apps, Outcome, Prices};
use narrate::{sats, short, Narrator};
use terminus::TerminusThread;

/// What to run (the command's flags).
pub struct DemoOptions {
    /// The buyer's account balance, msat.
    pub buyer_msats: u64,
    /// The wallet's allowance, msat.
    pub allowance_msats: u64,
    /// The wallet's largest single payment, msat.
    pub per_payment_max_msats: u64,
    /// Prices of hello, time and outlook, msat.
    pub prices: Prices,
    /// Where the terminus and the wallet keep their data (a fresh temporary directory, removed
    /// at the end, by default).
    pub data_dir: Option<PathBuf>,
    /// Stay up after the story, print beacons to attach `moneysocket consumer` to.
    pub keep_running: bool,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            buyer_msats: 50_000_000,
            allowance_msats: 10_000_000,
            per_payment_max_msats: 5_000_000,
            prices: Prices::default(),
            data_dir: None,
            keep_running: false,
            timeout: Duration::from_secs(50),
        }
    }
}

/// A temporary directory removed on drop (unless the user named the directory).
struct DataDir {
    path: PathBuf,
    remove: bool,
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs the demo; `Ok` carries the summary (printed by the caller).
pub fn run(opts: DemoOptions) -> Result<Value, String> {
    let n = Narrator::new(false);
    let dir = match &opts.data_dir {
        Some(p) => {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
            DataDir {
                path: p.clone(),
                remove: false,
            }
        }
        None => DataDir {
            path: moneysocket_host::scratch::for_process("moneysocket-demo")?,
            remove: !opts.keep_running,
        },
    };

    n.act("The network");
    let relay_cfg = RelayConfig {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        ..RelayConfig::default()
    };
    let relay = RelayThread::spawn(relay_cfg)?;
    let relay_url = format!("ws://{}", relay.addr);
    n.say("relay", format!("listening at {relay_url}"));
    let term = TerminusThread::spawn(&dir.path.join("terminus"))?;
    n.say(
        "terminus",
        format!("listening at {} (on a simulated Lightning node)", term.url),
    );
    let seller = term.create("seller", 0)?;
    let buyer = term.create("buyer", opts.buyer_msats)?;
    n.say(
        "terminus",
        format!(
            "accounts: {seller} with {}, {buyer} with {}",
            sats(0),
            sats(opts.buyer_msats)
        ),
    );
    let seller_beacon = term.listen(&seller)?;
    let buyer_beacon = term.listen(&buyer)?;
    n.say(
        "terminus",
        format!("seller's beacon {}", short(&seller_beacon)),
    );
    n.say(
        "terminus",
        format!("buyer's beacon  {}", short(&buyer_beacon)),
    );

    n.act("The buyer's wallet");
    let wallet = apps::start_wallet(&opts, &dir.path.join("wallet"), &buyer_beacon, &relay_url)?;
    n.say(
        "wallet",
        format!(
            "downstream: the buyer's account; allowance {} (at most {} a payment)",
            sats(opts.allowance_msats),
            sats(opts.per_payment_max_msats)
        ),
    );
    n.say(
        "wallet",
        format!(
            "upstream beacon {} (at the relay)",
            short(wallet.upstream_beacon())
        ),
    );

    let before = json!({
        "seller_msats": term.balance(&seller)?,
        "buyer_msats": term.balance(&buyer)?,
        "allowance_left_msats": opts.allowance_msats,
    });

    n.act("The apps");
    let mut apps = Apps::new(
        &n,
        &opts,
        &relay_url,
        &seller_beacon,
        wallet.upstream_beacon(),
    )?;
    let outcome: Outcome = apps.run(&opts)?;

    let after = json!({
        "seller_msats": term.balance(&seller)?,
        "buyer_msats": term.balance(&buyer)?,
        "allowance_left_msats": outcome.allowance_left,
    });
    let spent: u64 = outcome.purchases.iter().map(|p| p.msats).sum();
    let check = term.check()?;
    let w = wallet.state();
    n.say(
        "wallet",
        format!(
            "its ledger: {} pays allowed, {} refused, {} spent of {}",
            w.allowed,
            w.refusals,
            sats(w.spent_msat),
            sats(w.allowance_msat)
        ),
    );
    n.act("Summary");
    for p in &outcome.purchases {
        n.say(
            "summary",
            format!("bought {:<8} for {}: {}", p.item, sats(p.msats), p.opinion),
        );
    }
    for r in &outcome.refusals {
        n.say(
            "summary",
            format!("refused {:<7} for {}: {}", r.item, sats(r.msats), r.reason),
        );
    }
    n.say(
        "summary",
        format!(
            "seller {} → {}; buyer {} → {}; allowance left {} → {}",
            sats(before["seller_msats"].as_u64().unwrap_or(0)),
            sats(after["seller_msats"].as_u64().unwrap_or(0)),
            sats(before["buyer_msats"].as_u64().unwrap_or(0)),
            sats(after["buyer_msats"].as_u64().unwrap_or(0)),
            sats(opts.allowance_msats),
            sats(outcome.allowance_left),
        ),
    );
    let ledger_ok = check["ok"].as_bool().unwrap_or(false);
    n.say(
        "terminus",
        if ledger_ok {
            "ledger check: balances match their records"
        } else {
            "ledger check FAILED"
        },
    );
    let consistent = ledger_ok
        && !outcome.purchases.is_empty()
        && !outcome.refusals.is_empty()
        && w.spent_msat == spent
        && after["seller_msats"].as_u64() == Some(spent)
        && after["buyer_msats"].as_u64() == opts.buyer_msats.checked_sub(spent);
    let summary = json!({
        "ok": consistent,
        "purchases": outcome.purchases.iter().map(|p| json!({
            "item": p.item, "msats": p.msats, "opinion": p.opinion, "preimage": p.preimage,
        })).collect::<Vec<_>>(),
        "refusals": outcome.refusals.iter().map(|r| json!({
            "item": r.item, "msats": r.msats, "reason": r.reason,
        })).collect::<Vec<_>>(),
        "balances": { "before": before, "after": after },
        "wallet": {
            "allowed": w.allowed, "refused": w.refusals, "spent_msats": w.spent_msat,
            "reserved_msats": w.reserved_msat, "left_msats": w.left_msat,
        },
        "ledger": check,
        "seconds": (n.elapsed_secs() * 1000.0).round() / 1000.0,
    });

    if opts.keep_running {
        apps.keep_running(&term, &seller, &buyer)?;
    }
    drop(apps);
    drop(wallet);
    drop(term);
    let _ = relay.stop();
    if !consistent {
        return Err(format!("the demo's balances do not add up: {summary}"));
    }
    Ok(summary)
}
