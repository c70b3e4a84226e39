//! What the demo prints while it runs: one line per step a person would watch, with the time
//! since the start and who acts.

use std::io::Write as _;
use std::time::Instant;

/// Prints the story on stdout (or keeps quiet, e.g. under `--json` with `--quiet`).
pub struct Narrator {
    start: Instant,
    quiet: bool,
}

impl Narrator {
    /// A narrator whose clock starts now.
    pub fn new(quiet: bool) -> Narrator {
        Narrator {
            start: Instant::now(),
            quiet,
        }
    }

    /// One line: `[  1.23s] who         what`.
    pub fn say(&self, who: &str, what: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let t = self.start.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{t:7.2}s] {who:<13} {}", what.as_ref());
    }

    /// A blank line and a heading, between the acts.
    pub fn act(&self, title: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "\n== {title}");
        }
    }

    /// Seconds since the start.
    pub fn elapsed_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// `12345678` msat as `12,345.678 sat` (`12,345 sat` when whole): exact, no floats.
pub fn sats(msats: u64) -> String {
    let whole = msats / 1000;
    let frac = msats % 1000;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac == 0 {
        format!("{grouped} sat")
    } else {
        format!("{grouped}.{frac:03} sat")
    }
}

/// The first and last characters of a long string (a beacon, an invoice).
pub fn short(s: &str) -> String {
    if s.len() <= 40 {
        return s.to_owned();
    }
    match (s.get(..24), s.get(s.len() - 8..)) {
        (Some(a), Some(b)) => format!("{a}…{b}"),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sats_are_exact_and_grouped() {
        assert_eq!(sats(0), "0 sat");
        assert_eq!(sats(1_000), "1 sat");
        assert_eq!(sats(1_234_567_000), "1,234,567 sat");
        assert_eq!(sats(1_001), "1.001 sat");
        assert_eq!(sats(999), "0.999 sat");
    }

    #[test]
    fn short_keeps_both_ends() {
        assert_eq!(short("abc"), "abc");
        let long = "moneysocket1".to_owned() + &"q".repeat(60) + "tail1234";
        let s = short(&long);
        assert!(s.starts_with("moneysocket1") && s.ends_with("tail1234"));
    }
}
