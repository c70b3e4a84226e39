//! Cross-version tests: dispatch, sizes, property round trips.

use super::*;
use crate::bech;
use proptest::prelude::*;
extern crate std;
use std::string::{String, ToString};
use std::vec::Vec;

fn bech(hrp: &str, data: &[u8]) -> String {
    let mut s = String::new();
    bech::encode_to_fmt(&mut s, hrp, data).unwrap();
    s
}

#[test]
fn beacon_size_is_bounded() {
    let (b, b0, b1) = (
        core::mem::size_of::<Beacon>(),
        core::mem::size_of::<v0::Beacon>(),
        core::mem::size_of::<v1::Beacon>(),
    );
    std::eprintln!("size_of Beacon = {b}, v0::Beacon = {b0}, v1::Beacon = {b1}");
    assert!(b <= 1700, "Beacon grew to {b} bytes");
}

#[test]
fn dispatch_by_first_bigsize() {
    // small non-zero outer type: v1 rules
    assert_eq!(
        Beacon::decode(&bech("moneysocket", &[0x99, 0])).unwrap_err(),
        BeaconError::V1(v1::V1Error::UnknownTlv)
    );
    // v1 HRP rule applies to v1-looking data
    assert_eq!(
        Beacon::decode(&bech("lnbc", &[0, 0])).unwrap_err(),
        BeaconError::V1(v1::V1Error::UnknownHrp)
    );
    // malformed first BigSize: v0 rules, reference text
    assert_eq!(
        Beacon::decode(&bech("moneysocket", &[0xfd]))
            .unwrap_err()
            .to_string(),
        "could not get type: underrun while peeking a uint16"
    );
    // v0 types and other HRPs: v0 rules
    assert_eq!(
        Beacon::decode(&bech("moneysocketx", &[0xfe, 0, 1, 1, 0xbb, 0]))
            .unwrap_err()
            .to_string(),
        "string is not a moneysocket beacon"
    );
    assert_eq!(
        Beacon::decode("").unwrap_err().to_string(),
        "could not decode bech32 string"
    );
}

#[test]
fn oversized_input_is_a_capacity_error() {
    let data = [0x5a; MAX_TLV_LEN + 1];
    assert_eq!(
        Beacon::decode(&bech("moneysocket", &data)),
        Err(BeaconError::Capacity(CapacityError::InputTooLong))
    );
}

#[test]
fn top_level_accessors() {
    let seed = SharedSeed([9; 16]);
    let mut b1 = v1::Beacon::new(seed);
    b1.push_websocket(WebSocket::parse_url("ws://localhost:8080/ws").unwrap())
        .unwrap();
    b1.set_hrp("moneysocket-x").unwrap();
    let b: Beacon = b1.into();
    let s = b.to_string();
    let d: Beacon = s.parse().unwrap();
    assert_eq!(d, b);
    assert_eq!(d.hrp(), "moneysocket-x");
    assert_eq!(d.version(), 1);
    assert_eq!(d.shared_seed(), seed);
    assert_eq!(d.locations().len(), 1);
    assert_eq!(
        d.first_websocket().unwrap().to_string(),
        "ws://localhost:8080/ws"
    );
    // upper-case beacon strings decode too
    let up: Beacon = s.to_uppercase().parse().unwrap();
    assert_eq!(up, b);

    let mut b0 = v0::Beacon::new(seed);
    b0.push_websocket(WebSocket::parse_url("wss://relay.socket.money").unwrap())
        .unwrap();
    assert_eq!(
        b0.push_websocket(WebSocket::parse_url("ws://h:1/p").unwrap()),
        Err(BuildError::PathNotSupported)
    );
    let b: Beacon = b0.into();
    assert_eq!(b.hrp(), "moneysocket");
    assert_eq!(
        b.first_websocket().unwrap().to_string(),
        "wss://relay.socket.money:443"
    );
    let mut raw: Vec<u8> = Vec::new();
    b.encode_tlv(&mut raw).unwrap();
    assert_eq!(Beacon::decode(&bech("moneysocket", &raw)).unwrap(), b);
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z]([a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?"
}

fn hostname() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..5), any::<bool>()).prop_map(|(l, dot)| {
        let mut h = l.join(".");
        if dot {
            h.push('.');
        }
        h
    })
}

#[derive(Debug, Clone)]
enum L0 {
    Ws(String, bool, u64),
    Ph(u8, String),
}

fn loc0() -> impl Strategy<Value = L0> {
    prop_oneof![
        ("\\PC{0,40}", any::<bool>(), 1..=u64::MAX).prop_map(|(h, t, p)| L0::Ws(h, t, p)),
        (0u8..3, "\\PC{0,20}").prop_map(|(k, t)| L0::Ph(k, t)),
    ]
}

#[derive(Debug, Clone)]
enum L1 {
    Ws(String, bool, u16, String, u8),
    Unknown(u64, Vec<u8>),
}

