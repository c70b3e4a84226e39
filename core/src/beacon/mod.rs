//! Beacons: the bech32 string that carries a shared seed and where to meet.
//!
//! Two wire formats share the `moneysocket` bech32 prefix:
//!
//! * [`v0`] — the deployed format (outer TLV type 65979), decoded with every leniency of the
//!   Python reference and encoded byte-for-byte like it;
//! * [`v1`] — the RFC draft (outer TLV type 0), decoded with the positional rules and exact
//!   error strings of `moneysocket1`, encoded canonically.
//!
//! [`Beacon::decode`] tells them apart after the bech32 step by the first BigSize of the
//! data: a value below 65536 (the v1 outer type 0, or any small type, which the v1 rules then
//! reject as `unknown TLV`) selects v1; a value of 65536 or more (every v0 type) or a
//! malformed BigSize selects v0, whose decoder reports `could not get type: …` for the latter.
//!
//! # Storage without `alloc`
//!
//! A beacon owns bounded storage: up to [`MAX_LOCATIONS`] locations, whose strings (hosts,
//! paths, placeholders) and raw bytes (unknown v1 locations and TLVs) share one byte pool of
//! [`POOL_CAPACITY`] bytes. Locations are handed out as borrowed views ([`Location`],
//! [`WebSocket`]). Input that exceeds a capacity is refused with [`CapacityError`], never
//! truncated. `size_of::<Beacon>()` is 1480 bytes on `thumbv7em-none-eabihf` and 1488 bytes
//! on x86_64 (checked loosely by the `beacon_size_is_bounded` test). Decoding and encoding
//! additionally use a [`MAX_TLV_LEN`]-byte scratch buffer on the stack, so budget about
//! 4–5 KiB of stack for [`Beacon::decode`] or [`Beacon::encode_to_fmt`].

use crate::bech::{self, BechError};
use crate::bigsize;
use crate::seed::SharedSeed;
use crate::sink::{Overflow, Sink};
use core::fmt;

mod store;
mod url;
pub mod v0;
pub mod v1;

pub use url::{UrlError, WsUrlParts};

pub(crate) use store::Store;

/// Most locations a beacon can hold.
pub const MAX_LOCATIONS: usize = 8;
/// Longest host name (bytes). v1 host names are at most 253 characters plus a trailing dot.
pub const MAX_HOST_LEN: usize = 255;
/// Longest WebSocket path (bytes, without the leading `/`).
pub const MAX_PATH_LEN: usize = 255;
/// Longest v0 placeholder string (bytes).
pub const MAX_PLACEHOLDER_LEN: usize = 255;
/// Most unknown trailing TLVs a v1 beacon can preserve.
pub const MAX_UNKNOWN_TLVS: usize = 8;
/// Bytes shared by all strings and unknown-record values of one beacon.
pub const POOL_CAPACITY: usize = 1024;
/// Largest beacon TLV payload the decoder accepts (its stack scratch buffer). Anything a
/// beacon within the capacities above can encode to is smaller than this.
pub const MAX_TLV_LEN: usize = 2048;
/// Longest human-readable part bech32 allows.
pub const MAX_HRP_LEN: usize = 83;

/// The human-readable part both versions use (v1 allows longer ones starting with it).
pub const HRP: &str = "moneysocket";

/// A decoded beacon of either version.
#[derive(Debug, Clone, PartialEq, Eq)]
// Both variants are large by design (bounded inline storage, no alloc to box into).
#[allow(clippy::large_enum_variant)]
pub enum Beacon {
    /// The deployed format.
    V0(v0::Beacon),
    /// The RFC draft format.
    V1(v1::Beacon),
}

