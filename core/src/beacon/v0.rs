//! v0 beacons: the deployed format.
//!
//! ```text
//! BEACON(65979) { SHARED_SEED(65981): 16 bytes,
//!                 LOCATION_LIST(65985) { LOCATION_COUNT(65983): BigSize n, location × n } }
//! ```
//!
//! Decoding is positional and as lenient as the Python reference (trailing bytes ignored at
//! every level, location sub-TLVs in any order with the last duplicate winning and unknown
//! types ignored, port 0 meaning the default port, ports above 65535 accepted, empty hosts
//! accepted). Where the reference raises instead of returning an error (seed not 16 bytes,
//! malformed sub-TLV stream) a typed error is returned. Encoding reproduces the reference
//! encoder byte for byte.

use super::{BuildError, CapacityError, Location, Locations, Store, WebSocket, HRP};
use crate::bigsize::{self, BigSizeError};
use crate::seed::SharedSeed;
use crate::sink::{Overflow, Sink};
use crate::tlv::{self, Record, TlvError};
use core::fmt;

/// Outer beacon TLV type.
pub const BEACON_TLV_TYPE: u64 = 65979;
/// Shared seed TLV type.
pub const SHARED_SEED_TLV_TYPE: u64 = 65981;
/// Location count TLV type (inside the location list).
pub const LOCATION_COUNT_TLV_TYPE: u64 = 65983;
/// Location list TLV type.
pub const LOCATION_LIST_TLV_TYPE: u64 = 65985;
/// WebSocket location TLV type.
pub const WEBSOCKET_LOCATION_TLV_TYPE: u64 = 65987;
/// WebRTC placeholder location TLV type.
pub const WEBRTC_LOCATION_TLV_TYPE: u64 = 65989;
/// Bluetooth placeholder location TLV type.
pub const BLUETOOTH_LOCATION_TLV_TYPE: u64 = 65991;
/// NFC placeholder location TLV type.
pub const NFC_LOCATION_TLV_TYPE: u64 = 65993;

const HOST: u64 = 0;
const USE_TLS: u64 = 1;
const PORT: u64 = 2;
const PLACEHOLDER: u64 = 0;

/// Why a v0 beacon was refused. `Display` gives the Python reference's error string where it
/// returns one, and a descriptive text where it raises instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum V0Error {
    /// Valid bech32 with another human-readable part.
    NotMoneysocket,
    /// A TLV record could not be popped (text passed through, e.g. `value truncated`).
    Tlv(TlvError),
    /// A BigSize value (count, use_tls, port) is malformed (text passed through).
    BigSize(BigSizeError),
    /// Outer type is not 65979.
    UnexpectedTlvType,
    /// First inner record is not the shared seed.
    UnexpectedSharedSeedType,
    /// Second inner record is not the location list.
    UnexpectedLocationListType,
    /// The shared seed is not 16 bytes (the reference raises an assertion).
    SeedLength,
    /// The location list does not start with the count.
    UnexpectedLocationCountType,
    /// A location record of a type v0 does not define.
    UnknownLocationType,
    /// A location's value is not a valid sub-TLV stream (the reference raises).
    MalformedLocation,
    /// WebSocket location without host sub-TLV.
    NoHost,
    /// Host is not UTF-8.
    HostNotUtf8,
    /// use_tls is neither 0 nor 1.
    UseTls,
    /// Placeholder location without its sub-TLV.
    NoPlaceholder,
    /// Placeholder is not UTF-8.
    PlaceholderNotUtf8,
    /// Valid, but beyond this build's storage limits.
    Capacity(CapacityError),
}

impl fmt::Display for V0Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            V0Error::Tlv(e) => return e.fmt(f),
            V0Error::BigSize(e) => return e.fmt(f),
            V0Error::Capacity(e) => return e.fmt(f),
            V0Error::NotMoneysocket => "string is not a moneysocket beacon",
            V0Error::UnexpectedTlvType => "got unexpected tlv type",
            V0Error::UnexpectedSharedSeedType => "got unexpected shared seed tlv type",
            V0Error::UnexpectedLocationListType => "got unexpected location list tlv type",
            V0Error::SeedLength => "shared seed must be 16 bytes",
            V0Error::UnexpectedLocationCountType => "got unexpected location count tlv type",
            V0Error::UnknownLocationType => "unknown location type",
            V0Error::MalformedLocation => "malformed location sub-TLV stream",
            V0Error::NoHost => "no host tlv given",
            V0Error::HostNotUtf8 => "error decoding host string",
            V0Error::UseTls => "error decoding use_tls setting",
            V0Error::NoPlaceholder => "no placeholder tlv given",
            V0Error::PlaceholderNotUtf8 => "error decoding placeholder string",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for V0Error {}

