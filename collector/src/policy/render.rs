//! Prometheus text (format 0.0.4) for the compliance families, streamed
//! straight into the scrape body.
//!
//! The text format needs every sample of a family together, so the API is
//! family-major: for each family in [`COMPLIANCE_FAMILIES`], call
//! [`render_family`] with an iterator over all devices (or a shard), then
//! [`render_fleet_checks`] once for the fleet aggregate. Output goes into a
//! byte buffer, the scrape body itself (no intermediate `String`).
//!
//! What is rendered:
//! - values, not status labels; agent-controlled strings only ever appear
//!   as escaped, capped label *values* (`backup`);
//! - gauges show the last known values, also when the latest collection of
//!   their section failed (merge keeps them); `fleetwatch_check_passing`
//!   says whether they were judged;
//! - `fleetwatch_check_passing` is 1/0; an unknown or disabled check has no
//!   sample (absent is not "passing", and 0 would page for a fact we lack);
//!   `fleetwatch_check_failing_since_timestamp_seconds` only for failing
//!   checks; `fleetwatch_device_compliant` is omitted when unknown;
//! - timestamps: `fleetwatch_backup_last_success_timestamp_seconds` is 0 for
//!   a job that never succeeded; other unknown timestamps are omitted.

use super::checks::PolicyCheck;
use super::evaluate::FailingSince;
use super::facts::{ComplianceFacts, MAX_BACKUP_NAME_LEN};
use super::outcomes::{Outcomes, VerdictKind};
use fleetwatch_protocol::BackupResult;

/// One device's inputs to the renderer.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCompliance<'a> {
    /// The `device_id` label value, **already escaped** by the caller.
    pub device_id: &'a str,
    /// Stored facts.
    pub facts: &'a ComplianceFacts,
    /// Current verdicts.
    pub outcomes: Outcomes,
    /// Stored failing-since state.
    pub failing_since: &'a FailingSince,
}

/// A per-device compliance metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplianceFamily {
    /// `fleetwatch_patches_pending{category}`
    PatchesPending,
    /// `fleetwatch_patch_last_install_timestamp_seconds`
    PatchLastInstall,
    /// `fleetwatch_patch_cache_timestamp_seconds`
    PatchCache,
    /// `fleetwatch_reboot_required`
    RebootRequired,
    /// `fleetwatch_reboot_required_since_timestamp_seconds`
    RebootRequiredSince,
    /// `fleetwatch_backup_last_success_timestamp_seconds{backup}`
    BackupLastSuccess,
    /// `fleetwatch_backup_last_run_success{backup}`
    BackupLastRunSuccess,
    /// `fleetwatch_backup_size_bytes{backup}`
    BackupSize,
    /// `fleetwatch_password_policy_setting{setting}`
    PasswordPolicySetting,
    /// `fleetwatch_password_accounts{state}`
    PasswordAccounts,
    /// `fleetwatch_check_passing{check}`
    CheckPassing,
    /// `fleetwatch_check_failing_since_timestamp_seconds{check}`
    CheckFailingSince,
    /// `fleetwatch_device_compliant`
    DeviceCompliant,
}

/// Every per-device compliance family, in exposition order.
pub const COMPLIANCE_FAMILIES: [ComplianceFamily; 13] = [
    ComplianceFamily::PatchesPending,
    ComplianceFamily::PatchLastInstall,
    ComplianceFamily::PatchCache,
    ComplianceFamily::RebootRequired,
    ComplianceFamily::RebootRequiredSince,
    ComplianceFamily::BackupLastSuccess,
    ComplianceFamily::BackupLastRunSuccess,
    ComplianceFamily::BackupSize,
    ComplianceFamily::PasswordPolicySetting,
    ComplianceFamily::PasswordAccounts,
    ComplianceFamily::CheckPassing,
    ComplianceFamily::CheckFailingSince,
    ComplianceFamily::DeviceCompliant,
];

