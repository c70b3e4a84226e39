//! `moneysocket relay` with several event loops (`workers`): every pair forms and forwards
//! whichever loop accepted each end, limits count for the whole relay, metrics sum the
//! loops, SIGTERM ends every pair.

#[path = "support/relay.rs"]
mod relay;
mod support;

use std::time::Instant;

use moneysocket_core::message::MessageKind;
use relay::{
    expect_closed, expect_notify, pair_clients, pair_many, recv, request, send, uuid, ws_client,
    Relay, Ws, IO_TIMEOUT,
};

fn rid(i: usize) -> String {
    format!("{:064x}", 0x5eed_0000 + i)
}

#[test]
fn pairs_form_and_forward_whichever_worker_accepted_their_ends() {
    const PAIRS: usize = 60;
    let mut relay = Relay::start_with(
        "max_per_ip = 0\n",
        &["--workers", "4", "--metrics", "127.0.0.1:0"],
    );
    assert_eq!(relay.metric("moneysocket_relay_workers"), 4);
    let rids: Vec<String> = (0..PAIRS).map(rid).collect();
    let (mut first, mut second) = pair_many(&relay, &rids);
    // both directions, several frames in a burst, order kept
    for (i, ws) in first.iter_mut().enumerate() {
        for k in 0..3u8 {
            send(ws, &[i as u8, k]);
        }
    }
    for (i, ws) in second.iter_mut().enumerate() {
        for k in 0..3u8 {
            assert_eq!(recv(ws), [i as u8, k]);
        }
        send(ws, &[0xee, i as u8]);
    }
    for (i, ws) in first.iter_mut().enumerate() {
        assert_eq!(recv(ws), [0xee, i as u8]);
    }
    // a third party for a paired id meets the pair's worker, which refuses it
    let mut third = relay.connect();
    send(&mut third, &request(3, &rid(7)));
    let refusal = recv(&mut third);
    assert!(
        String::from_utf8_lossy(&refusal).contains("NOTIFY_RENDEZVOUS_END")
            || String::from_utf8_lossy(&refusal).contains("NOTIFY_ERROR"),
        "{}",
        String::from_utf8_lossy(&refusal)
    );
    expect_closed(&mut third);

    // every worker's counters are in the sums (published after every round)
    let deadline = Instant::now() + IO_TIMEOUT;
    while relay.metric("moneysocket_relay_frames_forwarded_total") < 4 * PAIRS as u64 {
        assert!(Instant::now() < deadline, "forwards never summed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(relay.metric("moneysocket_relay_pairs"), PAIRS as u64);
    assert_eq!(
        relay.metric("moneysocket_relay_pairs_formed_total"),
        PAIRS as u64
    );
    // with 4 workers about 3 of 4 connections change loops; none is impossible in practice
    let moved = relay.metric("moneysocket_relay_handoffs_total");
    assert!(
        moved > 0 && moved <= 2 * PAIRS as u64 + 1,
        "handoffs {moved}"
    );

    // SIGTERM: every worker ends its own pairs
    relay.sigterm();
    for (i, (a, b)) in first.iter_mut().zip(second.iter_mut()).enumerate() {
        expect_notify(a, MessageKind::NotifyRendezvousEnd, None, &rid(i));
        expect_notify(b, MessageKind::NotifyRendezvousEnd, None, &rid(i));
    }
    relay
        .wait_exit(Instant::now(), IO_TIMEOUT)
        .expect("relay did not exit");
}

#[test]
fn max_connections_counts_every_worker() {
    let relay = Relay::start_with("max_connections = 6\nmax_per_ip = 0\n", &["--workers", "2"]);
    // six connections, whichever loops the kernel gives them to (silent ones count too)
    let held: Vec<Ws> = (0..6).map(|_| relay.connect()).collect();
    let refused = ws_client(relay.addr(), &relay.ws_url());
    match refused {
        Err(e) => assert!(e.contains("503"), "expected 503, got {e}"),
        Ok(_) => panic!("a seventh connection was admitted over max_connections = 6"),
    }
    drop(held);
    // released on close: a pair forms again
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Ok(mut ws) = ws_client(relay.addr(), &relay.ws_url()) {
            send(&mut ws, &request(1, &rid(1)));
            expect_notify(
                &mut ws,
                MessageKind::NotifyRendezvousNotReady,
                Some(uuid(1)),
                &rid(1),
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed connections were never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Over wss a connection moves with its TLS session: both ends of every pair keep talking
/// through the worker that owns their id.
#[test]
fn tls_connections_move_with_their_sessions() {
    let (relay, ca) = Relay::start_tls("workers = 3\nmax_per_ip = 0\nmetrics = \"127.0.0.1:0\"\n");
    let mut pairs = Vec::new();
    for i in 0..12 {
        let id = rid(100 + i);
        let (mut a, mut b) = pair_clients(|| relay.connect_tls(&ca), 1, 2, &id);
        let big: Vec<u8> = (0..20_000u32).map(|k| (k * 7 + i as u32) as u8).collect();
        send(&mut a, &big);
        assert_eq!(recv(&mut b), big);
        pairs.push((a, b));
    }
    for (i, (a, b)) in pairs.iter_mut().enumerate() {
        send(b, &[i as u8; 3]);
        assert_eq!(recv(a), [i as u8; 3]);
    }
    assert!(relay.metric("moneysocket_relay_handoffs_total") > 0);
}
