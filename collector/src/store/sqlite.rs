//! The SQLite store: WAL, `synchronous=FULL` (a commit survives power loss),
//! made fast by committing many writes per transaction (see `writer`).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::policy::FailingSince;

use super::{
    ConsoleSeed, DailyCompliance, DeviceDetail, DeviceQueries, DeviceSummary, EnrollOp,
    EnrollOutcome, IngestOp, IngestOutcome, NodeKeyHash, PackagesUpdate, ReportRow, Store,
    StoreError, StoredDevice, WriteOp, WriteOutcome, schema,
};

/// The writing side: owned by the writer thread.
pub struct SqliteStore {
    conn: Connection,
    history_per_device: i64,
}

/// Default newest report bodies kept per device.
pub const DEFAULT_HISTORY_PER_DEVICE: u64 = 24;

/// A device's stored report count may run this far past its cap before the
/// oldest are trimmed, so trimming costs one indexed delete every few reports.
const TRIM_SLACK: i64 = 8;

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // journal_mode answers with a row, so it is read back, not just set.
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    // FULL: with WAL, NORMAL may lose the last commits on power loss, and a
    // 2xx to the agent promises the report is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = open_connection(path)?;
        // Node-key hashes and full reports: owner only. SQLite gives the
        // -wal and -shm files the database file's mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                },
            )?;
        }
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn,
            history_per_device: DEFAULT_HISTORY_PER_DEVICE as i64,
        })
    }

    /// Keeps only the newest `n` report bodies per device (at least 1).
    ///
    /// Time-based retention alone would let a fleet reporting every minute
    /// store hundreds of gigabytes: 100,000 devices × 1,440 reports a day.
    pub fn with_history_per_device(mut self, n: u64) -> Self {
        self.history_per_device = n.clamp(1, i64::MAX as u64) as i64;
        self
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn hash_from_blob(blob: Vec<u8>) -> NodeKeyHash {
    let mut hash = [0u8; 32];
    if blob.len() == 32 {
        hash.copy_from_slice(&blob);
    }
    hash
}

/// Finds the device a host re-enrolls as, on evidence at least as strong as
/// what that device enrolled with: its hardware UUID, or, for a device that
/// never sent one, machine-id and serial together. The machine-id alone is
/// readable by every local user and proves nothing. (The UUID and serial
/// are root-only on Linux.)
fn enroll(conn: &Connection, op: &EnrollOp) -> Result<EnrollOutcome, StoreError> {
    let uuid = non_empty(&op.identity.hardware_uuid);
    let machine = non_empty(&op.identity.machine_id);
    let serial = non_empty(&op.identity.serial);
    let select =
        "SELECT device_id, node_key_hash, enrolled_at, last_seen, retired, hostname FROM devices";
    let row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, String>(5)?,
        ))
    };
    let mut existing = None;
    if let Some(uuid) = uuid {
        existing = conn
            .prepare_cached(&format!(
                "{select} WHERE hardware_uuid = ?1 ORDER BY enrolled_at LIMIT 1"
            ))?
            .query_row([uuid], row)
            .optional()?;
    }
    if existing.is_none()
        && let (Some(machine), Some(serial)) = (machine, serial)
    {
        existing = conn
            .prepare_cached(&format!(
                "{select} WHERE machine_id = ?1 AND serial = ?2 AND hardware_uuid IS NULL \
                 ORDER BY enrolled_at LIMIT 1"
            ))?
            .query_row(params![machine, serial], row)
            .optional()?;
    }
    let weaker_match = match (&existing, machine) {
        (None, Some(machine)) => conn
            .prepare_cached("SELECT device_id FROM devices WHERE machine_id = ?1 LIMIT 1")?
            .query_row([machine], |r| r.get::<_, String>(0))
            .optional()?,
        _ => None,
    };
    if existing.is_none()
        && let Some(max) = op.max_devices
    {
        let enrolled: i64 = conn
            .prepare_cached("SELECT count(*) FROM devices WHERE retired = 0")?
            .query_row([], |r| r.get(0))?;
        if enrolled >= i64::try_from(max).unwrap_or(i64::MAX) {
            return Err(StoreError::DeviceLimit(max));
        }
    }
    let hostname = op.identity.hostname.clone();
    match existing {
        Some((device_id, old_hash, enrolled_at, last_seen, retired, stored_hostname)) => {
            conn.prepare_cached(
                "UPDATE devices SET node_key_hash = ?1, machine_id = coalesce(?2, machine_id), \
                 hardware_uuid = coalesce(?3, hardware_uuid), serial = coalesce(?4, serial) \
                 WHERE device_id = ?5",
            )?
            .execute(params![
                &op.node_key_hash[..],
                machine,
                uuid,
                serial,
                device_id
            ])?;
            Ok(EnrollOutcome {
                device: StoredDevice {
                    device_id,
                    hostname: stored_hostname,
                    enrolled_at,
                    last_seen,
                    retired,
                    node_key_hash: op.node_key_hash,
                    inventory: None,
                    report: None,
                    compliance: None,
                    failing_since: FailingSince::default(),
                },
                reused: true,
                previous_key_hash: Some(hash_from_blob(old_hash)),
                weaker_match: None,
            })
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO devices (device_id, machine_id, hardware_uuid, serial, hostname, \
                 node_key_hash, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                op.new_device_id,
                machine,
                uuid,
                serial,
                hostname,
                &op.node_key_hash[..],
                op.now
            ])?;
            Ok(EnrollOutcome {
                device: StoredDevice {
                    device_id: op.new_device_id.clone(),
                    hostname,
                    enrolled_at: op.now,
                    last_seen: 0,
                    retired: false,
                    node_key_hash: op.node_key_hash,
                    inventory: None,
                    report: None,
                    compliance: None,
                    failing_since: FailingSince::default(),
                },
                reused: false,
                previous_key_hash: None,
                weaker_match,
            })
        }
    }
}