/// The `setting` label values of `fleetwatch_password_policy_setting`.
pub const PASSWORD_SETTINGS: [&str; 8] = [
    "min_length",
    "min_classes",
    "history",
    "lockout_threshold",
    "lockout_unlock_seconds",
    "max_days",
    "min_days",
    "warn_days",
];

impl ComplianceFamily {
    /// Metric name.
    pub fn name(self) -> &'static str {
        match self {
            ComplianceFamily::PatchesPending => "fleetwatch_patches_pending",
            ComplianceFamily::PatchLastInstall => "fleetwatch_patch_last_install_timestamp_seconds",
            ComplianceFamily::PatchCache => "fleetwatch_patch_cache_timestamp_seconds",
            ComplianceFamily::RebootRequired => "fleetwatch_reboot_required",
            ComplianceFamily::RebootRequiredSince => {
                "fleetwatch_reboot_required_since_timestamp_seconds"
            }
            ComplianceFamily::BackupLastSuccess => {
                "fleetwatch_backup_last_success_timestamp_seconds"
            }
            ComplianceFamily::BackupLastRunSuccess => "fleetwatch_backup_last_run_success",
            ComplianceFamily::BackupSize => "fleetwatch_backup_size_bytes",
            ComplianceFamily::PasswordPolicySetting => "fleetwatch_password_policy_setting",
            ComplianceFamily::PasswordAccounts => "fleetwatch_password_accounts",
            ComplianceFamily::CheckPassing => "fleetwatch_check_passing",
            ComplianceFamily::CheckFailingSince => {
                "fleetwatch_check_failing_since_timestamp_seconds"
            }
            ComplianceFamily::DeviceCompliant => "fleetwatch_device_compliant",
        }
    }

    /// HELP text.
    pub fn help(self) -> &'static str {
        match self {
            ComplianceFamily::PatchesPending => {
                "Updates pending on the device, by category (security or other)."
            }
            ComplianceFamily::PatchLastInstall => "Time of the last package install or upgrade.",
            ComplianceFamily::PatchCache => "Time of the last package-cache refresh.",
            ComplianceFamily::RebootRequired => "1 when the device asks for a reboot.",
            ComplianceFamily::RebootRequiredSince => {
                "Since when the device has asked for a reboot."
            }
            ComplianceFamily::BackupLastSuccess => {
                "Time of the last successful run of a backup job, 0 if never."
            }
            ComplianceFamily::BackupLastRunSuccess => {
                "1 when the last run of a backup job succeeded, 0 when it failed."
            }
            ComplianceFamily::BackupSize => "Size of the latest backup of a backup job.",
            ComplianceFamily::PasswordPolicySetting => {
                "Effective numeric password policy setting on the device."
            }
            ComplianceFamily::PasswordAccounts => {
                "Local accounts by password state (empty, expired, locked, total)."
            }
            ComplianceFamily::CheckPassing => {
                "1 when the policy check passes, 0 when it fails; absent when unknown."
            }
            ComplianceFamily::CheckFailingSince => "Since when the policy check has been failing.",
            ComplianceFamily::DeviceCompliant => {
                "1 when every policy check passes, 0 when one fails; absent when unknown."
            }
        }
    }

    /// Every family here is a gauge.
    pub fn kind(self) -> &'static str {
        "gauge"
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub fn render_header(out: &mut Vec<u8>, family: ComplianceFamily) {
    header(out, family.name(), family.help(), family.kind());
}

fn header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(help.as_bytes());
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

/// Writes one whole family: header, then every device's samples.
pub fn render_family<'a>(
    out: &mut Vec<u8>,
    family: ComplianceFamily,
    devices: impl IntoIterator<Item = DeviceCompliance<'a>>,
) {
    render_header(out, family);
    for device in devices {
        render_samples(out, family, &device);
    }
}

