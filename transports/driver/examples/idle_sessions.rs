//! Heap bytes per idle session in a `SessionHost` at 10,000 sessions, measured with a
//! counting global allocator:
//!
//! ```sh
//! cargo run --release -p moneysocket-driver --example idle_sessions
//! ```
//!
//! Adds 10,000 providers (distinct seeds, one account, each with provider info) and puts
//! them in the host's matchmaker (`listen`), drains the host, and prints the heap growth per
//! session; then the same for 10,000 listening consumers. The matchmaker's table is
//! allocated once, at the first `listen`, sized by the host's `CONNS` (accepted connections
//! plus listening sessions): it is shown apart, for the default 65,536 and for 16,384.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use moneysocket_core::host::{HostConfig, HostedConsumer, HostedProvider, SessionHost};
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{ConsumerConfig, ProviderConfig};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;
use rand_core::OsRng;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, counting live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SESSIONS: u32 = 10_000;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn seed(n: u32) -> SharedSeed {
    let mut b = [0x5a; 16];
    b[..4].copy_from_slice(&n.to_be_bytes());
    SharedSeed(b)
}

fn drain<const C: usize>(h: &mut SessionHost<OsRng, C>) {
    while h.poll_output().is_some() {}
}

struct Report {
    matchmaker: usize,
    sessions: usize,
}

fn providers<const C: usize>() -> Report {
    let mut h: SessionHost<OsRng, C> = SessionHost::new(HostConfig::default(), OsRng);
    let now = Instant(0);
    // The matchmaker's table: allocated by the first listen (measured with one session,
    // removed again).
    let before = live();
    let probe = h.add_provider(&seed(u32::MAX), ProviderConfig::default(), None);
    h.listen(probe, now).unwrap();
    drain(&mut h);
    h.remove(probe, now).unwrap();
    drain(&mut h);
    let matchmaker = live() - before;

    let account = Uuid::v4_from_bytes([1; 16]);
    let start = live();
    let ids: Vec<_> = (0..SESSIONS)
        .map(|n| h.add_provider(&seed(n), ProviderConfig::default(), Some(account)))
        .collect();
    for (n, &p) in ids.iter().enumerate() {
        let info = ProviderInfo {
            account_uuid: account,
            payer: true,
            payee: true,
            wad: Some(Wad::bitcoin(1_000 + n as u64)),
        };
        h.set_provider_info(p, &info, now).unwrap();
        h.listen(p, now).unwrap();
        drain(&mut h);
    }
    let sessions = live() - start - ids.capacity() * std::mem::size_of_val(&ids[0]);
    assert_eq!(h.matchmaker_stats().waiting, SESSIONS as usize);
    Report {
        matchmaker,
        sessions,
    }
}

fn consumers<const C: usize>() -> Report {
    let mut h: SessionHost<OsRng, C> = SessionHost::new(HostConfig::default(), OsRng);
    let now = Instant(0);
    let before = live();
    let probe = h.add_consumer(&seed(u32::MAX), ConsumerConfig::default());
    h.listen(probe, now).unwrap();
    drain(&mut h);
    h.remove(probe, now).unwrap();
    drain(&mut h);
    let matchmaker = live() - before;
    let start = live();
    let mut ids = Vec::with_capacity(SESSIONS as usize);
    for n in 0..SESSIONS {
        let c = h.add_consumer(&seed(n), ConsumerConfig::default());
        h.listen(c, now).unwrap();
        drain(&mut h);
        ids.push(c);
    }
    let sessions = live() - start - ids.capacity() * std::mem::size_of_val(&ids[0]);
    Report {
        matchmaker,
        sessions,
    }
}

fn print(what: &str, conns: usize, r: Report) {
    let n = SESSIONS as usize;
    println!(
        "{what:>9} CONNS={conns:>6}: {:>6} B/session idle ({:.2} MB for {n}); matchmaker table {:.2} MB once ({} B/session at {n}); total {} B/session",
        r.sessions / n,
        r.sessions as f64 / 1e6,
        r.matchmaker as f64 / 1e6,
        r.matchmaker / n,
        (r.sessions + r.matchmaker) / n,
    );
}

fn main() {
    println!(
        "size_of HostedProvider = {} B, HostedConsumer = {} B",
        std::mem::size_of::<HostedProvider>(),
        std::mem::size_of::<HostedConsumer>()
    );
    print("providers", 65_536, providers::<65_536>());
    print("providers", 16_384, providers::<16_384>());
    print("consumers", 65_536, consumers::<65_536>());
    print("consumers", 16_384, consumers::<16_384>());
}
