//! Every session scenario, run in the deterministic simulated world of `support/world.rs`
//! (session hosts: a relay, endpoint hosts, a simulated clock and network).

use std::time::Duration;

use moneysocket_core::frame::FrameError;
use moneysocket_core::host::{HostConfig, HostError, HostInput};
use moneysocket_core::matchmaker::MatchmakerConfig;
use moneysocket_core::message::opinion::{
    OpinionBody, OpinionError, OpinionItem, OpinionKind, OpinionMessage,
};
use moneysocket_core::message::{MessageError, MessageKind, ProviderInfo, Timestamp, Wad};
use moneysocket_core::session::{
    CloseReason, ConsumerConfig, FrameRefusal, LinkState, ProviderConfig, RequestFailure,
    RequestKind, SessionError,
};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;

#[path = "support/test_rng.rs"]
mod test_rng;
#[path = "support/world.rs"]
mod world;

use world::{seed, Ev, World, CLIENT, RELAY, S};

fn info(msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: Uuid::v4_from_bytes([0x42; 16]),
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

const BOLT11: &str = "lnbc10u1pwjqwkkpp5vlc3tttdzhpk9fwzkkue0sf2pumtza7qyw9vucxyyeh0yaqq66yqdq5f38z6anwvdhkjmmnxcqzysxqrrsssp5m6kmam774klwlh4dhmhaatd7al02m0h0m6kmam774klwlh4dhmhs9qypqqqcqpf3cwux5979a8j28d4ydwahx00saa68wq3az7v9jdgzkghtxnkf3z5t7q5suyq2dl9tqwsap8j0wptc82cpyvey9gf6zyylzrm60qtcqsq7egtsq";

fn refused(e: SessionError) -> Result<Uuid, HostError> {
    Err(HostError::Session(e))
}

fn refused_answer(e: SessionError) -> Result<(), HostError> {
    Err(HostError::Session(e))
}

/// A consumer and a ready provider with these configs, paired and past the handshake.
fn ready_pair_with(seed_n: u8, cc: ConsumerConfig, pc: ProviderConfig) -> (World, S, S) {
    let mut w = World::new();
    let s = seed(seed_n);
    let p = w.add_provider(CLIENT, &s, pc, Some(&info(50_000_000)));
    let c = w.add_consumer(CLIENT, &s, cc);
    w.connect(p).unwrap();
    w.connect(c).unwrap();
    assert!(w.c(c).is_ready(), "consumer not ready: {:?}", w.events(c));
    assert!(w.p(p).is_ready());
    w.events(c);
    w.events(p);
    (w, c, p)
}

fn ready_pair(seed_n: u8) -> (World, S, S) {
    ready_pair_with(seed_n, ConsumerConfig::default(), ProviderConfig::default())
}

fn closed_reasons(events: &[Ev]) -> Vec<CloseReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Closed(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// Seals `text` with the seed's key, as a peer would.
fn seal_for(seed_n: u8, text: &str) -> Vec<u8> {
    let key = seed(seed_n).v0_aes_key();
    let mut out = vec![0u8; moneysocket_core::frame::sealed_len(text.len())];
    moneysocket_core::frame::seal(&key, [5; 16], text.as_bytes(), &mut out)
        .unwrap()
        .to_vec()
}

/// A hand-made peer for consumer `c` (seed `seed_n`): the relay pairs it, a provider answers
/// the handshake, and then stays silent (its pings reach nobody).
fn fake_silent_provider(w: &mut World, c: S, seed_n: u8) {
    let rid = w.c(c).rendezvous_id();
    let paired = format!(
        r#"{{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11", "request_reference_uuid": null, "notification_name": "NOTIFY_RENDEZVOUS", "rendezvous_id": "{rid}"}}"#
    );
    w.inject(c, paired.as_bytes());
    let provider = r#"{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a12", "request_reference_uuid": null, "notification_name": "NOTIFY_PROVIDER", "account_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a13", "payer": true, "payee": false, "wad": null}"#;
    w.inject(c, &seal_for(seed_n, provider));
}

#[test]
fn happy_path() {
    let mut w = World::new();
    let s = seed(1);
    let p = w.provider(&s, Some(&info(50_000_000)));
    let c = w.consumer(&s);
    w.connect(p).unwrap();
    assert_eq!(w.events(p), vec![Ev::WaitingForPeer]);
    w.connect(c).unwrap();
    let ev = w.events(c);
    assert!(matches!(ev[0], Ev::Paired), "{ev:?}");
    let Ev::Provider(update) = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(update.msats, Some(50_000_000));
    assert_eq!(update.account_uuid, Uuid::v4_from_bytes([0x42; 16]));
    assert!(update.payer && update.payee);
    assert_eq!(update.wad().unwrap().code.as_str(), Some("BTC"));
    // The first keepalive ping goes out right after the handshake and is answered.
    assert!(matches!(ev[2], Ev::Pong { .. }), "{ev:?}");
    assert_eq!(w.events(p), vec![Ev::Paired, Ev::ConsumerReady]);

    // Invoice.
    let req = w.request_invoice(c, 1_000).unwrap();
    assert_eq!(
        w.events(p),
        vec![Ev::InvoiceRequested {
            request: req,
            msats: 1_000
        }]
    );
    w.send_invoice(p, req, BOLT11).unwrap();
    let ev = w.events(c);
    assert!(
        matches!(&ev[..], [Ev::Invoice { request, bolt11 }] if *request == req && bolt11 == BOLT11),
        "{ev:?}"
    );

    // Pay, answered with a preimage and a balance update.
    let pay = w.pay(c, BOLT11).unwrap();
    let ev = w.events(p);
    assert!(
        matches!(&ev[..], [Ev::PayRequested { request, bolt11 }] if *request == pay && bolt11 == BOLT11),
        "{ev:?}"
    );
    w.send_preimage(p, Some(pay), &[0xab; 32]).unwrap();
    w.set_info(p, &info(49_000_000)).unwrap();
    let ev = w.events(c);
    assert_eq!(
        ev[0],
        Ev::Preimage {
            request: Some(pay),
            preimage: [0xab; 32]
        }
    );
    assert!(
        matches!(&ev[1], Ev::Provider(u) if u.msats == Some(49_000_000) && u.reference.is_none()),
        "{ev:?}"
    );
    assert_eq!(w.c(c).balance_msats(), Some(49_000_000));

    // An invoice of ours was paid: unsolicited preimage, then the new balance.
    w.send_preimage(p, None, &[0xcd; 32]).unwrap();
    w.set_info(p, &info(50_000_000)).unwrap();
    let ev = w.events(c);
    assert_eq!(
        ev[0],
        Ev::Preimage {
            request: None,
            preimage: [0xcd; 32]
        }
    );
    assert!(matches!(&ev[1], Ev::Provider(u) if u.msats == Some(50_000_000)));

    // An error answer to a request, and keepalive keeps the link up for minutes.
    let req = w.request_invoice(c, 5).unwrap();
    w.events(p);
    w.send_error(p, Some(req), "account cap exceeded").unwrap();
    assert_eq!(
        w.events(c),
        vec![Ev::Error {
            request: Some(req),
            message: "account cap exceeded".into()
        }]
    );
    w.advance(300);
    let ev = w.events(c);
    assert!(ev.len() >= 50, "{}", ev.len());
    assert!(ev.iter().all(|e| matches!(e, Ev::Pong { .. })), "{ev:?}");
    assert!(w.events(p).is_empty());
    assert_eq!(w.p(p).stats().output_overflow, 0);
    assert_eq!(w.c(c).stats().output_overflow, 0);
}

#[test]
fn app_calls_are_checked() {
    let (mut w, c, p) = ready_pair(2);
    assert_eq!(
        w.request_invoice(c, 0),
        refused(SessionError::InvalidAmount)
    );
    assert_eq!(w.pay(c, "lntb1xyz"), refused(SessionError::NotBolt11));
    assert_eq!(
        w.send_invoice(p, Uuid::v4_from_bytes([1; 16]), "nope"),
        refused_answer(SessionError::NotBolt11)
    );
    // Too many outstanding requests.
    for _ in 0..8 {
        w.request_invoice(c, 1).unwrap();
    }
    assert_eq!(
        w.request_invoice(c, 1),
        refused(SessionError::TooManyPending)
    );
    let fresh = w.consumer(&seed(2));
    assert_eq!(w.request_invoice(fresh, 1), refused(SessionError::NotReady));
    w.close(fresh).unwrap();
    assert_eq!(w.events(fresh), vec![Ev::Closed(CloseReason::Local)]);
    assert_eq!(w.request_invoice(fresh, 1), refused(SessionError::Closed));
    // A wad Python would reject never reaches the wire.
    let mut bad = info(1);
    let mut wad = Wad::bitcoin(1);
    wad.decimals = Some(11);
    bad.wad = Some(wad);
    assert_eq!(
        w.set_info(p, &bad),
        refused_answer(SessionError::InvalidProviderInfo)
    );
    // Calls for the other role.
    assert_eq!(w.pay(p, BOLT11), Err(HostError::WrongRole));
    assert_eq!(w.set_info(c, &info(1)), Err(HostError::WrongRole));
}

#[test]
fn provider_not_ready_then_ready() {
    let mut w = World::new();
    let s = seed(3);
    let p = w.provider(&s, None);
    let c = w.consumer(&s);
    w.connect(p).unwrap();
    w.connect(c).unwrap();
    assert_eq!(w.events(c), vec![Ev::Paired, Ev::ProviderNotReady]);
    assert_eq!(
        w.events(p),
        vec![Ev::WaitingForPeer, Ev::Paired, Ev::InfoRequested]
    );
    // The consumer keeps asking.
    w.advance(11);
    assert_eq!(
        w.events(c),
        vec![Ev::ProviderNotReady, Ev::ProviderNotReady]
    );
    assert!(w.events(p).is_empty());
    assert!(!w.c(c).is_ready());
    w.set_info(p, &info(7_000)).unwrap();
    assert_eq!(w.events(p), vec![Ev::ConsumerReady]);
    let ev = w.events(c);
    assert!(
        matches!(&ev[0], Ev::Provider(u) if u.msats == Some(7_000) && u.reference.is_some()),
        "{ev:?}"
    );
    assert!(w.c(c).is_ready());
}

#[test]
fn ping_timeout_closes() {
    let (mut w, c, p) = ready_pair(4);
    // The provider's frames stop arriving (a half-dead link).
    w.blackhole(p);
    let req = w.request_invoice(c, 1_000).unwrap();
    w.advance(30);
    let ev = w.events(c);
    assert_eq!(closed_reasons(&ev), vec![CloseReason::PongTimeout]);
    assert!(ev.contains(&Ev::RequestFailed {
        request: req,
        kind: RequestKind::Invoice,
        reason: RequestFailure::LinkClosed
    }));
    // The relay saw the consumer go and told the provider, which abandons the request.
    let ev = w.events(p);
    assert!(ev.contains(&Ev::RequestAbandoned {
        request: req,
        kind: RequestKind::Invoice
    }));
    assert_eq!(ev.last(), Some(&Ev::Closed(CloseReason::PeerGone)));
}

#[test]
fn request_timeout_errors() {
    // The provider waits longer than the consumer, so its late answer reaches the consumer.
    let pc = ProviderConfig {
        request_timeout: Duration::from_secs(300),
        ..ProviderConfig::default()
    };
    let (mut w, c, p) = ready_pair_with(5, ConsumerConfig::default(), pc);
    let req = w.pay(c, BOLT11).unwrap();
    assert_eq!(w.events(p).len(), 1);
    w.advance(119);
    assert!(w.events(c).iter().all(|e| matches!(e, Ev::Pong { .. })));
    w.advance(2);
    let ev = w.events(c);
    assert!(
        ev.contains(&Ev::RequestFailed {
            request: req,
            kind: RequestKind::Pay,
            reason: RequestFailure::TimedOut
        }),
        "{ev:?}"
    );
    // A late answer is ignored, the link stays up.
    w.send_preimage(p, Some(req), &[1; 32]).unwrap();
    assert!(w.events(c).is_empty());
    assert_eq!(w.c(c).stats().ignored_answers, 1);
    assert!(w.c(c).is_ready());
}

#[test]
fn peer_closes_mid_request() {
    let (mut w, c, p) = ready_pair(6);
    let req = w.pay(c, BOLT11).unwrap();
    w.drop_socket(p);
    assert_eq!(
        w.events(c),
        vec![
            Ev::RequestFailed {
                request: req,
                kind: RequestKind::Pay,
                reason: RequestFailure::LinkClosed
            },
            Ev::Closed(CloseReason::PeerGone)
        ]
    );
    let ev = w.events(p);
    assert_eq!(
        ev,
        vec![
            Ev::PayRequested {
                request: req,
                bolt11: BOLT11.into()
            },
            Ev::RequestAbandoned {
                request: req,
                kind: RequestKind::Pay
            },
            Ev::Closed(CloseReason::TransportClosed)
        ]
    );
    let st = w.relay_stats();
    assert_eq!(st.pairs, 0);
    assert_eq!((st.waiting, st.unregistered), (0, 0));
}

#[test]
fn third_party_on_a_paired_id_is_refused_and_the_pair_keeps_working() {
    let (mut w, c, p) = ready_pair(7);
    let intruder = w.consumer(&seed(7));
    w.connect(intruder).unwrap();
    assert_eq!(
        w.events(intruder),
        vec![Ev::Closed(CloseReason::RendezvousRefused)]
    );
    assert_eq!(w.relay_stats().refused_already_paired, 1);
    assert!(w.events(c).is_empty());
    assert!(w.events(p).is_empty());
    let req = w.request_invoice(c, 9).unwrap();
    assert_eq!(
        w.events(p),
        vec![Ev::InvoiceRequested {
            request: req,
            msats: 9
        }]
    );
}

#[test]
fn unpaired_expiry() {
    let mut w = World::with_relay(HostConfig {
        matchmaker: MatchmakerConfig {
            unpaired_timeout: Duration::from_secs(60),
            unix_offset_ms: 0,
        },
        ..HostConfig::default()
    });
    let c = w.consumer(&seed(8));
    w.connect(c).unwrap();
    assert_eq!(w.events(c), vec![Ev::WaitingForPeer]);
    assert_eq!(w.next_deadline(), Some(Instant(60_000)));
    w.advance(59);
    assert!(w.events(c).is_empty());
    w.advance(2);
    assert_eq!(w.events(c), vec![Ev::Closed(CloseReason::TransportClosed)]);
    assert_eq!(w.relay_stats().expired_unpaired, 1);
}

#[test]
fn reconnect_with_the_same_beacon() {
    let (mut w, c, p) = ready_pair(9);
    w.drop_socket(c);
    assert_eq!(w.events(p), vec![Ev::Closed(CloseReason::PeerGone)]);
    assert_eq!(w.events(c), vec![Ev::Closed(CloseReason::TransportClosed)]);
    // Both dial again with the same sessions (same seed).
    w.connect(c).unwrap();
    w.connect(p).unwrap();
    let ev = w.events(c);
    assert!(
        matches!(&ev[..3], [Ev::WaitingForPeer, Ev::Paired, Ev::Provider(_)]),
        "{ev:?}"
    );
    assert!(w.c(c).is_ready() && w.p(p).is_ready());
    let req = w.request_invoice(c, 3).unwrap();
    assert_eq!(
        w.events(p).last(),
        Some(&Ev::InvoiceRequested {
            request: req,
            msats: 3
        })
    );
    assert_eq!(w.relay_stats().pairs_formed, 2);
}

#[test]
fn relay_injected_cleartext_pay_is_refused() {
    let (mut w, _c, p) = ready_pair(10);
    let pay = br#"{"timestamp": 1612345678.1, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "35cefcb2-cab0-4cca-9655-3e110b736efa", "request_name": "REQUEST_PAY", "bolt11": "lnbc1fake"}"#;
    w.inject(p, pay);
    assert_eq!(
        w.events(p),
        vec![Ev::Refused(FrameRefusal::Frame(
            FrameError::ClearShouldBeEncrypted(MessageKind::RequestPay)
        ))]
    );
    assert!(w.p(p).is_ready());
    assert_eq!(w.p(p).outstanding_requests(), 0);
}

#[test]
fn replayed_and_garbled_ciphertext_is_refused() {
    let (mut w, c, p) = ready_pair(11);
    w.pay(c, BOLT11).unwrap();
    assert_eq!(w.events(p).len(), 1);
    let frame = w.sent(c).last().unwrap().clone();
    w.inject(p, &frame);
    assert_eq!(
        w.events(p),
        vec![Ev::Refused(FrameRefusal::Replayed(MessageKind::RequestPay))]
    );
    // Every single-byte corruption is refused or (IV bytes) yields a replay; never a panic,
    // never a second pay request with a different uuid.
    for i in 0..frame.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = frame.clone();
            bad[i] ^= flip;
            w.inject(p, &bad);
        }
    }
    let ev = w.events(p);
    assert!(ev.iter().all(|e| matches!(e, Ev::Refused(_))), "{ev:?}");
    // Truncated, empty and oversized frames.
    w.inject(p, &frame[..frame.len() - 1]);
    w.inject(p, &[]);
    w.inject(p, &vec![0x41; 5000]);
    let ev = w.events(p);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(ev.iter().all(|e| matches!(e, Ev::Refused(_))));
    assert!(w.p(p).is_ready() && w.c(c).is_ready());
    assert_eq!(w.p(p).outstanding_requests(), 1);
}