impl From<TlvError> for V0Error {
    fn from(e: TlvError) -> Self {
        V0Error::Tlv(e)
    }
}

/// A v0 beacon: a shared seed and an ordered list of locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    seed: SharedSeed,
    store: Store,
}

impl Beacon {
    /// A beacon with no locations.
    pub fn new(seed: SharedSeed) -> Self {
        Beacon {
            seed,
            store: Store::default(),
        }
    }

    /// The shared seed.
    pub fn shared_seed(&self) -> SharedSeed {
        self.seed
    }

    /// The locations in order (`WebSocket` and placeholder kinds only).
    pub fn locations(&self) -> Locations<'_> {
        self.store.locations()
    }

    /// Appends a location. WebSocket locations must have the root path (v0 has no path
    /// field) and a non-zero port (the reference reads 0 as "default"); the v1 preference is
    /// not representable in v0 and is ignored. `Unknown` locations are refused.
    pub fn push_location(&mut self, loc: Location<'_>) -> Result<(), BuildError> {
        match loc {
            Location::WebSocket(ws) => {
                if !ws.path.is_empty() {
                    return Err(BuildError::PathNotSupported);
                }
                if ws.port == 0 {
                    return Err(BuildError::InvalidPort);
                }
                let ws = WebSocket {
                    preference: super::DEFAULT_PREFERENCE,
                    ..ws
                };
                self.store.push(&Location::WebSocket(ws))?;
            }
            Location::Unknown { .. } => return Err(BuildError::LocationNotSupported),
            other => self.store.push(&other)?,
        }
        Ok(())
    }

    /// Appends a WebSocket location (see [`Beacon::push_location`]).
    pub fn push_websocket(&mut self, ws: WebSocket<'_>) -> Result<(), BuildError> {
        self.push_location(Location::WebSocket(ws))
    }

    /// Builder form of [`Beacon::push_location`].
    pub fn with_location(mut self, loc: Location<'_>) -> Result<Self, BuildError> {
        self.push_location(loc)?;
        Ok(self)
    }

    /// Decodes the beacon TLV (the bech32 data bytes) with the reference's rules.
    pub fn decode_tlv(data: &[u8]) -> Result<Self, V0Error> {
        let (outer, _) = tlv::pop(data)?;
        if outer.typ != BEACON_TLV_TYPE {
            return Err(V0Error::UnexpectedTlvType);
        }
        let (ss, rest) = tlv::pop(outer.value)?;
        if ss.typ != SHARED_SEED_TLV_TYPE {
            return Err(V0Error::UnexpectedSharedSeedType);
        }
        let (ll, _) = tlv::pop(rest)?;
        if ll.typ != LOCATION_LIST_TLV_TYPE {
            return Err(V0Error::UnexpectedLocationListType);
        }
        let seed = <[u8; 16]>::try_from(ss.value).map_err(|_| V0Error::SeedLength)?;
        let mut beacon = Beacon::new(SharedSeed(seed));

        let (lc, mut rest) = tlv::pop(ll.value)?;
        if lc.typ != LOCATION_COUNT_TLV_TYPE {
            return Err(V0Error::UnexpectedLocationCountType);
        }
        let (count, _) = bigsize::decode(lc.value).map_err(V0Error::BigSize)?;
        // Capacity problems are reported only if the reference would have succeeded.
        let mut overflow = None;
        // Terminates: every pop consumes at least two bytes or fails.
        let mut i = 0u64;
        while i < count {
            let (rec, r) = tlv::pop(rest)?;
            rest = r;
            let loc = decode_location(rec)?;
            if let Err(e) = beacon.store.push(&loc) {
                overflow.get_or_insert(e);
            }
            i += 1;
        }
        match overflow {
            Some(e) => Err(V0Error::Capacity(e)),
            None => Ok(beacon),
        }
    }

    /// Writes the beacon TLV exactly as the reference encoder does.
    pub fn encode_tlv<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        tlv::write_nested(sink, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &self.seed.0)?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, self.store.len() as u64)?;
                for loc in self.locations() {
                    encode_location(s, &loc)?;
                }
                Ok(())
            })
        })
    }

    /// Writes the beacon string.
    pub fn encode_to_fmt<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        super::bech32_out(w, HRP, |s| self.encode_tlv(s))
    }
}

