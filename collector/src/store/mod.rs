//! Durable device state behind a [`Store`] trait (SQLite today).
//!
//! Writes go through one writer ([`writer`]) that owns the store and commits
//! whatever is queued in one transaction (group commit); reads for the
//! devices API go through [`DeviceQueries`] on their own connection.

use std::sync::Arc;

use fleetwatch_protocol::{HostIdentity, Report};
use serde::Serialize;

use crate::policy::{ComplianceFacts, FailingSince, Outcomes, Policy};
use crate::report_facts::{CLOCK_SKEW_ALLOWANCE_SECS, InventoryFacts, ReportFacts};

mod schema;
mod sqlite;
pub mod writer;

pub use sqlite::{SqliteQueries, SqliteStore};

/// SHA-256 of a node key; the key itself is never stored.
pub type NodeKeyHash = [u8; 32];

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file's permissions could not be set.
    #[error("database file {}: {source}", path.display())]
    Io {
        /// The database file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored JSON column could not be (de)serialized.
    #[error("stored JSON in {column}: {source}")]
    Json {
        /// Which column.
        column: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The database was written by a newer collector.
    #[error("database schema version {found} is newer than this collector supports ({supported})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// The report's device is not enrolled (deleted meanwhile).
    #[error("device {0} is not enrolled")]
    UnknownDevice(String),
    /// A new device would pass the configured `max_devices`.
    #[error("max_devices ({0}) devices are enrolled")]
    DeviceLimit(u64),
    /// The `report_id` was already used by another device.
    #[error("report_id {0:?} was already used by another device")]
    ReportIdTaken(String),
    /// The batch's transaction could not be committed; nothing in it was stored.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// Whether the database itself fails (full disk, I/O error, locked by
    /// another process, read-only): worth a retry later, unlike a bad write.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::CommitFailed(_) | StoreError::WriterStopped | StoreError::Io { .. } => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    DiskFull
                        | SystemIoFailure
                        | CannotOpen
                        | ReadOnly
                        | DatabaseBusy
                        | DatabaseLocked
                        | OutOfMemory
                )
            ),
            _ => false,
        }
    }
}

/// Enroll (or re-enroll) a host.
#[derive(Debug, Clone)]
pub struct EnrollOp {
    /// Identity the agent sent.
    pub identity: HostIdentity,
    /// Hash of the freshly generated node key.
    pub node_key_hash: NodeKeyHash,
    /// Id to use when the host is new.
    pub new_device_id: String,
    /// Enrollment time (Unix seconds).
    pub now: i64,
    /// Refuse a new device once this many are enrolled and not retired.
    pub max_devices: Option<u64>,
}

/// A validated report, prepared (serialized, split) off the writer thread.
#[derive(Debug, Clone)]
pub struct IngestOp {
    /// The authenticated device.
    pub device_id: String,
    /// The agent's report id.
    pub report_id: String,
    /// When the collector received it.
    pub received_at: i64,
    /// When the agent collected it, cut to the receive time plus
    /// [`CLOCK_SKEW_ALLOWANCE_SECS`]: an agent clock years ahead must not
    /// make every later report look older.
    pub collected_at: i64,
    /// The report as stored in history (package items removed).
    pub body_json: String,
    /// Per-report facts.
    pub report_facts: ReportFacts,
    /// `report_facts` as JSON.
    pub report_facts_json: String,
    /// Present when the inventory check succeeded.
    pub inventory: Option<InventoryUpdate>,
    /// Present when the report carried the full package list.
    pub packages: Option<PackagesUpdate>,
    /// The report's own compliance facts, before merging.
    pub compliance_facts: ComplianceFacts,
    /// What the console indexes from this report (inventory succeeded).
    pub console: Option<Box<crate::console::index::ConsoleDoc>>,
    /// Merged facts and the new verdicts, filled in by the writer right
    /// before the commit (it needs the stored facts and the policy);
    /// `None` leaves the stored compliance state as it is.
    pub compliance: Option<ComplianceUpdate>,
}

/// A device's compliance state after a report, persisted with the report.
#[derive(Debug, Clone)]
pub struct ComplianceUpdate {
    /// Stored facts merged with the report's.
    pub facts: Arc<ComplianceFacts>,
    /// `facts` as JSON.
    pub facts_json: String,
    /// Verdicts of the facts under the current policy.
    pub outcomes: Outcomes,
    /// Failing-since after those verdicts.
    pub failing_since: FailingSince,
    /// `failing_since` as JSON.
    pub failing_since_json: String,
    /// The policy the verdicts were made with.
    pub policy: Arc<Policy>,
}

