//! A BOLT 11 invoice reader and writer: network, amount, timestamp, payment hash and secret,
//! description or its hash, payment metadata, expiry, `min_final_cltv_expiry_delta`, payee
//! node id, feature bits and the 65-byte recoverable signature.
//!
//! Parsing ([`Invoice::parse`]) is structural and needs neither `alloc` nor secp256k1: it
//! verifies the bech32 checksum (through [`crate::bech`]), the human-readable part and every
//! tagged field, and computes the hash the signature commits to ([`Invoice::signing_hash`]).
//! With the `secp256k1` crate feature, [`Invoice::recover_payee`] and [`VerifiedInvoice`]
//! check the signature and yield the payee's public key.
//!
//! Writing ([`UnsignedInvoice::write`], module [`write`](mod@write)) needs no allocation
//! either: it writes into a [`Sink`](crate::sink::Sink) and takes the signature from a
//! caller's closure.
//!
//! Storage is bounded: an [`Invoice`] is about 2 KiB (a tagged field holds at most 1023 5-bit
//! groups, so the description, the metadata and the feature vector are each at most 639 or
//! 640 bytes). Time is a parameter ([`Invoice::is_expired`]); nothing here reads a clock.
//!
//! Choices where the specification leaves room or disagrees with itself:
//! - `p`, `h`, `s` and `n` fields whose length is not 52, 52, 52 and 53 groups are skipped.
//!   This is what the older text required and what the specification's own example "including
//!   fields which must be ignored" still expects, although the requirements text was changed
//!   in 2025 to fail such invoices.
//! - The first field of each kind wins; later duplicates are ignored (route hints `r` and
//!   fallback addresses `f` are not interpreted, only skipped).
//! - `x`, `c` and `9` fields that begin with a zero group (non-minimal) are rejected
//!   (the specification says readers SHOULD treat them as invalid).
//! - Field data must be padded with zero bits, as writers MUST do; other padding is rejected.
//! - Unknown even feature bits are rejected, unknown odd ones kept but ignored (see
//!   [`KNOWN_FEATURE_BITS`]); `basic_mpp` without `payment_secret` is rejected.

pub mod write;

pub use write::{DescriptionRef, UnsignedInvoice, WriteError, DEFAULT_FEATURES};

use crate::bech::{self, BechError, Checked};
use core::fmt;
use core::num::NonZeroU64;
use sha2::{Digest, Sha256};

/// Most bytes a tagged field can carry: 1023 groups × 5 bits, rounded down to bytes.
pub const MAX_FIELD_BYTES: usize = 639;

/// Most bytes of a feature vector: 1023 groups × 5 bits, rounded up to bytes.
pub const MAX_FEATURE_BYTES: usize = 640;

/// Expiry when the invoice has no `x` field, in seconds.
pub const DEFAULT_EXPIRY_SECS: u64 = 3600;

/// `min_final_cltv_expiry_delta` when the invoice has no `c` field, in blocks.
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 18;

/// Feature bits (both of each even/odd pair) that BOLT 9 defines for the invoice context:
/// `var_onion_optin` (8/9), `payment_secret` (14/15), `basic_mpp` (16/17),
/// `option_route_blinding` (24/25), `option_attribution_data` (36/37) and
/// `option_payment_metadata` (48/49). Any other even bit set makes the invoice invalid.
pub const KNOWN_FEATURE_BITS: [usize; 12] = [8, 9, 14, 15, 16, 17, 24, 25, 36, 37, 48, 49];

/// Groups in the timestamp.
const TIMESTAMP_GROUPS: usize = 7;
/// Groups in the signature (520 bits).
const SIGNATURE_GROUPS: usize = 104;

/// The bech32 characters, indexed by 5-bit value (to name tags).
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// The chain an invoice is for, from its human-readable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Network {
    /// `lnbc`
    Bitcoin,
    /// `lntb`
    Testnet,
    /// `lntbs`
    Signet,
    /// `lnbcrt`
    Regtest,
    /// `lnsb`
    Simnet,
}

impl Network {
    /// Prefixes, longest first where one extends another (`lnbcrt` before `lnbc`, `lntbs`
    /// before `lntb`).
    const BY_PREFIX: [(&'static str, Network); 5] = [
        ("lnbcrt", Network::Regtest),
        ("lntbs", Network::Signet),
        ("lnbc", Network::Bitcoin),
        ("lntb", Network::Testnet),
        ("lnsb", Network::Simnet),
    ];

    /// The human-readable prefix, e.g. `"lnbc"`.
    pub fn prefix(self) -> &'static str {
        match self {
            Network::Bitcoin => "lnbc",
            Network::Testnet => "lntb",
            Network::Signet => "lntbs",
            Network::Regtest => "lnbcrt",
            Network::Simnet => "lnsb",
        }
    }
}

/// A tagged field (or the timestamp or signature), to say where something was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// The 35-bit timestamp.
    Timestamp,
    /// `p`: payment hash.
    PaymentHash,
    /// `s`: payment secret.
    PaymentSecret,
    /// `d`: description.
    Description,
    /// `h`: description hash.
    DescriptionHash,
    /// `m`: payment metadata.
    Metadata,
    /// `n`: payee node id.
    PayeeNodeId,
    /// `x`: expiry.
    Expiry,
    /// `c`: `min_final_cltv_expiry_delta`.
    MinFinalCltvExpiryDelta,
    /// `f`: fallback on-chain address.
    Fallback,
    /// `r`: route hint.
    RouteHint,
    /// `9`: feature bits.
    Features,
    /// A tag this reader does not know (the 5-bit type).
    Unknown(u8),
    /// The 65-byte signature at the end.
    Signature,
}

