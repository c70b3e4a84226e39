//! Streaming payments against the mock provider: the window pays every event exactly once,
//! the meter settles exactly what accrued, a failed settle stays owed and is retried.

mod support;

use std::time::Duration;

use moneysocket_client::stream::{Meter, MeterConfig, PayWindow, WindowConfig};
use moneysocket_client::{Client, ClientConfig};
use support::{Behaviour, MockProvider};

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

#[test]
fn a_window_pays_each_event_once_and_counts_refusals_exactly() {
    // the payer can afford 150 of the 200 events of 7 msat
    let mock = MockProvider::start("127.0.0.1:0", &[], &[1_050, 0], Behaviour::default());
    let payer = Client::connect(&mock.beacons[0], config()).unwrap();
    let payee = Client::connect(&mock.beacons[1], config()).unwrap();
    let mut w = PayWindow::new(payer.handle(), payee.handle(), WindowConfig { window: 6 });
    let mut completions = Vec::new();
    for _ in 0..200 {
        w.pay(7).unwrap();
        assert!(w.stats().in_flight <= 6);
        completions.extend(w.take_completions());
    }
    let stats = w.finish(Duration::from_secs(20));
    completions.extend(w.take_completions());
    assert_eq!(stats.events, 200);
    assert_eq!(stats.msats, 1_400);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.unknown, 0);
    assert_eq!(stats.paid, 150, "{stats:?}");
    assert_eq!(stats.paid_msats, 1_050);
    assert_eq!(stats.failed_msats, 350);
    assert_eq!(completions.len(), 200);
    let mut ids: Vec<u64> = completions.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..200).collect::<Vec<_>>());
    assert_eq!(mock.balance(0), 0);
    assert_eq!(mock.balance(1), 1_050);
    assert_eq!(mock.ledger.lock().unwrap().pays, 150);
}

