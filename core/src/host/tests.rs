//! The host on its own: local sessions pairing through its matchmaker, a session on a
//! connection, accepted connections relayed, deadlines, fan-out.

extern crate std;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::*;
use crate::message::Wad;
use crate::session::{ConsumerEvent, ProviderEvent, SessionError};

#[path = "../../tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng as Rng;

type Host = SessionHost<Rng, 1024>;

fn seed(n: u8) -> SharedSeed {
    SharedSeed::from_hex(&alloc::format!("{n:02x}0102030405060708090a0b0c0d0e0f")).unwrap()
}

fn info(account: Uuid, msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: account,
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

/// What a drain produced, owned.
#[derive(Debug, Default)]
struct Drained {
    frames: Vec<(ConnId, Vec<u8>)>,
    forwards: Vec<(ConnId, ConnId)>,
    closes: Vec<ConnId>,
    events: Vec<(SessionId, String)>,
}

fn drain(h: &mut Host) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = h.poll_output() {
        match o {
            HostOutput::Transmit { conn, frame } => d.frames.push((conn, frame)),
            HostOutput::Forward { from, to } => d.forwards.push((from, to)),
            HostOutput::Close { conn } => d.closes.push(conn),
            HostOutput::Event { session, event } => {
                d.events.push((session, alloc::format!("{event:?}")))
            }
        }
    }
    d
}

const BOLT11: &str = "lnbc10u1pwjqwkkpp5vlc3tttdzhpk9fwzkkue0sf2pumtza7qyw9vucxyyeh0yaqq66yq";

#[test]
fn local_consumer_and_provider_pair_and_trade() {
    let mut h = Host::new(HostConfig::default(), Rng(1));
    let account = Uuid::v4_from_bytes([9; 16]);
    let now = Instant(1_000);
    let p = h.add_provider(&seed(1), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info(account, 5_000), now).unwrap();
    let c = h.add_consumer(&seed(1), ConsumerConfig::default());
    h.listen(p, now).unwrap();
    h.listen(c, now).unwrap();
    let d = drain(&mut h);
    assert!(d.frames.is_empty(), "local pairs send nothing out: {d:?}");
    assert!(h.consumer(c).unwrap().is_ready(), "{:?}", d.events);
    assert_eq!(h.consumer(c).unwrap().balance_msats(), Some(5_000));

    let req = h.request_invoice(c, 1_234, now).unwrap();
    let d = drain(&mut h);
    let asked = d
        .events
        .iter()
        .find(|(s, e)| *s == p && e.contains("InvoiceRequested"))
        .expect("provider saw the request");
    assert!(asked.1.contains("1234"));
    h.send_invoice(p, req, BOLT11, now).unwrap();
    assert_eq!(
        h.send_invoice(p, req, BOLT11, now),
        Err(HostError::Session(SessionError::UnknownRequest))
    );
    let d = drain(&mut h);
    assert!(d
        .events
        .iter()
        .any(|(s, e)| *s == c && e.contains("Invoice") && e.contains(BOLT11)));

    // Fan-out: a balance change reaches the consumer.
    assert_eq!(h.set_account_info(&account, &info(account, 7_000), now), 1);
    let _ = drain(&mut h);
    assert_eq!(h.consumer(c).unwrap().balance_msats(), Some(7_000));
    assert_eq!(h.account_sessions(&account).count(), 1);
}

