//! The driver over real websockets on loopback: many listening providers, the wallet's
//! one-loop shape with a blocking job, reconnect with backoff, the provider request model,
//! extension messages.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use moneysocket_core::message::opinion::{OpinionBody, OpinionItem, OpinionMessage};
use moneysocket_core::message::{ProviderInfo, Timestamp, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{ConsumerConfig, ProviderConfig, RequestKind, SessionError};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{
    ConsumerEvent, Disconnect, Driver, DriverConfig, DriverEvent, HostError, ProviderEvent,
    SessionEvent, SessionId,
};
use moneysocket_ws::TransportConfig;
use rand_core::{OsRng, RngCore};

const BOLT11: &str = "lnbc10u1pwjqwkkpp5vlc3tttdzhpk9fwzkkue0sf2pumtza7qyw9vucxyyeh0yaqq66yq";
const STEP: Option<Duration> = Some(Duration::from_millis(2));

fn driver() -> Driver {
    let transport = TransportConfig {
        max_per_ip: 0,
        ..TransportConfig::default()
    };
    Driver::new(DriverConfig::default(), transport).unwrap()
}

fn seed(n: u32) -> SharedSeed {
    let mut b = [0x5a; 16];
    b[..4].copy_from_slice(&n.to_be_bytes());
    SharedSeed(b)
}

fn info(account: Uuid, msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: account,
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

fn listener(d: &mut Driver) -> SocketAddr {
    d.listen("127.0.0.1:0".parse().unwrap(), None).unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}")
}

fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

fn check(until: Instant, what: &str) {
    assert!(Instant::now() < until, "timed out waiting for {what}");
}

/// A provider that listens on `d`'s listener with `balance`.
fn listening_provider(d: &mut Driver, n: u32, account: Uuid, balance: u64) -> SessionId {
    let p = d.add_provider(&seed(n), ProviderConfig::default(), Some(account));
    d.set_provider_info(p, &info(account, balance)).unwrap();
    d.listen_session(p).unwrap();
    p
}

#[test]
fn remote_consumers_meet_the_right_one_of_10000_listening_providers() {
    let started = Instant::now();
    let mut server = driver();
    let addr = listener(&mut server);
    let account = Uuid::v4_from_bytes([1; 16]);
    const PROVIDERS: u32 = 10_000;
    const CONSUMERS: usize = 50;
    let providers: Vec<SessionId> = (0..PROVIDERS)
        .map(|n| listening_provider(&mut server, n, account, 1_000 + u64::from(n)))
        .collect();
    let mut events = Vec::new();
    server.flush(&mut events);
    events.clear();
    assert_eq!(server.host().stats().sessions, PROVIDERS as usize);

    // Consumers of randomly chosen (distinct) providers, on two client drivers.
    let mut chosen = HashSet::new();
    while chosen.len() < CONSUMERS {
        chosen.insert(OsRng.next_u32() % PROVIDERS);
    }
    let mut clients = [driver(), driver()];
    let mut consumers: Vec<(usize, SessionId, u32)> = Vec::new();
    for (i, &n) in chosen.iter().enumerate() {
        let d = &mut clients[i % 2];
        let c = d.add_consumer(&seed(n), ConsumerConfig::default());
        d.connect(c, [url(addr)]).unwrap();
        consumers.push((i % 2, c, n));
    }

    // Every consumer gets the balance of its own provider.
    let until = deadline(30);
    let ready = |clients: &[Driver; 2], consumers: &[(usize, SessionId, u32)]| {
        consumers.iter().all(|&(d, c, n)| {
            let c = clients[d].host().consumer(c).unwrap();
            c.is_ready() && c.balance_msats() == Some(1_000 + u64::from(n))
        })
    };
    while !ready(&clients, &consumers) {
        check(until, "50 consumers ready");
        server.poll(&mut events, STEP).unwrap();
        events.clear();
        for d in clients.iter_mut() {
            d.poll(&mut events, STEP).unwrap();
            for ev in events.drain(..) {
                if let DriverEvent::Session {
                    event: SessionEvent::Consumer(ConsumerEvent::Closed(r)),
                    ..
                } = ev
                {
                    panic!("consumer closed: {r:?}");
                }
            }
        }
    }
    println!("50 consumers ready after {:?}", started.elapsed());

    // An invoice request round trip for each: the right provider answers.
    let by_provider: HashMap<SessionId, u32> = providers
        .iter()
        .enumerate()
        .map(|(n, &p)| (p, n as u32))
        .collect();
    let mut asked: HashMap<Uuid, (usize, SessionId, u32)> = HashMap::new();
    for &(d, c, n) in &consumers {
        let r = clients[d]
            .request_invoice(c, 10_000 + u64::from(n))
            .unwrap();
        asked.insert(r, (d, c, n));
    }
    let mut answered = 0;
    while answered < CONSUMERS {
        check(until, "50 invoices");
        server.poll(&mut events, STEP).unwrap();
        for ev in std::mem::take(&mut events) {
            if let DriverEvent::Session {
                session,
                event: SessionEvent::Provider(ProviderEvent::InvoiceRequested { request, msats }),
            } = ev
            {
                let n = by_provider[&session];
                assert_eq!(msats, 10_000 + u64::from(n), "request reached provider {n}");
                server.send_invoice(session, request, BOLT11).unwrap();
            }
        }
        for d in clients.iter_mut() {
            d.poll(&mut events, STEP).unwrap();
            for ev in events.drain(..) {
                if let DriverEvent::Session {
                    session,
                    event: SessionEvent::Consumer(ConsumerEvent::Invoice { request, bolt11 }),
                } = ev
                {
                    assert_eq!(asked[&request].1, session);
                    assert_eq!(bolt11, BOLT11);
                    answered += 1;
                }
            }
        }
    }
    let stats = server.host().matchmaker_stats();
    assert_eq!(stats.pairs, CONSUMERS, "{stats:?}");
    println!("done after {:?}", started.elapsed());
}

#[test]
fn consumer_and_provider_in_one_loop_with_a_blocking_payment_job() {
    let mut d = driver();
    let addr = listener(&mut d);
    let account = Uuid::v4_from_bytes([2; 16]);
    let p = listening_provider(&mut d, 7, account, 50_000);
    let c = d.add_consumer(&seed(7), ConsumerConfig::default());
    d.connect(c, [url(addr)]).unwrap();

    // run_until: wait for the consumer's handshake (its provider info arrives as an event)
    let ready = d
        .run_until(deadline(10), |d, ev| match ev {
            DriverEvent::Session {
                session,
                event: SessionEvent::Consumer(ConsumerEvent::Provider(update)),
            } if session == c => {
                assert!(d.host().consumer(c).unwrap().is_ready());
                ControlFlow::Break(update.msats)
            }
            _ => ControlFlow::Continue(()),
        })
        .unwrap();
    assert_eq!(ready, Some(Some(50_000)));

    let until = deadline(15);
    let mut events = Vec::new();
    let mut paid: Option<Uuid> = None;
    let mut job_started: Option<Instant> = None;
    let mut polls_during_job = 0;
    let preimage = [0x42; 32];
    loop {
        check(until, "the preimage");
        d.poll(&mut events, STEP).unwrap();
        if job_started.is_some() {
            polls_during_job += 1;
        }
        if paid.is_none() && d.host().consumer(c).unwrap().is_ready() {
            paid = Some(d.pay(c, BOLT11).unwrap());
        }
        let mut done = false;
        for ev in std::mem::take(&mut events) {
            match ev {
                DriverEvent::Session {
                    session,
                    event: SessionEvent::Provider(ProviderEvent::PayRequested { request, bolt11 }),
                } => {
                    assert_eq!((session, Some(request)), (p, paid));
                    assert_eq!(bolt11, BOLT11);
                    job_started = Some(Instant::now());
                    // a Lightning payment that blocks its thread
                    d.spawn(move || {
                        std::thread::sleep(Duration::from_millis(50));
                        (session, request, preimage)
                    })
                    .unwrap();
                }
                DriverEvent::Job { result, .. } => {
                    let (session, request, pre) = result
                        .unwrap()
                        .take::<(SessionId, Uuid, [u8; 32])>()
                        .unwrap();
                    assert!(job_started.unwrap().elapsed() >= Duration::from_millis(50));
                    d.send_preimage(session, Some(request), &pre).unwrap();
                }
                DriverEvent::Session {
                    session,
                    event:
                        SessionEvent::Consumer(ConsumerEvent::Preimage {
                            request,
                            preimage: got,
                        }),
                } => {
                    assert_eq!((session, request, got), (c, paid, preimage));
                    done = true;
                }
                _ => {}
            }
        }
        if done {
            break;
        }
    }
    // the loop kept turning while the job blocked its own thread
    assert!(polls_during_job > 5, "{polls_during_job}");
    assert_eq!(d.jobs(), 0);
}

#[test]
fn consumer_reconnects_with_backoff_when_the_listener_comes_back() {
    let account = Uuid::v4_from_bytes([3; 16]);
    let mut server = driver();
    let addr = listener(&mut server);
    listening_provider(&mut server, 11, account, 111);
    let mut client = driver();
    let c = client.add_consumer(&seed(11), ConsumerConfig::default());
    client.connect(c, [url(addr)]).unwrap();

    let mut events = Vec::new();
    let until = deadline(20);
    while client.host().consumer(c).unwrap().balance_msats() != Some(111) {
        check(until, "first ready");
        server.poll(&mut events, STEP).unwrap();
        client.poll(&mut events, STEP).unwrap();
        events.clear();
    }

    // The listener side goes away; the consumer retries on its own.
    drop(server);
    let down = Instant::now();
    let mut retries = Vec::new();
    while down.elapsed() < Duration::from_millis(800) {
        client.poll(&mut events, STEP).unwrap();
        for ev in events.drain(..) {
            if let DriverEvent::Disconnected {
                session, retry_in, ..
            } = ev
            {
                assert_eq!(session, c);
                retries.push(retry_in.expect("keeps retrying"));
            }
        }
    }
    assert!(retries.len() >= 2, "{retries:?}");
    // exponential: the delays grow (jitter draws from [d/2, d])
    assert!(retries[0] <= Duration::from_millis(250), "{retries:?}");
    assert!(
        retries.last().unwrap() >= &Duration::from_millis(250),
        "{retries:?}"
    );

    // A new listener on the same port, the provider with a new balance.
    let mut server = driver();
    server.listen(addr, None).unwrap();
    listening_provider(&mut server, 11, account, 222);
    let mut connected = 0;
    while client.host().consumer(c).unwrap().balance_msats() != Some(222) {
        check(until, "ready again");
        server.poll(&mut events, STEP).unwrap();
        events.clear();
        client.poll(&mut events, STEP).unwrap();
        for ev in events.drain(..) {
            if matches!(ev, DriverEvent::Connected { session, .. } if session == c) {
                connected += 1;
            }
        }
    }
    assert!(client.host().consumer(c).unwrap().is_ready());
    assert_eq!(connected, 1);
    assert!(matches!(
        client.dial_state(c),
        Some(moneysocket_driver::DialState::Up { address: 0, .. })
    ));
}

#[test]
fn provider_requests_unknown_expired_and_abandoned_over_sockets() {
    let account = Uuid::v4_from_bytes([4; 16]);
    let mut server = driver();
    let addr = listener(&mut server);
    let pcfg = ProviderConfig {
        request_timeout: Duration::from_millis(400),
        ..ProviderConfig::default()
    };
    let p = server.add_provider(&seed(21), pcfg, Some(account));
    server.set_provider_info(p, &info(account, 5)).unwrap();
    server.listen_session(p).unwrap();
    let mut client = driver();
    let c = client.add_consumer(&seed(21), ConsumerConfig::default());
    client.connect(c, [url(addr)]).unwrap();

    let mut events = Vec::new();
    let until = deadline(20);
    let mut pump = |server: &mut Driver, client: &mut Driver| -> Vec<DriverEvent> {
        let mut out = Vec::new();
        server.poll(&mut out, STEP).unwrap();
        client.poll(&mut events, STEP).unwrap();
        events.clear();
        out
    };
    while !server.host().provider(p).unwrap().is_ready()
        || !client.host().consumer(c).unwrap().is_ready()
    {
        check(until, "ready");
        pump(&mut server, &mut client);
    }

    // Unknown uuid: refused.
    let stranger = Uuid::v4_from_bytes([0x77; 16]);
    assert_eq!(
        server.send_preimage(p, Some(stranger), &[0; 32]),
        Err(HostError::Session(SessionError::UnknownRequest))
    );

    // Expired: reported, then the answer is refused.
    let r1 = client.request_invoice(c, 1_000).unwrap();
    let mut expired = false;
    while !expired {
        check(until, "RequestExpired");
        for ev in pump(&mut server, &mut client) {
            if let DriverEvent::Session {
                event: SessionEvent::Provider(ProviderEvent::RequestExpired { request, kind }),
                ..
            } = ev
            {
                assert_eq!((request, kind), (r1, RequestKind::Invoice));
                expired = true;
            }
        }
    }
    assert_eq!(
        server.send_invoice(p, r1, BOLT11),
        Err(HostError::Session(SessionError::UnknownRequest))
    );

    // Abandoned: the consumer leaves while its payment is outstanding.
    let r2 = client.pay(c, BOLT11).unwrap();
    let mut requested = false;
    while !requested {
        check(until, "PayRequested");
        for ev in pump(&mut server, &mut client) {
            if let DriverEvent::Session {
                event: SessionEvent::Provider(ProviderEvent::PayRequested { request, .. }),
                ..
            } = ev
            {
                assert_eq!(request, r2);
                requested = true;
            }
        }
    }
    drop(client);
    let mut abandoned = false;
    let mut later_events = Vec::new();
    while !abandoned {
        check(until, "RequestAbandoned");
        server.poll(&mut later_events, STEP).unwrap();
        for ev in later_events.drain(..) {
            if let DriverEvent::Session {
                session,
                event: SessionEvent::Provider(ProviderEvent::RequestAbandoned { request, kind }),
            } = ev
            {
                assert_eq!((session, request, kind), (p, r2, RequestKind::Pay));
                abandoned = true;
            }
        }
    }
    // The payment completed afterwards: the answer is refused (record it instead).
    assert!(server.send_preimage(p, Some(r2), &[9; 32]).is_err());
    let _ = Disconnect::ConnectionClosed(None);
}

#[test]
fn failed_dials_try_the_next_address_back_off_and_stop_on_disconnect() {
    // a port nobody listens on (bound, then closed)
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut d = driver();
    let c = d.add_consumer(&seed(31), ConsumerConfig::default());
    d.connect(c, ["not a url".to_string(), url(closed)])
        .unwrap();
    assert_eq!(
        d.connect(c, ["ws://127.0.0.1:1"]),
        Err(moneysocket_driver::ConnectError::AlreadyConnecting)
    );
    let mut events = Vec::new();
    let mut seen = Vec::new();
    let until = deadline(10);
    while seen.len() < 4 {
        check(until, "four failed dials");
        d.poll(&mut events, STEP).unwrap();
        for ev in events.drain(..) {
            if let DriverEvent::Disconnected {
                cause, retry_in, ..
            } = ev
            {
                seen.push((cause, retry_in.unwrap()));
            }
        }
    }
    // the bad URL is refused at once and the next address dialed at once; after a round of
    // failures the driver waits
    assert!(
        matches!(seen[0], (Disconnect::DialRefused(_), Duration::ZERO)),
        "{seen:?}"
    );
    assert!(
        matches!(seen[1].0, Disconnect::ConnectionClosed(Some(_))),
        "{seen:?}"
    );
    assert!(seen[1].1 > Duration::ZERO && seen[1].1 <= Duration::from_millis(250));
    assert!(
        matches!(seen[2], (Disconnect::DialRefused(_), Duration::ZERO)),
        "{seen:?}"
    );
    assert!(seen[3].1 >= Duration::from_millis(250), "{seen:?}");
    assert!(d.disconnect(c));
    assert_eq!(d.dial_state(c), None);
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(700) {
        d.poll(&mut events, STEP).unwrap();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, DriverEvent::Disconnected { .. })),
            "{events:?}"
        );
        events.clear();
    }
}