impl Field {
    fn from_tag(tag: u8) -> Field {
        match tag {
            1 => Field::PaymentHash,
            16 => Field::PaymentSecret,
            13 => Field::Description,
            23 => Field::DescriptionHash,
            27 => Field::Metadata,
            19 => Field::PayeeNodeId,
            6 => Field::Expiry,
            24 => Field::MinFinalCltvExpiryDelta,
            9 => Field::Fallback,
            3 => Field::RouteHint,
            5 => Field::Features,
            other => Field::Unknown(other & 31),
        }
    }

    /// The bech32 character of the field's tag, for tagged fields.
    pub fn tag_char(self) -> Option<char> {
        let tag: u8 = match self {
            Field::Timestamp | Field::Signature => return None,
            Field::PaymentHash => 1,
            Field::PaymentSecret => 16,
            Field::Description => 13,
            Field::DescriptionHash => 23,
            Field::Metadata => 27,
            Field::PayeeNodeId => 19,
            Field::Expiry => 6,
            Field::MinFinalCltvExpiryDelta => 24,
            Field::Fallback => 9,
            Field::RouteHint => 3,
            Field::Features => 5,
            Field::Unknown(t) => t,
        };
        CHARSET.get(usize::from(tag)).map(|&c| char::from(c))
    }

    fn name(self) -> &'static str {
        match self {
            Field::Timestamp => "timestamp",
            Field::PaymentHash => "payment hash",
            Field::PaymentSecret => "payment secret",
            Field::Description => "description",
            Field::DescriptionHash => "description hash",
            Field::Metadata => "payment metadata",
            Field::PayeeNodeId => "payee node id",
            Field::Expiry => "expiry",
            Field::MinFinalCltvExpiryDelta => "min_final_cltv_expiry_delta",
            Field::Fallback => "fallback address",
            Field::RouteHint => "route hint",
            Field::Features => "features",
            Field::Unknown(_) => "unknown field",
            Field::Signature => "signature",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self.tag_char() {
            Some(c) => write!(f, " ({c})"),
            None => Ok(()),
        }
    }
}

/// Why the amount in the human-readable part is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AmountError {
    /// A multiplier or other characters without digits before them.
    NoDigits,
    /// The amount starts with `0` (leading zeros, or a zero amount).
    LeadingZero,
    /// The character after the digits is not one of `m`, `u`, `n`, `p`.
    InvalidMultiplier(char),
    /// More than one character follows the digits.
    TrailingCharacters,
    /// A `p` amount whose last digit is not 0 (not a whole number of millisatoshis).
    SubMillisatoshi,
    /// The amount does not fit 64 bits of millisatoshis.
    Overflow,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::NoDigits => f.write_str("amount has no digits"),
            AmountError::LeadingZero => f.write_str("amount starts with 0"),
            AmountError::InvalidMultiplier(c) => write!(f, "invalid amount multiplier {c:?}"),
            AmountError::TrailingCharacters => {
                f.write_str("amount is followed by more than a multiplier")
            }
            AmountError::SubMillisatoshi => {
                f.write_str("pico-BTC amount is not a whole number of millisatoshis")
            }
            AmountError::Overflow => f.write_str("amount overflows 64-bit millisatoshis"),
        }
    }
}

/// Why an invoice was rejected.
///
/// The signature variants are produced only with the `secp256k1` feature, but exist without
/// it so that matches do not depend on features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Bolt11Error {
    /// Not valid bech32 (syntax, case, checksum, length).
    Bech32(BechError),
    /// The human-readable part does not start with a known `ln` + currency prefix.
    UnknownPrefix,
    /// The amount in the human-readable part is invalid.
    Amount(AmountError),
    /// The data part is too short for a timestamp and a signature (groups found).
    TooShort {
        /// 5-bit groups in the data part (checksum excluded).
        groups: usize,
    },
    /// A tagged field's header or data runs into the signature.
    Truncated {
        /// The field.
        field: Field,
        /// Its position, in 5-bit groups from the start of the data part.
        at: usize,
    },
    /// Field data with non-zero or excess padding bits.
    Padding {
        /// The field.
        field: Field,
    },
    /// The description (`d`) is not UTF-8.
    InvalidUtf8,
    /// A numeric or feature field starting with a zero group.
    NonMinimal {
        /// The field.
        field: Field,
    },
    /// A numeric field too large for 64 bits.
    Overflow {
        /// The field.
        field: Field,
    },
    /// An even (required) feature bit this reader does not know.
    UnknownRequiredFeature {
        /// The bit number.
        bit: usize,
    },
    /// A feature is set without the feature it depends on.
    MissingFeatureDependency {
        /// The feature (even bit of its pair).
        feature: usize,
        /// The feature it requires (even bit of its pair).
        requires: usize,
    },
    /// A required field is absent: payment hash, payment secret, or description
    /// (neither `d` nor `h`; reported as [`Field::Description`]).
    Missing(Field),
    /// Both a description (`d`) and a description hash (`h`).
    BothDescriptions,
    /// The `n` field is not a valid compressed public key.
    InvalidPayeeKey,
    /// The signature's recovery id is not 0..=3.
    InvalidRecoveryId(u8),
    /// The signature is malformed or no public key can be recovered from it.
    InvalidSignature,
    /// With an `n` field, the signature is not in low-S form.
    HighS,
    /// With an `n` field, the signature does not verify against it.
    SignatureMismatch,
    /// The secp256k1 context did not fit its buffer (should not happen).
    SecpContext,
}

