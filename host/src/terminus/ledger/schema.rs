//! Connection settings, the schema and its migrations.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{LedgerError, Result};

/// Migration `i` takes the schema from version `i` to `i + 1`. Append, never edit.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "
    CREATE TABLE accounts (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL,
        uuid         TEXT    NOT NULL UNIQUE,
        balance_msat INTEGER NOT NULL CHECK (balance_msat >= 0),
        cap_msat     INTEGER NOT NULL DEFAULT 0 CHECK (cap_msat >= 0),
        created_ms   INTEGER NOT NULL,
        removed_ms   INTEGER
    );
    CREATE UNIQUE INDEX accounts_live_name ON accounts(name) WHERE removed_ms IS NULL;

    CREATE TABLE seeds (
        seed       TEXT    PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        added_ms   INTEGER NOT NULL
    );
    CREATE INDEX seeds_account ON seeds(account_id);

    CREATE TABLE beacons (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        beacon     TEXT    NOT NULL,
        added_ms   INTEGER NOT NULL,
        PRIMARY KEY (account_id, beacon)
    );

    CREATE TABLE invoices (
        payment_hash  BLOB    PRIMARY KEY CHECK (length(payment_hash) = 32),
        account_id    INTEGER NOT NULL REFERENCES accounts(id),
        bolt11        TEXT    NOT NULL,
        msats         INTEGER NOT NULL CHECK (msats > 0),
        state         TEXT    NOT NULL
                      CHECK (state IN ('open', 'settled', 'expired', 'cancelled')),
        created_ms    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        settled_ms    INTEGER,
        amt_paid_msat INTEGER CHECK (amt_paid_msat >= 0),
        request_uuid  TEXT,
        preimage      BLOB,
        internal      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX invoices_open ON invoices(account_id, expires_at) WHERE state = 'open';

    CREATE TABLE payments (
        id               INTEGER PRIMARY KEY,
        payment_hash     BLOB    NOT NULL CHECK (length(payment_hash) = 32),
        account_id       INTEGER NOT NULL REFERENCES accounts(id),
        request_uuid     TEXT    NOT NULL UNIQUE,
        bolt11           TEXT    NOT NULL,
        amount_msat      INTEGER NOT NULL CHECK (amount_msat > 0),
        fee_reserve_msat INTEGER NOT NULL CHECK (fee_reserve_msat >= 0),
        fee_paid_msat    INTEGER,
        fee_charged_msat INTEGER,
        state            TEXT    NOT NULL
                         CHECK (state IN ('in_flight', 'succeeded', 'failed')),
        internal         INTEGER NOT NULL DEFAULT 0,
        preimage         BLOB,
        failure          TEXT,
        created_ms       INTEGER NOT NULL,
        finished_ms      INTEGER
    );
    -- At most one payment per hash is in flight or succeeded: a hash is paid once.
    CREATE UNIQUE INDEX payments_live_hash ON payments(payment_hash)
        WHERE state IN ('in_flight', 'succeeded');
    CREATE INDEX payments_hash ON payments(payment_hash);
    CREATE INDEX payments_in_flight ON payments(id) WHERE state = 'in_flight';

    -- Append-only. account_uuid (not a foreign key) outlives a removed account's name.
    CREATE TABLE receipts (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        account_uuid TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        delta_msat   INTEGER NOT NULL DEFAULT 0,
        amount_msat  INTEGER NOT NULL DEFAULT 0,
        fee_msat     INTEGER NOT NULL DEFAULT 0,
        detail       TEXT    NOT NULL,
        time_ms      INTEGER NOT NULL
    );
    CREATE INDEX receipts_account ON receipts(account_uuid, id);
    CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
    CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

    CREATE TABLE totals (
        name TEXT    PRIMARY KEY,
        msat INTEGER NOT NULL CHECK (msat >= 0)
    );
    INSERT INTO totals(name, msat) VALUES
        ('deposits', 0), ('withdrawals', 0), ('received', 0), ('paid', 0), ('fees', 0),
        ('fee_shortfall', 0), ('internal', 0);

    CREATE TABLE node_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ",
];

/// WAL, `synchronous=FULL` (a commit survives power loss), foreign keys.
pub(super) fn configure(conn: &Connection) -> Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(LedgerError::Corrupt(format!(
            "journal_mode WAL refused (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// The file's schema version (0: empty file).
pub(super) fn version(conn: &Connection) -> Result<u32> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    let v: Option<u32> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(0))
}

/// Runs the missing migrations in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found = version(&tx)?;
    let supported = super::SCHEMA_VERSION;
    if found > supported {
        return Err(LedgerError::SchemaTooNew { found, supported });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql)?;
    }
    if found < supported {
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version(version) VALUES (?1)",
            [supported],
        )?;
    }
    tx.commit()?;
    Ok(())
}