#[test]
fn job_results_and_panics_come_back_as_events() {
    let mut d = driver();
    let a = d.spawn(|| 7u32).unwrap();
    let b = d
        .spawn(|| -> u32 { panic!("payment failed hard") })
        .unwrap();
    let mut got = HashMap::new();
    let until = deadline(10);
    let mut events = Vec::new();
    while got.len() < 2 {
        check(until, "two jobs");
        d.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        for ev in events.drain(..) {
            if let DriverEvent::Job { job, result } = ev {
                got.insert(job, result);
            }
        }
    }
    assert_eq!(got.remove(&a).unwrap().unwrap().take::<u32>().unwrap(), 7);
    let panicked = got.remove(&b).unwrap().unwrap_err();
    assert_eq!(panicked.0.as_deref(), Some("payment failed hard"));
}

#[test]
fn a_zero_backoff_does_not_spin_on_refused_dials() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = DriverConfig {
            backoff: moneysocket_driver::Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
            },
            ..DriverConfig::default()
        };
        let mut d: Driver = Driver::new(config, TransportConfig::default()).unwrap();
        let c = d.add_consumer(&seed(41), ConsumerConfig::default());
        // Every address is refused by the I/O at once.
        let _ = d.connect(c, ["not a url", "neither is this"]);
        let mut events = Vec::new();
        d.poll(&mut events, Some(Duration::from_millis(1))).unwrap();
        let _ = tx.send(events.len());
    });
    let n = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("connect or poll spun forever");
    assert!(n >= 2);
}

