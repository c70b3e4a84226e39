//! The web wallet's spending allowance: what an upstream app may still spend through the
//! wallet, enforced on every upstream pay request (host-apps §3.3 only advertised it).
//!
//! The allowance has a cap (the web wallet sets it from the slider: a share of the downstream
//! balance, [`Allowance::percent_of`]) and counts what it let through:
//! `left = min(cap − spent − reserved, balance)`. A pay above `left` (or without an amount)
//! is refused before it reaches the downstream provider; a pay let through is reserved at
//! once, spent when its preimage comes back and released if it fails.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

/// Why an upstream pay was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The invoice has no amount: the wallet cannot check it against the allowance.
    NoAmount,
    /// The invoice asks more than is left.
    OverAllowance {
        /// The invoice's amount, msat.
        msats: u64,
        /// What is left, msat.
        left: u64,
    },
    /// The same request is already under way.
    Duplicate,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoAmount => f.write_str("allowance: invoice without an amount refused"),
            Refusal::OverAllowance { msats, left } => write!(
                f,
                "allowance exceeded: invoice of {msats} msat, {left} msat left"
            ),
            Refusal::Duplicate => f.write_str("allowance: request already under way"),
        }
    }
}

/// The allowance of one upstream app. Amounts are msat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowance {
    /// The cap: what the upstream app may spend in all, msat.
    cap: u64,
    /// Paid (settled) through the wallet so far.
    spent: u64,
    /// Reserved by pays under way, by request id.
    pending: BTreeMap<String, u64>,
}

impl Allowance {
    /// An allowance of `cap` msat, nothing spent.
    pub fn new(cap: u64) -> Self {
        Allowance {
            cap,
            ..Allowance::default()
        }
    }

    /// The cap as `percent` (0..=100, larger is taken as 100) of `balance` msat, rounded
    /// down (the slider of host-apps §3.3).
    pub fn percent_of(balance: u64, percent: u8) -> u64 {
        let p = u128::from(percent.min(100));
        (u128::from(balance) * p / 100) as u64
    }

    /// Sets a new cap (the slider moved); what was spent stays spent.
    pub fn set_cap(&mut self, cap: u64) {
        self.cap = cap;
    }

    /// The cap, msat.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Settled through the wallet, msat.
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// What an upstream app may still spend, msat: the cap less what is spent and
    /// reserved, and never more than the downstream `balance`.
    pub fn left(&self, balance: u64) -> u64 {
        let reserved: u64 = self.pending.values().fold(0, |a, &b| a.saturating_add(b));
        self.cap
            .saturating_sub(self.spent)
            .saturating_sub(reserved)
            .min(balance)
    }

    /// An upstream pay of an invoice of `msats` (`None`: no amount) under request id
    /// `request`: reserved and let through, or refused.
    pub fn begin_pay(
        &mut self,
        request: &str,
        msats: Option<u64>,
        balance: u64,
    ) -> Result<(), Refusal> {
        let msats = msats.ok_or(Refusal::NoAmount)?;
        if self.pending.contains_key(request) {
            return Err(Refusal::Duplicate);
        }
        let left = self.left(balance);
        if msats > left {
            return Err(Refusal::OverAllowance { msats, left });
        }
        self.pending.insert(request.into(), msats);
        Ok(())
    }

    /// The pay `request` succeeded (a preimage came back): its reservation is spent.
    /// Returns the msats, or `None` for an unknown request.
    pub fn settle(&mut self, request: &str) -> Option<u64> {
        let m = self.pending.remove(request)?;
        self.spent = self.spent.saturating_add(m);
        Some(m)
    }

    /// The pay `request` failed: its reservation is released. Returns the msats, or
    /// `None` for an unknown request.
    pub fn release(&mut self, request: &str) -> Option<u64> {
        self.pending.remove(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pays_until_the_cap_then_refuses() {
        let mut a = Allowance::new(Allowance::percent_of(100_000, 35));
        assert_eq!(a.cap(), 35_000);
        for i in 0..3 {
            let r = alloc::format!("r{i}");
            a.begin_pay(&r, Some(10_000), 100_000).unwrap();
            assert_eq!(a.settle(&r), Some(10_000));
        }
        assert_eq!(a.left(100_000), 5_000);
        assert_eq!(
            a.begin_pay("r3", Some(10_000), 100_000),
            Err(Refusal::OverAllowance {
                msats: 10_000,
                left: 5_000
            })
        );
        assert_eq!(a.spent(), 30_000);
        a.begin_pay("r4", Some(5_000), 100_000).unwrap();
        assert_eq!(a.left(100_000), 0);
    }

    #[test]
    fn reservations_count_and_failures_release() {
        let mut a = Allowance::new(20_000);
        a.begin_pay("a", Some(15_000), 1_000_000).unwrap();
        // the first pay is still under way: its msats are not available twice
        assert!(matches!(
            a.begin_pay("b", Some(15_000), 1_000_000),
            Err(Refusal::OverAllowance { left: 5_000, .. })
        ));
        assert_eq!(
            a.begin_pay("a", Some(1), 1_000_000),
            Err(Refusal::Duplicate)
        );
        assert_eq!(a.release("a"), Some(15_000));
        assert_eq!(a.release("a"), None);
        a.begin_pay("b", Some(15_000), 1_000_000).unwrap();
        assert_eq!(a.settle("zzz"), None);
    }

    #[test]
    fn no_amount_and_small_balance_are_refused() {
        let mut a = Allowance::new(u64::MAX);
        assert_eq!(a.begin_pay("x", None, 10), Err(Refusal::NoAmount));
        // never more than the downstream balance
        assert_eq!(a.left(10), 10);
        assert!(a.begin_pay("x", Some(11), 10).is_err());
        assert_eq!(Allowance::percent_of(u64::MAX, 100), u64::MAX);
        assert_eq!(Allowance::percent_of(1_000, 250), 1_000);
        a.set_cap(0);
        assert_eq!(a.left(10), 0);
        assert!(a.clone().begin_pay("y", Some(1), 10).is_err());
    }
}