impl fmt::Display for Bolt11Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bolt11Error::Bech32(e) => write!(f, "invoice is not valid bech32: {e}"),
            Bolt11Error::UnknownPrefix => f.write_str("unknown invoice prefix (network)"),
            Bolt11Error::Amount(e) => write!(f, "invalid invoice amount: {e}"),
            Bolt11Error::TooShort { groups } => write!(
                f,
                "invoice data part too short ({groups} groups) for timestamp and signature"
            ),
            Bolt11Error::Truncated { field, at } => {
                write!(f, "{field} field at group {at} runs into the signature")
            }
            Bolt11Error::Padding { field } => write!(f, "{field} field has invalid padding"),
            Bolt11Error::InvalidUtf8 => f.write_str("description (d) is not valid UTF-8"),
            Bolt11Error::NonMinimal { field } => {
                write!(f, "{field} field is not minimally encoded")
            }
            Bolt11Error::Overflow { field } => write!(f, "{field} field value overflows"),
            Bolt11Error::UnknownRequiredFeature { bit } => {
                write!(f, "features (9) field sets unknown required bit {bit}")
            }
            Bolt11Error::MissingFeatureDependency { feature, requires } => write!(
                f,
                "features (9) field sets feature {feature} without feature {requires}"
            ),
            Bolt11Error::Missing(Field::Description) => {
                f.write_str("invoice has neither description (d) nor description hash (h)")
            }
            Bolt11Error::Missing(field) => write!(f, "invoice has no {field} field"),
            Bolt11Error::BothDescriptions => {
                f.write_str("invoice has both description (d) and description hash (h)")
            }
            Bolt11Error::InvalidPayeeKey => {
                f.write_str("payee node id (n) field is not a valid public key")
            }
            Bolt11Error::InvalidRecoveryId(id) => {
                write!(f, "signature recovery id {id} is not in 0..=3")
            }
            Bolt11Error::InvalidSignature => {
                f.write_str("signature is malformed or not recoverable")
            }
            Bolt11Error::HighS => f.write_str("signature is not low-S although n is given"),
            Bolt11Error::SignatureMismatch => {
                f.write_str("signature does not verify against payee node id (n)")
            }
            Bolt11Error::SecpContext => f.write_str("secp256k1 context buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Bolt11Error {}

impl From<BechError> for Bolt11Error {
    fn from(e: BechError) -> Self {
        Bolt11Error::Bech32(e)
    }
}

impl From<AmountError> for Bolt11Error {
    fn from(e: AmountError) -> Self {
        Bolt11Error::Amount(e)
    }
}

/// What the payment is for.
// Without alloc the description is stored inline; boxing it is not an option.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Description {
    /// The `d` field: a UTF-8 description of at most [`MAX_FIELD_BYTES`] bytes.
    Direct(heapless::String<MAX_FIELD_BYTES>),
    /// The `h` field: SHA-256 of a description transported elsewhere.
    Hash([u8; 32]),
}

/// The `9` field: a BOLT 9 feature vector, big-endian, without leading zero bytes
/// (empty when the field is absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    be: heapless::Vec<u8, MAX_FEATURE_BYTES>,
}

impl Features {
    /// The feature vector, big-endian (bit 0 is the low bit of the last byte), minimal.
    pub fn as_bytes(&self) -> &[u8] {
        &self.be
    }

    /// Whether bit `bit` is set.
    pub fn is_set(&self, bit: usize) -> bool {
        let Some(from_end) = self.be.len().checked_sub(1 + bit / 8) else {
            return false;
        };
        self.be
            .get(from_end)
            .is_some_and(|b| b >> (bit % 8) & 1 == 1)
    }

    /// Whether the feature of the pair containing `bit` is offered (required or optional).
    pub fn supports(&self, bit: usize) -> bool {
        self.is_set(bit) || self.is_set(bit ^ 1)
    }

    /// Set bits, lowest first.
    pub fn iter_set(&self) -> impl Iterator<Item = usize> + '_ {
        self.be.iter().rev().enumerate().flat_map(|(i, &b)| {
            (0..8)
                .filter(move |k| b >> k & 1 == 1)
                .map(move |k| i * 8 + k)
        })
    }

    fn set(&mut self, bit: usize) {
        let idx = self.be.len().checked_sub(1 + bit / 8);
        if let Some(byte) = idx.and_then(|i| self.be.get_mut(i)) {
            *byte |= 1 << (bit % 8);
        }
    }
}

/// A parsed BOLT 11 invoice. See the [module documentation](self) for what is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    network: Network,
    amount_msat: Option<u64>,
    timestamp: u64,
    payment_hash: [u8; 32],
    payment_secret: [u8; 32],
    description: Description,
    metadata: Option<heapless::Vec<u8, MAX_FIELD_BYTES>>,
    payee_node_id: Option<[u8; 33]>,
    expiry_secs: u64,
    min_final_cltv_expiry_delta: u64,
    features: Features,
    signature: [u8; 64],
    recovery_id: u8,
    signing_hash: [u8; 32],
}

