//! Importing the Python terminus's account files (host-apps.md §2.3–2.4).

use std::path::Path;

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use moneysocket_core::bolt11;
use moneysocket_core::uuid::Uuid;

use super::tx::{self, check_amount, check_name, norm_seed};
use super::{hex, LedgerError, LedgerTx, ReceiptKind, Result, MAX_BEACONS_PER_ACCOUNT, MAX_MSAT};

/// What [`LedgerTx::import_python`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The accounts imported: name and balance (millisatoshi), in file-name order.
    pub accounts: Vec<(String, u64)>,
    /// Parts left out, with the reason (a pending invoice that does not decode, a fourth
    /// beacon, a receipt entry of an unknown type, ...).
    pub skipped: Vec<String>,
}

impl LedgerTx<'_> {
    /// Imports every `*.json` account file of a Python terminus's persist directory
    /// (file-name order): name, uuid, balance (recorded as an `imported` receipt, counted
    /// as a deposit), cap, pending invoices (as open invoices, when their BOLT11 decodes
    /// with an amount and the hash matches), seeds, beacons and the session receipts.
    /// Amounts must be integral millisatoshi (a float like `1000.0` is accepted, `1000.5`
    /// is not). A name or uuid that exists refuses the whole import.
    pub fn import_python(&mut self, dir: &Path) -> Result<ImportReport> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        self.with_savepoint(|c, now| {
            let mut report = ImportReport::default();
            for path in &files {
                let file = path.display().to_string();
                let text = std::fs::read_to_string(path)?;
                let v: Value = serde_json::from_str(&text).map_err(|e| LedgerError::Import {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
                import_one(c, &file, &v, now, &mut report)?;
            }
            Ok(report)
        })
    }
}

fn bad(file: &str, reason: impl Into<String>) -> LedgerError {
    LedgerError::Import {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

/// An integral, non-negative msat amount (integer or integral float) at most [`MAX_MSAT`].
fn msats_of(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return (n <= MAX_MSAT).then_some(n);
    }
    let f = v.as_f64()?;
    if !f.is_finite() || f < 0.0 || f.fract() != 0.0 || f > MAX_MSAT as f64 {
        return None;
    }
    // Integral and within 0..=2.1e18 (exact below 2^53; above, the float is itself an
    // integer): the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(f as u64)
}

fn wad_msats(file: &str, v: &Value, field: &str) -> Result<u64> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(w) => {
            let m = w.get("msats").unwrap_or(w);
            msats_of(m).ok_or_else(|| {
                bad(
                    file,
                    format!("{field}.msats is not an integral msat amount: {m}"),
                )
            })
        }
    }
}

