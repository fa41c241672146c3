//! fleetwatch wire protocol, version 1.
//!
//! These are the types an agent and the collector exchange over HTTPS. They
//! are plain serde types: no I/O, no runtime. Rules that keep old and new
//! binaries talking to each other:
//!
//! - every type tolerates unknown fields (no `deny_unknown_fields`), so an
//!   older collector accepts a newer agent;
//! - within v1 only *optional* fields (`Option` or `#[serde(default)]`) are
//!   added;
//! - every report shape that was ever shipped is kept as a fixture under
//!   `protocol/fixtures/` and must keep deserializing (see the tests).
//!
//! Times on the wire are Unix seconds (`i64`); `None` means "not known".
//!
//! ```
//! use fleetwatch_protocol::{CheckResult, CheckStatus};
//! let r: CheckResult<u32> = CheckResult::failed(0.01, "apt-get timed out after 30s");
//! assert_eq!(r.status, CheckStatus::Failed);
//! assert!(r.data.is_none());
//! ```
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

mod compliance;
mod data_protection;
mod inventory;

pub use compliance::*;
pub use data_protection::*;
pub use inventory::*;

/// The schema version this crate writes into every report.
pub const SCHEMA_VERSION: u32 = 1;

/// `POST /api/v1/enroll` path.
pub const ENROLL_PATH: &str = "/api/v1/enroll";
/// `POST /api/v1/reports` path.
pub const REPORTS_PATH: &str = "/api/v1/reports";
/// `POST /api/v1/packages` path: a large package list, in parts.
pub const PACKAGES_PATH: &str = "/api/v1/packages";

/// Body of `POST /api/v1/enroll`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The fleet-wide enroll secret configured on the collector.
    pub enroll_secret: String,
    /// Who is enrolling; the collector reuses a device whose hardware matches.
    pub identity: HostIdentity,
    /// Version of the enrolling agent.
    #[serde(default)]
    pub agent_version: String,
}

/// Stable host identity used to recognise re-enrolling hardware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostIdentity {
    /// `/etc/machine-id` (changes when an OS is reinstalled).
    #[serde(default)]
    pub machine_id: Option<String>,
    /// DMI product UUID (survives an OS reinstall).
    #[serde(default)]
    pub hardware_uuid: Option<String>,
    /// DMI product serial number.
    #[serde(default)]
    pub serial: Option<String>,
    /// Host name at enrollment time (informational).
    #[serde(default)]
    pub hostname: String,
}

/// Answer to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The device's id: the same hardware always gets the same id back.
    pub device_id: String,
    /// Per-device secret for `Authorization: Bearer`; ≥ 256 bits, hex.
    pub node_key: String,
    /// How often the agent should report, in seconds.
    pub report_interval_secs: u64,
}

/// Answer to an accepted report (2xx: the report is durably stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// Always true on 2xx.
    pub accepted: bool,
    /// True when this `report_id` had already been stored (idempotent resend).
    #[serde(default)]
    pub duplicate: bool,
    /// How often the agent should report, in seconds.
    pub report_interval_secs: u64,
    /// Hash of the package list the collector now holds for this device; the
    /// agent sends the full list again whenever its own hash differs.
    #[serde(default)]
    pub packages_hash: Option<String>,
}

/// Body of `POST /api/v1/packages`: one part of a package list too large
/// to ride in a report. Parts are sent in order, `0..parts`; part 0 starts
/// the list over, and the last part makes the collector store the whole
/// list (its `count` items) as the device's package list with `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagesPart {
    /// [`Packages::hash`] of the whole list.
    pub hash: String,
    /// Number of packages in the whole list.
    pub count: u32,
    /// This part's index, from 0.
    pub part: u32,
    /// How many parts the list is cut into.
    pub parts: u32,
    /// This part's packages, in list order.
    pub items: Vec<Package>,
}

/// Answer to an accepted [`PackagesPart`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagesPartResponse {
    /// Parts of this list the collector holds so far.
    pub received: u32,
    /// True once the last part arrived and the whole list is stored.
    pub complete: bool,
    /// Once `complete`: the hash of the list the collector now holds
    /// (this list's); `None` while parts are still expected.
    #[serde(default)]
    pub packages_hash: Option<String>,
}

/// JSON body of every 4xx/5xx answer from the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable description of what is wrong.
    pub error: String,
    /// The offending field as a path (`inventory.data.hostname`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One report from one device (body of `POST /api/v1/reports`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`] for v1 agents.
    pub schema_version: u32,
    /// Unique id chosen by the agent; a resent report keeps its id.
    pub report_id: String,
    /// The device id the collector gave at enrollment.
    pub device_id: String,
    /// Version of the reporting agent.
    pub agent_version: String,
    /// When the agent collected this report (Unix seconds).
    pub collected_at: i64,
    /// Device inventory.
    pub inventory: CheckResult<Inventory>,
    /// The compliance checks.
    #[serde(default)]
    pub checks: Checks,
}

/// Outcomes of the compliance checks; a check the agent did not run is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// Patch levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<CheckResult<Patches>>,
    /// Backup jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<CheckResult<BackupStatus>>,
    /// Password policy and local accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<CheckResult<PasswordPolicy>>,
    /// Disk encryption, firewall, antivirus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_protection: Option<CheckResult<DataProtection>>,
}