/// Parses the amount of a human-readable part (what follows the network prefix), in
/// millisatoshis: decimal digits without leading zero, then an optional multiplier.
///
/// `""` is not accepted here (an invoice without amount has no amount part at all).
pub fn parse_amount(s: &str) -> Result<u64, AmountError> {
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let (num, rest) = bytes.split_at(digits);
    if num.is_empty() {
        return Err(AmountError::NoDigits);
    }
    if num.first() == Some(&b'0') {
        return Err(AmountError::LeadingZero);
    }
    let mut value: u128 = 0;
    for &d in num {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d - b'0')))
            .ok_or(AmountError::Overflow)?;
    }
    let msat = match rest {
        [] => value.checked_mul(100_000_000_000),
        [b'm'] => value.checked_mul(100_000_000),
        [b'u'] => value.checked_mul(100_000),
        [b'n'] => value.checked_mul(100),
        [b'p'] => {
            if value % 10 != 0 {
                return Err(AmountError::SubMillisatoshi);
            }
            Some(value / 10)
        }
        [_] => {
            let c = s
                .get(digits..)
                .and_then(|r| r.chars().next())
                .unwrap_or('?');
            return Err(AmountError::InvalidMultiplier(c));
        }
        _ => return Err(AmountError::TrailingCharacters),
    };
    msat.and_then(|m| u64::try_from(m).ok())
        .ok_or(AmountError::Overflow)
}

/// Writes `msat` as a human-readable-part amount, with the largest multiplier that
/// represents it exactly (none, `m`, `u`, `n`, or `p`).
pub fn write_amount<W: fmt::Write>(w: &mut W, msat: NonZeroU64) -> fmt::Result {
    let msat = msat.get();
    for (unit, suffix) in [
        (100_000_000_000u64, ""),
        (100_000_000, "m"),
        (100_000, "u"),
        (100, "n"),
    ] {
        if msat % unit == 0 {
            return write!(w, "{}{}", msat / unit, suffix);
        }
    }
    write!(w, "{msat}0p")
}

fn parse_hrp(hrp: &str) -> Result<(Network, Option<u64>), Bolt11Error> {
    for (prefix, network) in Network::BY_PREFIX {
        if let Some(rest) = hrp.strip_prefix(prefix) {
            let amount = if rest.is_empty() {
                None
            } else {
                Some(parse_amount(rest)?)
            };
            return Ok((network, amount));
        }
    }
    Err(Bolt11Error::UnknownPrefix)
}

/// Reads an unsigned big-endian number of `len` groups, minimal, at most 64 bits.
fn read_uint(
    groups: &mut impl Iterator<Item = u8>,
    len: usize,
    field: Field,
) -> Result<u64, Bolt11Error> {
    let mut acc: u64 = 0;
    for (i, g) in groups.take(len).enumerate() {
        if i == 0 && g == 0 {
            return Err(Bolt11Error::NonMinimal { field });
        }
        if acc >> 59 != 0 {
            return Err(Bolt11Error::Overflow { field });
        }
        acc = acc << 5 | u64::from(g & 31);
    }
    Ok(acc)
}

/// Regroups a fixed-size field into `N` bytes.
fn read_fixed<const N: usize>(
    groups: &mut impl Iterator<Item = u8>,
    len: usize,
    field: Field,
) -> Result<[u8; N], Bolt11Error> {
    let mut out = [0u8; N];
    let got = bech::regroup_into(groups.take(len), &mut out)
        .map_err(|_| Bolt11Error::Padding { field })?;
    if got.len() != N {
        return Err(Bolt11Error::Padding { field });
    }
    Ok(out)
}

/// Regroups a variable-size field into `buf`; zero groups give zero bytes.
fn read_bytes<'b>(
    groups: &mut impl Iterator<Item = u8>,
    len: usize,
    field: Field,
    buf: &'b mut [u8; MAX_FIELD_BYTES],
) -> Result<&'b [u8], Bolt11Error> {
    if len == 0 {
        return Ok(&[]);
    }
    bech::regroup_into(groups.take(len), buf).map_err(|_| Bolt11Error::Padding { field })
}

/// Reads the `9` field into a big-endian minimal byte vector and checks its bits.
fn read_features(
    groups: &mut impl Iterator<Item = u8>,
    len: usize,
) -> Result<Features, Bolt11Error> {
    let field = Field::Features;
    let total_bits = len.checked_mul(5).ok_or(Bolt11Error::Overflow { field })?;
    let nbytes = total_bits.div_ceil(8);
    let mut features = Features::default();
    features
        .be
        .resize_default(nbytes)
        .map_err(|()| Bolt11Error::Overflow { field })?;
    for (i, g) in groups.take(len).enumerate() {
        if i == 0 && g == 0 {
            return Err(Bolt11Error::NonMinimal { field });
        }
        // Group i holds bits 5*(len-1-i) .. 5*(len-1-i)+4.
        let base = (len - 1 - i) * 5;
        for k in 0..5 {
            if g >> k & 1 == 1 {
                features.set(base + k);
            }
        }
    }
    let leading = features.be.iter().take_while(|&&b| b == 0).count();
    if leading > 0 {
        let kept = features.be.len() - leading;
        features.be.rotate_left(leading);
        features.be.truncate(kept);
    }
    for bit in features.iter_set() {
        if bit % 2 == 0 && !KNOWN_FEATURE_BITS.contains(&bit) {
            return Err(Bolt11Error::UnknownRequiredFeature { bit });
        }
    }
    // basic_mpp (16/17) requires payment_secret (14/15).
    if features.supports(16) && !features.supports(14) {
        return Err(Bolt11Error::MissingFeatureDependency {
            feature: 16,
            requires: 14,
        });
    }
    Ok(features)
}

