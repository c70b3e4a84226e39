//! The BOLT 11 writer: the fields of an invoice ([`UnsignedInvoice`]) written as a signed,
//! bech32-checksummed string into a [`Sink`], without allocation.
//!
//! The signature is made by a caller-supplied closure over the same hash the reader computes
//! ([`Invoice::signing_hash`](super::Invoice::signing_hash)), so no secret key ever enters
//! the core. The output is lowercase; the fields are written in the order of the
//! specification's current examples: `s`, `p`, `d` or `h`, `n`, `x`, `c`, `9`. Everything
//! written is what [`Invoice::parse`](super::Invoice::parse) accepts: the writer refuses
//! what the reader would reject (a description over [`MAX_FIELD_BYTES`], unknown required
//! feature bits, `basic_mpp` without `payment_secret`, a timestamp over 35 bits, a
//! recovery id over 3).

use super::{write_amount, Network, DEFAULT_EXPIRY_SECS, KNOWN_FEATURE_BITS, MAX_FIELD_BYTES};
use crate::sink::{Overflow, Sink};
use core::fmt;
use core::num::NonZeroU64;
use sha2::{Digest, Sha256};

/// The feature bits a modern node writes and this writer uses by default:
/// `var_onion_optin` (8) and `payment_secret` (14), both required.
pub const DEFAULT_FEATURES: [usize; 2] = [8, 14];

/// Highest feature bit a `9` field can carry (1023 groups of 5 bits).
pub const MAX_FEATURE_BIT: usize = 1023 * 5 - 1;

/// Tags, as 5-bit values.
const TAG_P: u8 = 1;
const TAG_S: u8 = 16;
const TAG_D: u8 = 13;
const TAG_H: u8 = 23;
const TAG_N: u8 = 19;
const TAG_X: u8 = 6;
const TAG_C: u8 = 24;
const TAG_9: u8 = 5;

/// The bech32 characters, indexed by 5-bit value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// The BIP-173 checksum generator.
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];