impl fmt::Display for Beacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.encode_to_fmt(f)
    }
}

fn encode_location(s: &mut dyn Sink, loc: &Location<'_>) -> Result<(), Overflow> {
    let (typ, text) = match *loc {
        Location::WebSocket(ws) => {
            return tlv::write_nested(s, WEBSOCKET_LOCATION_TLV_TYPE, |s| {
                tlv::write_record(s, HOST, ws.host.as_bytes())?;
                if !ws.use_tls {
                    tlv::write_bigsize_record(s, USE_TLS, 0)?;
                }
                if ws.port != WebSocket::default_port(ws.use_tls) {
                    tlv::write_bigsize_record(s, PORT, ws.port)?;
                }
                Ok(())
            })
        }
        Location::WebRtc(t) => (WEBRTC_LOCATION_TLV_TYPE, t),
        Location::Bluetooth(t) => (BLUETOOTH_LOCATION_TLV_TYPE, t),
        Location::Nfc(t) => (NFC_LOCATION_TLV_TYPE, t),
        // Never stored in a v0 beacon.
        Location::Unknown { .. } => return Ok(()),
    };
    tlv::write_nested(s, typ, |s| {
        tlv::write_record(s, PLACEHOLDER, text.as_bytes())
    })
}

/// Builds the `type → last value` map of a location's sub-TLVs for the types in `wanted`.
fn sub_tlvs<const N: usize>(value: &[u8], wanted: [u64; N]) -> Result<[Option<&[u8]>; N], V0Error> {
    let mut found = [None; N];
    for rec in tlv::records(value) {
        let rec = rec.map_err(|_| V0Error::MalformedLocation)?;
        for (slot, w) in found.iter_mut().zip(wanted) {
            if rec.typ == w {
                *slot = Some(rec.value);
            }
        }
    }
    Ok(found)
}