/// Counts the report just stored for `device_id` and, once the device holds
/// more than `cap + TRIM_SLACK`, deletes its oldest reports down to `cap`.
fn trim_history(conn: &Connection, device_id: &str, cap: i64) -> Result<(), StoreError> {
    let kept: i64 = conn
        .prepare_cached(
            "UPDATE devices SET reports_kept = reports_kept + 1 WHERE device_id = ?1 \
             RETURNING reports_kept",
        )?
        .query_row([device_id], |r| r.get(0))?;
    if kept <= cap + TRIM_SLACK {
        return Ok(());
    }
    // Count again: time-based pruning deletes rows without touching the counter.
    let stored: i64 = conn
        .prepare_cached("SELECT count(*) FROM reports WHERE device_id = ?1")?
        .query_row([device_id], |r| r.get(0))?;
    let excess = stored - cap;
    if excess > 0 {
        conn.prepare_cached(
            "DELETE FROM reports WHERE rowid IN (SELECT rowid FROM reports WHERE device_id = ?1 \
             ORDER BY received_at, rowid LIMIT ?2)",
        )?
        .execute(params![device_id, excess])?;
    }
    conn.prepare_cached("UPDATE devices SET reports_kept = ?1 WHERE device_id = ?2")?
        .execute(params![stored.min(cap), device_id])?;
    Ok(())
}