impl Beacon {
    /// Decodes a beacon string of either version (see the module documentation).
    pub fn decode(s: &str) -> Result<Beacon, BeaconError> {
        let checked = bech::Checked::new(s).map_err(|_| BeaconError::Bech32)?;
        let mut buf = [0u8; MAX_TLV_LEN];
        let data = match checked.bytes_into(&mut buf) {
            Ok(d) => d,
            Err(BechError::TooLarge) => {
                return Err(BeaconError::Capacity(CapacityError::InputTooLong))
            }
            Err(_) => return Err(BeaconError::Bech32),
        };
        let mut hrp: heapless::String<MAX_HRP_LEN> = heapless::String::new();
        for c in checked.hrp().lowercase_char_iter() {
            // bech32 limits the HRP to 83 characters, so this always fits.
            hrp.push(c).map_err(|_| BeaconError::Bech32)?;
        }
        let v1 = matches!(bigsize::decode(data), Ok((t, _)) if t < 0x1_0000);
        if v1 {
            v1::Beacon::decode_tlv(&hrp, data)
                .map(Beacon::V1)
                .map_err(BeaconError::V1)
        } else {
            if hrp.as_str() != HRP {
                return Err(BeaconError::V0(v0::V0Error::NotMoneysocket));
            }
            v0::Beacon::decode_tlv(data)
                .map(Beacon::V0)
                .map_err(BeaconError::V0)
        }
    }

    /// The shared seed.
    pub fn shared_seed(&self) -> SharedSeed {
        match self {
            Beacon::V0(b) => b.shared_seed(),
            Beacon::V1(b) => b.shared_seed(),
        }
    }

    /// The (lowercase) human-readable part: always `moneysocket` for v0.
    pub fn hrp(&self) -> &str {
        match self {
            Beacon::V0(_) => HRP,
            Beacon::V1(b) => b.hrp(),
        }
    }

    /// The protocol version of the format: 0 or 1.
    pub fn version(&self) -> u8 {
        match self {
            Beacon::V0(_) => 0,
            Beacon::V1(_) => 1,
        }
    }

    /// The locations in wire order.
    pub fn locations(&self) -> Locations<'_> {
        match self {
            Beacon::V0(b) => b.locations(),
            Beacon::V1(b) => b.locations(),
        }
    }

    /// The WebSocket locations in wire order.
    pub fn websockets(&self) -> impl Iterator<Item = WebSocket<'_>> + '_ {
        self.locations().filter_map(|l| match l {
            Location::WebSocket(ws) => Some(ws),
            _ => None,
        })
    }

    /// The first WebSocket location (the only one v0 software ever uses).
    pub fn first_websocket(&self) -> Option<WebSocket<'_>> {
        self.websockets().next()
    }

    /// Writes the raw beacon TLV (the bytes carried in the bech32 data part).
    pub fn encode_tlv<S: Sink + ?Sized>(&self, sink: &mut S) -> Result<(), Overflow> {
        match self {
            Beacon::V0(b) => b.encode_tlv(sink),
            Beacon::V1(b) => b.encode_tlv(sink),
        }
    }

    /// Writes the beacon string (lowercase bech32).
    pub fn encode_to_fmt<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        match self {
            Beacon::V0(b) => b.encode_to_fmt(w),
            Beacon::V1(b) => b.encode_to_fmt(w),
        }
    }
}

impl fmt::Display for Beacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.encode_to_fmt(f)
    }
}

impl core::str::FromStr for Beacon {
    type Err = BeaconError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Beacon::decode(s)
    }
}

impl From<v0::Beacon> for Beacon {
    fn from(b: v0::Beacon) -> Self {
        Beacon::V0(b)
    }
}

impl From<v1::Beacon> for Beacon {
    fn from(b: v1::Beacon) -> Self {
        Beacon::V1(b)
    }
}

/// Encodes the TLV produced by `body` as bech32 with `hrp` into `w`, using a stack
/// buffer of [`MAX_TLV_LEN`] bytes.
fn bech32_out<W, F>(w: &mut W, hrp: &str, body: F) -> fmt::Result
where
    W: fmt::Write + ?Sized,
    F: FnOnce(&mut crate::sink::SliceSink<'_>) -> Result<(), Overflow>,
{
    let mut buf = [0u8; MAX_TLV_LEN];
    let mut sink = crate::sink::SliceSink::new(&mut buf);
    body(&mut sink).map_err(|_| fmt::Error)?;
    let mut w = WriteRef(w);
    bech::encode_to_fmt(&mut w, hrp, sink.written()).map_err(|_| fmt::Error)
}

/// `fmt::Write` through a reference to a possibly unsized writer.
struct WriteRef<'w, W: fmt::Write + ?Sized>(&'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for WriteRef<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}

