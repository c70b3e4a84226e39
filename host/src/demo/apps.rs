//! The demo's two apps on one driver loop: the seller's store and the buyer.
//!
//! * The store: `seller_wallet`, a consumer of the seller's terminus account (the balance,
//!   invoices, news of payments), and `store`, a provider to buyers speaking the
//!   opinion-seller extension: it lists items, answers an invoice request for an item with an
//!   invoice from the seller's account, and delivers the opinion when the seller's account
//!   reports the invoice paid (the preimage hashes to the invoice's payment hash).
//! * The buyer: `buyer_wallet`, a consumer of the wallet's upstream beacon (its balance is
//!   what the allowance lets it spend), and `shop`, a consumer of the store. It buys items
//!   in turn and pays each invoice through its wallet, until the wallet refuses.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::bolt11::Invoice;
use moneysocket_core::host::SessionId;
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::session::{ConsumerConfig, ProviderConfig};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{
    ConsumerEvent, Driver, DriverConfig, DriverEvent, ProviderEvent, SessionEvent,
};
use moneysocket_host::wallet::{self, Period, Upstream, WalletConfig, WalletHandle};
use moneysocket_ws::TransportConfig;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::narrate::{sats, short, Narrator};
use super::opinion::{self, Item, Opinion};
use super::DemoOptions;

/// Prices of the store's three items, msat.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    /// "Hello World".
    pub hello: u64,
    /// "Current Timestamp".
    pub time: u64,
    /// "Market Outlook".
    pub outlook: u64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            hello: 1_000_000,
            time: 2_000_000,
            outlook: 3_000_000,
        }
    }
}

/// One opinion bought.
pub struct Purchase {
    /// The item.
    pub item: String,
    /// What it cost, msat.
    pub msats: u64,
    /// What the store delivered.
    pub opinion: String,
    /// The payment's preimage, hex.
    pub preimage: String,
}

/// One purchase the wallet refused.
pub struct Refusal {
    /// The item.
    pub item: String,
    /// Its price, msat.
    pub msats: u64,
    /// The wallet's reason.
    pub reason: String,
}

/// What happened.
pub struct Outcome {
    /// In order.
    pub purchases: Vec<Purchase>,
    /// The refused purchase (the story ends at the first).
    pub refusals: Vec<Refusal>,
    /// What the wallet advertised last (its allowance left, or the balance if lower).
    pub allowance_left: u64,
}

/// The buyer's wallet: downstream the buyer's account, upstream a fresh beacon at the relay;
/// one allowance for the whole demo (`--period never`).
pub fn start_wallet(
    opts: &DemoOptions,
    dir: &Path,
    downstream: &str,
    relay_url: &str,
) -> Result<WalletHandle, String> {
    let decode = |b: &str| Beacon::decode(b).map_err(|e| format!("beacon: {e}"));
    let upstream = decode(&moneysocket_host::beacons::fresh(relay_url)?)?;
    let mut config = WalletConfig::new(
        decode(downstream)?,
        Upstream::Connect(Box::new(upstream)),
        opts.allowance_msats,
        Period::Never,
        dir.to_path_buf(),
    );
    config.per_payment_max_msat = Some(opts.per_payment_max_msats);
    wallet::spawn(config).map_err(|e| format!("wallet: {e}"))
}

/// The store's state.
#[derive(Default)]
struct Store {
    items: Vec<Item>,
    /// Invoice requests to the seller's account → (the buyer's request, the item).
    asked: HashMap<Uuid, (Uuid, String)>,
    /// Payment hash → item, for invoices handed to buyers and not yet paid.
    sold: HashMap<[u8; 32], String>,
    bullish: bool,
    balance: Option<u64>,
}

/// The buyer's state.
#[derive(Default)]
struct Buyer {
    items: Option<Vec<Item>>,
    invoice: Option<(String, String)>,
    paying: Option<Uuid>,
    paid: Option<Result<[u8; 32], String>>,
    delivered: Vec<(String, String)>,
    spendable: Option<u64>,
}