#[test]
fn remote_consumer_meets_listening_provider_and_it_waits_again() {
    let mut server = Host::new(HostConfig::default(), Rng(2));
    let mut client = Host::new(HostConfig::default(), Rng(3));
    let account = Uuid::v4_from_bytes([3; 16]);
    let now = Instant(0);
    // Two listening providers; the consumer must reach the one with its seed.
    let p1 = server.add_provider(&seed(1), ProviderConfig::default(), Some(account));
    let p2 = server.add_provider(&seed(2), ProviderConfig::default(), Some(account));
    for p in [p1, p2] {
        server
            .set_provider_info(p, &info(account, 42), now)
            .unwrap();
        server.listen(p, now).unwrap();
    }
    let _ = drain(&mut server);
    let c = client.add_consumer(&seed(2), ConsumerConfig::default());
    let conn = ConnId(7);
    client.attach(c, conn, false, now).unwrap();
    client.handle_input(HostInput::Opened(conn), now);
    server.handle_input(HostInput::Opened(conn), now);
    // Shuttle until quiet.
    for _ in 0..10 {
        let dc = drain(&mut client);
        for (to, f) in dc.frames {
            assert_eq!(to, conn);
            server.handle_input(HostInput::Frame(conn, &f), now);
        }
        let ds = drain(&mut server);
        assert!(ds.events.iter().all(|(s, _)| *s != p1), "{:?}", ds.events);
        for (to, f) in ds.frames {
            assert_eq!(to, conn);
            client.handle_input(HostInput::Frame(conn, &f), now);
        }
    }
    assert!(client.consumer(c).unwrap().is_ready());
    assert!(server.provider(p2).unwrap().is_ready());
    assert!(!server.provider(p1).unwrap().is_ready());
    // The consumer leaves: p2 is told, and waits for the next one.
    server.handle_input(HostInput::Closed(conn), now);
    let ds = drain(&mut server);
    assert!(
        ds.events
            .iter()
            .any(|(s, e)| *s == p2 && e.contains("PeerGone")),
        "{:?}",
        ds.events
    );
    // It waits again from the next input on (the host asks for one at once).
    assert_eq!(server.poll_timeout(), Some(now));
    server.handle_input(HostInput::Timeout, now);
    let _ = drain(&mut server);
    assert_eq!(
        server.provider(p2).unwrap().link_state(),
        crate::session::LinkState::Rendezvous
    );
    assert_eq!(server.matchmaker_stats().waiting, 2);
}

#[test]
fn accepted_connections_are_relayed_without_copies() {
    let mut relay = Host::new(HostConfig::default(), Rng(4));
    let now = Instant(0);
    let (a, b) = (ConnId(1), ConnId(2));
    relay.handle_input(HostInput::Opened(a), now);
    relay.handle_input(HostInput::Opened(b), now);
    let rid = crate::message::Hex256::from_bytes(&seed(5).v0_rendezvous_id().0);
    for (n, conn) in [a, b].into_iter().enumerate() {
        let msg = crate::message::Message::request_rendezvous(
            Uuid::v4_from_bytes([n as u8; 16]),
            crate::message::Timestamp::from_secs(1),
            rid.clone(),
        );
        relay.handle_input(HostInput::Frame(conn, msg.to_json_string().as_bytes()), now);
        let _ = drain(&mut relay);
    }
    relay.handle_input(HostInput::Frame(a, &[0x55; 48]), now);
    let d = drain(&mut relay);
    assert_eq!(d.forwards, [(a, b)]);
    relay.handle_input(HostInput::Closed(a), now);
    let d = drain(&mut relay);
    assert_eq!(d.closes, [b]);
    assert!(d
        .frames
        .iter()
        .any(|(c, f)| *c == b && String::from_utf8_lossy(f).contains("NOTIFY_RENDEZVOUS_END")));
}

#[test]
fn deadlines_come_from_every_session_and_stale_handles_are_refused() {
    let mut h = Host::new(HostConfig::default(), Rng(5));
    let now = Instant(0);
    let cfg = ConsumerConfig {
        rendezvous_timeout: Some(core::time::Duration::from_secs(3)),
        ..ConsumerConfig::default()
    };
    let c = h.add_consumer(&seed(1), cfg);
    h.attach(c, ConnId(1), true, now).unwrap();
    let d = drain(&mut h);
    assert_eq!(d.frames.len(), 1);
    assert_eq!(h.poll_timeout(), Some(Instant(3_000)));
    h.handle_input(HostInput::Timeout, Instant(3_000));
    let d = drain(&mut h);
    assert_eq!(d.closes, [ConnId(1)]);
    assert!(d.events[0].1.contains("RendezvousTimeout"));
    assert_eq!(h.poll_timeout(), None);
    h.remove(c, now).unwrap();
    assert_eq!(h.pay(c, BOLT11, now), Err(HostError::UnknownSession));
    let _ = drain(&mut h);
    let c2 = h.add_consumer(&seed(1), ConsumerConfig::default());
    assert_ne!(c, c2);
    assert_eq!(h.request_invoice(c, 1, now), Err(HostError::UnknownSession));
    assert_eq!(c2.to_string(), "s0.1");
}