/// A location as stored in a beacon, borrowed from it.
///
/// v0 beacons carry `WebSocket` and the three placeholder kinds; v1 beacons carry `WebSocket`
/// and `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// A WebSocket endpoint.
    WebSocket(WebSocket<'a>),
    /// v0 WebRTC placeholder (nothing can connect through it).
    WebRtc(&'a str),
    /// v0 Bluetooth placeholder.
    Bluetooth(&'a str),
    /// v0 NFC placeholder.
    Nfc(&'a str),
    /// v1 location of a type this implementation does not know, preserved verbatim.
    Unknown {
        /// The location record's TLV type (never 0, which is WebSocket).
        tlv_type: u64,
        /// The record's value.
        bytes: &'a [u8],
    },
}

/// A WebSocket location: the common view of the v0 and v1 forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebSocket<'a> {
    /// Host name or (v0 only) IP literal, without scheme, port or path.
    pub host: &'a str,
    /// `wss` when true, `ws` otherwise.
    pub use_tls: bool,
    /// The effective port (default already filled in). v0 beacons may carry values above
    /// 65535, which decode without error as in the reference; nothing can connect to them.
    pub port: u64,
    /// The path without its leading `/`; empty means the root. Always empty for v0.
    pub path: &'a str,
    /// v1 generator preference, 0 = most preferred; 255 means "not given" (the default, and
    /// what v0 beacons report).
    pub preference: u8,
}

/// Default v1 generator preference (absent on the wire).
pub const DEFAULT_PREFERENCE: u8 = 255;

impl<'a> WebSocket<'a> {
    /// A location at the default port for `use_tls`, root path, no preference.
    pub const fn new(host: &'a str, use_tls: bool) -> Self {
        WebSocket {
            host,
            use_tls,
            port: Self::default_port(use_tls),
            path: "",
            preference: DEFAULT_PREFERENCE,
        }
    }

    /// 443 with TLS, 80 without.
    pub const fn default_port(use_tls: bool) -> u64 {
        if use_tls {
            443
        } else {
            80
        }
    }

    /// The same location with another port.
    pub const fn with_port(mut self, port: u64) -> Self {
        self.port = port;
        self
    }

    /// The same location with another path (leading `/` optional).
    pub fn with_path(mut self, path: &'a str) -> Self {
        self.path = path.trim_start_matches('/');
        self
    }

    /// The same location with a v1 generator preference.
    pub const fn with_preference(mut self, preference: u8) -> Self {
        self.preference = preference;
        self
    }

    /// The port as `u16`, if it is one (v0 beacons may carry larger values).
    pub fn port_u16(&self) -> Option<u16> {
        u16::try_from(self.port).ok()
    }

    /// Writes the URL `ws[s]://host:port[/path]` (an IPv6 host in brackets).
    pub fn url<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        use fmt::Write as _;
        let scheme = if self.use_tls { "wss" } else { "ws" };
        if self.host.contains(':') {
            write!(
                WriteRef(&mut *w),
                "{scheme}://[{}]:{}",
                self.host,
                self.port
            )?;
        } else {
            write!(WriteRef(&mut *w), "{scheme}://{}:{}", self.host, self.port)?;
        }
        if !self.path.is_empty() {
            w.write_char('/')?;
            w.write_str(self.path)?;
        }
        Ok(())
    }

    /// Parses `ws://host[:port][/path][?query]` or `wss://…` with [`WsUrlParts::parse`].
    /// The result borrows `url`; the path (query included) comes back without leading slashes.
    pub fn parse_url(url: &'a str) -> Result<Self, UrlError> {
        url::parse(url)
    }
}

impl fmt::Display for WebSocket<'_> {
    /// The URL, as [`WebSocket::url`] writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.url(f)
    }
}

/// Iterator over a beacon's locations, in wire order.
#[derive(Debug, Clone)]
pub struct Locations<'a> {
    store: &'a Store,
    next: usize,
}