fn decode_location(rec: Record<'_>) -> Result<Location<'_>, V0Error> {
    match rec.typ {
        WEBSOCKET_LOCATION_TLV_TYPE => {
            let [host, use_tls, port] = sub_tlvs(rec.value, [HOST, USE_TLS, PORT])?;
            let host = host.ok_or(V0Error::NoHost)?;
            let host = core::str::from_utf8(host).map_err(|_| V0Error::HostNotUtf8)?;
            let use_tls = match use_tls {
                None => true,
                Some(v) => match bigsize::decode(v).map_err(V0Error::BigSize)?.0 {
                    0 => false,
                    1 => true,
                    _ => return Err(V0Error::UseTls),
                },
            };
            let default = WebSocket::default_port(use_tls);
            let port = match port {
                None => default,
                Some(v) => match bigsize::decode(v).map_err(V0Error::BigSize)?.0 {
                    0 => default,
                    p => p,
                },
            };
            Ok(Location::WebSocket(
                WebSocket::new(host, use_tls).with_port(port),
            ))
        }
        WEBRTC_LOCATION_TLV_TYPE => placeholder(rec.value).map(Location::WebRtc),
        BLUETOOTH_LOCATION_TLV_TYPE => placeholder(rec.value).map(Location::Bluetooth),
        NFC_LOCATION_TLV_TYPE => placeholder(rec.value).map(Location::Nfc),
        _ => Err(V0Error::UnknownLocationType),
    }
}

fn placeholder(value: &[u8]) -> Result<&str, V0Error> {
    let [text] = sub_tlvs(value, [PLACEHOLDER])?;
    let text = text.ok_or(V0Error::NoPlaceholder)?;
    core::str::from_utf8(text).map_err(|_| V0Error::PlaceholderNotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn tlv_hex(b: &Beacon) -> String {
        let mut v: Vec<u8> = Vec::new();
        b.encode_tlv(&mut v).unwrap();
        hex::encode(&v)
    }

    #[test]
    fn worked_example_of_the_reference() {
        let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        let b = Beacon::new(seed)
            .with_location(Location::WebSocket(WebSocket::new(
                "relay.socket.money",
                true,
            )))
            .unwrap();
        assert_eq!(
            b.to_string(),
            "moneysocket1lcqqzqdm8hlqqqgph5gqqqgzqvzq2ps8pqys5zcvp58qllsqqyquzg07qqqsr0cpq8lqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uszxmrns"
        );
        let data = hex::decode_vec(&tlv_hex(&b)).unwrap();
        assert_eq!(Beacon::decode_tlv(&data).unwrap(), b);
    }

    #[test]
    fn builder_refuses_what_v0_cannot_carry() {
        let mut b = Beacon::new(SharedSeed([0; 16]));
        let ws = WebSocket::new("h", true);
        assert_eq!(
            b.push_websocket(ws.with_path("/x")),
            Err(BuildError::PathNotSupported)
        );
        assert_eq!(
            b.push_websocket(ws.with_port(0)),
            Err(BuildError::InvalidPort)
        );
        assert_eq!(
            b.push_location(Location::Unknown {
                tlv_type: 7,
                bytes: &[]
            }),
            Err(BuildError::LocationNotSupported)
        );
        // "/" is the root path and fine.
        b.push_websocket(ws.with_path("/")).unwrap();
        for _ in 1..super::super::MAX_LOCATIONS {
            b.push_location(Location::Nfc("n")).unwrap();
        }
        assert_eq!(
            b.push_location(Location::Nfc("n")),
            Err(BuildError::Capacity(CapacityError::TooManyLocations))
        );
    }

    #[test]
    fn typed_errors_instead_of_reference_exceptions() {
        // seed of 15 bytes
        let mut v: Vec<u8> = Vec::new();
        tlv::write_nested(&mut v, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &[0; 15])?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, 0)
            })
        })
        .unwrap();
        assert_eq!(Beacon::decode_tlv(&v), Err(V0Error::SeedLength));
        // malformed sub-TLV stream
        let mut v: Vec<u8> = Vec::new();
        tlv::write_nested(&mut v, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &[0; 16])?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, 1)?;
                tlv::write_record(s, NFC_LOCATION_TLV_TYPE, &[0, 5, 1])
            })
        })
        .unwrap();
        assert_eq!(Beacon::decode_tlv(&v), Err(V0Error::MalformedLocation));
    }

    #[test]
    fn large_ports_and_huge_counts() {
        let b = Beacon::new(SharedSeed([7; 16]))
            .with_location(Location::WebSocket(
                WebSocket::new("h", false).with_port(1 << 40),
            ))
            .unwrap();
        let data = hex::decode_vec(&tlv_hex(&b)).unwrap();
        let d = Beacon::decode_tlv(&data).unwrap();
        assert_eq!(d.locations().next(), b.locations().next());
        // count u64::MAX with one location: runs out of records, no hang
        let mut v: Vec<u8> = Vec::new();
        tlv::write_nested(&mut v, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &[0; 16])?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, u64::MAX)?;
                tlv::write_nested(s, NFC_LOCATION_TLV_TYPE, |s| tlv::write_record(s, 0, b"x"))
            })
        })
        .unwrap();
        assert_eq!(
            Beacon::decode_tlv(&v).unwrap_err().to_string(),
            "could not get type: underrun while peeking a uint8"
        );
    }

    #[test]
    fn capacity_error_only_for_otherwise_valid_input() {
        let mut v: Vec<u8> = Vec::new();
        let n = super::super::MAX_LOCATIONS as u64 + 1;
        tlv::write_nested(&mut v, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &[0; 16])?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, n)?;
                for _ in 0..n {
                    tlv::write_nested(s, NFC_LOCATION_TLV_TYPE, |s| tlv::write_record(s, 0, b"x"))?;
                }
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(
            Beacon::decode_tlv(&v),
            Err(V0Error::Capacity(CapacityError::TooManyLocations))
        );
        // one more count than present: the reference's error wins
        let mut w: Vec<u8> = Vec::new();
        tlv::write_nested(&mut w, BEACON_TLV_TYPE, |s| {
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &[0; 16])?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                tlv::write_bigsize_record(s, LOCATION_COUNT_TLV_TYPE, n + 1)?;
                for _ in 0..n {
                    tlv::write_nested(s, NFC_LOCATION_TLV_TYPE, |s| tlv::write_record(s, 0, b"x"))?;
                }
                Ok(())
            })
        })
        .unwrap();
        assert!(matches!(Beacon::decode_tlv(&w), Err(V0Error::Tlv(_))));
    }
}