#[test]
fn provider_requests_are_abandoned_on_close() {
    let mut h = Host::new(HostConfig::default(), Rng(6));
    let account = Uuid::v4_from_bytes([1; 16]);
    let now = Instant(0);
    let p = h.add_provider(&seed(1), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info(account, 1), now).unwrap();
    let c = h.add_consumer(&seed(1), ConsumerConfig::default());
    h.listen(p, now).unwrap();
    h.listen(c, now).unwrap();
    let _ = drain(&mut h);
    let r = h.pay(c, BOLT11, now).unwrap();
    let d = drain(&mut h);
    // An answer to something never asked is refused.
    let stranger = Uuid::v4_from_bytes([0x77; 16]);
    assert_eq!(
        h.send_preimage(p, Some(stranger), &[0; 32], now),
        Err(HostError::Session(SessionError::UnknownRequest))
    );
    assert!(d
        .events
        .iter()
        .any(|(s, e)| *s == p && e.contains("PayRequested") && e.contains(BOLT11)));
    h.close(c, now).unwrap();
    let d = drain(&mut h);
    let abandoned = alloc::format!(
        "{:?}",
        ProviderEvent::<&str>::RequestAbandoned {
            request: r,
            kind: crate::session::RequestKind::Pay
        }
    );
    assert!(
        d.events
            .iter()
            .any(|(s, e)| *s == p && *e == alloc::format!("Provider({abandoned})")),
        "{:?}",
        d.events
    );
    // The provider waits for its next consumer: nothing can be answered now.
    h.handle_input(HostInput::Timeout, now);
    let _ = drain(&mut h);
    assert_eq!(
        h.send_preimage(p, Some(r), &[0; 32], now),
        Err(HostError::Session(SessionError::NotReady))
    );
}

/// `cargo test -p moneysocket-core --lib host::tests::sizes -- --nocapture` prints them; the
/// bound keeps an idle session's inline part from growing unnoticed.
#[test]
fn sizes() {
    assert!(core::mem::size_of::<Entry>() <= 2048);
    std::println!(
        "consumer {} provider {} entry {}",
        core::mem::size_of::<HostedConsumer>(),
        core::mem::size_of::<HostedProvider>(),
        core::mem::size_of::<Entry>()
    );
}

#[test]
fn a_custom_wad_reaches_the_consumer_intact() {
    use crate::json::Num;
    use crate::message::Text;
    let mut h = Host::new(HostConfig::default(), Rng(8));
    let account = Uuid::v4_from_bytes([2; 16]);
    let now = Instant(0);
    let wad = Wad {
        msats: 123_456,
        asset_stable: true,
        asset_units: Num::U64(12),
        code: Text::Plain("USD"),
        countries: Some(Text::Plain("US")),
        decimals: Some(2),
        iso_num: Some(Num::U64(840)),
        name: Some(Text::Plain("US Dollar")),
        symbol: Some(Text::Plain("$")),
    };
    let info = ProviderInfo {
        account_uuid: account,
        payer: false,
        payee: true,
        wad: Some(wad),
    };
    let p = h.add_provider(&seed(3), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info, now).unwrap();
    let c = h.add_consumer(&seed(3), ConsumerConfig::default());
    h.listen(p, now).unwrap();
    h.listen(c, now).unwrap();
    let mut seen = None;
    while let Some(o) = h.poll_output() {
        if let HostOutput::Event {
            event: SessionEvent::Consumer(ConsumerEvent::Provider(u)),
            ..
        } = o
        {
            let w = u.wad().unwrap();
            seen = Some((
                u.account_uuid,
                u.payer,
                u.msats,
                w.code.to_string(),
                w.symbol.map(|s| s.to_string()),
            ));
        }
    }
    assert_eq!(
        seen,
        Some((
            account,
            false,
            Some(123_456),
            "USD".into(),
            Some("$".into())
        ))
    );
}

// Regression tests for review findings (each failed before its fix).

