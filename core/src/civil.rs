//! UTC calendar dates and days since the Unix epoch (proleptic Gregorian calendar,
//! H. Hinnant's algorithms), for the places that read or write dates: allowance periods,
//! certificate validity.

/// Years beyond which [`days_from_civil`] clamps (±2^40: far past any date in use, and
/// every step of the arithmetic stays well inside `i64`).
pub const MAX_YEARS: i64 = 1 << 40;
/// Days beyond which [`civil_from_days`] clamps (±2^48).
pub const MAX_DAYS: i64 = 1 << 48;

/// Days since 1970-01-01 (negative before it) of the date `y-m-d`. `m` is clamped to
/// 1..=12, `d` to 1..=31 (not checked against the month's length: Feb 31 is Mar 3 or 2), `y`
/// to ±[`MAX_YEARS`]; never panics.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = y.clamp(-MAX_YEARS, MAX_YEARS);
    let (m, d) = (i64::from(m.clamp(1, 12)), i64::from(d.clamp(1, 31)));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month 1..=12, day 1..=31); `z` is clamped to
/// ±[`MAX_DAYS`]; never panics.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.clamp(-MAX_DAYS, MAX_DAYS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    // m in 1..=12 and d in 1..=31 by construction
    (if m <= 2 { y + 1 } else { y }, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_and_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1950, 1, 1), -7_305);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_791), (2026, 12, 4));
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn extreme_inputs_clamp_instead_of_overflowing() {
        for y in [i64::MIN, i64::MIN + 1, -(1 << 55), 1 << 55, i64::MAX] {
            for (m, d) in [
                (0, 0),
                (1, 1),
                (2, 29),
                (3, 1),
                (12, 31),
                (13, 40),
                (u32::MAX, u32::MAX),
            ] {
                let _ = days_from_civil(y, m, d);
            }
        }
        for z in [i64::MIN, i64::MIN + 1, -(1 << 60), 1 << 60, i64::MAX] {
            let (y, m, d) = civil_from_days(z);
            assert!(
                (1..=12).contains(&m) && (1..=31).contains(&d),
                "{y}-{m}-{d}"
            );
        }
        assert_eq!(days_from_civil(2026, 13, 1), days_from_civil(2026, 12, 1));
    }
}