fn ws1() -> impl Strategy<Value = L1> {
    (
        hostname(),
        any::<bool>(),
        1..=u16::MAX,
        "[a-zA-Z0-9/._~-]{0,24}",
        any::<u8>(),
    )
        .prop_map(|(h, t, p, path, pref)| L1::Ws(h, t, p, path, pref))
}

fn unknown1() -> impl Strategy<Value = L1> {
    (1..=u64::MAX, prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(t, b)| L1::Unknown(t, b))
}

proptest! {
    #[test]
    fn v0_round_trip(seed in any::<[u8; 16]>(), locs in prop::collection::vec(loc0(), 0..=MAX_LOCATIONS)) {
        let mut b = v0::Beacon::new(SharedSeed(seed));
        for l in &locs {
            let loc = match l {
                L0::Ws(h, t, p) => Location::WebSocket(WebSocket::new(h, *t).with_port(*p)),
                L0::Ph(0, t) => Location::WebRtc(t),
                L0::Ph(1, t) => Location::Bluetooth(t),
                L0::Ph(_, t) => Location::Nfc(t),
            };
            b.push_location(loc).unwrap();
        }
        let s = b.to_string();
        let d = Beacon::decode(&s).unwrap();
        prop_assert_eq!(&d, &Beacon::V0(b.clone()));
        prop_assert_eq!(d.to_string(), s);
        let mut raw: Vec<u8> = Vec::new();
        b.encode_tlv(&mut raw).unwrap();
        prop_assert_eq!(v0::Beacon::decode_tlv(&raw).unwrap(), b);
    }

    #[test]
    fn v1_round_trip(
        seed in any::<[u8; 16]>(),
        hrp_tail in "[a-z0-9-]{0,10}",
        version in any::<[u8; 3]>(),
        role in prop::option::of(0u8..3),
        first in ws1(),
        more in prop::collection::vec(prop_oneof![ws1(), unknown1()], 0..MAX_LOCATIONS),
        unknown in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 0..20)), 0..=MAX_UNKNOWN_TLVS),
    ) {
        let mut b = v1::Beacon::new(SharedSeed(seed));
        let mut hrp = String::from(HRP);
        hrp.push_str(&hrp_tail);
        b.set_hrp(&hrp).unwrap();
        b.set_generator_version(v1::GeneratorVersion { major: version[0], minor: version[1], patch: version[2] });
        b.set_role_hint(role.and_then(v1::RoleHint::from_u8));
        for l in core::iter::once(&first).chain(more.iter()) {
            let loc = match l {
                L1::Ws(h, t, p, path, pref) => Location::WebSocket(
                    WebSocket::new(h, *t).with_port(u64::from(*p)).with_path(path).with_preference(*pref),
                ),
                L1::Unknown(t, bytes) => Location::Unknown { tlv_type: *t, bytes },
            };
            b.push_location(loc).unwrap();
        }
        for (t, v) in &unknown {
            b.push_unknown_tlv(*t, v).unwrap();
        }
        let s = b.to_string();
        let d = Beacon::decode(&s).unwrap();
        prop_assert_eq!(&d, &Beacon::V1(b.clone()));
        prop_assert_eq!(d.to_string(), s);
    }

    #[test]
    fn decode_never_panics_on_text(s in "\\PC{0,200}") {
        let _ = Beacon::decode(&s);
    }

    #[test]
    fn decode_never_panics_on_bech32(
        hrp in prop_oneof![Just("moneysocket"), Just("moneysocket-x"), Just("lnbc")],
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(std::vec![0xfe, 0, 1, 1, 0xbb]),
            Just(std::vec![0]),
        ],
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut data = prefix;
        data.extend_from_slice(&body);
        if !data.is_empty() {
            let _ = Beacon::decode(&bech(hrp, &data));
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_beacons(
        idx in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        v1 in any::<bool>(),
    ) {
        // Mutate one byte of a valid beacon's TLV: exercises the deeper decoder paths.
        let seed = SharedSeed([3; 16]);
        let mut raw: Vec<u8> = Vec::new();
        if v1 {
            let mut b = v1::Beacon::new(seed);
            b.set_role_hint(Some(v1::RoleHint::AutomaticGenerator));
            b.push_websocket(WebSocket::new("relay.socket.money", false).with_port(8080).with_path("ws").with_preference(1)).unwrap();
            b.push_unknown_tlv(5, b"abc").unwrap();
            b.encode_tlv(&mut raw).unwrap();
        } else {
            let mut b = v0::Beacon::new(seed);
            b.push_websocket(WebSocket::new("relay.socket.money", false).with_port(8080)).unwrap();
            b.push_location(Location::Nfc("n")).unwrap();
            b.encode_tlv(&mut raw).unwrap();
        }
        let i = idx.index(raw.len());
        raw[i] = byte;
        let _ = Beacon::decode(&bech("moneysocket", &raw));
    }
}