#[derive(Debug, Default)]
struct DrainedN {
    frames: Vec<(ConnId, Vec<u8>)>,
    closes: Vec<ConnId>,
    events: Vec<(SessionId, String)>,
}
fn drain_n<const C: usize>(h: &mut SessionHost<Rng, C>, limit: usize) -> (DrainedN, bool) {
    let mut d = DrainedN::default();
    let mut n = 0;
    while let Some(o) = h.poll_output() {
        n += 1;
        if n > limit {
            return (d, false);
        }
        match o {
            HostOutput::Transmit { conn, frame } => d.frames.push((conn, frame)),
            HostOutput::Close { conn } => d.closes.push(conn),
            HostOutput::Event { session, event } => {
                d.events.push((session, alloc::format!("{event:?}")))
            }
            _ => {}
        }
    }
    (d, true)
}

#[test]
fn two_listening_consumers_of_one_seed_do_not_loop() {
    let mut h: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(1));
    let now = Instant(0);
    let a = h.add_consumer(&seed(1), ConsumerConfig::default());
    let b = h.add_consumer(&seed(1), ConsumerConfig::default());
    h.listen(a, now).unwrap();
    h.listen(b, now).unwrap();
    let (d, finished) = drain_n(&mut h, 100_000);
    assert!(
        finished,
        "poll_output never returned None: {:?}",
        &d.events[..d.events.len().min(12)]
    );
    // One of them met a consumer and stopped listening; the other waits again.
    assert_eq!(h.stats().listen_stopped, 1);
    h.handle_input(HostInput::Timeout, now);
    let (_, finished) = drain_n(&mut h, 100_000);
    assert!(finished);
    assert_eq!(h.matchmaker_stats().waiting, 1);
}

#[test]
fn a_full_matchmaker_refuses_listen() {
    let mut h: SessionHost<Rng, 2> = SessionHost::new(HostConfig::default(), Rng(1));
    let now = Instant(0);
    let s: Vec<_> = (1..=3)
        .map(|i| h.add_provider(&seed(i), ProviderConfig::default(), None))
        .collect();
    h.listen(s[0], now).unwrap();
    h.listen(s[1], now).unwrap();
    assert_eq!(h.listen(s[2], now), Err(HostError::MatchmakerFull));
    let _ = drain_n(&mut h, 1000);
    let p = h.provider(s[2]).unwrap();
    assert_eq!(
        p.link_state(),
        crate::session::LinkState::Idle,
        "the refused session was opened anyway"
    );
    assert_eq!(h.stats().listen_refused, 1);
}

#[test]
fn close_after_peer_gone_stops_rejoining() {
    let mut h: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(1));
    let now = Instant(0);
    let p = h.add_provider(&seed(1), ProviderConfig::default(), None);
    h.listen(p, now).unwrap();
    let _ = drain_n(&mut h, 1000);
    // remote consumer pairs then leaves
    let conn = ConnId(5);
    let mut client: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(9));
    let c = client.add_consumer(&seed(1), ConsumerConfig::default());
    client.attach(c, conn, true, now).unwrap();
    h.handle_input(HostInput::Opened(conn), now);
    for _ in 0..5 {
        let (dc, _) = drain_n(&mut client, 1000);
        for (_, f) in dc.frames {
            h.handle_input(HostInput::Frame(conn, &f), now);
        }
        let (ds, _) = drain_n(&mut h, 1000);
        for (_, f) in ds.frames {
            client.handle_input(HostInput::Frame(conn, &f), now);
        }
    }
    assert!(h.provider(p).unwrap().link_state() == crate::session::LinkState::Paired);
    h.handle_input(HostInput::Closed(conn), now);
    // take events one at a time; on Closed, the app closes the session
    let mut closed_seen = false;
    while let Some(o) = h.poll_output() {
        if let HostOutput::Event { event, .. } = o {
            if event.closed().is_some() {
                closed_seen = true;
                break;
            }
        }
    }
    assert!(closed_seen);
    h.close(p, now).unwrap();
    let (d, _) = drain_n(&mut h, 1000);
    let _ = d;
    h.handle_input(HostInput::Timeout, now);
    let _ = drain_n(&mut h, 1000);
    assert_ne!(
        h.provider(p).unwrap().link_state(),
        crate::session::LinkState::Rendezvous,
        "closed session re-joined the matchmaker"
    );
}