#[test]
fn consumer_meeting_consumer_is_a_clear_error() {
    let mut w = World::new();
    let s = seed(12);
    let a = w.consumer(&s);
    let b = w.consumer(&s);
    w.connect(a).unwrap();
    w.connect(b).unwrap();
    assert!(closed_reasons(&w.events(a)).contains(&CloseReason::WrongRole));
    let ev = w.events(b);
    let reasons = closed_reasons(&ev);
    assert!(
        reasons == [CloseReason::WrongRole] || reasons == [CloseReason::PeerGone],
        "{ev:?}"
    );
}

#[test]
fn provider_meeting_provider_is_a_clear_error() {
    let mut w = World::new();
    let s = seed(13);
    let a = w.provider(&s, Some(&info(1)));
    let b = w.provider(&s, Some(&info(1)));
    w.connect(a).unwrap();
    w.connect(b).unwrap();
    w.advance(31);
    let (ea, eb) = (w.events(a), w.events(b));
    let closed = |ev: &[Ev]| closed_reasons(ev)[0];
    assert_eq!(closed(&ea), CloseReason::HandshakeTimeout, "{ea:?}");
    assert!(matches!(
        closed(&eb),
        CloseReason::HandshakeTimeout | CloseReason::PeerGone
    ));
}

#[test]
fn terminus_error_msg_array_is_tolerated() {
    // Pitfall 15.28: the terminus sends a JSON array as error_msg for amount-less invoices.
    let (mut w, c, _p) = ready_pair(14);
    let req = w.pay(c, BOLT11).unwrap();
    let text = format!(
        r#"{{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11", "request_reference_uuid": "{req}", "notification_name": "NOTIFY_ERROR", "error_msg": ["no amount", 0]}}"#
    );
    w.inject(c, &seal_for(14, &text));
    assert_eq!(
        w.events(c),
        vec![Ev::Error {
            request: Some(req),
            message: r#"["no amount", 0]"#.into()
        }]
    );
}