fn ingest(conn: &Connection, op: &IngestOp, history_cap: i64) -> Result<IngestOutcome, StoreError> {
    let device = conn
        .prepare_cached(
            "SELECT latest_collected_at, last_seen, packages_hash FROM devices WHERE device_id = ?1",
        )?
        .query_row([&op.device_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?))
        })
        .optional()?;
    let Some((latest_collected_at, previous_last_seen, packages_hash)) = device else {
        return Err(StoreError::UnknownDevice(op.device_id.clone()));
    };
    let owner: Option<String> = conn
        .prepare_cached("SELECT device_id FROM reports WHERE report_id = ?1")?
        .query_row([&op.report_id], |r| r.get(0))
        .optional()?;
    if let Some(owner) = owner {
        if owner != op.device_id {
            return Err(StoreError::ReportIdTaken(op.report_id.clone()));
        }
        return Ok(IngestOutcome {
            duplicate: true,
            applied: false,
            last_seen: previous_last_seen,
            packages_hash,
        });
    }
    conn.prepare_cached(
        "INSERT INTO reports (report_id, device_id, received_at, collected_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        op.report_id,
        op.device_id,
        op.received_at,
        op.collected_at,
        op.body_json
    ])?;
    trim_history(conn, &op.device_id, history_cap)?;
    let last_seen = previous_last_seen.max(op.received_at);
    // A spooled report older than what we hold only proves the device is
    // alive; it must not roll the device's facts back. A stored time past
    // the previous arrival came from a clock running ahead (or from a
    // collector before the clamp): it counts as that arrival, so a skewed
    // report never blocks the ones after it.
    let applied = op.collected_at >= latest_collected_at.min(previous_last_seen);
    let mut packages_hash = packages_hash;
    if applied {
        conn.prepare_cached(
            "UPDATE devices SET last_seen = ?1, retired = 0, latest_collected_at = ?2, \
             agent_version = ?3, report_facts = ?4 WHERE device_id = ?5",
        )?
        .execute(params![
            last_seen,
            op.collected_at,
            op.report_facts.agent_version,
            op.report_facts_json,
            op.device_id
        ])?;
        if let Some(inv) = &op.inventory {
            conn.prepare_cached(
                "UPDATE devices SET inventory = ?1, inventory_facts = ?2, hostname = ?3 \
                 WHERE device_id = ?4",
            )?
            .execute(params![
                inv.full_json,
                inv.facts_json,
                inv.facts.hostname,
                op.device_id
            ])?;
        }
        if let Some(p) = &op.packages {
            conn.prepare_cached(
                "UPDATE devices SET packages = ?1, packages_hash = ?2 WHERE device_id = ?3",
            )?
            .execute(params![p.items_json, p.hash, op.device_id])?;
            packages_hash = Some(p.hash.clone());
        }
    } else {
        conn.prepare_cached("UPDATE devices SET last_seen = ?1, retired = 0 WHERE device_id = ?2")?
            .execute(params![last_seen, op.device_id])?;
    }
    // Also for an older report: the merge keeps newer sections, and the
    // verdicts moved with last_seen.
    if let Some(c) = &op.compliance {
        conn.prepare_cached(
            "UPDATE devices SET compliance_facts = ?1, failing_since = ?2 WHERE device_id = ?3",
        )?
        .execute(params![c.facts_json, c.failing_since_json, op.device_id])?;
    }
    Ok(IngestOutcome {
        duplicate: false,
        applied,
        last_seen,
        packages_hash,
    })
}

/// Replaces a device's package list (one that arrived in parts).
fn store_packages(
    conn: &Connection,
    device_id: &str,
    p: &PackagesUpdate,
) -> Result<WriteOutcome, StoreError> {
    let updated = conn
        .prepare_cached(
            "UPDATE devices SET packages = ?1, packages_hash = ?2 WHERE device_id = ?3",
        )?
        .execute(params![p.items_json, p.hash, device_id])?;
    if updated == 0 {
        return Err(StoreError::UnknownDevice(device_id.to_string()));
    }
    Ok(WriteOutcome::PackagesStored(p.hash.clone()))
}

fn save_failing_since(conn: &Connection, rows: &[(String, String)]) -> Result<usize, StoreError> {
    let mut stmt =
        conn.prepare_cached("UPDATE devices SET failing_since = ?1 WHERE device_id = ?2")?;
    let mut updated = 0;
    for (device_id, json) in rows {
        updated += stmt.execute(params![json, device_id])?;
    }
    Ok(updated)
}

fn save_alerts(
    conn: &Connection,
    upsert: &[(String, String)],
    delete: &[String],
) -> Result<usize, StoreError> {
    let mut put = conn.prepare_cached(
        "INSERT INTO alerts (fingerprint, alert) VALUES (?1, ?2) \
         ON CONFLICT (fingerprint) DO UPDATE SET alert = excluded.alert",
    )?;
    let mut changed = 0;
    for (fingerprint, json) in upsert {
        changed += put.execute(params![fingerprint, json])?;
    }
    let mut forget = conn.prepare_cached("DELETE FROM alerts WHERE fingerprint = ?1")?;
    for fingerprint in delete {
        changed += forget.execute([fingerprint])?;
    }
    Ok(changed)
}

fn parse_column<T: serde::de::DeserializeOwned>(
    column: &'static str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|source| StoreError::Json { column, source })
}

