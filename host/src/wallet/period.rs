//! Allowance periods: calendar day, week (starting Monday) and month in UTC, `never`, or a
//! rolling number of seconds counted from the wallet's creation.

use moneysocket_core::civil;
use std::fmt;

const DAY_MS: u64 = 86_400_000;

/// How often the allowance renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Every calendar day, at 00:00 UTC.
    Day,
    /// Every calendar week, on Monday at 00:00 UTC.
    Week,
    /// Every calendar month, on the 1st at 00:00 UTC.
    Month,
    /// Never: one allowance for ever.
    Never,
    /// Every this many seconds (> 0), counted from the wallet's anchor (its creation time,
    /// kept in its ledger): windows `[anchor + k·N, anchor + (k+1)·N)`.
    Seconds(u64),
}

/// The time window a spend counts in: `[start_ms, end_ms)` in Unix milliseconds
/// (`end_ms` is `None` for [`Period::Never`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first millisecond of the window.
    pub start_ms: u64,
    /// The first millisecond of the next window, if there is one.
    pub end_ms: Option<u64>,
}

/// A period text that is none of the forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError(pub String);

impl fmt::Display for PeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "period {:?}: expected day, week, month, never or a number of seconds > 0",
            self.0
        )
    }
}

impl std::error::Error for PeriodError {}

impl std::str::FromStr for Period {
    type Err = PeriodError;

    /// `day`, `week`, `month`, `never`, or seconds (`3600` or `3600s`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "day" | "daily" => Ok(Period::Day),
            "week" | "weekly" => Ok(Period::Week),
            "month" | "monthly" => Ok(Period::Month),
            "never" => Ok(Period::Never),
            _ => {
                let digits = t.strip_suffix('s').unwrap_or(&t);
                match digits.parse::<u64>() {
                    Ok(n) if n > 0 && n <= u64::MAX / 1000 => Ok(Period::Seconds(n)),
                    _ => Err(PeriodError(s.to_owned())),
                }
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day => f.write_str("day"),
            Period::Week => f.write_str("week"),
            Period::Month => f.write_str("month"),
            Period::Never => f.write_str("never"),
            Period::Seconds(n) => write!(f, "{n}s"),
        }
    }
}

impl Period {
    /// The window holding `now_ms`; `anchor_ms` is where rolling windows start.
    pub fn window(&self, now_ms: u64, anchor_ms: u64) -> Window {
        match *self {
            Period::Never => Window {
                start_ms: 0,
                end_ms: None,
            },
            Period::Day => {
                let start = now_ms - now_ms % DAY_MS;
                Window {
                    start_ms: start,
                    end_ms: Some(start + DAY_MS),
                }
            }
            Period::Week => {
                let days = now_ms / DAY_MS;
                // 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7.
                let monday = days - (days + 3) % 7;
                Window {
                    start_ms: monday * DAY_MS,
                    end_ms: Some((monday + 7) * DAY_MS),
                }
            }
            Period::Month => {
                let (y, m, _) = civil_from_days(now_ms / DAY_MS);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Window {
                    start_ms: days_from_civil(y, m, 1) * DAY_MS,
                    end_ms: Some(days_from_civil(ny, nm, 1) * DAY_MS),
                }
            }
            Period::Seconds(n) => {
                let len = n.saturating_mul(1000).max(1);
                if now_ms < anchor_ms {
                    // A clock set back before the anchor: the first window.
                    return Window {
                        start_ms: anchor_ms,
                        end_ms: Some(anchor_ms.saturating_add(len)),
                    };
                }
                let start = anchor_ms + (now_ms - anchor_ms) / len * len;
                Window {
                    start_ms: start,
                    end_ms: Some(start.saturating_add(len)),
                }
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix milliseconds (for logs and refusal texts).
pub fn utc_text(ms: u64) -> String {
    let (y, m, d) = civil_from_days(ms / DAY_MS);
    let s = (ms % DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 of a date from 1970 on (`moneysocket_core::civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let days = civil::days_from_civil(
        i64::try_from(y).unwrap_or(0),
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    );
    u64::try_from(days).unwrap_or(0)
}

/// The date of a day since 1970-01-01: (year, month 1..=12, day 1..=31).
fn civil_from_days(z: u64) -> (u64, u64, u64) {
    let (y, m, d) = civil::civil_from_days(i64::try_from(z).unwrap_or(0));
    (u64::try_from(y).unwrap_or(0), u64::from(m), u64::from(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04T16:30:00Z (a Friday).
    const FRI: u64 = 1_796_401_800_000;

    #[test]
    fn parses_every_form_and_refuses_the_rest() {
        assert_eq!("day".parse(), Ok(Period::Day));
        assert_eq!("Week".parse(), Ok(Period::Week));
        assert_eq!("month".parse(), Ok(Period::Month));
        assert_eq!("never".parse(), Ok(Period::Never));
        assert_eq!("2".parse(), Ok(Period::Seconds(2)));
        assert_eq!("3600s".parse(), Ok(Period::Seconds(3600)));
        for bad in ["", "0", "-5", "1.5", "fortnight", "99999999999999999999"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_windows_in_utc() {
        assert_eq!(utc_text(FRI), "2026-12-04T16:30:00Z");
        let d = Period::Day.window(FRI, 0);
        assert_eq!(utc_text(d.start_ms), "2026-12-04T00:00:00Z");
        assert_eq!(utc_text(d.end_ms.unwrap()), "2026-12-05T00:00:00Z");
        let w = Period::Week.window(FRI, 0);
        assert_eq!(utc_text(w.start_ms), "2026-11-30T00:00:00Z"); // Monday
        assert_eq!(utc_text(w.end_ms.unwrap()), "2026-12-07T00:00:00Z");
        let m = Period::Month.window(FRI, 0);
        assert_eq!(utc_text(m.start_ms), "2026-12-01T00:00:00Z");
        assert_eq!(utc_text(m.end_ms.unwrap()), "2027-01-01T00:00:00Z");
        // February of a leap year
        let feb = Period::Month.window(days_from_civil(2028, 2, 29) * DAY_MS + 5, 0);
        assert_eq!(utc_text(feb.start_ms), "2028-02-01T00:00:00Z");
        assert_eq!(utc_text(feb.end_ms.unwrap()), "2028-03-01T00:00:00Z");
        // a Monday at midnight opens its own week; the Sunday before is in the last one
        let monday = days_from_civil(2026, 12, 7) * DAY_MS;
        assert_eq!(Period::Week.window(monday, 0).start_ms, monday);
        assert_eq!(Period::Week.window(monday - 1, 0).end_ms, Some(monday));
        assert_eq!(Period::Never.window(FRI, 0).end_ms, None);
    }

    #[test]
    fn rolling_windows_from_the_anchor() {
        let p = Period::Seconds(2);
        let w = p.window(10_500, 1_000);
        assert_eq!((w.start_ms, w.end_ms), (9_000, Some(11_000)));
        assert_eq!(p.window(11_000, 1_000).start_ms, 11_000);
        assert_eq!(p.window(500, 1_000).start_ms, 1_000);
    }

    #[test]
    fn civil_round_trips() {
        for z in (0..200_000).step_by(17) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
