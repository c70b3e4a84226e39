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