/// SHA-256 of the HRP bytes and the data groups regrouped to bytes with zero padding.
fn signing_hash(hrp: &[u8], groups: impl Iterator<Item = u8>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(hrp);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for g in groups {
        acc = (acc << 5 | u32::from(g & 31)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            h.update([(acc >> bits) as u8]);
        }
    }
    if bits > 0 {
        h.update([(acc << (8 - bits)) as u8]);
    }
    h.finalize().into()
}

/// Fields found so far while parsing (first of each kind wins).
#[derive(Default)]
struct Found {
    payment_hash: Option<[u8; 32]>,
    payment_secret: Option<[u8; 32]>,
    description: Option<heapless::String<MAX_FIELD_BYTES>>,
    description_hash: Option<[u8; 32]>,
    metadata: Option<heapless::Vec<u8, MAX_FIELD_BYTES>>,
    payee_node_id: Option<[u8; 33]>,
    expiry: Option<u64>,
    min_final_cltv: Option<u64>,
    features: Option<Features>,
}

impl Found {
    fn take_field(
        &mut self,
        field: Field,
        groups: &mut impl Iterator<Item = u8>,
        len: usize,
    ) -> Result<(), Bolt11Error> {
        match field {
            Field::PaymentHash if len == 52 && self.payment_hash.is_none() => {
                self.payment_hash = Some(read_fixed(groups, len, field)?);
            }
            Field::PaymentSecret if len == 52 && self.payment_secret.is_none() => {
                self.payment_secret = Some(read_fixed(groups, len, field)?);
            }
            Field::DescriptionHash if len == 52 && self.description_hash.is_none() => {
                self.description_hash = Some(read_fixed(groups, len, field)?);
            }
            Field::PayeeNodeId if len == 53 && self.payee_node_id.is_none() => {
                let key: [u8; 33] = read_fixed(groups, len, field)?;
                if !matches!(key.first(), Some(2 | 3)) {
                    return Err(Bolt11Error::InvalidPayeeKey);
                }
                self.payee_node_id = Some(key);
            }
            Field::Description if self.description.is_none() => {
                let mut buf = [0u8; MAX_FIELD_BYTES];
                let bytes = read_bytes(groups, len, field, &mut buf)?;
                let text = core::str::from_utf8(bytes).map_err(|_| Bolt11Error::InvalidUtf8)?;
                let mut s = heapless::String::new();
                s.push_str(text)
                    .map_err(|()| Bolt11Error::Overflow { field })?;
                self.description = Some(s);
            }
            Field::Metadata if self.metadata.is_none() => {
                let mut buf = [0u8; MAX_FIELD_BYTES];
                let bytes = read_bytes(groups, len, field, &mut buf)?;
                let v = heapless::Vec::from_slice(bytes)
                    .map_err(|()| Bolt11Error::Overflow { field })?;
                self.metadata = Some(v);
            }
            Field::Expiry if self.expiry.is_none() => {
                self.expiry = Some(read_uint(groups, len, field)?);
            }
            Field::MinFinalCltvExpiryDelta if self.min_final_cltv.is_none() => {
                self.min_final_cltv = Some(read_uint(groups, len, field)?);
            }
            Field::Features if self.features.is_none() => {
                self.features = Some(read_features(groups, len)?);
            }
            // Wrong-length fixed fields, duplicates, fallbacks, route hints, unknown tags:
            // skipped (the caller drains the groups).
            _ => {}
        }
        Ok(())
    }
}

/// The group where the signature starts in an invoice of `total` groups, if it has room for
/// a timestamp and a signature.
fn signature_start(total: usize) -> Result<usize, Bolt11Error> {
    match total.checked_sub(SIGNATURE_GROUPS) {
        Some(n) if n >= TIMESTAMP_GROUPS => Ok(n),
        _ => Err(Bolt11Error::TooShort { groups: total }),
    }
}

/// Reads the header of the tagged field at group `at` (its tag and its 10-bit length in
/// groups) and checks that the header and the data end before the signature at `sig_start`.
fn field_header(
    groups: &mut impl Iterator<Item = u8>,
    at: usize,
    sig_start: usize,
) -> Result<(Field, usize), Bolt11Error> {
    let left = sig_start - at;
    let field = Field::from_tag(groups.next().unwrap_or(0));
    if left < 3 {
        return Err(Bolt11Error::Truncated { field, at });
    }
    let hi = usize::from(groups.next().unwrap_or(0));
    let lo = usize::from(groups.next().unwrap_or(0));
    let len = hi * 32 + lo;
    if len > left - 3 {
        return Err(Bolt11Error::Truncated { field, at });
    }
    Ok((field, len))
}

/// The payment hash of `s`, read without building an [`Invoice`]: for a device that only has
/// to check a preimage and cannot spend the flash of the full reader (about 3 KB less on
/// Cortex-M). It checks the bech32 checksum and the tagged-field structure up to the first
/// 52-group `p` field, and that the invoice is long enough for a signature; it does not check
/// the prefix, the amount, the other fields or the signature. Where [`Invoice::parse`]
/// accepts an invoice, this returns the same hash.
pub fn payment_hash(s: &str) -> Result<[u8; 32], Bolt11Error> {
    let checked = Checked::new(s)?;
    let sig_start = signature_start(checked.group_count())?;
    let mut groups = checked.groups().skip(TIMESTAMP_GROUPS);
    let mut pos = TIMESTAMP_GROUPS;
    while pos < sig_start {
        let (field, len) = field_header(&mut groups, pos, sig_start)?;
        let mut data = groups.by_ref().take(len);
        if field == Field::PaymentHash && len == 52 {
            return read_fixed(&mut data, len, field);
        }
        data.for_each(drop);
        pos += 3 + len;
    }
    Err(Bolt11Error::Missing(Field::PaymentHash))
}

