//! A mock provider for the client's tests: a driver on loopback with listening providers
//! (one per account, each its own beacon) over an in-memory ledger: invoices with real
//! payment hashes (fake signatures), payments between its accounts, balance updates.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use moneysocket_core::beacon::{v0, Beacon, WebSocket};
use moneysocket_core::bolt11::write::{DescriptionRef, UnsignedInvoice};
use moneysocket_core::bolt11::{Invoice, Network};
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::ProviderConfig;
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{
    Driver, DriverConfig, DriverEvent, ProviderEvent, SessionEvent, SessionId,
};
use moneysocket_ws::TransportConfig;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// How the mock answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Never answer requests.
    pub silent: bool,
    /// Answer pays with a preimage that does not match.
    pub wrong_preimage: bool,
    /// Answer invoice requests with an invoice for one msat more.
    pub wrong_amount: bool,
    /// Make invoices in whole sats (msats rounded half-even), as the Python terminus on LND.
    pub whole_sats: bool,
    /// Ignore this many pay requests (not paid, not answered).
    pub swallow_pays: u32,
    /// Pay this many pay requests without answering them.
    pub mute_pays: u32,
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// msat per account index.
    pub balances: Vec<u64>,
    /// payment hash → (preimage, payee account, msats, paid)
    invoices: HashMap<[u8; 32], ([u8; 32], usize, u64, bool)>,
    pub pays: u64,
    pub invoices_made: u64,
}

pub struct MockProvider {
    pub addr: SocketAddr,
    pub beacons: Vec<String>,
    pub ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn seed() -> SharedSeed {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    SharedSeed(b)
}

pub fn beacon(seed: SharedSeed, addr: SocketAddr) -> String {
    let url = format!("ws://{addr}");
    let mut b = v0::Beacon::new(seed);
    b.push_websocket(WebSocket::parse_url(&url).unwrap())
        .unwrap();
    Beacon::from(b).to_string()
}

fn invoice(msats: u64, hash: [u8; 32]) -> String {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let mut u = UnsignedInvoice::new(
        Network::Bitcoin,
        1_700_000_000,
        hash,
        secret,
        DescriptionRef::Direct("mock"),
    );
    u.amount_msat = std::num::NonZeroU64::new(msats);
    u.to_signed_string(|_| ([1u8; 64], 0)).unwrap()
}

impl MockProvider {
    /// Listens on `addr` (port 0: any) with one account per balance, using `seeds` (one per
    /// account; fresh ones if empty).
    pub fn start(addr: &str, seeds: &[SharedSeed], balances: &[u64], how: Behaviour) -> Self {
        Self::with_ledger(
            addr,
            seeds,
            Arc::new(Mutex::new(Ledger {
                balances: balances.to_vec(),
                ..Ledger::default()
            })),
            how,
        )
    }

    /// Same, over an existing ledger (a restart).
    pub fn with_ledger(
        addr: &str,
        seeds: &[SharedSeed],
        ledger: Arc<Mutex<Ledger>>,
        how: Behaviour,
    ) -> Self {
        let n = ledger.lock().unwrap().balances.len();
        let seeds: Vec<SharedSeed> = if seeds.is_empty() {
            (0..n).map(|_| seed()).collect()
        } else {
            seeds.to_vec()
        };
        let transport = TransportConfig {
            max_per_ip: 0,
            ..TransportConfig::default()
        };
        let mut d: Driver = Driver::new(DriverConfig::default(), transport).unwrap();
        let addr = d.listen(addr.parse().unwrap(), None).unwrap();
        let beacons = seeds.iter().map(|s| beacon(*s, addr)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || run(d, seeds, ledger, how, stop))
        };
        MockProvider {
            addr,
            beacons,
            ledger,
            stop,
            thread: Some(thread),
        }
    }