#[test]
fn an_address_that_never_gets_the_session_ready_is_left_for_the_next() {
    // The first location is a plain websocket server that accepts and closes at once.
    let mut bad = moneysocket_ws::Transport::new(TransportConfig::default()).unwrap();
    let bad_addr = bad.listen("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let mut good = driver();
    let good_addr = listener(&mut good);
    let account = Uuid::v4_from_bytes([6; 16]);
    listening_provider(&mut good, 51, account, 777);
    let mut d = driver();
    let c = d.add_consumer(&seed(51), ConsumerConfig::default());
    d.connect(c, [url(bad_addr), url(good_addr)]).unwrap();
    let mut events = Vec::new();
    let mut bad_events = Vec::new();
    let until = deadline(10);
    loop {
        check(until, "the consumer to reach the second location");
        bad.poll(&mut bad_events, Some(Duration::from_millis(1)))
            .unwrap();
        for ev in bad_events.drain(..) {
            if let moneysocket_ws::Event::Opened { conn, .. } = ev {
                bad.close(conn);
            }
        }
        good.poll(&mut events, STEP).unwrap();
        events.clear();
        d.poll(&mut events, STEP).unwrap();
        events.clear();
        if d.host().consumer(c).is_some_and(|x| x.is_ready()) {
            break;
        }
    }
    assert_eq!(d.host().consumer(c).unwrap().balance_msats(), Some(777));
}

/// A buyer consumer and a seller provider (both with `extensions` on) exchange
/// opinion-seller messages over real websockets after the provider handshake.
#[test]
fn opinion_seller_messages_over_sockets() {
    let account = Uuid::v4_from_bytes([5; 16]);
    let mut server = driver();
    let addr = listener(&mut server);
    let pcfg = ProviderConfig {
        extensions: true,
        ..ProviderConfig::default()
    };
    let p = server.add_provider(&seed(31), pcfg, Some(account));
    server.set_provider_info(p, &info(account, 5)).unwrap();
    server.listen_session(p).unwrap();
    let mut client = driver();
    let ccfg = ConsumerConfig {
        extensions: true,
        ..ConsumerConfig::default()
    };
    let c = client.add_consumer(&seed(31), ccfg);
    client.connect(c, [url(addr)]).unwrap();
    let until = deadline(20);
    let mut sink = Vec::new();
    while !server.host().provider(p).unwrap().is_ready()
        || !client.host().consumer(c).unwrap().is_ready()
    {
        check(until, "ready");
        server.poll(&mut sink, STEP).unwrap();
        client.poll(&mut sink, STEP).unwrap();
        sink.clear();
    }

    let r1 = Uuid::v4_from_bytes([0x31; 16]);
    let ts = Timestamp::from_secs(0);
    client
        .send_extension(c, &OpinionMessage::request_opinion_seller(r1, ts))
        .unwrap();
    let mut asked = None;
    while asked.is_none() {
        check(until, "the seller hears REQUEST_OPINION_SELLER");
        client.poll(&mut sink, STEP).unwrap();
        sink.clear();
        server.poll(&mut sink, STEP).unwrap();
        for ev in sink.drain(..) {
            if let DriverEvent::Session {
                event: SessionEvent::Provider(ProviderEvent::Extension { json }),
                ..
            } = ev
            {
                asked = Some(OpinionMessage::parse(json.as_bytes()).unwrap().uuid());
            }
        }
    }
    assert_eq!(asked, Some(r1));

    let items = [OpinionItem {
        item_id: "hello".into(),
        name: "Hello World".into(),
        msats: 1_000,
    }];
    let note = OpinionMessage::notify_opinion_seller(
        Uuid::v4_from_bytes([0x32; 16]),
        Some(r1),
        ts,
        account,
        &items,
    );
    server.send_extension(p, &note).unwrap();
    let mut listed = None;
    while listed.is_none() {
        check(until, "the buyer hears NOTIFY_OPINION_SELLER");
        server.poll(&mut sink, STEP).unwrap();
        sink.clear();
        client.poll(&mut sink, STEP).unwrap();
        for ev in sink.drain(..) {
            if let DriverEvent::Session {
                event: SessionEvent::Consumer(ConsumerEvent::Extension { json }),
                ..
            } = ev
            {
                let m = OpinionMessage::parse(json.as_bytes()).unwrap();
                assert_eq!(m.reference_uuid(), Some(r1));
                if let OpinionBody::NotifyOpinionSeller { items, .. } = m.body() {
                    listed = Some(items.iter().map(|i| i.msats).collect::<Vec<_>>());
                }
            }
        }
    }
    assert_eq!(listed, Some(vec![1_000]));
}
