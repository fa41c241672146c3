//! What the collector keeps about a device, derived from its reports.
//!
//! A report is split in two on arrival:
//! - [`InventoryFacts`]: the compact inventory facts the metrics need; only
//!   replaced by a report whose inventory check succeeded, so a failed
//!   inventory keeps the previous facts;
//! - [`ReportFacts`]: agent version, each check's outcome and duration.
//!
//! The compliance sections become `policy::ComplianceFacts` (the compliance
//! facts), stored in a column of their own.
//!
//! Both are stored as JSON columns and loaded at start-up; they are much
//! smaller than a report (no package list, users or network interfaces).

use fleetwatch_protocol::{CheckResult, CheckStatus, Inventory, Report};
use serde::{Deserialize, Serialize};

use crate::time::parse_iso_date;

/// The checks the collector knows, in exposition order. Label values of
/// `check` come only from this list, never from the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Device inventory.
    Inventory,
    /// Patch levels.
    Patches,
    /// Backup jobs.
    Backup,
    /// Password policy.
    PasswordPolicy,
    /// Disk encryption, firewall, antivirus.
    DataProtection,
}

impl CheckKind {
    /// Every check, in a fixed order.
    pub const ALL: [CheckKind; 5] = [
        CheckKind::Inventory,
        CheckKind::Patches,
        CheckKind::Backup,
        CheckKind::PasswordPolicy,
        CheckKind::DataProtection,
    ];

    /// The `check` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Inventory => "inventory",
            CheckKind::Patches => "patches",
            CheckKind::Backup => "backup",
            CheckKind::PasswordPolicy => "password_policy",
            CheckKind::DataProtection => "data_protection",
        }
    }

    /// Position in [`CheckKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One check's outcome as the agent reported it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Which check.
    pub check: CheckKind,
    /// ok / unsupported / failed.
    pub status: CheckStatus,
    /// Wall time on the agent.
    pub duration_seconds: f64,
}

/// One mounted file system, for the disk families.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFacts {
    /// Mount point.
    pub mountpoint: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Bytes available.
    pub available_bytes: u64,
}

/// Inventory facts the metrics are rendered from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryFacts {
    /// Short host name.
    pub hostname: String,
    /// FQDN.
    #[serde(default)]
    pub fqdn: String,
    /// OS family (`linux`, `macos`, `windows`; `linux` for agents older
    /// than the field).
    #[serde(default)]
    pub os_family: String,
    /// os-release `ID`.
    #[serde(default)]
    pub os: String,
    /// os-release `VERSION_ID`.
    #[serde(default)]
    pub os_version: String,
    /// os-release `PRETTY_NAME` (else `NAME`).
    #[serde(default)]
    pub os_name: String,
    /// Support end as Unix seconds (from the ISO date), when published.
    #[serde(default)]
    pub os_support_end: Option<i64>,
    /// Kernel release.
    #[serde(default)]
    pub kernel_version: String,
    /// Architecture.
    #[serde(default)]
    pub arch: String,
    /// Hardware vendor.
    #[serde(default)]
    pub vendor: String,
    /// Hardware model.
    #[serde(default)]
    pub model: String,
    /// Serial number.
    #[serde(default)]
    pub serial: String,
    /// Boot time, Unix seconds.
    #[serde(default)]
    pub boot_time: Option<i64>,
    /// Total memory.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Total swap.
    #[serde(default)]
    pub swap_bytes: u64,
    /// Logical CPUs.
    #[serde(default)]
    pub cpus: u32,
    /// Mounted file systems.
    #[serde(default)]
    pub disks: Vec<DiskFacts>,
    /// Installed package count, when the agent reported packages.
    #[serde(default)]
    pub packages_installed: Option<u32>,
}