    pub fn balance(&self, account: usize) -> u64 {
        self.ledger.lock().unwrap().balances[account]
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn account_uuid(i: usize) -> Uuid {
    Uuid::v4_from_bytes([i as u8 + 1; 16])
}

fn info(i: usize, msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: account_uuid(i),
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

fn run(
    mut d: Driver,
    seeds: Vec<SharedSeed>,
    ledger: Arc<Mutex<Ledger>>,
    how: Behaviour,
    stop: Arc<AtomicBool>,
) {
    let mut sessions: Vec<SessionId> = Vec::new();
    let mut account_of: HashMap<SessionId, usize> = HashMap::new();
    for (i, s) in seeds.iter().enumerate() {
        let p = d.add_provider(s, ProviderConfig::default(), Some(account_uuid(i)));
        let b = ledger.lock().unwrap().balances[i];
        d.set_provider_info(p, &info(i, b)).unwrap();
        d.listen_session(p).unwrap();
        sessions.push(p);
        account_of.insert(p, i);
    }
    let mut events = Vec::new();
    let (mut swallow, mut mute) = (how.swallow_pays, how.mute_pays);
    while !stop.load(Ordering::Relaxed) {
        d.poll(&mut events, Some(Duration::from_millis(5))).unwrap();
        for ev in events.drain(..) {
            let DriverEvent::Session {
                session,
                event: SessionEvent::Provider(ev),
            } = ev
            else {
                continue;
            };
            let Some(&me) = account_of.get(&session) else {
                continue;
            };
            match ev {
                ProviderEvent::Closed(_) => {
                    // listen again for the next consumer
                    let _ = d.listen_session(session);
                }
                _ if how.silent => {}
                ProviderEvent::InvoiceRequested { request, msats } => {
                    let mut preimage = [0u8; 32];
                    OsRng.fill_bytes(&mut preimage);
                    let hash: [u8; 32] = Sha256::digest(preimage).into();
                    let mut amount = if how.wrong_amount { msats + 1 } else { msats };
                    if how.whole_sats {
                        let (sats, rest) = (amount / 1000, amount % 1000);
                        let up = rest > 500 || (rest == 500 && sats % 2 == 1);
                        amount = (sats + u64::from(up)) * 1000;
                    }
                    let mut l = ledger.lock().unwrap();
                    l.invoices.insert(hash, (preimage, me, amount, false));
                    l.invoices_made += 1;
                    drop(l);
                    d.send_invoice(session, request, &invoice(amount, hash))
                        .unwrap();
                }
                ProviderEvent::PayRequested { .. } if swallow > 0 => swallow -= 1,
                ProviderEvent::PayRequested { request, bolt11 } => {
                    let hash = match Invoice::parse(&bolt11) {
                        Ok(i) => *i.payment_hash(),
                        Err(e) => {
                            d.send_error(session, Some(request), &e.to_string())
                                .unwrap();
                            continue;
                        }
                    };
                    let mut l = ledger.lock().unwrap();
                    let Some(&(preimage, payee, msats, paid)) = l.invoices.get(&hash) else {
                        drop(l);
                        d.send_error(session, Some(request), "unknown invoice")
                            .unwrap();
                        continue;
                    };
                    if paid {
                        drop(l);
                        d.send_error(session, Some(request), "already paid")
                            .unwrap();
                        continue;
                    }
                    if l.balances[me] < msats {
                        drop(l);
                        d.send_error(session, Some(request), "insufficient balance")
                            .unwrap();
                        continue;
                    }
                    l.balances[me] -= msats;
                    l.balances[payee] += msats;
                    l.pays += 1;
                    if let Some(e) = l.invoices.get_mut(&hash) {
                        e.3 = true;
                    }
                    let (bm, bp) = (l.balances[me], l.balances[payee]);
                    drop(l);
                    let mut answer = preimage;
                    if how.wrong_preimage {
                        answer[0] ^= 1;
                    }
                    if mute > 0 {
                        mute -= 1;
                    } else {
                        d.send_preimage(session, Some(request), &answer).unwrap();
                    }
                    let _ = d.set_provider_info(session, &info(me, bm));
                    if payee != me {
                        let _ = d.set_provider_info(sessions[payee], &info(payee, bp));
                        let _ = d.send_preimage(sessions[payee], None, &preimage);
                    }
                }
                _ => {}
            }
        }
    }
}
