//! Entropy: what a board must provide for the session's request uuids and AES-CBC IVs.
//!
//! A board implements [`Entropy`] over its hardware TRNG (or a CSPRNG seeded from it) and sets
//! [`Entropy::SECURE`]. The device announces at boot which source it runs on, and says
//! plainly when it is not secure.

use rand_core::{CryptoRng, RngCore};

/// A board's entropy source, as the session draws from it.
pub trait Entropy: RngCore + CryptoRng {
    /// Whether this source is fit for real money (a hardware TRNG or a CSPRNG seeded from one).
    const SECURE: bool;
    /// A short name for the boot line.
    const SOURCE: &'static str;
}
