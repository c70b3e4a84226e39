//! The client over real websockets on loopback, against a mock provider (tests/support).

mod support;

use std::time::{Duration, Instant};

use moneysocket_client::{Client, ClientConfig, ClientError, ClientEvent};
use support::{Behaviour, MockProvider};

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn balance_invoice_pay_between_two_accounts() {
    let mock = MockProvider::start("127.0.0.1:0", &[], &[100_000, 5_000], Behaviour::default());
    let a = Client::connect(mock.beacons[0].as_str(), config()).unwrap();
    let b = Client::connect(&mock.beacons[1], config()).unwrap();
    assert_eq!(a.balance(), Some(100_000));
    assert_eq!(b.balance(), Some(5_000));
    assert!(a.provider_info().is_some_and(|i| i.payer && i.payee));
    assert!(matches!(
        a.recv_event(Duration::from_secs(1)),
        Some(ClientEvent::Connected(_))
    ));
    assert!(matches!(
        b.recv_event(Duration::from_secs(1)),
        Some(ClientEvent::Connected(_))
    ));

    let bolt11 = b.request_invoice(1_000).unwrap();
    let preimage = a.pay(&bolt11).unwrap();
    assert_eq!(mock.balance(0), 99_000);
    assert_eq!(mock.balance(1), 6_000);
    // the payee hears of its paid invoice; both see their new balances
    let mut heard = false;
    while let Some(ev) = b.recv_event(Duration::from_secs(2)) {
        if let ClientEvent::Preimage(p) = ev {
            assert_eq!(p, preimage);
            heard = true;
            break;
        }
    }
    assert!(heard, "the payee got no unsolicited preimage");
    wait_for("balances", || {
        a.balance() == Some(99_000) && b.balance() == Some(6_000)
    });

    // the provider's refusal comes back with its text; a second pay of the same invoice
    match a.pay(&bolt11) {
        Err(ClientError::Refused(e)) => assert!(e.contains("already paid"), "{e}"),
        other => panic!("{other:?}"),
    }
    let big = b.request_invoice(1_000_000).unwrap();
    assert!(matches!(a.pay(&big), Err(ClientError::Refused(e)) if e.contains("insufficient")));
    // bad input, refused before anything is sent
    assert!(matches!(
        a.pay("lnbc1garbage"),
        Err(ClientError::InvalidInvoice(_))
    ));
    assert!(matches!(a.request_invoice(0), Err(ClientError::Request(_))));
    a.close();
    drop(b);
}

#[test]
fn wrong_preimage_and_wrong_amount_are_refused() {
    let how = Behaviour {
        wrong_preimage: true,
        ..Behaviour::default()
    };
    let mock = MockProvider::start("127.0.0.1:0", &[], &[10_000, 0], how);
    let a = Client::connect(&mock.beacons[0], config()).unwrap();
    let b = Client::connect(&mock.beacons[1], config()).unwrap();
    let bolt11 = b.request_invoice(500).unwrap();
    assert_eq!(a.pay(&bolt11), Err(ClientError::WrongPreimage));

    let how = Behaviour {
        wrong_amount: true,
        ..Behaviour::default()
    };
    let mock = MockProvider::start("127.0.0.1:0", &[], &[0], how);
    let c = Client::connect(&mock.beacons[0], config()).unwrap();
    assert_eq!(
        c.request_invoice(500),
        Err(ClientError::WrongAmount {
            requested: 500,
            invoice: Some(501)
        })
    );
}

#[test]
fn calls_time_out_with_a_typed_error() {
    let how = Behaviour {
        silent: true,
        ..Behaviour::default()
    };
    let mock = MockProvider::start("127.0.0.1:0", &[], &[10_000, 0], how);
    let cfg = ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config()
    };
    let a = Client::connect(&mock.beacons[0], cfg).unwrap();
    let t = Instant::now();
    assert_eq!(a.request_invoice(1_000), Err(ClientError::Timeout));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // a shorter timeout for one call (the client's own is 10 s)
    let b = Client::connect(
        &mock.beacons[1],
        ClientConfig {
            request_timeout: Duration::from_secs(10),
            ..config()
        },
    )
    .unwrap();
    let t = Instant::now();
    let quick = b.handle().with_timeout(Duration::from_millis(100));
    assert_eq!(quick.request_invoice(1_000), Err(ClientError::Timeout));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // nobody at the beacon's address: connect gives up with the reason
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let beacon = support::beacon(support::seed(), port);
    let cfg = ClientConfig {
        connect_timeout: Duration::from_millis(500),
        ..config()
    };
    match Client::connect(beacon.as_str(), cfg.clone()) {
        Err(ClientError::ConnectTimeout { last: Some(_) }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Client::connect("moneysocket1nonsense", cfg),
        Err(ClientError::InvalidBeacon(_))
    ));
}

#[test]
fn reconnects_with_the_same_beacon_after_the_provider_restarts() {
    let seeds = [support::seed(), support::seed()];
    let mut mock = MockProvider::start("127.0.0.1:0", &seeds, &[50_000, 0], Behaviour::default());
    let addr = mock.addr.to_string();
    let cfg = ClientConfig {
        backoff: moneysocket_client::Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        ..config()
    };
    let a = Client::connect(&mock.beacons[0], cfg.clone()).unwrap();
    let b = Client::connect(&mock.beacons[1], cfg).unwrap();
    let ledger = std::sync::Arc::clone(&mock.ledger);
    mock.stop();
    drop(mock);
    wait_for("the disconnect", || !a.is_ready());
    // a call while the link is down waits for it (within its timeout)
    let pending = b.handle().request_invoice_async(2_000);
    let mock = MockProvider::with_ledger(&addr, &seeds, ledger, Behaviour::default());
    let bolt11 = pending.wait().unwrap();
    a.wait_ready(Duration::from_secs(5)).unwrap();
    a.pay(&bolt11).unwrap();
    assert_eq!(mock.balance(0), 48_000);
    assert_eq!(mock.balance(1), 2_000);
    let mut saw = (false, 0);
    while let Some(ev) = a.recv_event(Duration::from_millis(200)) {
        match ev {
            ClientEvent::Disconnected { .. } => saw.0 = true,
            ClientEvent::Connected(_) => saw.1 += 1,
            _ => {}
        }
    }
    assert!(saw.0, "no Disconnected event");
    assert_eq!(saw.1, 2, "Connected at connect and after the restart");
}

#[test]
fn a_call_while_down_fails_as_disconnected_at_its_deadline() {
    let mut mock = MockProvider::start("127.0.0.1:0", &[], &[1_000], Behaviour::default());
    let cfg = ClientConfig {
        request_timeout: Duration::from_millis(400),
        ..config()
    };
    let a = Client::connect(&mock.beacons[0], cfg).unwrap();
    mock.stop();
    wait_for("the disconnect", || !a.is_ready());
    assert_eq!(a.request_invoice(10), Err(ClientError::Disconnected));
    // closing answers nothing more; a handle used after close says so
    let h = a.handle();
    a.close();
    assert_eq!(h.request_invoice(10), Err(ClientError::Closed));
}