impl InventoryFacts {
    /// Extracts the facts from an inventory section.
    pub fn from_inventory(inv: &Inventory) -> Self {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        InventoryFacts {
            hostname: inv.hostname.clone(),
            fqdn: opt(&inv.fqdn),
            os_family: inv
                .os
                .family
                .unwrap_or(fleetwatch_protocol::OsFamily::Linux)
                .as_str()
                .to_string(),
            os: inv.os.id.clone(),
            os_version: opt(&inv.os.version_id),
            os_name: inv
                .os
                .pretty_name
                .clone()
                .or_else(|| inv.os.name.clone())
                .unwrap_or_default(),
            os_support_end: inv.os.support_end.as_deref().and_then(parse_iso_date),
            kernel_version: opt(&inv.kernel_version),
            arch: inv.arch.clone(),
            vendor: opt(&inv.hardware.vendor),
            model: opt(&inv.hardware.model),
            serial: opt(&inv.hardware.serial),
            boot_time: inv.boot_time,
            memory_bytes: inv.memory.total_bytes,
            swap_bytes: inv.memory.swap_total_bytes,
            cpus: inv.cpu.logical_cpus,
            disks: inv
                .disks
                .iter()
                .map(|d| DiskFacts {
                    mountpoint: d.mount_point.clone(),
                    size_bytes: d.total_bytes,
                    available_bytes: d.available_bytes,
                })
                .collect(),
            packages_installed: inv.packages.as_ref().map(|p| p.count),
        }
    }
}

/// How far ahead of the collector's clock an agent's may run before its
/// reports count as skewed (logged, counted) and their `collected_at` is cut
/// to the receive time plus this.
pub const CLOCK_SKEW_ALLOWANCE_SECS: i64 = 60;

/// Per-report facts: who sent it and how each check went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFacts {
    /// Agent version.
    pub agent_version: String,
    /// When the agent collected the report (its own clock).
    pub collected_at: i64,
    /// When the collector received it (0 in facts stored before this field).
    #[serde(default)]
    pub received_at: i64,
    /// Outcome of every check the agent ran (inventory always).
    pub outcomes: Vec<CheckOutcome>,
}

impl ReportFacts {
    /// Extracts the facts from a report received at `received_at`.
    pub fn from_report(report: &Report, received_at: i64) -> Self {
        let mut outcomes = vec![outcome(CheckKind::Inventory, &report.inventory)];
        if let Some(c) = &report.checks.patches {
            outcomes.push(outcome(CheckKind::Patches, c));
        }
        if let Some(c) = &report.checks.backup {
            outcomes.push(outcome(CheckKind::Backup, c));
        }
        if let Some(c) = &report.checks.password_policy {
            outcomes.push(outcome(CheckKind::PasswordPolicy, c));
        }
        if let Some(c) = &report.checks.data_protection {
            outcomes.push(outcome(CheckKind::DataProtection, c));
        }
        ReportFacts {
            agent_version: report.agent_version.clone(),
            collected_at: report.collected_at,
            received_at,
            outcomes,
        }
    }
}

impl ReportFacts {
    /// How far the agent's clock was ahead of the collector's when it sent
    /// this report (0 when not ahead, or when not known). A clock behind
    /// cannot be told from a report that waited in the agent's spool.
    pub fn clock_skew_secs(&self) -> i64 {
        if self.received_at > 0 {
            self.collected_at.saturating_sub(self.received_at).max(0)
        } else {
            0
        }
    }
}

fn outcome<T>(check: CheckKind, result: &CheckResult<T>) -> CheckOutcome {
    CheckOutcome {
        check,
        status: result.status,
        duration_seconds: result.duration_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_facts_list_only_the_checks_that_ran() {
        let text = include_str!("../../protocol/fixtures/report-v1-0.1.0-minimal.json");
        let report: Report = serde_json::from_str(text).unwrap();
        let facts = ReportFacts::from_report(&report, 1);
        assert_eq!(facts.outcomes.len(), 1);
        assert_eq!(facts.outcomes[0].status, CheckStatus::Failed);
    }

    /// A `collected_at` from before time began (fuzzing: `report_pipeline`)
    /// is a clock behind, not an overflow.
    #[test]
    fn clock_skew_of_a_collected_at_at_the_ends_of_i64() {
        let facts = |collected_at| ReportFacts {
            collected_at,
            received_at: 1_700_000_000,
            ..ReportFacts::default()
        };
        assert_eq!(facts(i64::MIN).clock_skew_secs(), 0);
        assert_eq!(facts(i64::MAX).clock_skew_secs(), i64::MAX - 1_700_000_000);
    }
}
