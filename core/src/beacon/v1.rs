//! v1 (RFC draft) beacons.
//!
//! ```text
//! beacon TLV type 0 (the only record of the data part), value:
//!   0 generator_version (3 bytes)  1 role_hint (optional, 1 byte)  2 shared_seed (16 bytes)
//!   3 location_list { 0 = WebSocket location | any other type = unknown location }
//!   any further records: unknown TLVs, preserved in order
//! ```
//!
//! Decoding follows `moneysocket1`'s positional algorithm step by step and returns its error
//! strings verbatim ([`V1Error`]); encoding is canonical. Deliberate differences from
//! `moneysocket1`: a generator preference of 0 is kept (not turned into 255), a port of 0 is
//! kept (not turned into the default), an empty hostname is `invalid hostname` (not a crash),
//! and the hostname check is strict ASCII.

use super::store::Span;
use super::{
    BuildError, CapacityError, Location, Locations, Store, WebSocket, DEFAULT_PREFERENCE, HRP,
    MAX_HRP_LEN, MAX_UNKNOWN_TLVS,
};
use crate::bigsize::{self, BigSizeError};
use crate::seed::SharedSeed;
use crate::sink::{Overflow, Sink};
use crate::tlv::{self, Record};
use core::fmt;

/// Outer beacon TLV type.
pub const BEACON_TLV_TYPE: u64 = 0;
/// Generator version record type.
pub const GENERATOR_VERSION_TLV_TYPE: u64 = 0;
/// Role hint record type.
pub const ROLE_HINT_TLV_TYPE: u64 = 1;
/// Shared seed record type.
pub const SHARED_SEED_TLV_TYPE: u64 = 2;
/// Location list record type (written; not checked on decode, as in `moneysocket1`).
pub const LOCATION_LIST_TLV_TYPE: u64 = 3;
/// WebSocket location record type inside the location list.
pub const WEBSOCKET_LOCATION_TLV_TYPE: u64 = 0;

const PREFERENCE: u64 = 0;
const HOSTNAME: u64 = 1;
const TLS: u64 = 2;
const PORT: u64 = 3;
const PATH: u64 = 4;

/// Why a v1 beacon was refused. `Display` gives `moneysocket1`'s strings exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum V1Error {
    /// `unknown human readable part` (HRP does not start with `moneysocket`).
    UnknownHrp,
    /// `invalid beacon TLV` (data is not a TLV stream).
    InvalidBeaconTlv,
    /// `extra bytes in beacon` (more than one record in the data).
    ExtraBytesInBeacon,
    /// `unknown TLV` (outer type not 0, or a WebSocket location starting with another
    /// sub-record than preference or hostname).
    UnknownTlv,
    /// `invalid TLVs in beacon`.
    InvalidTlvsInBeacon,
    /// `no TLVs`.
    NoTlvs,
    /// `missing generator_version TLV`.
    MissingGeneratorVersion,
    /// `unable to decode version from bytes`.
    BadVersion,
    /// `missing shared_seed or role_hint TLV`.
    MissingSharedSeedOrRoleHint,
    /// `missing shared_seed TLV`.
    MissingSharedSeed,
    /// `unable to parse role_hint`.
    UnparsableRoleHint,
    /// `unknown role_hint value`.
    UnknownRoleHint,
    /// `extra role_hint bytes`.
    ExtraRoleHintBytes,
    /// `unable to parse shared_seed_hi`.
    SharedSeedHi,
    /// `unable to parse shared_seed_lo`.
    SharedSeedLo,
    /// `extra shared_seed bytes`.
    ExtraSharedSeedBytes,
    /// `missing location_list`.
    MissingLocationList,
    /// `invalid location_list`.
    InvalidLocationList,
    /// `no locations in location_list`.
    NoLocations,
    /// `no known locations in location_list`.
    NoKnownLocations,
    /// `invalid websocket location TLVs`.
    InvalidWebsocketTlvs,
    /// `no websocket location TLVs`.
    NoWebsocketTlvs,
    /// `unknown TLV type`.
    UnknownTlvType,
    /// `unable to parse generator_preference`.
    UnparsablePreference,
    /// `extra generator_preference bytes`.
    ExtraPreferenceBytes,
    /// `generator_preference not minimally encoded`.
    PreferenceNotMinimal,
    /// `missing hostname TLV`.
    MissingHostname,
    /// `error decoding hostname string`.
    HostnameNotUtf8,
    /// `invalid hostname`.
    InvalidHostname,
    /// `underrun while popping a u8` (empty tls record).
    TlsUnderrun,
    /// `unknown use_tls setting`.
    UnknownUseTls,
    /// `extra use_tls bytes`.
    ExtraUseTlsBytes,
    /// `use_tls not minimally encoded`.
    UseTlsNotMinimal,
    /// A malformed port BigSize (its text verbatim).
    Port(BigSizeError),
    /// `extra port bytes`.
    ExtraPortBytes,
    /// `port value too large`.
    PortTooLarge,
    /// `port not minimally encoded`.
    PortNotMinimal,
    /// `error decoding path`.
    PathNotUtf8,
    /// `path not minimally encoded`.
    PathNotMinimal,
    /// Valid, but beyond this build's storage limits.
    Capacity(CapacityError),
}