#[test]
fn an_answer_queued_before_close_still_goes_out() {
    let mut h: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(1));
    let now = Instant(0);
    let account = Uuid::v4_from_bytes([9; 16]);
    let p = h.add_provider(&seed(1), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info(account, 5_000), now).unwrap();
    let conn = ConnId(5);
    let mut client: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(9));
    let c = client.add_consumer(&seed(1), ConsumerConfig::default());
    let pc = ConnId(6);
    // provider attached to conn pc, consumer to conn; a relay in between = direct shuttle
    h.attach(p, pc, true, now).unwrap();
    client.attach(c, conn, true, now).unwrap();
    let mut relay: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(3));
    relay.handle_input(HostInput::Opened(pc), now);
    relay.handle_input(HostInput::Opened(conn), now);
    let shuttle = |h: &mut SessionHost<Rng, 64>,
                   client: &mut SessionHost<Rng, 64>,
                   relay: &mut SessionHost<Rng, 64>| {
        let mut got = Vec::new();
        for _ in 0..6 {
            let (a, _) = drain_n(h, 1000);
            got.extend(a.events.clone());
            for (_, f) in a.frames {
                relay.handle_input(HostInput::Frame(pc, &f), now);
                flush_relay(relay, h, client, &f, now);
            }
            let (b, _) = drain_n(client, 1000);
            got.extend(b.events.clone());
            for (_, f) in b.frames {
                relay.handle_input(HostInput::Frame(conn, &f), now);
                flush_relay(relay, h, client, &f, now);
            }
        }
        got
    };
    fn flush_relay(
        relay: &mut SessionHost<Rng, 64>,
        h: &mut SessionHost<Rng, 64>,
        client: &mut SessionHost<Rng, 64>,
        last: &[u8],
        now: Instant,
    ) {
        let mut outs = Vec::new();
        while let Some(o) = relay.poll_output() {
            match o {
                HostOutput::Transmit { conn, frame } => outs.push((conn, frame)),
                HostOutput::Forward { to, .. } => outs.push((to, last.to_vec())),
                _ => {}
            }
        }
        for (to, f) in outs {
            if to == ConnId(6) {
                h.handle_input(HostInput::Frame(to, &f), now)
            } else {
                client.handle_input(HostInput::Frame(to, &f), now)
            }
        }
    }
    let _ = shuttle(&mut h, &mut client, &mut relay);
    assert!(client.consumer(c).unwrap().is_ready());
    let req = client.pay(c, BOLT11, now).unwrap();
    let _ = shuttle(&mut h, &mut client, &mut relay);
    assert_eq!(h.provider(p).unwrap().outstanding_requests(), 1);
    h.send_preimage(p, Some(req), &[7; 32], now).unwrap();
    h.close(p, now).unwrap();
    let (d, _) = drain_n(&mut h, 1000);
    assert_eq!(
        d.frames.len(),
        1,
        "the NOTIFY_PREIMAGE answer was never transmitted"
    );
    assert_eq!(d.closes, [pc], "the connection closes after the answer");
    assert!(d.events.iter().any(|(_, e)| e.contains("Local")));
}

#[test]
fn remove_reports_abandoned_requests_and_closed() {
    let mut h = Host::new(HostConfig::default(), Rng(6));
    let account = Uuid::v4_from_bytes([1; 16]);
    let now = Instant(0);
    let p = h.add_provider(&seed(1), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info(account, 1), now).unwrap();
    let c = h.add_consumer(&seed(1), ConsumerConfig::default());
    h.listen(p, now).unwrap();
    h.listen(c, now).unwrap();
    let _ = drain(&mut h);
    let r = h.pay(c, BOLT11, now).unwrap();
    let _ = drain(&mut h);
    h.remove(p, now).unwrap();
    assert_eq!(
        h.send_preimage(p, Some(r), &[0; 32], now),
        Err(HostError::UnknownSession)
    );
    let d = drain(&mut h);
    assert!(
        d.events
            .iter()
            .any(|(s, e)| *s == p && e.contains("RequestAbandoned")),
        "{:?}",
        d.events
    );
    assert!(
        d.events
            .iter()
            .any(|(s, e)| *s == p && e.contains("Closed(Local)")),
        "{:?}",
        d.events
    );
    assert_eq!(h.stats().sessions, 1);
    assert_eq!(h.account_sessions(&account).count(), 0);
}