/// What the invoice commits to as its description, for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptionRef<'a> {
    /// A `d` field: the description itself (at most [`MAX_FIELD_BYTES`] bytes of UTF-8).
    Direct(&'a str),
    /// An `h` field: the SHA-256 of a description transported elsewhere.
    Hash(&'a [u8; 32]),
}

/// Why an invoice could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteError {
    /// The timestamp does not fit 35 bits.
    TimestampTooLarge,
    /// The description is longer than [`MAX_FIELD_BYTES`] bytes.
    DescriptionTooLong,
    /// A feature bit above [`MAX_FEATURE_BIT`].
    FeatureBitTooHigh {
        /// The bit number.
        bit: usize,
    },
    /// An even (required) feature bit readers do not know (see
    /// [`KNOWN_FEATURE_BITS`]).
    UnknownRequiredFeature {
        /// The bit number.
        bit: usize,
    },
    /// A feature without the feature it depends on (`basic_mpp` needs `payment_secret`).
    MissingFeatureDependency {
        /// The feature (even bit of its pair).
        feature: usize,
        /// The feature it requires (even bit of its pair).
        requires: usize,
    },
    /// The payee node id does not start with 02 or 03 (not a compressed public key).
    InvalidPayeeKey,
    /// The signer returned a recovery id above 3.
    InvalidRecoveryId(u8),
    /// The sink is full.
    Overflow,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::TimestampTooLarge => f.write_str("invoice timestamp exceeds 35 bits"),
            WriteError::DescriptionTooLong => write!(
                f,
                "invoice description exceeds {MAX_FIELD_BYTES} bytes (use a description hash)"
            ),
            WriteError::FeatureBitTooHigh { bit } => {
                write!(f, "feature bit {bit} exceeds {MAX_FEATURE_BIT}")
            }
            WriteError::UnknownRequiredFeature { bit } => {
                write!(f, "unknown required feature bit {bit}")
            }
            WriteError::MissingFeatureDependency { feature, requires } => {
                write!(f, "feature {feature} set without feature {requires}")
            }
            WriteError::InvalidPayeeKey => {
                f.write_str("payee node id is not a compressed public key")
            }
            WriteError::InvalidRecoveryId(id) => {
                write!(f, "signature recovery id {id} is not in 0..=3")
            }
            WriteError::Overflow => f.write_str("output buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WriteError {}

impl From<Overflow> for WriteError {
    fn from(_: Overflow) -> Self {
        WriteError::Overflow
    }
}

/// The fields of an invoice to write. Build one with [`UnsignedInvoice::new`] and set the
/// optional fields, then [`UnsignedInvoice::write`] it with a signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedInvoice<'a> {
    /// The chain (the human-readable prefix).
    pub network: Network,
    /// The amount, in millisatoshis (`None`: any amount).
    pub amount_msat: Option<NonZeroU64>,
    /// Creation time, seconds since 1970 (below 2^35).
    pub timestamp: u64,
    /// `p`: the payment hash.
    pub payment_hash: [u8; 32],
    /// `s`: the payment secret.
    pub payment_secret: [u8; 32],
    /// `d` or `h`.
    pub description: DescriptionRef<'a>,
    /// `n`: the payee's compressed public key, written when set (readers then verify the
    /// signature against it instead of recovering it).
    pub payee_node_id: Option<[u8; 33]>,
    /// `x`: seconds until expiry, written when set (readers assume 3600 without it).
    pub expiry_secs: Option<u64>,
    /// `c`: `min_final_cltv_expiry_delta`, written when set (readers assume 18 without it).
    pub min_final_cltv_expiry_delta: Option<u64>,
    /// `9`: the feature bits set (any order; duplicates are harmless); empty writes no `9`.
    pub features: &'a [usize],
}

impl<'a> UnsignedInvoice<'a> {
    /// An invoice without amount, payee, expiry or CLTV fields, with
    /// [`DEFAULT_FEATURES`].
    pub fn new(
        network: Network,
        timestamp: u64,
        payment_hash: [u8; 32],
        payment_secret: [u8; 32],
        description: DescriptionRef<'a>,
    ) -> Self {
        UnsignedInvoice {
            network,
            amount_msat: None,
            timestamp,
            payment_hash,
            payment_secret,
            description,
            payee_node_id: None,
            expiry_secs: None,
            min_final_cltv_expiry_delta: None,
            features: &DEFAULT_FEATURES,
        }
    }

    /// When the invoice expires, seconds since 1970 (saturating), as the reader computes it.
    pub fn expires_at(&self) -> u64 {
        self.timestamp
            .saturating_add(self.expiry_secs.unwrap_or(DEFAULT_EXPIRY_SECS))
    }

    /// The hash the signature commits to: SHA-256 of the human-readable part and the data
    /// part before the signature, regrouped to bytes with zero padding.
    pub fn signing_hash(&self) -> Result<[u8; 32], WriteError> {
        self.check()?;
        let hrp = self.hrp()?;
        let mut hasher = GroupHasher::new(hrp.as_bytes());
        self.emit(&mut hasher)?;
        Ok(hasher.finish())
    }

    /// Writes the invoice into `out`, lowercase, signed by `sign`: it gets the
    /// [signing hash](Self::signing_hash) and returns the 64-byte compact signature
    /// (`r ‖ s`) and its recovery id (0..=3). `sign` is not called when the fields are
    /// invalid. On an error, `out` may hold a partial invoice.
    pub fn write<S, F>(&self, out: &mut S, sign: F) -> Result<(), WriteError>
    where
        S: Sink + ?Sized,
        F: FnOnce(&[u8; 32]) -> ([u8; 64], u8),
    {
        let hash = self.signing_hash()?;
        let (rs, recovery_id) = sign(&hash);
        if recovery_id > 3 {
            return Err(WriteError::InvalidRecoveryId(recovery_id));
        }
        let hrp = self.hrp()?;
        let mut w = Bech32Writer::new(out, hrp.as_bytes())?;
        self.emit(&mut w)?;
        let mut sig = [0u8; 65];
        if let Some((last, head)) = sig.split_last_mut() {
            head.copy_from_slice(&rs);
            *last = recovery_id;
        }
        emit_bytes(&mut w, &sig)?;
        w.finish()
    }

    /// Writes the invoice into a new string (see [`UnsignedInvoice::write`]).
    #[cfg(feature = "alloc")]
    pub fn to_signed_string<F>(&self, sign: F) -> Result<alloc::string::String, WriteError>
    where
        F: FnOnce(&[u8; 32]) -> ([u8; 64], u8),
    {
        let mut out = alloc::vec::Vec::new();
        self.write(&mut out, sign)?;
        // Only bech32 characters and the ASCII prefix were written.
        alloc::string::String::from_utf8(out).map_err(|_| WriteError::Overflow)
    }

    /// The human-readable part: prefix and amount.
    fn hrp(&self) -> Result<heapless::String<32>, WriteError> {
        let mut hrp = heapless::String::<32>::new();
        hrp.push_str(self.network.prefix())
            .map_err(|()| WriteError::Overflow)?;
        if let Some(msat) = self.amount_msat {
            write_amount(&mut hrp, msat).map_err(|_| WriteError::Overflow)?;
        }
        Ok(hrp)
    }

    /// Everything the reader would reject, before anything is signed or written.
    fn check(&self) -> Result<(), WriteError> {
        if self.timestamp >> 35 != 0 {
            return Err(WriteError::TimestampTooLarge);
        }
        if let DescriptionRef::Direct(d) = self.description {
            if d.len() > MAX_FIELD_BYTES {
                return Err(WriteError::DescriptionTooLong);
            }
        }
        if let Some(n) = &self.payee_node_id {
            if !matches!(n.first(), Some(2 | 3)) {
                return Err(WriteError::InvalidPayeeKey);
            }
        }
        for &bit in self.features {
            if bit > MAX_FEATURE_BIT {
                return Err(WriteError::FeatureBitTooHigh { bit });
            }
            if bit % 2 == 0 && !KNOWN_FEATURE_BITS.contains(&bit) {
                return Err(WriteError::UnknownRequiredFeature { bit });
            }
        }
        let has = |pair: usize| self.features.iter().any(|&b| b | 1 == pair | 1);
        if has(16) && !has(14) {
            return Err(WriteError::MissingFeatureDependency {
                feature: 16,
                requires: 14,
            });
        }
        Ok(())
    }

    /// The data part before the signature, as 5-bit groups.
    fn emit<G: Groups>(&self, g: &mut G) -> Result<(), Overflow> {
        emit_uint(g, self.timestamp, 7)?;
        emit_bytes_field(g, TAG_S, &self.payment_secret)?;
        emit_bytes_field(g, TAG_P, &self.payment_hash)?;
        match self.description {
            DescriptionRef::Direct(d) => emit_bytes_field(g, TAG_D, d.as_bytes())?,
            DescriptionRef::Hash(h) => emit_bytes_field(g, TAG_H, h)?,
        }
        if let Some(n) = &self.payee_node_id {
            emit_bytes_field(g, TAG_N, n)?;
        }
        if let Some(x) = self.expiry_secs {
            emit_uint_field(g, TAG_X, x)?;
        }
        if let Some(c) = self.min_final_cltv_expiry_delta {
            emit_uint_field(g, TAG_C, c)?;
        }
        if let Some(&top) = self.features.iter().max() {
            let len = top / 5 + 1;
            emit_header(g, TAG_9, len)?;
            for i in 0..len {
                let base = (len - 1 - i) * 5;
                let group = self
                    .features
                    .iter()
                    .filter(|&&b| b / 5 * 5 == base)
                    .fold(0u8, |acc, &b| acc | 1 << (b % 5));
                g.put(group)?;
            }
        }
        Ok(())
    }
}

/// Where 5-bit groups go.
trait Groups {
    fn put(&mut self, group: u8) -> Result<(), Overflow>;
}

/// A field's tag and 10-bit length.
fn emit_header<G: Groups>(g: &mut G, tag: u8, len: usize) -> Result<(), Overflow> {
    if len > 1023 {
        return Err(Overflow);
    }
    g.put(tag)?;
    g.put((len >> 5) as u8 & 31)?;
    g.put(len as u8 & 31)
}

/// `value` as exactly `n` big-endian groups.
fn emit_uint<G: Groups>(g: &mut G, value: u64, n: usize) -> Result<(), Overflow> {
    for i in (0..n).rev() {
        let shift = 5 * i;
        let group = if shift >= 64 {
            0
        } else {
            (value >> shift) as u8 & 31
        };
        g.put(group)?;
    }
    Ok(())
}

/// A numeric field in the fewest groups (none for zero).
fn emit_uint_field<G: Groups>(g: &mut G, tag: u8, value: u64) -> Result<(), Overflow> {
    let bits = 64 - value.leading_zeros() as usize;
    let n = bits.div_ceil(5);
    emit_header(g, tag, n)?;
    emit_uint(g, value, n)
}

/// A byte field, zero padded to whole groups.
fn emit_bytes_field<G: Groups>(g: &mut G, tag: u8, bytes: &[u8]) -> Result<(), Overflow> {
    emit_header(g, tag, (bytes.len() * 8).div_ceil(5))?;
    emit_bytes(g, bytes)
}

/// Bytes as groups, 8→5 bits, zero padded.
fn emit_bytes<G: Groups>(g: &mut G, bytes: &[u8]) -> Result<(), Overflow> {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8 | u32::from(b)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            g.put((acc >> bits) as u8 & 31)?;
        }
    }
    if bits > 0 {
        g.put((acc << (5 - bits)) as u8 & 31)?;
    }
    Ok(())
}

