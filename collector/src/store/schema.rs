//! SQLite schema and its migrations, tracked in `PRAGMA user_version`.
//!
//! Append a migration to [`MIGRATIONS`]; never edit a shipped one.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE devices (
    device_id           TEXT PRIMARY KEY,
    machine_id          TEXT,
    hardware_uuid       TEXT,
    serial              TEXT,
    hostname            TEXT NOT NULL DEFAULT '',
    node_key_hash       BLOB NOT NULL,
    enrolled_at         INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL DEFAULT 0,
    retired             INTEGER NOT NULL DEFAULT 0,
    agent_version       TEXT NOT NULL DEFAULT '',
    latest_collected_at INTEGER NOT NULL DEFAULT 0,
    inventory           TEXT,
    inventory_facts     TEXT,
    report_facts        TEXT,
    packages            TEXT,
    packages_hash       TEXT
);
CREATE INDEX devices_hardware_uuid ON devices(hardware_uuid);
CREATE INDEX devices_machine_id ON devices(machine_id);
CREATE UNIQUE INDEX devices_node_key_hash ON devices(node_key_hash);

CREATE TABLE reports (
    report_id    TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    collected_at INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX reports_received_at ON reports(received_at);
CREATE INDEX reports_device ON reports(device_id);

-- Policy state that must survive restarts (failing-since per check).
CREATE TABLE device_check_state (
    device_id     TEXT NOT NULL,
    "check"       TEXT NOT NULL,
    failing_since INTEGER,
    PRIMARY KEY (device_id, "check")
) WITHOUT ROWID;

-- Small collector-wide settings.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#,
    r#"
-- Policy state as JSON next to the device (one row read per device at
-- start-up): the merged compliance facts and failing-since per check.
ALTER TABLE devices ADD COLUMN compliance_facts TEXT;
ALTER TABLE devices ADD COLUMN failing_since TEXT;
-- Superseded by devices.failing_since; it never held data.
DROP TABLE device_check_state;
"#,
    r#"
-- History is capped per device: count what each device holds, and index
-- (device_id, received_at) so trimming its oldest reports is a range scan.
ALTER TABLE devices ADD COLUMN reports_kept INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET reports_kept =
    (SELECT count(*) FROM reports WHERE reports.device_id = devices.device_id);
DROP INDEX reports_device;
CREATE INDEX reports_device_received_at ON reports(device_id, received_at);
"#,
    r#"
-- Alerts the collector tracks (firing and recently resolved) and what the
-- webhook last heard of each, so a restart forgets neither: an alert that
-- clears across a restart is still sent as resolved.
CREATE TABLE alerts (
    fingerprint TEXT PRIMARY KEY,
    alert       TEXT NOT NULL
) WITHOUT ROWID;
"#,
    r#"
-- The console's 30-day compliance trend: fleet counts per check and day
-- (check 'compliant' holds the overall verdict), the day's last save wins.
CREATE TABLE compliance_daily (
    day     INTEGER NOT NULL,
    "check" TEXT NOT NULL,
    passing INTEGER NOT NULL,
    failing INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    PRIMARY KEY (day, "check")
) WITHOUT ROWID;
"#,
];

/// Brings the database to the newest schema, one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_databases_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
