//! Alert names, the desired-alert spec, and the wire shapes of Alertmanager
//! API v2 and the webhook payload v4.

use std::collections::BTreeMap;

use serde::Serialize;

/// Every alert the collector raises (the same names ship as Prometheus rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertName {
    /// A device stopped reporting.
    DeviceNotReporting,
    /// A backup is older than policy allows.
    BackupOverdue,
    /// Security updates pending longer than policy allows.
    SecurityUpdatesPending,
    /// A reboot has been pending longer than policy allows.
    RebootRequired,
    /// A password-policy check fails.
    PasswordPolicyViolation,
    /// A data-protection check (disk encryption, firewall, antivirus) fails.
    DataProtectionViolation,
    /// The agent could not collect a check.
    CheckFailing,
    /// A large fraction of the fleet stopped reporting (inhibits the per-device alerts).
    ManyDevicesNotReporting,
}

impl AlertName {
    /// All alerts, for configuration validation and docs.
    pub const ALL: [AlertName; 8] = [
        AlertName::DeviceNotReporting,
        AlertName::BackupOverdue,
        AlertName::SecurityUpdatesPending,
        AlertName::RebootRequired,
        AlertName::PasswordPolicyViolation,
        AlertName::DataProtectionViolation,
        AlertName::CheckFailing,
        AlertName::ManyDevicesNotReporting,
    ];

    /// The `alertname` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::DeviceNotReporting => "FleetwatchDeviceNotReporting",
            AlertName::BackupOverdue => "FleetwatchBackupOverdue",
            AlertName::SecurityUpdatesPending => "FleetwatchSecurityUpdatesPending",
            AlertName::RebootRequired => "FleetwatchRebootRequired",
            AlertName::PasswordPolicyViolation => "FleetwatchPasswordPolicyViolation",
            AlertName::DataProtectionViolation => "FleetwatchDataProtectionViolation",
            AlertName::CheckFailing => "FleetwatchCheckFailing",
            AlertName::ManyDevicesNotReporting => "FleetwatchManyDevicesNotReporting",
        }
    }

    /// Parses an `alertname`.
    pub fn parse(s: &str) -> Option<AlertName> {
        AlertName::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Default severity.
    pub fn default_severity(self) -> &'static str {
        match self {
            AlertName::ManyDevicesNotReporting | AlertName::SecurityUpdatesPending => "critical",
            AlertName::CheckFailing => "info",
            _ => "warning",
        }
    }

    /// Anchor of this alert's runbook section in docs/operations.md.
    pub fn runbook_anchor(self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

/// An alert that should be firing now; its identity is its label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// Which alert.
    pub name: AlertName,
    /// Identifying labels besides `alertname` and `severity` (device_id, hostname, check, backup).
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description` (the collector adds `runbook_url`).
    pub annotations: BTreeMap<String, String>,
    /// When the condition started (e.g. failing-since), Unix seconds.
    pub starts_at: i64,
}

/// One alert in Alertmanager's `POST /api/v2/alerts` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    /// Labels incl. `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339: in the future while firing; the resolve time once resolved.
    pub ends_at: String,
    /// Link back to the collector.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// One alert inside a webhook payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: &'static str,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` while firing, as Alertmanager sends it).
    pub ends_at: String,
    /// Link back to the collector.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Stable hex id of the label set.
    pub fingerprint: String,
}

/// The Alertmanager webhook payload, version 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Always "4".
    pub version: &'static str,
    /// Key of the group (all fleetwatch alerts form one group).
    pub group_key: String,
    /// Alerts cut from the payload (none: we never truncate).
    pub truncated_alerts: u64,
    /// `firing` if any alert fires, else `resolved`.
    pub status: &'static str,
    /// Receiver name.
    pub receiver: String,
    /// Labels the group is keyed by.
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts share.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts share.
    pub common_annotations: BTreeMap<String, String>,
    /// Link back to the collector.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in AlertName::ALL {
            assert_eq!(AlertName::parse(a.as_str()), Some(a));
        }
        assert_eq!(AlertName::parse("Nope"), None);
    }
}