/// Both apps on one driver.
pub struct Apps<'n> {
    n: &'n Narrator,
    d: Driver,
    seller_wallet: SessionId,
    store_session: SessionId,
    buyer_wallet: SessionId,
    shop: SessionId,
    store_beacon: String,
    store: Store,
    buyer: Buyer,
    ready: [bool; 4],
    deadline: Instant,
}

impl<'n> Apps<'n> {
    /// Places the four sessions; they connect as the driver runs.
    pub fn new(
        n: &'n Narrator,
        opts: &DemoOptions,
        relay_url: &str,
        seller_beacon: &str,
        wallet_beacon: &str,
    ) -> Result<Apps<'n>, String> {
        let mut d: Driver = Driver::new(DriverConfig::default(), TransportConfig::default())
            .map_err(|e| format!("event loop: {e}"))?;
        let decode = |b: &str| Beacon::decode(b).map_err(|e| format!("beacon: {e}"));
        let seller_b = decode(seller_beacon)?;
        let wallet_b = decode(wallet_beacon)?;
        let store_beacon = moneysocket_host::beacons::fresh(relay_url)?;
        let store_b = decode(&store_beacon)?;

        let seller_wallet = d.add_consumer(&seller_b.shared_seed(), ConsumerConfig::default());
        let mut uuid = [0u8; 16];
        OsRng.fill_bytes(&mut uuid);
        let store_session = d.add_provider(
            &store_b.shared_seed(),
            opinion::provider_config(ProviderConfig::default()),
            None,
        );
        // The store's provider info: it receives (payee), it pays nothing for its buyers.
        let info = ProviderInfo {
            account_uuid: Uuid::v4_from_bytes(uuid),
            payer: false,
            payee: true,
            wad: Some(Wad::bitcoin(0)),
        };
        d.set_provider_info(store_session, &info)
            .map_err(|e| format!("store: {e}"))?;
        let buyer_wallet = d.add_consumer(&wallet_b.shared_seed(), ConsumerConfig::default());
        let shop = d.add_consumer(
            &store_b.shared_seed(),
            opinion::consumer_config(ConsumerConfig::default()),
        );
        for (s, b) in [
            (seller_wallet, &seller_b),
            (store_session, &store_b),
            (buyer_wallet, &wallet_b),
            (shop, &store_b),
        ] {
            d.connect_beacon(s, b)
                .map_err(|e| format!("connect: {e}"))?;
        }
        let p = opts.prices;
        let store = Store {
            items: vec![
                Item::new("hello", "Hello World", p.hello),
                Item::new("time", "Current Timestamp", p.time),
                Item::new("outlook", "Market Outlook", p.outlook),
            ],
            bullish: true,
            ..Store::default()
        };
        n.say(
            "store",
            format!("store beacon {} (at the relay)", short(&store_beacon)),
        );
        Ok(Apps {
            n,
            d,
            seller_wallet,
            store_session,
            buyer_wallet,
            shop,
            store_beacon,
            store,
            buyer: Buyer::default(),
            ready: [false; 4],
            deadline: Instant::now() + opts.timeout,
        })
    }

    /// Runs the driver until `done` holds, or fails after the deadline with `what`.
    fn until(&mut self, what: &str, mut done: impl FnMut(&Apps) -> bool) -> Result<(), String> {
        let mut events = Vec::new();
        while !done(self) {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            let wait = (self.deadline - now).min(Duration::from_millis(200));
            self.d
                .poll(&mut events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            for ev in events.drain(..) {
                self.on_event(ev)?;
            }
        }
        Ok(())
    }

    /// The story: connect, list the items, buy until the wallet refuses.
    pub fn run(&mut self, opts: &DemoOptions) -> Result<Outcome, String> {
        self.until("every app to connect", |a| a.ready.iter().all(|r| *r))?;
        self.n.act("Shopping");
        self.send(self.shop, Opinion::RequestSeller)?;
        self.until("the store's item list", |a| a.buyer.items.is_some())?;
        let items = self.buyer.items.clone().unwrap_or_default();
        let mut purchases = Vec::new();
        let mut refusals = Vec::new();
        // Buy the items in turn until the wallet refuses (bounded: the allowance is finite,
        // but a misconfigured run must end too).
        for round in 0..64usize {
            let Some(item) = items.get(round % items.len().max(1)).cloned() else {
                return Err("the store lists no items".into());
            };
            self.n.say(
                "buyer",
                format!("wants \"{}\" for {}", item.name, sats(item.msats)),
            );
            self.buyer.invoice = None;
            self.send(self.shop, Opinion::RequestInvoice(item.item_id.clone()))?;
            self.until("the store's invoice", |a| a.buyer.invoice.is_some())?;
            let Some((_, bolt11)) = self.buyer.invoice.take() else {
                continue;
            };
            self.buyer.paid = None;
            // the opinion may arrive before the wallet's answer
            let delivered = self.buyer.delivered.len();
            let request = self
                .d
                .pay(self.buyer_wallet, &bolt11)
                .map_err(|e| format!("buyer pay: {e}"))?;
            self.buyer.paying = Some(request);
            self.n.say("buyer", "asks its wallet to pay the invoice");
            self.until("the wallet's answer", |a| a.buyer.paid.is_some())?;
            match self.buyer.paid.take() {
                Some(Ok(preimage)) => {
                    self.until("the opinion", |a| a.buyer.delivered.len() > delivered)?;
                    let opinion = self
                        .buyer
                        .delivered
                        .last()
                        .map(|(_, o)| o.clone())
                        .unwrap_or_default();
                    purchases.push(Purchase {
                        item: item.item_id.clone(),
                        msats: item.msats,
                        opinion,
                        preimage: hex(&preimage),
                    });
                }
                Some(Err(reason)) => {
                    self.n.say("buyer", format!("the wallet refused: {reason}"));
                    refusals.push(Refusal {
                        item: item.item_id.clone(),
                        msats: item.msats,
                        reason,
                    });
                    break;
                }
                None => {}
            }
        }
        // Let the last balance updates arrive.
        let spent: u64 = purchases.iter().map(|p: &Purchase| p.msats).sum();
        let want = opts.allowance_msats.saturating_sub(spent);
        let _ = self.until("the wallet's last update", |a| {
            a.buyer.spendable.is_some_and(|s| s <= want)
        });
        Ok(Outcome {
            purchases,
            refusals,
            allowance_left: self.buyer.spendable.unwrap_or(0),
        })
    }

    fn send(&mut self, session: SessionId, msg: Opinion) -> Result<(), String> {
        opinion::send(&mut self.d, session, &msg).map_err(|e| format!("send {msg:?}: {e}"))
    }

    fn on_event(&mut self, ev: DriverEvent) -> Result<(), String> {
        let DriverEvent::Session { session, event } = ev else {
            if let DriverEvent::Disconnected { session, cause, .. } = ev {
                self.n
                    .say(self.who(session), format!("disconnected: {cause:?}"));
            }
            return Ok(());
        };
        match event {
            SessionEvent::Consumer(ev) => self.on_consumer(session, ev),
            SessionEvent::Provider(ev) => self.on_provider(session, ev),
            _ => Ok(()),
        }
    }

    fn who(&self, s: SessionId) -> &'static str {
        if s == self.seller_wallet {
            "store/wallet"
        } else if s == self.store_session {
            "store"
        } else if s == self.buyer_wallet {
            "buyer/wallet"
        } else {
            "buyer"
        }
    }

    fn on_consumer(&mut self, s: SessionId, ev: ConsumerEvent) -> Result<(), String> {
        match ev {
            ConsumerEvent::Provider(update) => {
                let msats = update.msats;
                if s == self.seller_wallet {
                    if !self.ready[0] {
                        self.ready[0] = true;
                        self.n.say("store", "connected to the seller's account");
                    }
                    if msats != self.store.balance {
                        self.store.balance = msats;
                        self.n.say(
                            "store",
                            format!("seller's balance: {}", sats(msats.unwrap_or(0))),
                        );
                    }
                } else if s == self.buyer_wallet {
                    if !self.ready[2] {
                        self.ready[2] = true;
                        self.n.say("buyer", "connected to its wallet");
                    }
                    if msats != self.buyer.spendable {
                        self.buyer.spendable = msats;
                        self.n.say(
                            "buyer",
                            format!("the wallet lets it spend {}", sats(msats.unwrap_or(0))),
                        );
                    }
                } else if s == self.shop && !self.ready[3] {
                    self.ready[3] = true;
                    self.n.say("buyer", "connected to the store");
                }
            }
            ConsumerEvent::Invoice { request, bolt11 } if s == self.seller_wallet => {
                let Some((buyer_request, item)) = self.store.asked.remove(&request) else {
                    return Ok(());
                };
                let invoice = Invoice::parse(&bolt11).map_err(|e| format!("invoice: {e}"))?;
                self.store
                    .sold
                    .insert(*invoice.payment_hash(), item.clone());
                self.n.say(
                    "store",
                    format!("invoice for \"{item}\": {}", short(&bolt11)),
                );
                opinion::send_reply(
                    &mut self.d,
                    self.store_session,
                    buyer_request,
                    &Opinion::Invoice(bolt11),
                )
                .map_err(|e| format!("store: {e}"))?;
            }
            ConsumerEvent::Preimage {
                request: None,
                preimage,
            } if s == self.seller_wallet => {
                let hash: [u8; 32] = Sha256::digest(preimage).into();
                if let Some(item) = self.store.sold.remove(&hash) {
                    let text = self.opinion_for(&item);
                    self.n.say(
                        "store",
                        format!("paid for \"{item}\" (the preimage matches): delivers it"),
                    );
                    self.send(
                        self.store_session,
                        Opinion::Delivered {
                            item_id: item,
                            opinion: text,
                        },
                    )?;
                }
            }
            ConsumerEvent::Preimage {
                request: Some(r),
                preimage,
            } if s == self.buyer_wallet && self.buyer.paying == Some(r) => {
                self.buyer.paying = None;
                self.n.say(
                    "buyer",
                    format!("paid: preimage {}", short(&hex(&preimage))),
                );
                self.buyer.paid = Some(Ok(preimage));
            }
            ConsumerEvent::Error {
                request: Some(r),
                message,
            } if s == self.buyer_wallet && self.buyer.paying == Some(r) => {
                self.buyer.paying = None;
                self.buyer.paid = Some(Err(message));
            }
            ConsumerEvent::RequestFailed {
                request, reason, ..
            } if s == self.buyer_wallet && self.buyer.paying == Some(request) => {
                self.buyer.paying = None;
                self.buyer.paid = Some(Err(format!("request failed: {reason:?}")));
            }
            ConsumerEvent::Error { message, .. } => {
                self.n.say(self.who(s), format!("error: {message}"));
            }
            other => {
                if let Some(msg) = opinion::from_consumer_event(&other) {
                    self.on_shop(msg);
                }
            }
        }
        Ok(())
    }

    fn on_shop(&mut self, msg: Opinion) {
        match msg {
            Opinion::Seller(items) => {
                let list: Vec<String> = items
                    .iter()
                    .map(|i| format!("{} ({})", i.name, sats(i.msats)))
                    .collect();
                self.n
                    .say("buyer", format!("the store sells: {}", list.join(", ")));
                self.buyer.items = Some(items);
            }
            Opinion::SellerNotReady => {
                self.n.say("buyer", "the store is not open yet");
            }
            Opinion::Invoice(bolt11) => {
                self.n
                    .say("buyer", format!("got the invoice {}", short(&bolt11)));
                self.buyer.invoice = Some((String::new(), bolt11));
            }
            Opinion::Delivered { item_id, opinion } => {
                self.n
                    .say("buyer", format!("received \"{item_id}\": {opinion}"));
                self.buyer.delivered.push((item_id, opinion));
            }
            _ => {}
        }
    }

    fn on_provider(&mut self, s: SessionId, ev: ProviderEvent) -> Result<(), String> {
        if s != self.store_session {
            return Ok(());
        }
        match ev {
            ProviderEvent::ConsumerReady => {
                self.ready[1] = true;
                self.n.say("store", "a buyer connected; the store is open");
            }
            other => {
                let Some((request, msg)) = opinion::from_provider_event(&other) else {
                    return Ok(());
                };
                match msg {
                    Opinion::RequestSeller => {
                        let items = self.store.items.clone();
                        opinion::send_reply(
                            &mut self.d,
                            self.store_session,
                            request,
                            &Opinion::Seller(items),
                        )
                        .map_err(|e| format!("store: {e}"))?;
                    }
                    Opinion::RequestInvoice(item_id) => {
                        let Some(item) = self.store.items.iter().find(|i| i.item_id == item_id)
                        else {
                            self.n.say("store", format!("no item {item_id:?}"));
                            return Ok(());
                        };
                        let (msats, name) = (item.msats, item.item_id.clone());
                        let asked = self
                            .d
                            .request_invoice(self.seller_wallet, msats)
                            .map_err(|e| format!("store: {e}"))?;
                        self.store.asked.insert(asked, (request, name));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn opinion_for(&mut self, item: &str) -> String {
        match item {
            "hello" => "Sincere Hello!!".into(),
            "time" => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs().to_string())
                .unwrap_or_default(),
            _ => {
                let o = if self.store.bullish {
                    "Bullish"
                } else {
                    "Bearish"
                };
                self.store.bullish = !self.store.bullish;
                o.into()
            }
        }
    }

    /// After the story: print beacons a user can attach `moneysocket consumer` to, keep
    /// everything running until Ctrl-C.
    pub fn keep_running(
        &mut self,
        term: &super::terminus::TerminusThread,
        seller: &str,
        buyer: &str,
    ) -> Result<(), String> {
        // Ctrl-C is handled before the beacons are printed: a reader may act on them at once
        let registry = self
            .d
            .io()
            .transport()
            .registry()
            .try_clone()
            .map_err(|e| format!("event loop: {e}"))?;
        let _signals = crate::daemon::Signals::register(&registry, SIGNAL_N, false)
            .map_err(|e| format!("signals: {e}"))?;
        let seller = term.listen(seller)?;
        let buyer = term.listen(buyer)?;
        let n = self.n;
        n.act("Still running (Ctrl-C to stop)");
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
        for (who, b) in [("seller's account", &seller), ("buyer's account", &buyer)] {
            println!("\n{who}: moneysocket consumer {b} info");
            if let Some(q) = crate::cmd::terminus_cli::qr(b).filter(|_| tty) {
                println!("{q}");
            }
        }
        println!(
            "\nstore beacon (the buyer app is on it): {}",
            self.store_beacon
        );
        let mut events = Vec::new();
        loop {
            self.d
                .poll(&mut events, None)
                .map_err(|e| format!("poll: {e}"))?;
            for ev in events.drain(..) {
                if let DriverEvent::User { n: SIGNAL_N, .. } = ev {
                    return Ok(());
                }
                // the store keeps serving; its deadline no longer applies
                self.deadline = Instant::now() + Duration::from_secs(3600);
                let _ = self.on_event(ev);
            }
        }
    }
}

/// User-source number of the signal pipe under `--keep-running`.
const SIGNAL_N: usize = 1;

fn hex(b: &[u8]) -> String {
    moneysocket_core::hex::encode(b)
}