/// Writes every compliance family for the devices (iterated once per family).
pub fn render_all<'a, I>(out: &mut Vec<u8>, devices: I)
where
    I: IntoIterator<Item = DeviceCompliance<'a>> + Clone,
{
    for family in COMPLIANCE_FAMILIES {
        render_family(out, family, devices.clone());
    }
}

/// Writes one device's samples of one family (no header).
pub fn render_samples(out: &mut Vec<u8>, family: ComplianceFamily, d: &DeviceCompliance<'_>) {
    let name = family.name();
    let id = d.device_id;
    let patches = d.facts.patches.data.as_ref();
    match family {
        ComplianceFamily::PatchesPending => {
            let Some(p) = patches else { return };
            // Without a security count, "other" is every pending update and
            // the security sample is absent (unknown, not zero).
            if let Some(security) = p.pending_security {
                sample(
                    out,
                    name,
                    id,
                    &[("category", "security")],
                    i64::from(security),
                );
            }
            let other = p
                .pending_total
                .saturating_sub(p.pending_security.unwrap_or(0));
            sample(out, name, id, &[("category", "other")], i64::from(other));
        }
        ComplianceFamily::PatchLastInstall => {
            if let Some(at) = patches.and_then(|p| p.last_install_at) {
                sample(out, name, id, &[], at);
            }
        }
        ComplianceFamily::PatchCache => {
            if let Some(at) = patches.and_then(|p| p.cache_updated_at) {
                sample(out, name, id, &[], at);
            }
        }
        ComplianceFamily::RebootRequired => {
            if let Some(p) = patches {
                sample(out, name, id, &[], i64::from(p.reboot_required));
            }
        }
        ComplianceFamily::RebootRequiredSince => {
            if let Some(at) = patches
                .filter(|p| p.reboot_required)
                .and_then(|p| p.reboot_required_since)
            {
                sample(out, name, id, &[], at);
            }
        }
        ComplianceFamily::BackupLastSuccess
        | ComplianceFamily::BackupLastRunSuccess
        | ComplianceFamily::BackupSize => {
            let Some(b) = d.facts.backup.data.as_ref() else {
                return;
            };
            for job in &b.jobs {
                let value = match family {
                    ComplianceFamily::BackupLastSuccess => Some(job.last_success_at.unwrap_or(0)),
                    ComplianceFamily::BackupLastRunSuccess => match job.last_result {
                        BackupResult::Success => Some(1),
                        BackupResult::Failure => Some(0),
                        BackupResult::Unknown => None,
                    },
                    _ => job.size_bytes.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                };
                if let Some(value) = value {
                    open(out, name, id);
                    out.extend_from_slice(b",backup=\"");
                    escape_label_value(out, &job.name, MAX_BACKUP_NAME_LEN);
                    close(out, value);
                }
            }
        }
        ComplianceFamily::PasswordPolicySetting => {
            let Some(p) = d.facts.password.data.as_ref() else {
                return;
            };
            let values = [
                p.min_length.map(i64::from),
                p.min_classes.map(i64::from),
                p.history.map(i64::from),
                p.lockout_threshold.map(i64::from),
                p.lockout_unlock_seconds
                    .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                p.max_days,
                p.min_days,
                p.warn_days,
            ];
            for (setting, value) in PASSWORD_SETTINGS.iter().zip(values) {
                if let Some(v) = value {
                    sample(out, name, id, &[("setting", setting)], v);
                }
            }
        }
        ComplianceFamily::PasswordAccounts => {
            let Some(a) = d
                .facts
                .password
                .data
                .as_ref()
                .and_then(|p| p.accounts.as_ref())
            else {
                return;
            };
            for (state, n) in [
                ("empty", a.empty),
                ("expired", a.expired),
                ("locked", a.locked),
                ("total", a.total),
            ] {
                sample(out, name, id, &[("state", state)], i64::from(n));
            }
        }
        ComplianceFamily::CheckPassing => {
            for (check, verdict) in d.outcomes.iter() {
                let value = match verdict {
                    VerdictKind::Passing => 1,
                    VerdictKind::Failing => 0,
                    VerdictKind::Unknown => continue,
                };
                sample(out, name, id, &[("check", check.as_str())], value);
            }
        }
        ComplianceFamily::CheckFailingSince => {
            for (check, since) in d.failing_since.iter() {
                if d.outcomes.is_failing(check) {
                    sample(out, name, id, &[("check", check.as_str())], since);
                }
            }
        }
        ComplianceFamily::DeviceCompliant => {
            if let Some(c) = d.outcomes.compliant() {
                sample(out, name, id, &[], i64::from(c));
            }
        }
    }
}

