//! Two fields of an X.509 certificate that rustls does not expose, read from its DER: the
//! validity period (the exact-certificate rule of
//! [`tls::client_config`](crate::tls::client_config) checks it, and a server logs when its
//! certificate ends) and whether basicConstraints says it is a CA (only CA certificates of a
//! CA file become trust anchors).

use moneysocket_core::civil::days_from_civil;

/// `notBefore` and `notAfter` in seconds since the Unix epoch (negative before 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before this.
    pub not_before: i64,
    /// Not valid after this.
    pub not_after: i64,
}

impl Validity {
    /// Whether `unix_secs` is inside the period (both ends included, as RFC 5280 says).
    pub fn contains(&self, unix_secs: i64) -> bool {
        self.not_before <= unix_secs && unix_secs <= self.not_after
    }
}

/// The validity of the certificate `der`, or `None` if the DER is not a certificate as
/// RFC 5280 lays it out up to that field.
pub fn validity(der: &[u8]) -> Option<Validity> {
    let (validity, _) = element(after_issuer(der)?, SEQUENCE)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Some(Validity {
        not_before,
        not_after,
    })
}

/// Whether the certificate `der` is a CA by its basicConstraints extension (`cA` TRUE);
/// `false` without the extension, `None` if the DER does not read as a certificate.
pub fn is_ca(der: &[u8]) -> Option<bool> {
    let (_validity, rest) = element(after_issuer(der)?, SEQUENCE)?;
    let (_subject, rest) = element(rest, SEQUENCE)?;
    let (_spki, mut rest) = element(rest, SEQUENCE)?;
    // [1] issuerUniqueID, [2] subjectUniqueID (implicit, optional), [3] EXPLICIT extensions
    for tag in [0x81, 0x82] {
        if rest.first() == Some(&tag) {
            rest = element(rest, tag)?.1;
        }
    }
    if rest.first() != Some(&0xa3) {
        return Some(false);
    }
    let (explicit, _) = element(rest, 0xa3)?;
    let (mut extensions, _) = element(explicit, SEQUENCE)?;
    while !extensions.is_empty() {
        let (extension, next) = element(extensions, SEQUENCE)?;
        extensions = next;
        let (oid, mut body) = element(extension, 0x06)?;
        if oid != BASIC_CONSTRAINTS {
            continue;
        }
        if body.first() == Some(&0x01) {
            body = element(body, 0x01)?.1; // critical
        }
        let (value, _) = element(body, 0x04)?;
        let (constraints, _) = element(value, SEQUENCE)?;
        return Some(match element(constraints, 0x01) {
            Some((flag, _)) => flag.first().is_some_and(|&b| b != 0),
            None => false,
        });
    }
    Some(false)
}

/// What follows the issuer in the TBSCertificate of `der` (the validity comes next).
fn after_issuer(der: &[u8]) -> Option<&[u8]> {
    let (cert, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(cert, SEQUENCE)?;
    // [0] EXPLICIT version, optional
    let rest = match tbs.first() {
        Some(&0xa0) => element(tbs, 0xa0)?.1,
        _ => tbs,
    };
    let (_serial, rest) = element(rest, 0x02)?;
    let (_signature, rest) = element(rest, SEQUENCE)?;
    let (_issuer, rest) = element(rest, SEQUENCE)?;
    Some(rest)
}

/// 2.5.29.19, id-ce-basicConstraints.
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the element with `tag` at the start of `input`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`)
/// as Unix seconds, and what follows it.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let tag = *input.first()?;
    let (text, rest) = element(input, tag)?;
    let (year, digits) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = number(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (number(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if digits.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| number(&digits[2 * i..2 * i + 2]);
    let (month, day) = (field(0)?, field(1)?);
    let (h, m, s) = (field(2)?, field(3)?, field(4)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some((days * 86_400 + h * 3600 + m * 60 + s, rest))
}

/// Decimal digits as a number.
fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_der(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn utc_and_generalized_times_are_read() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280)
        let v = validity(&cert_der((2026, 12, 4), (2060, 1, 2))).unwrap();
        assert_eq!(v.not_before, days_from_civil(2026, 12, 4) * 86_400);
        assert_eq!(v.not_after, days_from_civil(2060, 1, 2) * 86_400);
        let v = validity(&cert_der((1975, 6, 1), (2049, 12, 31))).unwrap();
        assert_eq!(v.not_before, days_from_civil(1975, 6, 1) * 86_400);
        assert!(v.contains(v.not_after) && !v.contains(v.not_after + 1));
    }

    #[test]
    fn basic_constraints_say_who_is_a_ca() {
        let make = |ca: Option<bool>| {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            params.is_ca = match ca {
                Some(true) => rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(2)),
                Some(false) => rcgen::IsCa::ExplicitNoCa,
                None => rcgen::IsCa::NoCa,
            };
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        };
        assert_eq!(is_ca(&make(Some(true))), Some(true));
        assert_eq!(is_ca(&make(Some(false))), Some(false));
        assert_eq!(is_ca(&make(None)), Some(false));
        let der = make(Some(true));
        for cut in 0..der.len() {
            let _ = is_ca(&der[..cut]);
        }
    }

    #[test]
    fn anything_else_is_none_without_panicking() {
        let der = cert_der((2026, 1, 1), (2027, 1, 1));
        for cut in 0..der.len() {
            let _ = validity(&der[..cut]);
        }
        assert_eq!(validity(b""), None);
        assert_eq!(validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let mut bad = der.clone();
        bad[0] = 0x31;
        assert_eq!(validity(&bad), None);
    }
}