impl Invoice {
    /// Parses an invoice (all lowercase or all uppercase; no `lightning:` prefix).
    ///
    /// The signature's structure is checked (65 bytes, recovery id 0..=3) but not its
    /// validity: use [`Invoice::recover_payee`] or [`VerifiedInvoice`] (feature `secp256k1`),
    /// or check [`Invoice::signature`] against [`Invoice::signing_hash`] yourself.
    pub fn parse(s: &str) -> Result<Invoice, Bolt11Error> {
        let checked = Checked::new(s)?;
        let hrp = checked.hrp();
        let mut hrp_buf = [0u8; 83];
        let mut hrp_len = 0usize;
        for (slot, b) in hrp_buf.iter_mut().zip(hrp.lowercase_byte_iter()) {
            *slot = b;
            hrp_len += 1;
        }
        let hrp_bytes = hrp_buf.get(..hrp_len).unwrap_or(&[]);
        let hrp_str = core::str::from_utf8(hrp_bytes).map_err(|_| Bolt11Error::UnknownPrefix)?;
        let (network, amount_msat) = parse_hrp(hrp_str)?;

        let sig_start = signature_start(checked.group_count())?;

        let mut groups = checked.groups();
        let timestamp = read_uint_lenient(&mut groups, TIMESTAMP_GROUPS);

        let mut found = Found::default();
        let mut pos = TIMESTAMP_GROUPS;
        while pos < sig_start {
            let (field, len) = field_header(&mut groups, pos, sig_start)?;
            let mut data = groups.by_ref().take(len);
            found.take_field(field, &mut data, len)?;
            data.for_each(drop);
            pos += 3 + len;
        }

        let mut sig = [0u8; 65];
        bech::regroup_into(groups.by_ref().take(SIGNATURE_GROUPS), &mut sig).map_err(|_| {
            Bolt11Error::Padding {
                field: Field::Signature,
            }
        })?;
        let mut signature = [0u8; 64];
        let (rs, recid) = sig.split_at(64);
        signature.copy_from_slice(rs);
        let recovery_id = recid.first().copied().unwrap_or(0);
        if recovery_id > 3 {
            return Err(Bolt11Error::InvalidRecoveryId(recovery_id));
        }

        let payment_hash = found
            .payment_hash
            .ok_or(Bolt11Error::Missing(Field::PaymentHash))?;
        let payment_secret = found
            .payment_secret
            .ok_or(Bolt11Error::Missing(Field::PaymentSecret))?;
        let description = match (found.description, found.description_hash) {
            (Some(d), None) => Description::Direct(d),
            (None, Some(h)) => Description::Hash(h),
            (Some(_), Some(_)) => return Err(Bolt11Error::BothDescriptions),
            (None, None) => return Err(Bolt11Error::Missing(Field::Description)),
        };

        let signing_hash = signing_hash(hrp_bytes, checked.groups().take(sig_start));

        Ok(Invoice {
            network,
            amount_msat,
            timestamp,
            payment_hash,
            payment_secret,
            description,
            metadata: found.metadata,
            payee_node_id: found.payee_node_id,
            expiry_secs: found.expiry.unwrap_or(DEFAULT_EXPIRY_SECS),
            min_final_cltv_expiry_delta: found
                .min_final_cltv
                .unwrap_or(DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA),
            features: found.features.unwrap_or_default(),
            signature,
            recovery_id,
            signing_hash,
        })
    }

    /// The chain, from the prefix.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The amount requested in millisatoshis, if any.
    pub fn amount_msat(&self) -> Option<u64> {
        self.amount_msat
    }

    /// Creation time, seconds since 1970 (35 bits).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The payment hash (first `p` field of the right length).
    pub fn payment_hash(&self) -> &[u8; 32] {
        &self.payment_hash
    }

    /// The payment secret (`s`).
    pub fn payment_secret(&self) -> &[u8; 32] {
        &self.payment_secret
    }

    /// The description (`d`) or its hash (`h`).
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Whether `description` is the one committed to, i.e. the `d` field equals it or the
    /// `h` field is its SHA-256.
    pub fn description_matches(&self, description: &[u8]) -> bool {
        match &self.description {
            Description::Direct(d) => d.as_bytes() == description,
            Description::Hash(h) => <[u8; 32]>::from(Sha256::digest(description)) == *h,
        }
    }

    /// The payment metadata (`m`), to be passed along with the payment, if any.
    pub fn metadata(&self) -> Option<&[u8]> {
        self.metadata.as_deref()
    }

    /// The payee node id given in the `n` field, if any (not checked against the signature:
    /// see [`Invoice::recover_payee`]).
    pub fn payee_node_id(&self) -> Option<&[u8; 33]> {
        self.payee_node_id.as_ref()
    }

    /// Seconds after [`Invoice::timestamp`] the invoice expires (`x`, default 3600).
    pub fn expiry_secs(&self) -> u64 {
        self.expiry_secs
    }

    /// `min_final_cltv_expiry_delta` in blocks (`c`, default 18).
    pub fn min_final_cltv_expiry_delta(&self) -> u64 {
        self.min_final_cltv_expiry_delta
    }

    /// The feature bits (`9`).
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The signature's 64 bytes, `r ‖ s`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The signature's recovery id (0..=3).
    pub fn recovery_id(&self) -> u8 {
        self.recovery_id
    }

