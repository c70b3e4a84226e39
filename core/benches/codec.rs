//! Codec benchmarks: beacon encode/decode, seal+open of a 300-byte message, message parse.
//! Each group also measures a baseline in the same run (a SHA-256 of the same input, or a
//! plain `memcpy`), so results can be reported as ratios that survive machine changes.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use moneysocket_core::beacon::Beacon;
use moneysocket_core::frame;
use moneysocket_core::message::Message;
use moneysocket_core::seed::SharedSeed;
use sha2::{Digest, Sha256};

const BEACON: &str = "moneysocket1lcqqzqdm8hlqqqgph5gqqqgzqvzq2ps8pqys5zcvp58qllsqqyquzg07qqqsr0cpq8lqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uszxmrns";

/// A REQUEST_PAY of exactly 300 bytes of JSON (bolt11 padded to fit).
fn message_300() -> Vec<u8> {
    let head = r#"{"timestamp": 1612345678.123456, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "35cefcb2-cab0-4cca-9655-3e110b736efa", "request_name": "REQUEST_PAY", "bolt11": "lnbc"#;
    let tail = "\"}";
    let fill = 300 - head.len() - tail.len();
    let text = format!("{head}{}{tail}", "q".repeat(fill));
    assert_eq!(text.len(), 300);
    text.into_bytes()
}

fn beacon(c: &mut Criterion) {
    let decoded = Beacon::decode(BEACON).expect("valid beacon");
    let mut g = c.benchmark_group("beacon");
    g.bench_function("baseline_sha256_of_string", |b| {
        b.iter(|| Sha256::digest(black_box(BEACON.as_bytes())))
    });
    g.bench_function("decode", |b| b.iter(|| Beacon::decode(black_box(BEACON))));
    g.bench_function("encode", |b| {
        let mut s = String::with_capacity(256);
        b.iter(|| {
            s.clear();
            black_box(&decoded).encode_to_fmt(&mut s).expect("fits");
            s.len()
        })
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let key = SharedSeed([7u8; 16]).v0_aes_key();
    let msg = message_300();
    let mut out = vec![0u8; frame::sealed_len(msg.len())];
    let mut buf = vec![0u8; out.len()];
    let mut g = c.benchmark_group("frame_300B");
    g.bench_function("baseline_sha256", |b| {
        b.iter(|| Sha256::digest(black_box(&msg)))
    });
    g.bench_function("seal", |b| {
        b.iter(|| frame::seal(&key, [1u8; 16], black_box(&msg), &mut out).map(|f| f.len()))
    });
    let sealed = frame::seal(&key, [1u8; 16], &msg, &mut out)
        .expect("fits")
        .to_vec();
    g.bench_function("open", |b| {
        b.iter(|| frame::open(&key, black_box(&sealed), &mut buf).map(|p| p.len()))
    });
    g.bench_function("seal_open", |b| {
        let mut out2 = vec![0u8; sealed.len()];
        b.iter(|| {
            let f = frame::seal(&key, [1u8; 16], black_box(&msg), &mut out2).expect("fits");
            frame::open(&key, f, &mut buf).map(|p| p.len())
        })
    });
    g.finish();
}

fn messages(c: &mut Criterion) {
    let msg = message_300();
    let parsed = Message::parse(&msg).expect("valid message");
    let mut g = c.benchmark_group("message_300B");
    g.bench_function("baseline_sha256", |b| {
        b.iter(|| Sha256::digest(black_box(&msg)))
    });
    g.bench_function("parse", |b| {
        b.iter(|| Message::parse(black_box(&msg)).map(|m| m.kind()))
    });
    g.bench_function("write_json", |b| {
        let mut out = Vec::with_capacity(400);
        b.iter(|| {
            out.clear();
            black_box(&parsed).write_json(&mut out).expect("vec");
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, beacon, frames, messages);
criterion_main!(benches);