impl fmt::Display for V1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use V1Error::*;
        f.write_str(match self {
            Port(e) => return e.fmt(f),
            Capacity(e) => return e.fmt(f),
            UnknownHrp => "unknown human readable part",
            InvalidBeaconTlv => "invalid beacon TLV",
            ExtraBytesInBeacon => "extra bytes in beacon",
            UnknownTlv => "unknown TLV",
            InvalidTlvsInBeacon => "invalid TLVs in beacon",
            NoTlvs => "no TLVs",
            MissingGeneratorVersion => "missing generator_version TLV",
            BadVersion => "unable to decode version from bytes",
            MissingSharedSeedOrRoleHint => "missing shared_seed or role_hint TLV",
            MissingSharedSeed => "missing shared_seed TLV",
            UnparsableRoleHint => "unable to parse role_hint",
            UnknownRoleHint => "unknown role_hint value",
            ExtraRoleHintBytes => "extra role_hint bytes",
            SharedSeedHi => "unable to parse shared_seed_hi",
            SharedSeedLo => "unable to parse shared_seed_lo",
            ExtraSharedSeedBytes => "extra shared_seed bytes",
            MissingLocationList => "missing location_list",
            InvalidLocationList => "invalid location_list",
            NoLocations => "no locations in location_list",
            NoKnownLocations => "no known locations in location_list",
            InvalidWebsocketTlvs => "invalid websocket location TLVs",
            NoWebsocketTlvs => "no websocket location TLVs",
            UnknownTlvType => "unknown TLV type",
            UnparsablePreference => "unable to parse generator_preference",
            ExtraPreferenceBytes => "extra generator_preference bytes",
            PreferenceNotMinimal => "generator_preference not minimally encoded",
            MissingHostname => "missing hostname TLV",
            HostnameNotUtf8 => "error decoding hostname string",
            InvalidHostname => "invalid hostname",
            TlsUnderrun => "underrun while popping a u8",
            UnknownUseTls => "unknown use_tls setting",
            ExtraUseTlsBytes => "extra use_tls bytes",
            UseTlsNotMinimal => "use_tls not minimally encoded",
            ExtraPortBytes => "extra port bytes",
            PortTooLarge => "port value too large",
            PortNotMinimal => "port not minimally encoded",
            PathNotUtf8 => "error decoding path",
            PathNotMinimal => "path not minimally encoded",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for V1Error {}

/// The generator's software version carried in the beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GeneratorVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch version.
    pub patch: u8,
}

impl GeneratorVersion {
    /// What [`Beacon::new`] stamps: 1.0.0 (major 1 as the RFC intends; `moneysocket1`
    /// stamps 0.99.99).
    pub const DEFAULT: GeneratorVersion = GeneratorVersion {
        major: 1,
        minor: 0,
        patch: 0,
    };
}

impl Default for GeneratorVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Who generated the beacon and whom it seeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum RoleHint {
    /// `0x00` PROVIDER_GENERATOR_SEEKING_CONSUMER.
    ProviderGeneratorSeekingConsumer = 0,
    /// `0x01` CONSUMER_GENERATOR_SEEKING_PROVIDER.
    ConsumerGeneratorSeekingProvider = 1,
    /// `0x02` AUTOMATIC_GENERATOR.
    AutomaticGenerator = 2,
}

impl RoleHint {
    /// The enum for a wire byte.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(RoleHint::ProviderGeneratorSeekingConsumer),
            1 => Some(RoleHint::ConsumerGeneratorSeekingProvider),
            2 => Some(RoleHint::AutomaticGenerator),
            _ => None,
        }
    }

    /// The RFC's name, e.g. `AUTOMATIC_GENERATOR`.
    pub const fn name(self) -> &'static str {
        match self {
            RoleHint::ProviderGeneratorSeekingConsumer => "PROVIDER_GENERATOR_SEEKING_CONSUMER",
            RoleHint::ConsumerGeneratorSeekingProvider => "CONSUMER_GENERATOR_SEEKING_PROVIDER",
            RoleHint::AutomaticGenerator => "AUTOMATIC_GENERATOR",
        }
    }
}