/// Per check, how many devices pass, fail, or are unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetCheckCounts {
    counts: [[u64; 3]; PolicyCheck::COUNT],
}

impl FleetCheckCounts {
    /// Counts one device's verdicts (disabled checks are not counted).
    pub fn add(&mut self, outcomes: Outcomes) {
        for (check, verdict) in outcomes.iter() {
            let slot = match verdict {
                VerdictKind::Passing => 0,
                VerdictKind::Failing => 1,
                VerdictKind::Unknown => 2,
            };
            self.counts[check.index()][slot] += 1;
        }
    }

    /// `(passing, failing, unknown)` for one check.
    pub fn get(&self, check: PolicyCheck) -> (u64, u64, u64) {
        let [p, f, u] = self.counts[check.index()];
        (p, f, u)
    }
}

/// Name of the fleet aggregate family.
pub const FLEET_CHECKS: &str = "fleetwatch_fleet_checks";

/// Writes `fleetwatch_fleet_checks{check,result}` (every combination, zeros
/// included, so the series are stable).
pub fn render_fleet_checks(out: &mut Vec<u8>, counts: &FleetCheckCounts) {
    header(
        out,
        FLEET_CHECKS,
        "Devices per policy check and result (passing, failing, unknown).",
        "gauge",
    );
    for check in PolicyCheck::ALL {
        let (p, f, u) = counts.get(check);
        for (result, n) in [("passing", p), ("failing", f), ("unknown", u)] {
            out.extend_from_slice(FLEET_CHECKS.as_bytes());
            out.extend_from_slice(b"{check=\"");
            out.extend_from_slice(check.as_str().as_bytes());
            out.extend_from_slice(b"\",result=\"");
            out.extend_from_slice(result.as_bytes());
            close(out, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Appends `value` escaped for a label value (`\\`, `\"`, `\n`), cut first
/// to at most `max_bytes` bytes on a char boundary. Other control characters
/// become spaces, as in `exposition::text::push_label_value`: legal, but they
/// break terminals, log pipelines and some scrapers.
pub fn escape_label_value(out: &mut Vec<u8>, value: &str, max_bytes: usize) {
    let mut end = value.len().min(max_bytes);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    // 0xC2 leads the C1 controls (U+0080..U+009F) in UTF-8.
    if !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'"' | 0..=0x1f | 0x7f | 0xc2))
    {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    for c in value.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '"' => out.extend_from_slice(b"\\\""),
            '\n' => out.extend_from_slice(b"\\n"),
            c if c.is_control() => out.push(b' '),
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

/// `name{device_id="id"` — the caller adds labels, then [`close`].
fn open(out: &mut Vec<u8>, name: &str, device_id: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"{device_id=\"");
    out.extend_from_slice(device_id.as_bytes());
    out.push(b'"');
}

/// Ends the label set (after an open label value) and writes the value.
fn close(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(b"\"} ");
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(value).as_bytes());
    out.push(b'\n');
}

/// A sample whose extra label values are fixed, safe strings.
fn sample(out: &mut Vec<u8>, name: &str, device_id: &str, labels: &[(&str, &str)], value: i64) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"{device_id=\"");
    out.extend_from_slice(device_id.as_bytes());
    for (k, v) in labels {
        out.extend_from_slice(b"\",");
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(v.as_bytes());
    }
    close(out, value);
}

#[cfg(test)]
mod tests;