/// A successful inventory section.
#[derive(Debug, Clone)]
pub struct InventoryUpdate {
    /// Full inventory JSON (package items removed), for the devices API.
    pub full_json: String,
    /// Compact facts for metrics.
    pub facts: InventoryFacts,
    /// `facts` as JSON.
    pub facts_json: String,
}

/// A full package list.
#[derive(Debug, Clone)]
pub struct PackagesUpdate {
    /// The agent's hash of the list.
    pub hash: String,
    /// The list as JSON.
    pub items_json: String,
}

impl IngestOp {
    /// Splits and serializes a validated report.
    pub fn prepare(mut report: Report, received_at: i64) -> Result<Self, serde_json::Error> {
        let mut packages = None;
        let mut inventory = None;
        let mut console = None;
        if let Some(inv) = report.inventory.data.as_mut()
            && report.inventory.status == fleetwatch_protocol::CheckStatus::Ok
        {
            console = Some(Box::new(crate::console::index::ConsoleDoc::from_inventory(
                inv,
                inv.packages.as_ref().and_then(|p| p.items.as_deref()),
            )));
            if let Some(p) = inv.packages.as_mut()
                && let Some(items) = p.items.take()
            {
                packages = Some(PackagesUpdate {
                    hash: p.hash.clone(),
                    items_json: serde_json::to_string(&items)?,
                });
            }
            let facts = InventoryFacts::from_inventory(inv);
            inventory = Some(InventoryUpdate {
                full_json: serde_json::to_string(inv)?,
                facts_json: serde_json::to_string(&facts)?,
                facts,
            });
        }
        let report_facts = ReportFacts::from_report(&report, received_at);
        Ok(IngestOp {
            compliance_facts: ComplianceFacts::from_report(&report, received_at),
            compliance: None,
            console,
            device_id: report.device_id.clone(),
            report_id: report.report_id.clone(),
            received_at,
            collected_at: report
                .collected_at
                .min(received_at.saturating_add(CLOCK_SKEW_ALLOWANCE_SECS)),
            body_json: serde_json::to_string(&report)?,
            report_facts_json: serde_json::to_string(&report_facts)?,
            report_facts,
            inventory,
            packages,
        })
    }
}

/// One write in a group-committed batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Enroll a host.
    Enroll(EnrollOp),
    /// Store a report.
    Ingest(Box<IngestOp>),
    /// Persist failing-since of devices whose verdicts changed on a periodic
    /// evaluation: `(device_id, JSON)`; the writer refreshes the JSON from
    /// the live state right before the commit, so the newest value is stored.
    SaveFailingSince(Vec<(String, String)>),
    /// Retire a device (decommissioned): it leaves metrics, alerts and the
    /// compliance view but stays in the database; a report brings it back.
    Retire(String),
    /// Store a package list that arrived in parts (`POST /api/v1/packages`)
    /// as the device's list: `(device_id, list)`.
    StorePackages(String, PackagesUpdate),
    /// Record today's fleet compliance counts (one row per check and day;
    /// a later save of the same day replaces it).
    SaveDailyCompliance(Vec<DailyCompliance>),
    /// Record the tracked alerts that changed (`(fingerprint, JSON)`) and
    /// forget those no longer tracked.
    SaveAlerts {
        /// New or changed alerts.
        upsert: Vec<(String, String)>,
        /// Fingerprints of alerts no longer tracked.
        delete: Vec<String>,
    },
}

/// One check's fleet counts on one day (the compliance trend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyCompliance {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Check name; `compliant` for the devices' overall verdict.
    pub check: String,
    /// Devices passing (overall: compliant).
    pub passing: u64,
    /// Devices failing (overall: not compliant).
    pub failing: u64,
    /// Devices unknown.
    pub unknown: u64,
}

/// One stored report of a device's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// The agent's report id.
    pub report_id: String,
    /// When the collector received it.
    pub received_at: i64,
    /// When the agent collected it.
    pub collected_at: i64,
}

/// What the console index loads per device at start-up (raw JSON columns).
#[derive(Debug, Clone)]
pub struct ConsoleSeed {
    /// Device id.
    pub device_id: String,
    /// Host name column.
    pub hostname: String,
    /// Stored inventory JSON (without packages).
    pub inventory: Option<String>,
    /// Stored package list JSON.
    pub packages: Option<String>,
}

/// The result of an enrollment.
#[derive(Debug, Clone)]
pub struct EnrollOutcome {
    /// The device as stored after enrollment.
    pub device: StoredDevice,
    /// True when existing hardware was recognised.
    pub reused: bool,
    /// The key that stopped working (re-enrollment).
    pub previous_key_hash: Option<NodeKeyHash>,
    /// A new device was enrolled although an existing one has the same
    /// machine-id: the host's evidence was weaker than what that device
    /// enrolled with (a cloned image, or someone holding only the
    /// world-readable machine-id).
    pub weaker_match: Option<String>,
}