/// SHA-256 of the HRP and of the groups regrouped 5→8 with zero padding.
struct GroupHasher {
    sha: Sha256,
    acc: u32,
    bits: u32,
}

impl GroupHasher {
    fn new(hrp: &[u8]) -> Self {
        let mut sha = Sha256::new();
        sha.update(hrp);
        GroupHasher {
            sha,
            acc: 0,
            bits: 0,
        }
    }

    fn finish(mut self) -> [u8; 32] {
        if self.bits > 0 {
            self.sha.update([(self.acc << (8 - self.bits)) as u8]);
        }
        self.sha.finalize().into()
    }
}

impl Groups for GroupHasher {
    fn put(&mut self, group: u8) -> Result<(), Overflow> {
        self.acc = (self.acc << 5 | u32::from(group & 31)) & 0x1fff;
        self.bits += 5;
        if self.bits >= 8 {
            self.bits -= 8;
            self.sha.update([(self.acc >> self.bits) as u8]);
        }
        Ok(())
    }
}

/// Writes `hrp1`, then the groups as characters, then the checksum, computing it as it goes.
struct Bech32Writer<'s, S: Sink + ?Sized> {
    out: &'s mut S,
    chk: u32,
    buf: [u8; 64],
    len: usize,
}

fn polymod_step(chk: u32, value: u8) -> u32 {
    let top = chk >> 25;
    let mut chk = (chk & 0x01ff_ffff) << 5 ^ u32::from(value);
    for (i, gen) in GENERATOR.iter().enumerate() {
        if top >> i & 1 == 1 {
            chk ^= gen;
        }
    }
    chk
}