fn save_daily_compliance(
    conn: &Connection,
    rows: &[DailyCompliance],
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO compliance_daily (day, \"check\", passing, failing, unknown) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (day, \"check\") DO UPDATE SET \
         passing = excluded.passing, failing = excluded.failing, unknown = excluded.unknown",
    )?;
    for r in rows {
        stmt.execute(params![
            r.day,
            r.check,
            r.passing as i64,
            r.failing as i64,
            r.unknown as i64
        ])?;
    }
    Ok(rows.len())
}

impl Store for SqliteStore {
    fn apply(
        &mut self,
        batch: &[WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for op in batch {
            // One savepoint per write: a bad write is rolled back alone.
            let sp = tx.savepoint()?;
            let result = match op {
                WriteOp::Enroll(e) => enroll(&sp, e).map(|o| WriteOutcome::Enrolled(Box::new(o))),
                WriteOp::Ingest(i) => {
                    ingest(&sp, i, self.history_per_device).map(WriteOutcome::Ingested)
                }
                WriteOp::SaveFailingSince(rows) => {
                    save_failing_since(&sp, rows).map(WriteOutcome::Saved)
                }
                WriteOp::SaveAlerts { upsert, delete } => {
                    save_alerts(&sp, upsert, delete).map(WriteOutcome::Saved)
                }
                WriteOp::SaveDailyCompliance(rows) => {
                    save_daily_compliance(&sp, rows).map(WriteOutcome::Saved)
                }
                WriteOp::Retire(device_id) => sp
                    .prepare_cached("UPDATE devices SET retired = 1 WHERE device_id = ?1")
                    .and_then(|mut stmt| stmt.execute([device_id]))
                    .map(|n| WriteOutcome::Retired(n > 0))
                    .map_err(StoreError::from),
                WriteOp::StorePackages(device_id, p) => store_packages(&sp, device_id, p),
            };
            if result.is_ok() {
                sp.commit()?;
            }
            results.push(result);
        }
        tx.commit()?;
        Ok(results)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A page's worth and more, so a probe does not fit in the last
        // free bytes when a report would not.
        tx.execute(
            "INSERT INTO kv (key, value) VALUES ('writer_probe', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [format!("{}:{}", crate::unix_now(), "x".repeat(64 * 1024))],
        )?;
        tx.execute("DELETE FROM kv WHERE key = 'writer_probe'", [])?;
        tx.commit()?;
        Ok(())
    }

    fn prune_reports(&mut self, before: i64, limit: usize) -> Result<usize, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM reports WHERE rowid IN \
             (SELECT rowid FROM reports WHERE received_at < ?1 LIMIT ?2)",
            params![before, limit as i64],
        )?;
        Ok(n)
    }

    fn load_devices(
        &mut self,
        visit: &mut dyn FnMut(StoredDevice) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT device_id, hostname, enrolled_at, last_seen, retired, node_key_hash, \
             inventory_facts, report_facts, compliance_facts, failing_since FROM devices",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            visit(StoredDevice {
                device_id: r.get(0)?,
                hostname: r.get(1)?,
                enrolled_at: r.get(2)?,
                last_seen: r.get(3)?,
                retired: r.get(4)?,
                node_key_hash: hash_from_blob(r.get(5)?),
                inventory: parse_column("inventory_facts", r.get(6)?)?,
                report: parse_column("report_facts", r.get(7)?)?,
                compliance: parse_column("compliance_facts", r.get(8)?)?,
                failing_since: parse_column("failing_since", r.get(9)?)?.unwrap_or_default(),
            })?;
        }
        Ok(())
    }
}

/// The reading side: its own connection, so API reads never wait for the
/// writer's transaction (WAL readers see the last commit).
pub struct SqliteQueries {
    conn: Mutex<Connection>,
}

impl SqliteQueries {
    /// Opens a read connection to an existing (migrated) database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(SqliteQueries {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection in a
        // half-written state (reads only), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceSummary> {
    Ok(DeviceSummary {
        device_id: r.get(0)?,
        hostname: r.get(1)?,
        enrolled_at: r.get(2)?,
        last_seen: r.get(3)?,
        agent_version: r.get(4)?,
        retired: r.get(5)?,
    })
}