#[test]
fn go_relay_end_with_empty_reference_is_understood() {
    let (mut w, c, _p) = ready_pair(15);
    let rid = w.c(c).rendezvous_id();
    let end = format!(
        r#"{{"timestamp":1.0,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11","request_reference_uuid":"","notification_name":"NOTIFY_RENDEZVOUS_END","rendezvous_id":"{rid}"}}"#
    );
    w.inject(c, end.as_bytes());
    assert_eq!(closed_reasons(&w.events(c)), vec![CloseReason::PeerGone]);
}

#[test]
fn consumer_sends_the_reference_wire() {
    // The first frame is the cleartext REQUEST_RENDEZVOUS for the beacon's rendezvous id, in
    // Python's json.dumps layout; everything after pairing is ciphertext.
    let (w, c, _p) = ready_pair(16);
    let first = String::from_utf8(w.sent(c)[0].clone()).unwrap();
    let rid = seed(16).v0_rendezvous_id().to_hex();
    assert!(first.starts_with(r#"{"timestamp": "#), "{first}");
    assert!(
        first.contains(r#""request_name": "REQUEST_RENDEZVOUS", "rendezvous_id": ""#),
        "{first}"
    );
    assert!(first.contains(rid.as_str()));
    assert!(w.sent(c).len() > 1);
    for f in &w.sent(c)[1..] {
        assert!(!moneysocket_core::frame::is_cleartext(f));
        assert_eq!((f.len() - 16) % 16, 0);
    }
}

#[test]
fn provider_that_never_pongs_is_tolerated_unless_strict() {
    // Pitfall 15.30: a consumer must not require pongs from a provider that never sends any.
    for strict in [false, true] {
        let mut w = World::new();
        let config = ConsumerConfig {
            strict_pong: strict,
            ..ConsumerConfig::default()
        };
        let c = w.add_consumer(CLIENT, &seed(17), config);
        w.connect(c).unwrap();
        fake_silent_provider(&mut w, c, 17);
        assert!(w.c(c).is_ready());
        assert_eq!(w.c(c).balance_msats(), None);
        w.advance(120);
        let reasons = closed_reasons(&w.events(c));
        if strict {
            assert_eq!(reasons, vec![CloseReason::PongTimeout]);
        } else {
            assert!(reasons.is_empty(), "{reasons:?}");
            assert!(w.c(c).is_ready());
            assert!(w.c(c).stats().unanswered_pings >= 5);
        }
    }
}

#[test]
fn rendezvous_timeout_is_announced() {
    // Found by the sessions fuzz target: the deadline was kept but never reported.
    let config = ConsumerConfig {
        rendezvous_timeout: Some(Duration::from_secs(10)),
        ..ConsumerConfig::default()
    };
    let mut w = World::new();
    w.now = Instant(5);
    let c = w.add_consumer(CLIENT, &seed(18), config);
    w.connect(c).unwrap();
    assert_eq!(w.sent(c).len(), 1);
    assert_eq!(w.events(c), vec![Ev::WaitingForPeer]);
    assert_eq!(w.c(c).poll_timeout(), Some(Instant(10_005)));
    assert_eq!(w.hosts[CLIENT].poll_timeout(), Some(Instant(10_005)));
    w.advance_to(Instant(10_004), usize::MAX);
    assert!(w.events(c).is_empty());
    w.advance_to(Instant(10_005), usize::MAX);
    assert_eq!(
        w.events(c),
        vec![Ev::Closed(CloseReason::RendezvousTimeout)]
    );
    assert_eq!(w.c(c).poll_timeout(), None);
    assert_eq!(w.hosts[CLIENT].poll_timeout(), None);
}

#[test]
fn zero_intervals_do_not_spin() {
    // Found by the sessions fuzz target: a zero retry or ping interval made the timer due
    // again at the same instant, forever.
    let config = ConsumerConfig {
        provider_retry: Some(Duration::ZERO),
        ping_interval: Some(Duration::ZERO),
        ..ConsumerConfig::default()
    };
    let mut w = World::new();
    let s = seed(19);
    let p = w.provider(&s, None);
    let c = w.add_consumer(CLIENT, &s, config);
    w.connect(p).unwrap();
    w.connect(c).unwrap();
    // Handshake: the retry deadline is in the future, and firing it at the same instant
    // sends nothing.
    let now = w.now;
    let before = w.sent(c).len();
    for _ in 0..5 {
        w.input(CLIENT, HostInput::Timeout);
        w.settle();
        assert!(w.c(c).poll_timeout().unwrap() > now);
    }
    assert_eq!(w.sent(c).len(), before);
    // Ready: one ping, and its pong does not trigger a new ping at the same instant.
    w.set_info(p, &info(1)).unwrap();
    assert!(w.c(c).is_ready());
    assert_eq!(w.sent(c).len(), before + 1);
    w.fire_due();
    assert_eq!(w.sent(c).len(), before + 1);
    assert!(w.next_deadline().unwrap() > now);
}

#[test]
fn reopening_fails_outstanding_requests() {
    // Found by the sessions fuzz target: a second Opened without Closed dropped requests
    // silently.
    let (mut w, c, _p) = ready_pair(20);
    let req = w.request_invoice(c, 5).unwrap();
    let before = w.sent(c).len();
    w.reopen(c);
    assert_eq!(w.sent(c).len(), before + 1, "a fresh REQUEST_RENDEZVOUS");
    assert!(String::from_utf8_lossy(w.sent(c).last().unwrap()).contains("REQUEST_RENDEZVOUS"));
    assert!(w.events(c).contains(&Ev::RequestFailed {
        request: req,
        kind: RequestKind::Invoice,
        reason: RequestFailure::LinkClosed
    }));
    assert_eq!(w.c(c).pending_requests(), 0);
}

// ---- the provider's request model ----

#[test]
fn provider_refuses_answers_to_unknown_requests() {
    let (mut w, c, p) = ready_pair(21);
    let stranger = Uuid::v4_from_bytes([0x77; 16]);
    assert_eq!(
        w.send_invoice(p, stranger, BOLT11),
        refused_answer(SessionError::UnknownRequest)
    );
    assert_eq!(
        w.send_preimage(p, Some(stranger), &[1; 32]),
        refused_answer(SessionError::UnknownRequest)
    );
    assert_eq!(
        w.send_error(p, Some(stranger), "no"),
        refused_answer(SessionError::UnknownRequest)
    );
    // An invoice request cannot be answered with a preimage, nor twice.
    let req = w.request_invoice(c, 10).unwrap();
    assert_eq!(w.p(p).outstanding_requests(), 1);
    assert_eq!(
        w.send_preimage(p, Some(req), &[1; 32]),
        refused_answer(SessionError::UnknownRequest)
    );
    w.send_invoice(p, req, BOLT11).unwrap();
    assert_eq!(
        w.send_invoice(p, req, BOLT11),
        refused_answer(SessionError::UnknownRequest)
    );
    assert_eq!(w.p(p).outstanding_requests(), 0);
    let ev = w.events(c);
    assert_eq!(
        ev.len(),
        1,
        "only the one answer reached the consumer: {ev:?}"
    );
    assert_eq!(w.c(c).stats().ignored_answers, 0);
}

#[test]
fn provider_refuses_answers_after_expiry() {
    let pc = ProviderConfig {
        request_timeout: Duration::from_secs(10),
        ..ProviderConfig::default()
    };
    let (mut w, c, p) = ready_pair_with(22, ConsumerConfig::default(), pc);
    let req = w.pay(c, BOLT11).unwrap();
    assert_eq!(w.p(p).poll_timeout(), Some(Instant(w.now.0 + 10_000)));
    w.advance(9);
    assert_eq!(w.events(p).len(), 1, "only the PayRequested");
    w.advance(2);
    assert_eq!(
        w.events(p),
        vec![Ev::RequestExpired {
            request: req,
            kind: RequestKind::Pay
        }]
    );
    assert_eq!(w.p(p).stats().expired_requests, 1);
    assert_eq!(w.p(p).outstanding_requests(), 0);
    assert_eq!(
        w.send_preimage(p, Some(req), &[2; 32]),
        refused_answer(SessionError::UnknownRequest)
    );
    // The payment completed anyway: reported unsolicited, the consumer still waits for its
    // own deadline and the link stays up.
    w.send_preimage(p, None, &[2; 32]).unwrap();
    assert!(w.events(c).contains(&Ev::Preimage {
        request: None,
        preimage: [2; 32]
    }));
    assert_eq!(w.c(c).pending_requests(), 1);
    assert!(w.c(c).is_ready() && w.p(p).is_ready());
}

#[test]
fn requests_are_abandoned_on_close_by_a_listening_provider() {
    // The terminus shape: the provider listens on the relay's own host; a remote consumer
    // reaches it with the beacon. It leaves with two requests open.
    let mut w = World::new();
    let s = seed(23);
    let p = w.add_provider(RELAY, &s, ProviderConfig::default(), Some(&info(9_000)));
    w.listen(p).unwrap();
    assert_eq!(w.events(p), vec![Ev::WaitingForPeer]);
    let c = w.consumer(&s);
    w.connect(c).unwrap();
    assert!(w.c(c).is_ready() && w.p(p).is_ready());
    assert_eq!(w.c(c).balance_msats(), Some(9_000));
    assert_eq!(w.events(p), vec![Ev::Paired, Ev::ConsumerReady]);
    let inv = w.request_invoice(c, 100).unwrap();
    let pay = w.pay(c, BOLT11).unwrap();
    assert_eq!(w.p(p).outstanding_requests(), 2);
    w.events(p);
    w.close(c).unwrap();
    let ev = w.events(p);
    assert!(
        ev.contains(&Ev::RequestAbandoned {
            request: inv,
            kind: RequestKind::Invoice
        }) && ev.contains(&Ev::RequestAbandoned {
            request: pay,
            kind: RequestKind::Pay
        }),
        "{ev:?}"
    );
    let closed = ev.iter().position(|e| matches!(e, Ev::Closed(_))).unwrap();
    assert_eq!(ev[closed], Ev::Closed(CloseReason::PeerGone));
    assert!(
        ev[..closed]
            .iter()
            .filter(|e| matches!(e, Ev::RequestAbandoned { .. }))
            .count()
            == 2
    );
    // The answers are refused now; the provider waits for its next consumer (from the
    // host's next input on: it asks for one at once).
    w.advance(0);
    assert_eq!(
        w.send_preimage(p, Some(pay), &[3; 32]),
        refused_answer(SessionError::NotReady)
    );
    assert_eq!(w.p(p).link_state(), LinkState::Rendezvous);
    // The consumer comes back and is served again.
    w.connect(c).unwrap();
    assert!(w.c(c).is_ready() && w.p(p).is_ready());
}

#[test]
fn too_many_outstanding_requests_are_answered_with_an_error() {
    // The consumer gives up after 1 s, the provider holds requests for 120 s: the consumer
    // can send more than the provider may hold.
    let cc = ConsumerConfig {
        request_timeout: Duration::from_secs(1),
        ..ConsumerConfig::default()
    };
    let (mut w, c, p) = ready_pair_with(24, cc, ProviderConfig::default());
    for _ in 0..8 {
        w.request_invoice(c, 1).unwrap();
    }
    w.advance(2);
    assert_eq!(w.c(c).pending_requests(), 0);
    assert_eq!(w.p(p).outstanding_requests(), 8);
    w.events(c);
    w.events(p);
    let req = w.request_invoice(c, 1).unwrap();
    assert_eq!(
        w.events(c),
        vec![Ev::Error {
            request: Some(req),
            message: "too many outstanding requests".into()
        }]
    );
    assert!(w.events(p).is_empty(), "the app never sees it");
    assert_eq!(w.p(p).stats().refused_requests, 1);
    assert_eq!(w.p(p).outstanding_requests(), 8);
}

#[test]
fn the_host_fires_each_deadline_once_per_timeout_even_at_the_end_of_time() {
    // At u64::MAX every saturated deadline is due again as soon as it is set: a consumer
    // whose provider never pongs re-arms its ping, gives up on it, and so on. One
    // `HostInput::Timeout` must still return.
    let mut w = World::new();
    let c = w.consumer(&seed(25));
    w.connect(c).unwrap();
    fake_silent_provider(&mut w, c, 25);
    assert!(w.c(c).is_ready());
    w.now = Instant(u64::MAX);
    w.input(CLIENT, HostInput::Timeout);
    w.fire_due();
    assert!(w.c(c).is_ready());
}

#[test]
fn a_listening_session_does_not_spin_with_a_zero_unpaired_timeout() {
    // Found by the sessions fuzz target: the matchmaker expired the listening provider at
    // once, the host put it back at once, and its deadline was due again at that instant.
    let mut w = World::with_relay(HostConfig {
        matchmaker: MatchmakerConfig {
            unpaired_timeout: Duration::ZERO,
            unix_offset_ms: 0,
        },
        ..HostConfig::default()
    });
    let p = w.add_provider(RELAY, &seed(26), ProviderConfig::default(), Some(&info(1)));
    w.listen(p).unwrap();
    w.fire_due();
    // (Listening sessions no longer expire at all: no deadline is due now.)
    assert!(w.next_deadline().is_none_or(|d| d > w.now));
    w.advance(1);
    assert_eq!(w.p(p).link_state(), LinkState::Rendezvous);
}

// ---- the opinion-seller extension (wire 7.6), opt-in per session ----

fn ext_consumer() -> ConsumerConfig {
    ConsumerConfig {
        extensions: true,
        ..ConsumerConfig::default()
    }
}

fn ext_provider() -> ProviderConfig {
    ProviderConfig {
        extensions: true,
        ..ProviderConfig::default()
    }
}

/// The one extension message `s` reported, parsed by `check`.
fn take_extension<T>(w: &mut World, s: S, check: impl FnOnce(OpinionMessage<'_>) -> T) -> T {
    let events = w.events(s);
    match events.as_slice() {
        [Ev::Extension(json)] => check(OpinionMessage::parse(json.as_bytes()).unwrap()),
        other => panic!("expected one extension message, got {other:?}"),
    }
}

fn ts() -> Timestamp<'static> {
    Timestamp::from_secs(0)
}

fn opinion_request(name: &str, fields: &str) -> String {
    format!(
        r#"{{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a21", "request_name": "{name}"{fields}}}"#
    )
}

/// Buyer (consumer) and seller (provider), past the provider handshake, run the
/// prototype's flow; the v0 side keeps working beside it.
#[test]
#[cfg_attr(not(feature = "extensions"), ignore = "needs the extensions feature")]
fn opinion_seller_flow_between_buyer_and_seller() {
    let (mut w, buyer, seller) = ready_pair_with(40, ext_consumer(), ext_provider());
    let seller_uuid = Uuid::v4_from_bytes([0x51; 16]);

    let r1 = Uuid::v4_from_bytes([1; 16]);
    w.send_extension(buyer, &OpinionMessage::request_opinion_seller(r1, ts()))
        .unwrap();
    take_extension(&mut w, seller, |m| {
        assert_eq!(m.kind(), OpinionKind::RequestOpinionSeller);
        assert_eq!(m.uuid(), r1);
    });

    let items = [
        OpinionItem {
            item_id: "hello".into(),
            name: "Hello World".into(),
            msats: 1_000,
        },
        OpinionItem {
            item_id: "time".into(),
            name: "Current Timestamp".into(),
            msats: 2_000,
        },
    ];
    let note = OpinionMessage::notify_opinion_seller(
        Uuid::v4_from_bytes([2; 16]),
        Some(r1),
        ts(),
        seller_uuid,
        &items,
    );
    w.send_extension(seller, &note).unwrap();
    let listed: Vec<(String, u64)> = take_extension(&mut w, buyer, |m| {
        assert_eq!(m.reference_uuid(), Some(r1));
        let OpinionBody::NotifyOpinionSeller {
            seller_uuid: got,
            items,
        } = m.body()
        else {
            panic!("wrong body {m:?}");
        };
        assert_eq!(*got, seller_uuid);
        items
            .iter()
            .map(|i| (i.item_id.to_string(), i.msats))
            .collect()
    });
    assert_eq!(
        listed,
        vec![("hello".to_string(), 1_000), ("time".to_string(), 2_000)]
    );

    let r2 = Uuid::v4_from_bytes([3; 16]);
    w.send_extension(
        buyer,
        &OpinionMessage::request_opinion_invoice(r2, ts(), "hello"),
    )
    .unwrap();
    let item = take_extension(&mut w, seller, |m| match m.body() {
        OpinionBody::RequestOpinionInvoice { item_id } => item_id.to_string(),
        b => panic!("wrong body {b:?}"),
    });
    assert_eq!(item, "hello");

    // The seller would ask its own wallet for the invoice (REQUEST_INVOICE with r2).
    let invoice = OpinionMessage::notify_opinion_invoice(
        Uuid::v4_from_bytes([4; 16]),
        Some(r2),
        ts(),
        BOLT11,
    );
    w.send_extension(seller, &invoice).unwrap();
    let bolt11 = take_extension(&mut w, buyer, |m| match m.body() {
        OpinionBody::NotifyOpinionInvoice { bolt11 } if m.reference_uuid() == Some(r2) => {
            bolt11.to_string()
        }
        b => panic!("wrong body {b:?}"),
    });
    assert_eq!(bolt11, BOLT11);

    // The buyer pays through v0 on the same link (its wallet, in the demo).
    let pay = w.pay(buyer, &bolt11).unwrap();
    assert_eq!(
        w.events(seller),
        vec![Ev::PayRequested {
            request: pay,
            bolt11: BOLT11.to_string()
        }]
    );

    let opinion = OpinionMessage::notify_opinion(
        Uuid::v4_from_bytes([5; 16]),
        Some(r2),
        ts(),
        "hello",
        "Sincere Hello!!",
    );
    w.send_extension(seller, &opinion).unwrap();
    let got = take_extension(&mut w, buyer, |m| match m.body() {
        OpinionBody::NotifyOpinion { item_id, opinion } => {
            (item_id.to_string(), opinion.to_string())
        }
        b => panic!("wrong body {b:?}"),
    });
    assert_eq!(got, ("hello".to_string(), "Sincere Hello!!".to_string()));

    // Extension messages are subject to the replay window like any other.
    let frame = w.sent(seller).last().unwrap().clone();
    w.inject(buyer, &frame);
    assert_eq!(
        w.events(buyer),
        vec![Ev::Refused(FrameRefusal::ReplayedExtension(
            OpinionKind::NotifyOpinion
        ))]
    );
    // No request state was kept for them on either side.
    assert_eq!(w.p(seller).outstanding_requests(), 1);
    assert_eq!(w.c(buyer).pending_requests(), 1);
    assert!(w.c(buyer).is_ready());
}

/// Once paired, before the provider answers the handshake (the seller's store may say
/// not ready in its own terms), both sides can already exchange extension messages.
#[test]
#[cfg_attr(not(feature = "extensions"), ignore = "needs the extensions feature")]
fn opinion_messages_flow_once_paired_before_the_handshake() {
    let mut w = World::new();
    let s = seed(42);
    let seller = w.add_provider(CLIENT, &s, ext_provider(), None);
    let buyer = w.add_consumer(CLIENT, &s, ext_consumer());
    w.connect(seller).unwrap();
    w.connect(buyer).unwrap();
    assert!(!w.c(buyer).is_ready());
    assert_eq!(w.c(buyer).link_state(), LinkState::Paired);
    w.events(buyer);
    w.events(seller);
    let r = Uuid::v4_from_bytes([6; 16]);
    w.send_extension(buyer, &OpinionMessage::request_opinion_seller(r, ts()))
        .unwrap();
    assert_eq!(
        take_extension(&mut w, seller, |m| m.uuid()),
        r,
        "seller got the request"
    );
    let not_ready = OpinionMessage::notify_opinion_seller_not_ready(
        Uuid::v4_from_bytes([7; 16]),
        Some(r),
        ts(),
    );
    w.send_extension(seller, &not_ready).unwrap();
    assert_eq!(
        take_extension(&mut w, buyer, |m| m.kind()),
        OpinionKind::NotifyOpinionSellerNotReady
    );
}

/// With the flag off (the default) the same frame is refused as v0 refuses unknown names,
/// and sending one is refused; with it on, broken or foreign ones are still refused.
#[test]
#[cfg_attr(not(feature = "extensions"), ignore = "needs the extensions feature")]
fn opinion_frames_need_the_flag() {
    let request = opinion_request(
        "REQUEST_OPINION_SELLER",
        r#", "extension_protocol": "OPINION_SELLER_DEMO_V0""#,
    );
    let (mut w, c, p) = ready_pair(43);
    w.inject(p, &seal_for(43, &request));
    let ev = w.events(p);
    assert!(
        matches!(
            ev.as_slice(),
            [Ev::Refused(FrameRefusal::Frame(FrameError::Message(
                MessageError::UnknownRequestName(n)
            )))] if n.as_str() == "REQUEST_OPINION_SELLER"
        ),
        "{ev:?}"
    );
    let msg = OpinionMessage::request_opinion_seller(Uuid::v4_from_bytes([8; 16]), ts());
    assert_eq!(
        w.send_extension(c, &msg),
        refused_answer(SessionError::ExtensionsDisabled)
    );
    assert!(w.p(p).is_ready(), "the link stays up");

    let (mut w, c, p) = ready_pair_with(44, ext_consumer(), ext_provider());
    w.inject(p, &seal_for(44, &request));
    assert_eq!(
        take_extension(&mut w, p, |m| m.kind()),
        OpinionKind::RequestOpinionSeller
    );
    // Not one of the six: the v0 refusal.
    w.inject(
        p,
        &seal_for(44, &opinion_request("REQUEST_SOMETHING_ELSE", "")),
    );
    assert!(matches!(
        w.events(p).as_slice(),
        [Ev::Refused(FrameRefusal::Frame(FrameError::Message(
            MessageError::UnknownRequestName(_)
        )))]
    ));
    // One of the six with a bad field: a typed refusal.
    let bad = opinion_request(
        "REQUEST_OPINION_INVOICE",
        r#", "item_id": 5, "extension_protocol": "OPINION_SELLER_DEMO_V0""#,
    )
    .replace("5a21", "5a22");
    w.inject(p, &seal_for(44, &bad));
    assert_eq!(
        w.events(p),
        vec![Ev::Refused(FrameRefusal::Extension(
            OpinionError::WrongType("item_id")
        ))]
    );
    // In clear (a relay could inject it): refused.
    let clear = request.replace("5a21", "5a23");
    w.inject(p, clear.as_bytes());
    assert!(matches!(
        w.events(p).as_slice(),
        [Ev::Refused(FrameRefusal::Frame(_))]
    ));
    // Too large for the frame cap: refused at the call, nothing sent.
    let long = "x".repeat(70_000);
    let big = OpinionMessage::notify_opinion(Uuid::v4_from_bytes([9; 16]), None, ts(), "a", &*long);
    assert_eq!(
        w.send_extension(p, &big),
        refused_answer(SessionError::TooLarge)
    );
    assert!(w.events(c).is_empty());
}