/// A v1 beacon.
#[derive(Debug, Clone)]
pub struct Beacon {
    hrp: heapless::String<MAX_HRP_LEN>,
    version: GeneratorVersion,
    role_hint: Option<RoleHint>,
    seed: SharedSeed,
    store: Store,
    unknown: heapless::Vec<(u64, Span), MAX_UNKNOWN_TLVS>,
}

impl PartialEq for Beacon {
    fn eq(&self, o: &Self) -> bool {
        self.hrp == o.hrp
            && self.version == o.version
            && self.role_hint == o.role_hint
            && self.seed == o.seed
            && self.store == o.store
            && self.unknown_tlvs().eq(o.unknown_tlvs())
    }
}

impl Eq for Beacon {}

/// The v1 hostname rule of `moneysocket1`, made strictly ASCII: after dropping one trailing
/// `.`, at most 253 characters of dot-separated labels of 1–63 ASCII letters, digits and `-`
/// (not at either end), the last label not all digits (so no IP literals).
pub fn is_valid_hostname(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    if h.len() > 253 {
        return false;
    }
    let last = h.rsplit('.').next().unwrap_or("");
    if !last.is_empty() && last.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    h.split('.').all(|label| {
        let b = label.as_bytes();
        (1..=63).contains(&b.len())
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            && b.first() != Some(&b'-')
            && b.last() != Some(&b'-')
    })
}

impl Beacon {
    /// A beacon with HRP `moneysocket`, version [`GeneratorVersion::DEFAULT`], no role hint,
    /// no locations.
    pub fn new(seed: SharedSeed) -> Self {
        let mut hrp = heapless::String::new();
        // "moneysocket" always fits 83 bytes.
        let _ = hrp.push_str(HRP);
        Beacon {
            hrp,
            version: GeneratorVersion::DEFAULT,
            role_hint: None,
            seed,
            store: Store::default(),
            unknown: heapless::Vec::new(),
        }
    }

    /// The shared seed.
    pub fn shared_seed(&self) -> SharedSeed {
        self.seed
    }

    /// The human-readable part (lowercase, starts with `moneysocket`).
    pub fn hrp(&self) -> &str {
        &self.hrp
    }