    /// SHA-256 of the human-readable part and the data part before the signature (regrouped
    /// to bytes with zero padding): the message the signature signs.
    pub fn signing_hash(&self) -> &[u8; 32] {
        &self.signing_hash
    }

    /// When the invoice expires, in seconds since 1970 (saturating).
    pub fn expires_at(&self) -> u64 {
        self.timestamp.saturating_add(self.expiry_secs)
    }

    /// Whether the invoice has expired at `now_unix_secs` (from [`Invoice::expires_at`] on).
    pub fn is_expired(&self, now_unix_secs: u64) -> bool {
        now_unix_secs >= self.expires_at()
    }
}

impl core::str::FromStr for Invoice {
    type Err = Bolt11Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Invoice::parse(s)
    }
}

/// Reads `len` (≤ 12) groups as a big-endian number.
fn read_uint_lenient(groups: &mut impl Iterator<Item = u8>, len: usize) -> u64 {
    groups
        .take(len)
        .fold(0u64, |acc, g| acc << 5 | u64::from(g & 31))
}

#[cfg(feature = "secp256k1")]
mod verify {
    use super::{Bolt11Error, Invoice};
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
    use secp256k1::ffi::types::AlignedType;
    use secp256k1::{Message, PublicKey, Secp256k1};

    /// Buffer for a verification context, in 16-byte words (libsecp256k1 0.5 needs far less).
    const CONTEXT_WORDS: usize = 64;

    pub(super) fn payee(inv: &Invoice) -> Result<[u8; 33], Bolt11Error> {
        let mut buf = [AlignedType::zeroed(); CONTEXT_WORDS];
        let secp = Secp256k1::preallocated_verification_only(&mut buf)
            .map_err(|_| Bolt11Error::SecpContext)?;
        let msg = Message::from_digest(inv.signing_hash);
        match &inv.payee_node_id {
            Some(n) => {
                let key = PublicKey::from_slice(n).map_err(|_| Bolt11Error::InvalidPayeeKey)?;
                let sig = Signature::from_compact(&inv.signature)
                    .map_err(|_| Bolt11Error::InvalidSignature)?;
                let mut normalized = sig;
                normalized.normalize_s();
                if normalized != sig {
                    return Err(Bolt11Error::HighS);
                }
                secp.verify_ecdsa(&msg, &sig, &key)
                    .map_err(|_| Bolt11Error::SignatureMismatch)?;
                Ok(*n)
            }
            None => {
                let id = RecoveryId::from_i32(i32::from(inv.recovery_id))
                    .map_err(|_| Bolt11Error::InvalidRecoveryId(inv.recovery_id))?;
                let sig = RecoverableSignature::from_compact(&inv.signature, id)
                    .map_err(|_| Bolt11Error::InvalidSignature)?;
                let key = secp
                    .recover_ecdsa(&msg, &sig)
                    .map_err(|_| Bolt11Error::InvalidSignature)?;
                Ok(key.serialize())
            }
        }
    }

    #[cfg(test)]
    #[test]
    fn context_fits() {
        assert!(Secp256k1::preallocate_verification_size() <= CONTEXT_WORDS);
    }
}

#[cfg(feature = "secp256k1")]
impl Invoice {
    /// Checks the signature and returns the payee's compressed public key: with an `n`
    /// field, the signature must be low-S and verify against it; otherwise the key is
    /// recovered (high-S accepted). Needs no allocation (a stack verification context).
    pub fn recover_payee(&self) -> Result<[u8; 33], Bolt11Error> {
        verify::payee(self)
    }
}

/// An invoice whose signature has been checked, with its payee (feature `secp256k1`).
#[cfg(feature = "secp256k1")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedInvoice {
    invoice: Invoice,
    payee: [u8; 33],
}

#[cfg(feature = "secp256k1")]
impl VerifiedInvoice {
    /// Parses `s` and checks its signature.
    pub fn parse(s: &str) -> Result<VerifiedInvoice, Bolt11Error> {
        VerifiedInvoice::new(Invoice::parse(s)?)
    }

    /// Checks the signature of a parsed invoice.
    pub fn new(invoice: Invoice) -> Result<VerifiedInvoice, Bolt11Error> {
        let payee = invoice.recover_payee()?;
        Ok(VerifiedInvoice { invoice, payee })
    }

    /// The payee node's public key, 33 bytes compressed.
    pub fn payee_pubkey(&self) -> &[u8; 33] {
        &self.payee
    }

    /// The invoice.
    pub fn invoice(&self) -> &Invoice {
        &self.invoice
    }

    /// The invoice, by value.
    pub fn into_invoice(self) -> Invoice {
        self.invoice
    }
}

#[cfg(feature = "secp256k1")]
impl core::ops::Deref for VerifiedInvoice {
    type Target = Invoice;