const SUMMARY_COLUMNS: &str = "device_id, hostname, enrolled_at, last_seen, agent_version, retired";

impl DeviceQueries for SqliteQueries {
    fn daily_compliance(&self, from_day: i64) -> Result<Vec<DailyCompliance>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT day, \"check\", passing, failing, unknown FROM compliance_daily \
             WHERE day >= ?1 ORDER BY day, \"check\"",
        )?;
        let rows = stmt.query_map([from_day], |r| {
            Ok(DailyCompliance {
                day: r.get(0)?,
                check: r.get(1)?,
                passing: r.get::<_, i64>(2)?.max(0) as u64,
                failing: r.get::<_, i64>(3)?.max(0) as u64,
                unknown: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn report_history(
        &self,
        device_id: &str,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT report_id, received_at, collected_at FROM reports \
             WHERE device_id = ?1 ORDER BY received_at DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![device_id, limit as i64], |r| {
            Ok(ReportRow {
                report_id: r.get(0)?,
                received_at: r.get(1)?,
                collected_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn console_seeds(
        &self,
        visit: &mut dyn FnMut(ConsoleSeed) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT device_id, hostname, inventory, packages FROM devices")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            visit(ConsoleSeed {
                device_id: r.get(0)?,
                hostname: r.get(1)?,
                inventory: r.get(2)?,
                packages: r.get(3)?,
            })?;
        }
        Ok(())
    }

    fn saved_alerts(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT fingerprint, alert FROM alerts")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM devices ORDER BY device_id"
        ))?;
        let rows = stmt.query_map([], summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceDetail>, StoreError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, inventory, report_facts, packages_hash, packages \
                 FROM devices WHERE device_id = ?1"
            ))?
            .query_row([device_id], |r| {
                Ok((
                    summary_from_row(r)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .optional()?;
        let Some((summary, inventory, report, packages_hash, packages)) = row else {
            return Ok(None);
        };
        let reports_stored: i64 = conn
            .prepare_cached("SELECT count(*) FROM reports WHERE device_id = ?1")?
            .query_row([device_id], |r| r.get(0))?;
        Ok(Some(DeviceDetail {
            summary,
            inventory: parse_column("inventory", inventory)?,
            report: parse_column("report_facts", report)?,
            packages_hash,
            packages: parse_column("packages", packages)?,
            reports_stored: reports_stored.max(0) as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetwatch_protocol::{HostIdentity, Report};

    fn report(device_id: &str, report_id: &str) -> Report {
        let text = include_str!("../../../protocol/fixtures/report-v1-0.1.0-full.json");
        let mut r: Report = serde_json::from_str(text).unwrap();
        r.device_id = device_id.into();
        r.report_id = report_id.into();
        r
    }

    /// Enrolls `id` with key `key` and nothing else of an identity.
    fn enroll_op(id: &str, key: u8, now: i64) -> WriteOp {
        WriteOp::Enroll(EnrollOp {
            identity: HostIdentity::default(),
            node_key_hash: [key; 32],
            new_device_id: id.into(),
            now,
            max_devices: None,
        })
    }

    /// An acknowledgement promises durability: both connections run WAL
    /// with `synchronous=FULL` (2), which survives power loss, not only a
    /// killed process (tests/tests/e2e_kill9.rs covers that one).
    #[test]
    fn both_connections_are_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path).unwrap();
        let queries = SqliteQueries::open(&path).unwrap();
        for (name, conn) in [("writer", &store.conn), ("reader", &*queries.conn())] {
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!((mode.as_str(), sync), ("wal", 2), "{name}");
        }
    }

    #[test]
    fn pruning_drops_old_history_but_keeps_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let enroll = WriteOp::Enroll(EnrollOp {
            identity: HostIdentity {
                machine_id: Some("m".into()),
                ..HostIdentity::default()
            },
            node_key_hash: [1; 32],
            new_device_id: "dev-1".into(),
            now: 100,
            max_devices: None,
        });
        let old = IngestOp::prepare(report("dev-1", "old"), 1_000).unwrap();
        let new = IngestOp::prepare(report("dev-1", "new"), 9_000).unwrap();
        let results = store
            .apply(&[
                enroll,
                WriteOp::Ingest(Box::new(old)),
                WriteOp::Ingest(Box::new(new)),
            ])
            .unwrap();
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(store.prune_reports(5_000, 10).unwrap(), 1);
        assert_eq!(store.prune_reports(5_000, 10).unwrap(), 0);
        let mut devices = Vec::new();
        store
            .load_devices(&mut |d| {
                devices.push(d);
                Ok(())
            })
            .unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].last_seen, 9_000);
        assert_eq!(
            devices[0].inventory.as_ref().unwrap().hostname,
            "laptop-042"
        );
    }

    #[test]
    fn history_is_capped_per_device_newest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("t.db"))
            .unwrap()
            .with_history_per_device(3);
        let mut ops = Vec::new();
        for (n, id) in ["dev-a", "dev-b"].iter().enumerate() {
            ops.push(WriteOp::Enroll(EnrollOp {
                identity: HostIdentity {
                    machine_id: Some(format!("m{n}")),
                    ..HostIdentity::default()
                },
                node_key_hash: [n as u8 + 10; 32],
                new_device_id: id.to_string(),
                now: 1,
                max_devices: None,
            }));
        }
        // dev-a sends 3 + TRIM_SLACK + 2 reports; dev-b only 2.
        let sent = 3 + TRIM_SLACK + 2;
        for i in 0..sent {
            let op = IngestOp::prepare(report("dev-a", &format!("a{i}")), 100 + i).unwrap();
            ops.push(WriteOp::Ingest(Box::new(op)));
        }
        for i in 0..2 {
            let op = IngestOp::prepare(report("dev-b", &format!("b{i}")), 100 + i).unwrap();
            ops.push(WriteOp::Ingest(Box::new(op)));
        }
        assert!(store.apply(&ops).unwrap().iter().all(Result::is_ok));
        let ids = |device: &str| -> Vec<String> {
            let mut stmt = store
                .conn
                .prepare("SELECT report_id FROM reports WHERE device_id = ?1 ORDER BY received_at")
                .unwrap();
            stmt.query_map([device], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let a = ids("dev-a");
        // Trimmed to the cap when it passed cap + slack, then grew by one.
        assert_eq!(a.len(), 4, "{a:?}");
        assert_eq!(
            a.last().unwrap(),
            &format!("a{}", sent - 1),
            "the newest is kept"
        );
        assert!(!a.contains(&"a0".to_string()), "the oldest went first");
        assert_eq!(ids("dev-b"), vec!["b0", "b1"], "other devices untouched");
    }

    #[test]
    fn a_failing_write_does_not_fail_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let orphan = IngestOp::prepare(report("dev-unknown", "r1"), 1).unwrap();
        let enroll = enroll_op("dev-2", 2, 1);
        let results = store
            .apply(&[WriteOp::Ingest(Box::new(orphan)), enroll])
            .unwrap();
        assert!(matches!(results[0], Err(StoreError::UnknownDevice(_))));
        assert!(results[1].is_ok());
    }

    #[test]
    fn a_stored_future_collected_at_does_not_block_newer_reports() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let enroll = enroll_op("dev-1", 3, 100);
        // As an older collector stored it: the agent's clock, years ahead.
        let mut future = IngestOp::prepare(report("dev-1", "future"), 1_000).unwrap();
        future.collected_at = 400_000_000;
        let mut now = report("dev-1", "now");
        now.collected_at = 1_990;
        now.agent_version = "0.2.0".into();
        let now = IngestOp::prepare(now, 2_000).unwrap();
        let results = store
            .apply(&[
                enroll,
                WriteOp::Ingest(Box::new(future)),
                WriteOp::Ingest(Box::new(now)),
            ])
            .unwrap();
        let Ok(WriteOutcome::Ingested(outcome)) = &results[2] else {
            panic!("{:?}", results[2]);
        };
        assert!(outcome.applied, "the newer report replaces the facts");
        let mut devices = Vec::new();
        store
            .load_devices(&mut |d| {
                devices.push(d);
                Ok(())
            })
            .unwrap();
        assert_eq!(devices[0].report.as_ref().unwrap().agent_version, "0.2.0");
    }
}