    /// Sets the human-readable part, e.g. `moneysocket-paste-into-wallet-`.
    pub fn set_hrp(&mut self, hrp: &str) -> Result<(), BuildError> {
        let ok = hrp.starts_with(HRP)
            && hrp.len() <= MAX_HRP_LEN
            && hrp
                .bytes()
                .all(|c| (33..=126).contains(&c) && !c.is_ascii_uppercase());
        if !ok {
            return Err(BuildError::InvalidHrp);
        }
        self.hrp.clear();
        self.hrp.push_str(hrp).map_err(|_| BuildError::InvalidHrp)
    }

    /// The generator version.
    pub fn generator_version(&self) -> GeneratorVersion {
        self.version
    }

    /// Sets the generator version.
    pub fn set_generator_version(&mut self, v: GeneratorVersion) {
        self.version = v;
    }

    /// The role hint, if any.
    pub fn role_hint(&self) -> Option<RoleHint> {
        self.role_hint
    }

    /// Sets or clears the role hint.
    pub fn set_role_hint(&mut self, hint: Option<RoleHint>) {
        self.role_hint = hint;
    }

    /// The locations in order (`WebSocket` and `Unknown` only).
    pub fn locations(&self) -> Locations<'_> {
        self.store.locations()
    }

    /// Appends a location. WebSocket locations must satisfy [`is_valid_hostname`] and have a
    /// port in 1..=65535; a leading `/` of the path is dropped. Unknown locations must not use
    /// type 0 (that is the WebSocket type). Placeholders do not exist in v1.
    pub fn push_location(&mut self, loc: Location<'_>) -> Result<(), BuildError> {
        match loc {
            Location::WebSocket(ws) => {
                if !is_valid_hostname(ws.host) {
                    return Err(BuildError::InvalidHostname);
                }
                if ws.port == 0 || ws.port > 65535 {
                    return Err(BuildError::InvalidPort);
                }
                let ws = ws.with_path(ws.path);
                self.store.push(&Location::WebSocket(ws))?;
            }
            Location::Unknown { tlv_type, .. } if tlv_type != WEBSOCKET_LOCATION_TLV_TYPE => {
                self.store.push(&loc)?;
            }
            _ => return Err(BuildError::LocationNotSupported),
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

    /// Appends an unknown TLV after the location list (any type, re-emitted verbatim).
    pub fn push_unknown_tlv(&mut self, tlv_type: u64, value: &[u8]) -> Result<(), BuildError> {
        if self.unknown.is_full() {
            return Err(CapacityError::TooManyUnknownTlvs.into());
        }
        let span = self.store.put(value)?;
        self.unknown
            .push((tlv_type, span))
            .map_err(|_| CapacityError::TooManyUnknownTlvs.into())
    }

    /// The unknown TLVs after the location list, in order.
    pub fn unknown_tlvs(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        self.unknown.iter().map(|&(typ, span)| Record {
            typ,
            value: self.store.bytes(span),
        })
    }

    /// Decodes the beacon TLV `data` found under the (lowercase) human-readable part `hrp`,
    /// following `moneysocket1` step by step.
    pub fn decode_tlv(hrp: &str, data: &[u8]) -> Result<Self, V1Error> {
        use V1Error::*;
        if !hrp.starts_with(HRP) {
            return Err(UnknownHrp);
        }
        let hrp = heapless::String::try_from(hrp).map_err(|_| UnknownHrp)?;
        if !tlv::is_valid_stream(data) {
            return Err(InvalidBeaconTlv);
        }
        let (outer, rest) = tlv::pop(data).map_err(|_| InvalidBeaconTlv)?;
        if !rest.is_empty() {
            return Err(ExtraBytesInBeacon);
        }
        if outer.typ != BEACON_TLV_TYPE {
            return Err(UnknownTlv);
        }
        if !tlv::is_valid_stream(outer.value) {
            return Err(InvalidTlvsInBeacon);
        }
        // The stream is valid, so no record errors can occur below.
        let mut recs = tlv::records(outer.value).map_while(Result::ok);
        let version = recs.next().ok_or(NoTlvs)?;
        if version.typ != GENERATOR_VERSION_TLV_TYPE {
            return Err(MissingGeneratorVersion);
        }
        let [major, minor, patch] = <[u8; 3]>::try_from(version.value).map_err(|_| BadVersion)?;
        let mut next = recs.next().ok_or(MissingSharedSeedOrRoleHint)?;
        let mut role_hint = None;
        match next.typ {
            ROLE_HINT_TLV_TYPE => {
                let b = *next.value.first().ok_or(UnparsableRoleHint)?;
                role_hint = Some(RoleHint::from_u8(b).ok_or(UnknownRoleHint)?);
                if next.value.len() > 1 {
                    return Err(ExtraRoleHintBytes);
                }
                next = recs.next().ok_or(MissingSharedSeed)?;
                if next.typ != SHARED_SEED_TLV_TYPE {
                    return Err(MissingSharedSeed);
                }
            }
            SHARED_SEED_TLV_TYPE => {}
            _ => return Err(MissingSharedSeed),
        }
        let seed = match next.value.len() {
            0..=7 => return Err(SharedSeedHi),
            8..=15 => return Err(SharedSeedLo),
            16 => <[u8; 16]>::try_from(next.value).map_err(|_| SharedSeedLo)?,
            _ => return Err(ExtraSharedSeedBytes),
        };
        // Quirk kept for parity: the list record's type is not checked.
        let list = recs.next().ok_or(MissingLocationList)?;
        if !tlv::is_valid_stream(list.value) {
            return Err(InvalidLocationList);
        }
        let mut beacon = Beacon {
            hrp,
            version: GeneratorVersion {
                major,
                minor,
                patch,
            },
            role_hint,
            seed: SharedSeed(seed),
            store: Store::default(),
            unknown: heapless::Vec::new(),
        };
        // Capacity problems are reported only if `moneysocket1` would have succeeded.
        let mut overflow = None;
        let (mut any, mut known) = (false, false);
        for rec in tlv::records(list.value).map_while(Result::ok) {
            any = true;
            let loc = if rec.typ == WEBSOCKET_LOCATION_TLV_TYPE {
                known = true;
                Location::WebSocket(decode_websocket(rec.value)?)
            } else {
                Location::Unknown {
                    tlv_type: rec.typ,
                    bytes: rec.value,
                }
            };
            if let Err(e) = beacon.store.push(&loc) {
                overflow.get_or_insert(e);
            }
        }
        if !any {
            return Err(NoLocations);
        }
        if !known {
            return Err(NoKnownLocations);
        }
        for rec in recs {
            if let Err(e) = beacon.push_unknown_tlv(rec.typ, rec.value) {
                overflow.get_or_insert(match e {
                    BuildError::Capacity(c) => c,
                    _ => CapacityError::TooManyUnknownTlvs,
                });
            }
        }
        match overflow {
            Some(e) => Err(Capacity(e)),
            None => Ok(beacon),
        }
    }

    /// Writes the canonical beacon TLV.
    pub fn encode_tlv<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        tlv::write_nested(sink, BEACON_TLV_TYPE, |s| {
            let v = self.version;
            tlv::write_record(s, GENERATOR_VERSION_TLV_TYPE, &[v.major, v.minor, v.patch])?;
            if let Some(r) = self.role_hint {
                tlv::write_record(s, ROLE_HINT_TLV_TYPE, &[r as u8])?;
            }
            tlv::write_record(s, SHARED_SEED_TLV_TYPE, &self.seed.0)?;
            tlv::write_nested(s, LOCATION_LIST_TLV_TYPE, |s| {
                for loc in self.locations() {
                    match loc {
                        Location::WebSocket(ws) => {
                            tlv::write_nested(s, WEBSOCKET_LOCATION_TLV_TYPE, |s| {
                                encode_websocket(s, &ws)
                            })?
                        }
                        Location::Unknown { tlv_type, bytes } => {
                            tlv::write_record(s, tlv_type, bytes)?
                        }
                        // Never stored in a v1 beacon.
                        _ => {}
                    }
                }
                Ok(())
            })?;
            for r in self.unknown_tlvs() {
                tlv::write_record(s, r.typ, r.value)?;
            }
            Ok(())
        })
    }

    /// Writes the beacon string.
    pub fn encode_to_fmt<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        super::bech32_out(w, &self.hrp, |s| self.encode_tlv(s))
    }
}