    fn deref(&self) -> &Invoice {
        &self.invoice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("2500u"), Ok(250_000_000));
        assert_eq!(parse_amount("20m"), Ok(2_000_000_000));
        assert_eq!(parse_amount("1"), Ok(100_000_000_000));
        assert_eq!(parse_amount("10p"), Ok(1));
        assert_eq!(parse_amount("9678785340p"), Ok(967_878_534));
        assert_eq!(parse_amount("1n"), Ok(100));
        assert_eq!(parse_amount("11p"), Err(AmountError::SubMillisatoshi));
        assert_eq!(parse_amount("0"), Err(AmountError::LeadingZero));
        assert_eq!(parse_amount("01m"), Err(AmountError::LeadingZero));
        assert_eq!(parse_amount("m"), Err(AmountError::NoDigits));
        assert_eq!(
            parse_amount("2500x"),
            Err(AmountError::InvalidMultiplier('x'))
        );
        assert_eq!(parse_amount("25mm"), Err(AmountError::TrailingCharacters));
        assert_eq!(parse_amount("184467440737"), Err(AmountError::Overflow));
        assert_eq!(parse_amount("184467440737095516150p"), Ok(u64::MAX));
        assert_eq!(
            parse_amount("184467440737095516160p"),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_amount("99999999999999999999999999999999999999999999"),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn write_amounts() {
        let mut s = heapless::String::<32>::new();
        for (msat, text) in [
            (100_000_000_000u64, "1"),
            (250_000_000, "2500u"),
            (2_000_000_000, "20m"),
            (1, "10p"),
            (100, "1n"),
            (u64::MAX, "184467440737095516150p"),
        ] {
            s.clear();
            write_amount(&mut s, NonZeroU64::new(msat).unwrap()).unwrap();
            assert_eq!(s.as_str(), text);
            assert_eq!(parse_amount(&s), Ok(msat));
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_hrp("lnbcrt"), Ok((Network::Regtest, None)));
        assert_eq!(
            parse_hrp("lnbcrt10m"),
            Ok((Network::Regtest, Some(1_000_000_000)))
        );
        assert_eq!(parse_hrp("lnbc"), Ok((Network::Bitcoin, None)));
        assert_eq!(parse_hrp("lntbs1u"), Ok((Network::Signet, Some(100_000))));
        assert_eq!(parse_hrp("lntb"), Ok((Network::Testnet, None)));
        assert_eq!(parse_hrp("lnsb"), Ok((Network::Simnet, None)));
        assert_eq!(parse_hrp("lnxy"), Err(Bolt11Error::UnknownPrefix));
        assert_eq!(parse_hrp("bc"), Err(Bolt11Error::UnknownPrefix));
        assert_eq!(
            parse_hrp("lnbcx"),
            Err(Bolt11Error::Amount(AmountError::NoDigits))
        );
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Signet,
            Network::Regtest,
            Network::Simnet,
        ] {
            assert_eq!(parse_hrp(n.prefix()), Ok((n, None)));
        }
    }

    #[test]
    fn uints() {
        let mut it = [1u8, 28].into_iter();
        assert_eq!(read_uint(&mut it, 2, Field::Expiry), Ok(60));
        let mut it = [0u8, 28].into_iter();
        assert_eq!(
            read_uint(&mut it, 2, Field::Expiry),
            Err(Bolt11Error::NonMinimal {
                field: Field::Expiry
            })
        );
        let mut it = [15u8; 13].into_iter();
        let want = (0..13).fold(0u64, |a, _| a << 5 | 15);
        assert_eq!(read_uint(&mut it, 13, Field::Expiry), Ok(want));
        let mut it = [16u8; 13].into_iter();
        assert_eq!(
            read_uint(&mut it, 13, Field::Expiry),
            Err(Bolt11Error::Overflow {
                field: Field::Expiry
            })
        );
    }

    #[test]
    fn features() {
        // "sgq" = 16, 8, 0: bits 14 and 8.
        let f = read_features(&mut [16u8, 8, 0].into_iter(), 3).unwrap();
        assert_eq!(f.as_bytes(), &[0x41, 0x00]);
        assert!(f.is_set(8) && f.is_set(14) && !f.is_set(9) && !f.is_set(5000));
        assert!(f.supports(15));
        let bits: heapless::Vec<usize, 8> = f.iter_set().collect();
        assert_eq!(&bits[..], &[8, 14]);
        // Unknown odd bit 99 is fine, unknown even bit 100 is not.
        let mut g = [0u8; 20];
        g[0] = 16; // bit 99 = 5*19 + 4
        let f = read_features(&mut g.into_iter(), 20).unwrap();
        assert!(f.is_set(99));
        g[0] = 0;
        g[1] = 1; // bit 5*18 = 90
        assert_eq!(
            read_features(&mut g.into_iter(), 20),
            Err(Bolt11Error::NonMinimal {
                field: Field::Features
            })
        );
        assert_eq!(
            read_features(&mut g[1..].iter().copied(), 19),
            Err(Bolt11Error::UnknownRequiredFeature { bit: 90 })
        );
        // basic_mpp without payment_secret.
        assert_eq!(
            read_features(&mut [4u8, 0, 0, 0].into_iter(), 4),
            Err(Bolt11Error::MissingFeatureDependency {
                feature: 16,
                requires: 14
            })
        );
        // Empty field.
        let f = read_features(&mut core::iter::empty(), 0).unwrap();
        assert!(f.as_bytes().is_empty());
    }

    #[test]
    fn invoice_size_is_bounded() {
        // Three 639/640-byte buffers plus fixed fields.
        assert!(core::mem::size_of::<Invoice>() <= 2400);
    }

    #[test]
    fn field_names() {
        let mut s = heapless::String::<64>::new();
        use core::fmt::Write;
        write!(s, "{}", Field::PaymentHash).unwrap();
        assert_eq!(s.as_str(), "payment hash (p)");
        s.clear();
        write!(s, "{}", Field::Features).unwrap();
        assert_eq!(s.as_str(), "features (9)");
        s.clear();
        write!(s, "{}", Field::Unknown(31)).unwrap();
        assert_eq!(s.as_str(), "unknown field (l)");
        for tag in 0..32u8 {
            assert_eq!(
                Field::from_tag(tag).tag_char(),
                Some(char::from(CHARSET[usize::from(tag)]))
            );
        }
    }
}