/// Shuttles frames between a client host and a server host on one connection until quiet;
/// returns every frame the client sent and every event of both.
fn shuttle(
    client: &mut Host,
    server: &mut Host,
    conn: ConnId,
    now: Instant,
) -> (Vec<Vec<u8>>, Vec<(SessionId, String)>) {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    for _ in 0..10 {
        let dc = drain(client);
        events.extend(dc.events);
        for (_, f) in dc.frames {
            server.handle_input(HostInput::Frame(conn, &f), now);
            sent.push(f);
        }
        let ds = drain(server);
        events.extend(ds.events);
        for (_, f) in ds.frames {
            client.handle_input(HostInput::Frame(conn, &f), now);
        }
    }
    (sent, events)
}

#[test]
fn a_pay_request_replayed_after_a_reconnect_is_refused() {
    let mut server = Host::new(HostConfig::default(), Rng(11));
    let mut client = Host::new(HostConfig::default(), Rng(12));
    let account = Uuid::v4_from_bytes([4; 16]);
    let now = Instant(0);
    let p = server.add_provider(&seed(4), ProviderConfig::default(), Some(account));
    server.set_provider_info(p, &info(account, 9), now).unwrap();
    server.listen(p, now).unwrap();
    let c = client.add_consumer(&seed(4), ConsumerConfig::default());
    let (c1, c2) = (ConnId(1), ConnId(2));
    client.attach(c, c1, false, now).unwrap();
    client.handle_input(HostInput::Opened(c1), now);
    server.handle_input(HostInput::Opened(c1), now);
    let _ = shuttle(&mut client, &mut server, c1, now);
    let r = client.pay(c, BOLT11, now).unwrap();
    let (sent, events) = shuttle(&mut client, &mut server, c1, now);
    assert!(events
        .iter()
        .any(|(s, e)| *s == p && e.contains("PayRequested")));
    let captured = sent.last().unwrap().clone();
    // The consumer's connection drops; it comes back on another one.
    client.handle_input(HostInput::Closed(c1), now);
    server.handle_input(HostInput::Closed(c1), now);
    let _ = drain(&mut client);
    server.handle_input(HostInput::Timeout, now);
    let _ = drain(&mut server);
    client.attach(c, c2, false, now).unwrap();
    client.handle_input(HostInput::Opened(c2), now);
    server.handle_input(HostInput::Opened(c2), now);
    let _ = shuttle(&mut client, &mut server, c2, now);
    assert!(server.provider(p).unwrap().is_ready());
    // A relay that kept the old REQUEST_PAY frame plays it again.
    server.handle_input(HostInput::Frame(c2, &captured), now);
    let d = drain(&mut server);
    assert!(
        !d.events.iter().any(|(_, e)| e.contains("PayRequested")),
        "replayed pay surfaced again: {:?}",
        d.events
    );
    assert!(
        d.events.iter().any(|(_, e)| e.contains("Replayed")),
        "{:?}",
        d.events
    );
    let _ = r;
}

#[test]
fn sessions_take_the_hosts_frame_cap() {
    let mut h = Host::new(
        HostConfig {
            max_frame: 4096,
            ..HostConfig::default()
        },
        Rng(13),
    );
    let account = Uuid::v4_from_bytes([5; 16]);
    let now = Instant(0);
    let p = h.add_provider(&seed(5), ProviderConfig::default(), Some(account));
    h.set_provider_info(p, &info(account, 9), now).unwrap();
    let c = h.add_consumer(&seed(5), ConsumerConfig::default());
    h.listen(p, now).unwrap();
    h.listen(c, now).unwrap();
    let _ = drain(&mut h);
    // An invoice longer than the host's frames is refused at the call, not lost at seal.
    let long = alloc::format!("lnbc{}", "q".repeat(5000));
    assert_eq!(
        h.pay(c, &long, now),
        Err(HostError::Session(SessionError::TooLarge))
    );
}