impl fmt::Display for Beacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.encode_to_fmt(f)
    }
}

fn encode_websocket(s: &mut dyn Sink, ws: &WebSocket<'_>) -> Result<(), Overflow> {
    if ws.preference != DEFAULT_PREFERENCE {
        tlv::write_record(s, PREFERENCE, &[ws.preference])?;
    }
    tlv::write_record(s, HOSTNAME, ws.host.as_bytes())?;
    if !ws.use_tls {
        tlv::write_record(s, TLS, &[0])?;
    }
    if ws.port != WebSocket::default_port(ws.use_tls) {
        tlv::write_bigsize_record(s, PORT, ws.port)?;
    }
    if !ws.path.is_empty() {
        tlv::write_record(s, PATH, ws.path.as_bytes())?;
    }
    Ok(())
}

fn decode_websocket(value: &[u8]) -> Result<WebSocket<'_>, V1Error> {
    use V1Error::*;
    if !tlv::is_valid_stream(value) {
        return Err(InvalidWebsocketTlvs);
    }
    let mut recs = tlv::records(value).map_while(Result::ok);
    let first = recs.next().ok_or(NoWebsocketTlvs)?;
    let (preference, host_rec) = match first.typ {
        PREFERENCE => {
            let p = match first.value {
                [] => return Err(UnparsablePreference),
                [p] => *p,
                _ => return Err(ExtraPreferenceBytes),
            };
            if p == DEFAULT_PREFERENCE {
                return Err(PreferenceNotMinimal);
            }
            let h = recs.next().ok_or(MissingHostname)?;
            if h.typ != HOSTNAME {
                return Err(UnknownTlvType);
            }
            (p, h)
        }
        HOSTNAME => (DEFAULT_PREFERENCE, first),
        _ => return Err(UnknownTlv),
    };
    let host = core::str::from_utf8(host_rec.value).map_err(|_| HostnameNotUtf8)?;
    if !is_valid_hostname(host) {
        return Err(InvalidHostname);
    }
    let mut use_tls = true;
    let mut port: Option<u64> = None;
    let mut path = "";
    for rec in recs {
        match rec.typ {
            TLS => {
                let b = *rec.value.first().ok_or(TlsUnderrun)?;
                if b > 1 {
                    return Err(UnknownUseTls);
                }
                if rec.value.len() > 1 {
                    return Err(ExtraUseTlsBytes);
                }
                if b == 1 {
                    return Err(UseTlsNotMinimal);
                }
                use_tls = false;
            }
            PORT => {
                let (p, rest) = bigsize::decode(rec.value).map_err(Port)?;
                if !rest.is_empty() {
                    return Err(ExtraPortBytes);
                }
                if p > 65535 {
                    return Err(PortTooLarge);
                }
                if p == WebSocket::default_port(use_tls) {
                    return Err(PortNotMinimal);
                }
                port = Some(p);
            }
            PATH => {
                let p = core::str::from_utf8(rec.value).map_err(|_| PathNotUtf8)?;
                if p.is_empty() {
                    return Err(PathNotMinimal);
                }
                path = p;
            }
            _ => return Err(UnknownTlvType),
        }
    }
    let port = port.unwrap_or(WebSocket::default_port(use_tls));
    Ok(WebSocket::new(host, use_tls)
        .with_port(port)
        .with_path(path)
        .with_preference(preference))
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn hostname_rule() {
        for ok in [
            "localhost",
            "relay.socket.money",
            "relay.socket.money.",
            "A-b.C9",
            "x1.2a",
            "a.b.c.d.e.f",
        ] {
            assert!(is_valid_hostname(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["a"; 128].join("."); // 255 characters
        for bad in [
            "",
            ".",
            "10.0.0.1",
            "a.123",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "h:80",
            "\u{212a}.example",
            "a.b\n",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
        let max = ["a"; 127].join("."); // 253 characters
        assert!(is_valid_hostname(&max[..253]));
    }

    #[test]
    fn preference_zero_and_port_zero_are_kept() {
        let mut b = Beacon::new(SharedSeed([1; 16]));
        b.push_websocket(WebSocket::new("a.b", true).with_preference(0))
            .unwrap();
        let s = b.to_string();
        let d = super::super::Beacon::decode(&s).unwrap();
        let ws = d.first_websocket().unwrap();
        assert_eq!(ws.preference, 0);
        // Port 0 on the wire decodes as 0 (moneysocket1 would rewrite it to the default).
        let ws = decode_websocket(&[1, 3, b'a', b'.', b'b', 3, 1, 0]).unwrap();
        assert_eq!(ws.port, 0);
    }

    #[test]
    fn builder_validation() {
        let mut b = Beacon::new(SharedSeed([1; 16]));
        assert_eq!(
            b.push_websocket(WebSocket::new("1.2.3.4", true)),
            Err(BuildError::InvalidHostname)
        );
        assert_eq!(
            b.push_websocket(WebSocket::new("a.b", true).with_port(70000)),
            Err(BuildError::InvalidPort)
        );
        assert_eq!(
            b.push_location(Location::Unknown {
                tlv_type: 0,
                bytes: &[]
            }),
            Err(BuildError::LocationNotSupported)
        );
        assert_eq!(
            b.push_location(Location::WebRtc("x")),
            Err(BuildError::LocationNotSupported)
        );
        assert_eq!(b.set_hrp("lnbc"), Err(BuildError::InvalidHrp));
        assert_eq!(b.set_hrp("MONEYSOCKET"), Err(BuildError::InvalidHrp));
        b.set_hrp("moneysocket-paste-into-wallet-").unwrap();
        for i in 0..MAX_UNKNOWN_TLVS {
            b.push_unknown_tlv(i as u64, &[1]).unwrap();
        }
        assert_eq!(
            b.push_unknown_tlv(99, &[]),
            Err(BuildError::Capacity(CapacityError::TooManyUnknownTlvs))
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            V1Error::Port(BigSizeError::Underrun(8)).to_string(),
            "underrun while peeking a uint8"
        );
        assert_eq!(
            V1Error::TlsUnderrun.to_string(),
            "underrun while popping a u8"
        );
    }

    #[test]
    fn non_canonical_websocket_locations() {
        // port 80 before tls=0 passes (default checked against TLS seen so far)
        let ws = decode_websocket(&[1, 1, b'h', 3, 1, 80, 2, 1, 0]).unwrap();
        assert_eq!((ws.use_tls, ws.port), (false, 80));
        // duplicates: last wins; path leading slashes stripped
        let ws = decode_websocket(&[1, 1, b'h', 4, 1, b'x', 4, 2, b'/', b'y']).unwrap();
        assert_eq!(ws.path, "y");
        let ws = decode_websocket(&[1, 1, b'h', 4, 1, b'/']).unwrap();
        assert_eq!(ws.path, "");
        // a second hostname or a late preference is an unknown TLV type
        assert_eq!(
            decode_websocket(&[1, 1, b'h', 1, 1, b'g']),
            Err(V1Error::UnknownTlvType)
        );
        assert_eq!(
            decode_websocket(&[1, 1, b'h', 0, 1, 3]),
            Err(V1Error::UnknownTlvType)
        );
        assert_eq!(decode_websocket(&[1, 0]), Err(V1Error::InvalidHostname));
    }
}