/// The result of storing a report.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOutcome {
    /// The `report_id` had been stored before; nothing changed.
    pub duplicate: bool,
    /// True when the report was the newest so far and replaced the latest
    /// facts (false for an older, spooled report: only `last_seen` moved).
    pub applied: bool,
    /// Device `last_seen` after this report.
    pub last_seen: i64,
    /// Hash of the package list the collector holds now.
    pub packages_hash: Option<String>,
}

/// What one write produced.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    /// From [`WriteOp::Enroll`].
    Enrolled(Box<EnrollOutcome>),
    /// From [`WriteOp::Ingest`].
    Ingested(IngestOutcome),
    /// From [`WriteOp::SaveFailingSince`]: rows updated.
    Saved(usize),
    /// From [`WriteOp::Retire`]: false when no such device exists.
    Retired(bool),
    /// From [`WriteOp::StorePackages`]: the hash now stored.
    PackagesStored(String),
}

/// A device row as loaded at start-up (everything the live state needs).
#[derive(Debug, Clone)]
pub struct StoredDevice {
    /// Device id.
    pub device_id: String,
    /// Host name (from the latest inventory, else from enrollment).
    pub hostname: String,
    /// Enrollment time.
    pub enrolled_at: i64,
    /// Last report received (0: never).
    pub last_seen: i64,
    /// Explicitly retired.
    pub retired: bool,
    /// Current node key hash.
    pub node_key_hash: NodeKeyHash,
    /// Latest good inventory facts.
    pub inventory: Option<InventoryFacts>,
    /// Latest report facts.
    pub report: Option<ReportFacts>,
    /// Merged compliance facts (none before the first report).
    pub compliance: Option<ComplianceFacts>,
    /// Failing-since per policy check.
    pub failing_since: FailingSince,
}

/// The writing side of a store; owned by the single writer thread.
///
/// Contract: [`Store::apply`] runs the whole batch in one transaction and
/// returns only after it is durably committed; one operation failing does
/// not fail the others (each runs in its own savepoint). An `Err` from
/// `apply` means nothing in the batch was committed.
pub trait Store: Send + 'static {
    /// Applies a batch in one durable transaction.
    fn apply(
        &mut self,
        batch: &[WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError>;

    /// Deletes up to `limit` reports received before `before`; returns how many.
    fn prune_reports(&mut self, before: i64, limit: usize) -> Result<usize, StoreError>;

    /// Commits a small write, to find out whether the database takes
    /// writes again after failing (the writer calls it while idle).
    fn probe(&mut self) -> Result<(), StoreError>;

    /// Calls `visit` for every device (start-up load).
    fn load_devices(
        &mut self,
        visit: &mut dyn FnMut(StoredDevice) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A device in the list answer of `GET /api/v1/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// Device id.
    pub device_id: String,
    /// Host name.
    pub hostname: String,
    /// Enrollment time.
    pub enrolled_at: i64,
    /// Last report (0: never).
    pub last_seen: i64,
    /// Reporting agent's version.
    pub agent_version: String,
    /// Explicitly retired.
    pub retired: bool,
}

/// Everything stored about one device (`GET /api/v1/devices/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceDetail {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: DeviceSummary,
    /// Latest good inventory (without the package list).
    pub inventory: Option<serde_json::Value>,
    /// Latest check outcomes and compliance sections.
    pub report: Option<serde_json::Value>,
    /// Hash of the stored package list.
    pub packages_hash: Option<String>,
    /// The stored package list.
    pub packages: Option<serde_json::Value>,
    /// Reports kept in history.
    pub reports_stored: u64,
}

/// The reading side of a store (devices API); safe to share.
pub trait DeviceQueries: Send + Sync + 'static {
    /// All devices, ordered by id.
    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError>;
    /// One device, `None` when unknown.
    fn device(&self, device_id: &str) -> Result<Option<DeviceDetail>, StoreError>;
    /// The saved alerts (`fingerprint`, JSON), for the start-up load.
    fn saved_alerts(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Daily compliance rows from `from_day` on, oldest first.
    fn daily_compliance(&self, from_day: i64) -> Result<Vec<DailyCompliance>, StoreError>;
    /// A device's newest `limit` stored reports, newest first.
    fn report_history(&self, device_id: &str, limit: usize)
    -> Result<Vec<ReportRow>, StoreError>;
    /// Calls `visit` for every device's console seed (start-up load).
    fn console_seeds(
        &self,
        visit: &mut dyn FnMut(ConsoleSeed) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}