/// How one check went on the agent. "Unknown" is never "pass".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Collected; `data` holds the section.
    Ok,
    /// Not applicable on this host (tool or file absent); `error` says why.
    Unsupported,
    /// Tried and failed; `error` says why.
    Failed,
    /// A status this version does not know (a newer agent's): accepted, and
    /// judged as not collected. Agents never send it.
    #[serde(other)]
    Unknown,
}

impl CheckStatus {
    /// The lowercase name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Unsupported => "unsupported",
            CheckStatus::Failed => "failed",
            CheckStatus::Unknown => "unknown",
        }
    }
}

/// One check's outcome and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult<T> {
    /// ok, unsupported or failed.
    pub status: CheckStatus,
    /// Wall time the check took on the agent.
    #[serde(default)]
    pub duration_seconds: f64,
    /// The section; present exactly when `status` is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Why the check is unsupported or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> CheckResult<T> {
    /// A successful check.
    pub fn ok(duration_seconds: f64, data: T) -> Self {
        CheckResult {
            status: CheckStatus::Ok,
            duration_seconds,
            data: Some(data),
            error: None,
        }
    }

    /// A check that does not apply to this host.
    pub fn unsupported(duration_seconds: f64, reason: impl Into<String>) -> Self {
        CheckResult {
            status: CheckStatus::Unsupported,
            duration_seconds,
            data: None,
            error: Some(reason.into()),
        }
    }

    /// A check that was tried and failed.
    pub fn failed(duration_seconds: f64, error: impl Into<String>) -> Self {
        CheckResult {
            status: CheckStatus::Failed,
            duration_seconds,
            data: None,
            error: Some(error.into()),
        }
    }

    /// The data, when the check succeeded.
    pub fn data(&self) -> Option<&T> {
        match self.status {
            CheckStatus::Ok => self.data.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_results_from_a_newer_agent_are_unknown_not_refused() {
        let r: CheckResult<Patches> =
            serde_json::from_str(r#"{"status":"skipped","duration_seconds":0.5,"error":"x"}"#)
                .unwrap();
        assert_eq!(r.status, CheckStatus::Unknown);
        assert!(r.data().is_none());
        let job: BackupJob =
            serde_json::from_str(r#"{"name":"n","kind":"restic","last_result":"partial"}"#)
                .unwrap();
        assert_eq!(job.last_result, BackupResult::Unknown);
        // The known names are unchanged on the wire.
        assert_eq!(
            serde_json::to_string(&CheckStatus::Failed).unwrap(),
            "\"failed\""
        );
        assert_eq!(
            serde_json::to_string(&BackupResult::Failure).unwrap(),
            "\"failure\""
        );
    }

    #[test]
    fn every_shipped_report_fixture_still_deserializes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let report: Report = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} no longer parses: {e}", path.display()));
                assert_eq!(report.schema_version, SCHEMA_VERSION);
                assert!(!report.report_id.is_empty());
                n += 1;
            }
        }
        assert!(n >= 1, "no report fixtures found in {dir}");
    }

    #[test]
    fn reboot_unknown_is_expressible_and_old_reports_read_as_known() {
        let read = |name: &str| -> Patches {
            let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let report: Report =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            report.checks.patches.unwrap().data.unwrap()
        };
        let old = read("report-v1-0.1.0-full.json");
        assert_eq!(old.reboot_required_state(), Some(true));
        assert!(old.new_packages.is_empty());
        let new = read("report-v1-0.2.0-patches-unknown.json");
        assert_eq!(new.reboot_required_state(), None);
        assert_eq!(new.pending_security, None);
        assert_eq!(new.new_packages[0].name, "kernel-core");
        // Known values keep the old shape on the wire.
        let known = serde_json::to_value(Patches::default()).unwrap();
        assert!(known.get("reboot_required_unknown").is_none());
        assert!(known.get("new_packages").is_none());
    }

    #[test]
    fn password_origins_read_back_and_unknown_sources_are_tolerated() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/report-v1-0.2.0-password-origins.json"
        ))
        .unwrap();
        let report: Report = serde_json::from_str(&text).unwrap();
        let policy = report.checks.password_policy.unwrap().data.unwrap();
        let min_length = &policy.origins["min_length"];
        assert_eq!(min_length.source, SettingSource::File);
        assert_eq!(min_length.enforced, Some(false));
        assert!(
            min_length
                .not_enforced_reason
                .as_deref()
                .unwrap()
                .contains("enforcing=0")
        );
        let o: SettingOrigin =
            serde_json::from_str(r#"{"source":"group_policy","new":1}"#).unwrap();
        assert_eq!(o.source, SettingSource::Unknown);
        assert_eq!(o.enforced, None);
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let text = r#"{"schema_version":1,"report_id":"r1","device_id":"d1",
            "agent_version":"9.9.9","collected_at":1,"from_the_future":{"x":1},
            "inventory":{"status":"failed","duration_seconds":0.1,"error":"boom","new":1},
            "checks":{"quantum":{"status":"ok"}}}"#;
        let report: Report = serde_json::from_str(text).unwrap();
        assert_eq!(report.inventory.status, CheckStatus::Failed);
        assert!(report.inventory.data().is_none());
    }

    #[test]
    fn check_result_round_trips() {
        let r = CheckResult::ok(0.5, 7u32);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"status":"ok","duration_seconds":0.5,"data":7}"#);
        let back: CheckResult<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