impl<'a> Iterator for Locations<'a> {
    type Item = Location<'a>;
    fn next(&mut self) -> Option<Location<'a>> {
        let loc = self.store.location(self.next)?;
        self.next += 1;
        Some(loc)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.store.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Locations<'_> {}

/// Why a beacon string could not be decoded. `Display` gives the reference wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BeaconError {
    /// Any bech32-level failure: `could not decode bech32 string`.
    Bech32,
    /// A v0 (or non-v1) payload was refused.
    V0(v0::V0Error),
    /// A v1 payload was refused.
    V1(v1::V1Error),
    /// The input is larger than this build can hold (only raised where the reference would
    /// otherwise decode successfully, except for [`CapacityError::InputTooLong`]).
    Capacity(CapacityError),
}

impl fmt::Display for BeaconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BeaconError::Bech32 => f.write_str("could not decode bech32 string"),
            BeaconError::V0(e) => e.fmt(f),
            BeaconError::V1(e) => e.fmt(f),
            BeaconError::Capacity(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BeaconError {}

/// A bounded-storage limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CapacityError {
    /// More than [`MAX_LOCATIONS`] locations.
    TooManyLocations,
    /// More than [`MAX_UNKNOWN_TLVS`] unknown v1 TLVs.
    TooManyUnknownTlvs,
    /// A host longer than [`MAX_HOST_LEN`] bytes.
    HostTooLong,
    /// A path longer than [`MAX_PATH_LEN`] bytes.
    PathTooLong,
    /// A placeholder longer than [`MAX_PLACEHOLDER_LEN`] bytes.
    PlaceholderTooLong,
    /// All strings and unknown values together exceed [`POOL_CAPACITY`] bytes.
    PoolFull,
    /// The bech32 data is longer than [`MAX_TLV_LEN`] bytes.
    InputTooLong,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityError::TooManyLocations => {
                write!(f, "beacon has more than {MAX_LOCATIONS} locations")
            }
            CapacityError::TooManyUnknownTlvs => {
                write!(f, "beacon has more than {MAX_UNKNOWN_TLVS} unknown TLVs")
            }
            CapacityError::HostTooLong => write!(f, "host longer than {MAX_HOST_LEN} bytes"),
            CapacityError::PathTooLong => write!(f, "path longer than {MAX_PATH_LEN} bytes"),
            CapacityError::PlaceholderTooLong => {
                write!(f, "placeholder longer than {MAX_PLACEHOLDER_LEN} bytes")
            }
            CapacityError::PoolFull => {
                write!(f, "beacon strings exceed {POOL_CAPACITY} bytes")
            }
            CapacityError::InputTooLong => {
                write!(f, "beacon data longer than {MAX_TLV_LEN} bytes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CapacityError {}

/// Why a location or field could not be added to a beacon being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// A storage limit was hit.
    Capacity(CapacityError),
    /// v0 locations have no path field; only the root path can be expressed.
    PathNotSupported,
    /// This kind of location does not exist in this beacon version (placeholders in v1,
    /// unknown locations in v0, or an unknown v1 location of type 0).
    LocationNotSupported,
    /// The host name fails the v1 host-name rule (ASCII labels; no IP literals).
    InvalidHostname,
    /// Port 0, or (v1) a port above 65535.
    InvalidPort,
    /// The v1 human-readable part must be lowercase bech32 HRP text starting with
    /// `moneysocket`, at most 83 characters.
    InvalidHrp,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Capacity(e) => e.fmt(f),
            BuildError::PathNotSupported => f.write_str("v0 beacons cannot carry a path"),
            BuildError::LocationNotSupported => {
                f.write_str("location kind not supported by this beacon version")
            }
            BuildError::InvalidHostname => f.write_str("invalid hostname"),
            BuildError::InvalidPort => f.write_str("invalid port"),
            BuildError::InvalidHrp => f.write_str("invalid human readable part"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BuildError {}

impl From<CapacityError> for BuildError {
    fn from(e: CapacityError) -> Self {
        BuildError::Capacity(e)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