#[test]
fn a_meter_settles_exactly_what_accrued_from_many_threads() {
    let mock = MockProvider::start("127.0.0.1:0", &[], &[10_000_000, 0], Behaviour::default());
    let payer = Client::connect(&mock.beacons[0], config()).unwrap();
    let payee = Client::connect(&mock.beacons[1], config()).unwrap();
    let meter = std::sync::Arc::new(
        Meter::start(
            payer.handle(),
            payee.handle(),
            MeterConfig {
                settle_every: Duration::from_millis(20),
                settle_at_msats: 5_000,
                close_timeout: Duration::from_secs(10),
                ..MeterConfig::default()
            },
        )
        .unwrap(),
    );
    // 4 threads × 20,000 events of 1..=13 msat, far above one payment per event
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let m = std::sync::Arc::clone(&meter);
            std::thread::spawn(move || {
                let mut sum = 0;
                for i in 0..20_000u64 {
                    let msats = 1 + (i * 7 + t) % 13;
                    m.accrue(msats).unwrap();
                    sum += msats;
                }
                sum
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let meter = std::sync::Arc::into_inner(meter).unwrap();
    let stats = meter.close();
    assert_eq!(stats.events, 80_000);
    assert_eq!(stats.accrued_msats, total);
    assert_eq!(stats.settled_msats, total, "{stats:?}");
    assert_eq!(
        stats.owed_msats + stats.settling_msats + stats.unknown_msats,
        0
    );
    assert!(stats.settles >= 2, "{stats:?}");
    assert_eq!(mock.balance(1), total);
    assert_eq!(mock.balance(0), 10_000_000 - total);
    assert_eq!(mock.ledger.lock().unwrap().pays, stats.settles);
}

#[test]
fn a_failed_settle_stays_owed_and_is_retried() {
    let mock = MockProvider::start("127.0.0.1:0", &[], &[100, 0], Behaviour::default());
    let payer = Client::connect(&mock.beacons[0], config()).unwrap();
    let payee = Client::connect(&mock.beacons[1], config()).unwrap();
    let meter = Meter::start(
        payer.handle(),
        payee.handle(),
        MeterConfig {
            settle_every: Duration::from_millis(20),
            settle_at_msats: 1_000_000,
            close_timeout: Duration::from_secs(10),
            ..MeterConfig::default()
        },
    )
    .unwrap();
    for _ in 0..50 {
        meter.accrue(10).unwrap();
    }
    // 500 owed, 100 in the account: refused, stays owed
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while meter.stats().failed_settles < 2 {
        assert!(std::time::Instant::now() < until, "{:?}", meter.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let s = meter.stats();
    assert_eq!(s.settled_msats, 0);
    assert_eq!(s.owed_msats + s.settling_msats, 500, "{s:?}");
    assert!(matches!(
        s.last_error,
        Some(moneysocket_client::ClientError::Refused(_))
    ));
    // funds arrive: the next retry settles all of it, once
    mock.ledger.lock().unwrap().balances[0] = 1_000;
    let s = meter.close();
    assert_eq!(s.settled_msats, 500, "{s:?}");
    assert_eq!(s.owed_msats, 0);
    assert_eq!(mock.balance(0), 500);
    assert_eq!(mock.balance(1), 500);
}

fn uncertain_settle(how: Behaviour) -> (moneysocket_client::stream::MeterStats, MockProvider) {
    uncertain_settle_within(how, Duration::from_secs(5))
}

fn uncertain_settle_within(
    how: Behaviour,
    close_timeout: Duration,
) -> (moneysocket_client::stream::MeterStats, MockProvider) {
    let mock = MockProvider::start("127.0.0.1:0", &[], &[10_000, 0], how);
    let cfg = ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config()
    };
    let payer = Client::connect(&mock.beacons[0], cfg.clone()).unwrap();
    let payee = Client::connect(&mock.beacons[1], cfg).unwrap();
    let meter = Meter::start(
        payer.handle(),
        payee.handle(),
        MeterConfig {
            settle_every: Duration::from_millis(20),
            settle_at_msats: 400,
            close_timeout,
            ..MeterConfig::default()
        },
    )
    .unwrap();
    for _ in 0..40 {
        meter.accrue(10).unwrap();
    }
    (meter.close(), mock)
}

#[test]
fn an_unanswered_settle_is_retried_with_the_same_invoice_only() {
    // the provider never saw the first pay: the retry of the same invoice pays it, once
    let how = Behaviour {
        swallow_pays: 1,
        ..Behaviour::default()
    };
    let (s, mock) = uncertain_settle(how);
    assert_eq!(s.settled_msats, 400, "{s:?}");
    assert_eq!(s.failed_settles, 1);
    assert_eq!(s.owed_msats + s.unknown_msats, 0);
    assert_eq!(
        mock.ledger.lock().unwrap().invoices_made,
        1,
        "no second invoice"
    );
    assert_eq!((mock.balance(0), mock.balance(1)), (9_600, 400));

    // the provider paid but its answer was lost: the retry is refused (already paid), the
    // amount is reported unknown, never paid again with a new invoice
    let how = Behaviour {
        mute_pays: 1,
        ..Behaviour::default()
    };
    let (s, mock) = uncertain_settle(how);
    assert_eq!(s.settled_msats, 0, "{s:?}");
    assert_eq!(s.unknown_msats, 400);
    assert_eq!(s.accrued_msats, 400);
    assert_eq!(
        mock.ledger.lock().unwrap().invoices_made,
        1,
        "no second invoice"
    );
    assert_eq!(
        (mock.balance(0), mock.balance(1)),
        (9_600, 400),
        "paid once"
    );

    // the provider never answers a pay: at close the amount is reported unknown, not lost
    let how = Behaviour {
        swallow_pays: u32::MAX,
        ..Behaviour::default()
    };
    let (s, mock) = uncertain_settle_within(how, Duration::from_millis(800));
    assert_eq!(s.accrued_msats, 400);
    assert_eq!(
        (s.settled_msats, s.owed_msats, s.settling_msats),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.unknown_msats, 400);
    assert_eq!(
        mock.ledger.lock().unwrap().invoices_made,
        1,
        "no second invoice"
    );
    assert_eq!(mock.balance(0), 10_000);
}

#[test]
fn a_provider_that_invoices_whole_sats() {
    // the Python terminus on LND rounds invoices to whole sats (half-even)
    let how = Behaviour {
        whole_sats: true,
        ..Behaviour::default()
    };
    let mock = MockProvider::start("127.0.0.1:0", &[], &[100_000, 0], how);
    let payer = Client::connect(&mock.beacons[0], config()).unwrap();
    let payee = Client::connect(&mock.beacons[1], config()).unwrap();
    // a plain invoice request takes the rounded invoice
    let bolt11 = payee.request_invoice(1_500).unwrap();
    payer.pay(&bolt11).unwrap();
    assert_eq!(mock.balance(1), 2_000);
    // streaming needs exact amounts: an event of 1,500 msat fails, certainly unpaid
    let mut w = PayWindow::new(payer.handle(), payee.handle(), WindowConfig::default());
    w.pay(1_500).unwrap();
    w.pay(3_000).unwrap();
    let s = w.finish(Duration::from_secs(10));
    assert_eq!(
        (s.paid_msats, s.failed_msats, s.unknown_msats),
        (3_000, 1_500, 0)
    );
    // a meter in whole sats settles whole sats, the rest stays owed
    let meter = Meter::start(
        payer.handle(),
        payee.handle(),
        MeterConfig {
            settle_every: Duration::from_millis(20),
            settle_unit_msats: 1_000,
            ..MeterConfig::default()
        },
    )
    .unwrap();
    for _ in 0..17 {
        meter.accrue(150).unwrap();
    }
    let s = meter.close();
    assert_eq!(s.accrued_msats, 2_550);
    assert_eq!((s.settled_msats, s.owed_msats), (2_000, 550), "{s:?}");
    assert!(s.last_error.is_none(), "{s:?}");
    assert_eq!(mock.balance(1), 2_000 + 3_000 + 2_000);
}