fn import_one(
    c: &Connection,
    file: &str,
    v: &Value,
    now: u64,
    report: &mut ImportReport,
) -> Result<()> {
    let name = v
        .get("account_name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(file, "no account_name"))?;
    check_name(name).map_err(|e| bad(file, e.to_string()))?;
    let uuid_text = v
        .get("account_uuid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(file, "no account_uuid"))?;
    let uuid = Uuid::parse_lenient(uuid_text)
        .map_err(|_| bad(file, format!("account_uuid {uuid_text:?}")))?
        .to_string();
    let msats = wad_msats(file, v, "wad")?;
    let cap = wad_msats(file, v, "cap")?;
    check_amount(msats, true)?;
    check_amount(cap, true)?;

    tx::insert_account(c, name, &uuid, cap, now)?;
    let acct = tx::live_acct(c, name)?;

    // The session receipts first (oldest first, so that ids follow time).
    let mut entries: Vec<&Value> = Vec::new();
    if let Some(sessions) = v.get("receipts").and_then(Value::as_array) {
        for s in sessions {
            match s.as_array() {
                Some(list) => entries.extend(list.iter()),
                None => entries.push(s),
            }
        }
    }
    let time_ms = |e: &Value| -> u64 {
        let t = e.get("time").and_then(Value::as_f64).unwrap_or(0.0);
        if t.is_finite() && t > 0.0 && t < 1e15 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let ms = (t * 1000.0).round() as u64;
            ms
        } else {
            0
        }
    };
    entries.sort_by_key(|e| time_ms(e));
    for e in entries {
        let kind = e
            .get("type")
            .and_then(Value::as_str)
            .and_then(ReceiptKind::parse);
        match kind {
            Some(k) if k.is_session_kind() => {
                tx::receipt_raw(c, &uuid, k.as_str(), 0, 0, 0, e, time_ms(e))?;
            }
            _ => report.skipped.push(format!(
                "{name}: receipt entry of unknown type: {}",
                clip_json(e)
            )),
        }
    }
    tx::receipt(
        c,
        &uuid,
        ReceiptKind::AccountCreated,
        0,
        0,
        0,
        json!({ "name": name, "cap_msat": cap, "imported_from": file }),
        now,
    )?;
    if msats > 0 {
        tx::deposit_kind(
            c,
            &acct,
            msats,
            now,
            ReceiptKind::Imported,
            json!({ "msats": msats, "file": file }),
        )?;
    }

    if let Some(seeds) = v.get("shared_seeds").and_then(Value::as_array) {
        for s in seeds {
            let Some(seed) = s.as_str().and_then(|s| norm_seed(s).ok()) else {
                report
                    .skipped
                    .push(format!("{name}: seed {}", clip_json(s)));
                continue;
            };
            let n = c.execute(
                "INSERT INTO seeds(seed, account_id, added_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(seed) DO NOTHING",
                params![seed, acct.id, now],
            )?;
            if n == 0 {
                return Err(bad(file, format!("seed {seed} belongs to another account")));
            }
        }
    }
    if let Some(beacons) = v.get("beacons").and_then(Value::as_array) {
        let mut kept = 0;
        for b in beacons {
            let Some(b) = b.as_str().filter(|b| {
                !b.is_empty() && b.len() <= 2048 && b.bytes().all(|c| c.is_ascii_graphic())
            }) else {
                report
                    .skipped
                    .push(format!("{name}: beacon {}", clip_json(b)));
                continue;
            };
            if kept >= MAX_BEACONS_PER_ACCOUNT {
                report.skipped.push(format!(
                    "{name}: beacon beyond {MAX_BEACONS_PER_ACCOUNT}: {b}"
                ));
                continue;
            }
            let n = c.execute(
                "INSERT INTO beacons(account_id, beacon, added_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![acct.id, b, now],
            )?;
            kept += n;
        }
    }
    if let Some(pending) = v.get("pending").and_then(Value::as_object) {
        for (hash_hex, b) in pending {
            let Some(b) = b.as_str() else {
                report
                    .skipped
                    .push(format!("{name}: pending {hash_hex}: not a string"));
                continue;
            };
            let inv = match bolt11::Invoice::parse(b) {
                Ok(inv) => inv,
                Err(e) => {
                    report
                        .skipped
                        .push(format!("{name}: pending {hash_hex}: {e}"));
                    continue;
                }
            };
            let hash = *inv.payment_hash();
            if !hex(&hash).eq_ignore_ascii_case(hash_hex) {
                report.skipped.push(format!(
                    "{name}: pending {hash_hex}: hash differs from the bolt11's"
                ));
                continue;
            }
            let Some(amount) = inv.amount_msat().filter(|a| *a > 0 && *a <= MAX_MSAT) else {
                report
                    .skipped
                    .push(format!("{name}: pending {hash_hex}: no amount"));
                continue;
            };
            let n = c.execute(
                "INSERT INTO invoices(payment_hash, account_id, bolt11, msats, state, created_ms,
                                      expires_at)
                 VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    &hash[..],
                    acct.id,
                    b,
                    amount,
                    now,
                    inv.expires_at().min(i64::MAX as u64)
                ],
            )?;
            if n == 0 {
                report
                    .skipped
                    .push(format!("{name}: pending {hash_hex}: already recorded"));
            }
        }
    }
    report.accounts.push((name.to_owned(), msats));
    Ok(())
}

fn clip_json(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 80 {
        return s;
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