impl<'s, S: Sink + ?Sized> Bech32Writer<'s, S> {
    fn new(out: &'s mut S, hrp: &[u8]) -> Result<Self, Overflow> {
        let mut chk = 1;
        for &c in hrp {
            chk = polymod_step(chk, c >> 5);
        }
        chk = polymod_step(chk, 0);
        for &c in hrp {
            chk = polymod_step(chk, c & 31);
        }
        out.put(hrp)?;
        out.put(b"1")?;
        Ok(Bech32Writer {
            out,
            chk,
            buf: [0; 64],
            len: 0,
        })
    }

    fn push_char(&mut self, group: u8) -> Result<(), Overflow> {
        if self.len == self.buf.len() {
            self.flush()?;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = CHARSET[usize::from(group & 31)];
            self.len += 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Overflow> {
        let pending = self.buf.get(..self.len).unwrap_or(&[]);
        self.out.put(pending)?;
        self.len = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<(), WriteError> {
        let mut chk = self.chk;
        for _ in 0..6 {
            chk = polymod_step(chk, 0);
        }
        chk ^= 1;
        for i in (0..6).rev() {
            self.push_char((chk >> (5 * i)) as u8 & 31)?;
        }
        self.flush()?;
        Ok(())
    }
}

impl<S: Sink + ?Sized> Groups for Bech32Writer<'_, S> {
    fn put(&mut self, group: u8) -> Result<(), Overflow> {
        let group = group & 31;
        self.chk = polymod_step(self.chk, group);
        self.push_char(group)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Description, Invoice};
    use super::*;
    use crate::sink::SliceSink;

    const HASH: [u8; 32] = [7; 32];
    const SECRET: [u8; 32] = [0x11; 32];

    fn dummy_sign(_: &[u8; 32]) -> ([u8; 64], u8) {
        ([1; 64], 0)
    }

    fn written<'b>(inv: &UnsignedInvoice<'_>, buf: &'b mut [u8]) -> &'b str {
        let mut sink = SliceSink::new(buf);
        inv.write(&mut sink, dummy_sign).unwrap();
        let out = sink.into_written();
        core::str::from_utf8(out).unwrap()
    }

    #[test]
    fn round_trip_without_alloc() {
        let mut inv = UnsignedInvoice::new(
            Network::Regtest,
            1_700_000_000,
            HASH,
            SECRET,
            DescriptionRef::Direct("coffee"),
        );
        inv.amount_msat = NonZeroU64::new(1);
        inv.expiry_secs = Some(0);
        inv.min_final_cltv_expiry_delta = Some(80);
        let mut buf = [0u8; 512];
        let s = written(&inv, &mut buf);
        assert!(s.starts_with("lnbcrt10p1"), "{s}");
        let p = Invoice::parse(s).unwrap();
        assert_eq!(p.network(), Network::Regtest);
        assert_eq!(p.amount_msat(), Some(1));
        assert_eq!(p.timestamp(), 1_700_000_000);
        assert_eq!(p.payment_hash(), &HASH);
        assert_eq!(p.payment_secret(), &SECRET);
        assert!(matches!(p.description(), Description::Direct(d) if d == "coffee"));
        assert_eq!(p.expiry_secs(), 0);
        assert_eq!(p.min_final_cltv_expiry_delta(), 80);
        assert_eq!(p.signature(), &[1; 64]);
        assert_eq!(p.recovery_id(), 0);
        assert_eq!(p.signing_hash(), &inv.signing_hash().unwrap());
        let bits: heapless::Vec<usize, 4> = p.features().iter_set().collect();
        assert_eq!(&bits[..], &DEFAULT_FEATURES[..]);
    }

    #[test]
    fn small_sink_overflows() {
        let inv = UnsignedInvoice::new(
            Network::Bitcoin,
            1,
            HASH,
            SECRET,
            DescriptionRef::Hash(&[9; 32]),
        );
        let mut buf = [0u8; 100];
        let mut sink = SliceSink::new(&mut buf);
        assert_eq!(inv.write(&mut sink, dummy_sign), Err(WriteError::Overflow));
    }

    #[test]
    fn refuses_what_readers_reject() {
        let mut inv = UnsignedInvoice::new(
            Network::Bitcoin,
            1 << 35,
            HASH,
            SECRET,
            DescriptionRef::Direct("x"),
        );
        let mut sink = heapless::Vec::<u8, 1024>::new();
        let never = |_: &[u8; 32]| -> ([u8; 64], u8) { unreachable!("signed invalid fields") };
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::TimestampTooLarge)
        );
        inv.timestamp = (1 << 35) - 1;
        inv.features = &[8, 14, 100];
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::UnknownRequiredFeature { bit: 100 })
        );
        inv.features = &[8, 17];
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::MissingFeatureDependency {
                feature: 16,
                requires: 14
            })
        );
        inv.features = &[MAX_FEATURE_BIT + 2];
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::FeatureBitTooHigh {
                bit: MAX_FEATURE_BIT + 2
            })
        );
        inv.features = &[];
        inv.payee_node_id = Some([4; 33]);
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::InvalidPayeeKey)
        );
        inv.payee_node_id = None;
        let long = [b'a'; MAX_FIELD_BYTES + 1];
        inv.description = DescriptionRef::Direct(core::str::from_utf8(&long).unwrap());
        assert_eq!(
            inv.write(&mut sink, never),
            Err(WriteError::DescriptionTooLong)
        );
        inv.description = DescriptionRef::Direct("ok");
        assert_eq!(
            inv.write(&mut sink, |_| ([0; 64], 4)),
            Err(WriteError::InvalidRecoveryId(4))
        );
        sink.clear();
        inv.write(&mut sink, dummy_sign).unwrap();
        let p = Invoice::parse(core::str::from_utf8(&sink).unwrap()).unwrap();
        assert_eq!(p.timestamp(), (1 << 35) - 1);
        assert!(p.features().as_bytes().is_empty());
    }
}
