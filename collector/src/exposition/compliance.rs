//! Prometheus text (format 0.0.4) for the compliance families, streamed
//! straight into the scrape body.
//!
//! The text format needs every sample of a family together, so rendering is
//! family-major: [`render_compliance_families`] gathers one flat row per
//! device (or shard), then writes each family in [`COMPLIANCE_FAMILIES`]
//! from those rows; [`render_fleet_checks`] writes the fleet aggregate.
//! Output goes into the scrape body itself (no intermediate `String`).
//!
//! What is rendered:
//! - values, not status labels; agent-controlled strings only ever appear
//!   as escaped, capped label *values* (`backup`);
//! - gauges show the last known values, also when the latest collection of
//!   their section failed (merge keeps them); `fleetwatch_check_passing`
//!   says whether they were judged;
//! - `fleetwatch_check_passing` is 1/0; an unknown, not-applicable or
//!   disabled check has no sample (absent is not "passing", and 0 would page
//!   for a fact we lack); `fleetwatch_check_not_applicable` is 1 for the
//!   checks with no meaning on the device (its OS family, or the policy)
//!   and absent otherwise, so "unknown" is an enabled check with neither;
//!   `fleetwatch_check_failing_since_timestamp_seconds` only for failing
//!   checks; `fleetwatch_device_compliant` is omitted when unknown;
//! - timestamps: `fleetwatch_backup_last_success_timestamp_seconds` is 0 for
//!   a job that never succeeded; other unknown timestamps are omitted;
//! - data protection: `fleetwatch_disk_encrypted{volume}` 1 (encrypted,
//!   protection on) / 0 (not, still converting, or protection off), absent
//!   when unknown; `fleetwatch_firewall_enabled` and
//!   `fleetwatch_antivirus_real_time_protection` absent when unknown.

use std::sync::LazyLock;

use fleetwatch_protocol::BackupResult;

use super::text::{DeviceIds, FamilyType, Sink, escape_label_value, header, line};
use crate::policy::compliance_facts::{BackupJobFacts, ComplianceFacts, MAX_BACKUP_NAME_LEN};
use crate::policy::protection_facts::MAX_VOLUME_NAME_LEN;
use crate::policy::{FailingSince, Outcomes, PolicyCheck, VerdictKind};

/// One device's inputs to the renderer.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCompliance<'a> {
    /// Stored facts.
    pub facts: &'a ComplianceFacts,
    /// Current verdicts.
    pub outcomes: Outcomes,
    /// Failing-since (only the checks failing in `outcomes` are shown).
    pub failing_since: FailingSince,
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
    /// `fleetwatch_disk_encrypted{volume}`
    DiskEncrypted,
    /// `fleetwatch_firewall_enabled`
    FirewallEnabled,
    /// `fleetwatch_antivirus_real_time_protection`
    AntivirusRealTime,
    /// `fleetwatch_antivirus_signature_timestamp_seconds`
    AntivirusSignatures,
    /// `fleetwatch_check_passing{check}`
    CheckPassing,
    /// `fleetwatch_check_not_applicable{check}`
    CheckNotApplicable,
    /// `fleetwatch_check_failing_since_timestamp_seconds{check}`
    CheckFailingSince,
    /// `fleetwatch_device_compliant`
    DeviceCompliant,
}

/// Every per-device compliance family, in exposition order.
pub const COMPLIANCE_FAMILIES: [ComplianceFamily; 18] = [
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
    ComplianceFamily::DiskEncrypted,
    ComplianceFamily::FirewallEnabled,
    ComplianceFamily::AntivirusRealTime,
    ComplianceFamily::AntivirusSignatures,
    ComplianceFamily::CheckPassing,
    ComplianceFamily::CheckNotApplicable,
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
        let prefix = self.prefix();
        &prefix[..prefix.len() - "{device_id=\"".len()]
    }

    /// `name{device_id="`: how every sample of the family starts.
    pub fn prefix(self) -> &'static str {
        // One list of names: `name` is this minus the label-set opening.
        macro_rules! p {
            ($name:literal) => {
                concat!($name, "{device_id=\"")
            };
        }
        match self {
            ComplianceFamily::PatchesPending => p!("fleetwatch_patches_pending"),
            ComplianceFamily::PatchLastInstall => {
                p!("fleetwatch_patch_last_install_timestamp_seconds")
            }
            ComplianceFamily::PatchCache => p!("fleetwatch_patch_cache_timestamp_seconds"),
            ComplianceFamily::RebootRequired => p!("fleetwatch_reboot_required"),
            ComplianceFamily::RebootRequiredSince => {
                p!("fleetwatch_reboot_required_since_timestamp_seconds")
            }
            ComplianceFamily::BackupLastSuccess => {
                p!("fleetwatch_backup_last_success_timestamp_seconds")
            }
            ComplianceFamily::BackupLastRunSuccess => p!("fleetwatch_backup_last_run_success"),
            ComplianceFamily::BackupSize => p!("fleetwatch_backup_size_bytes"),
            ComplianceFamily::PasswordPolicySetting => p!("fleetwatch_password_policy_setting"),
            ComplianceFamily::PasswordAccounts => p!("fleetwatch_password_accounts"),
            ComplianceFamily::DiskEncrypted => p!("fleetwatch_disk_encrypted"),
            ComplianceFamily::FirewallEnabled => p!("fleetwatch_firewall_enabled"),
            ComplianceFamily::AntivirusRealTime => p!("fleetwatch_antivirus_real_time_protection"),
            ComplianceFamily::AntivirusSignatures => {
                p!("fleetwatch_antivirus_signature_timestamp_seconds")
            }
            ComplianceFamily::CheckPassing => p!("fleetwatch_check_passing"),
            ComplianceFamily::CheckNotApplicable => p!("fleetwatch_check_not_applicable"),
            ComplianceFamily::CheckFailingSince => {
                p!("fleetwatch_check_failing_since_timestamp_seconds")
            }
            ComplianceFamily::DeviceCompliant => p!("fleetwatch_device_compliant"),
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
            ComplianceFamily::DiskEncrypted => {
                "1 when a fixed volume is encrypted with protection on, 0 when it is not; absent when unknown."
            }
            ComplianceFamily::FirewallEnabled => {
                "1 when the host firewall filters incoming traffic, 0 when it does not; absent when unknown."
            }
            ComplianceFamily::AntivirusRealTime => {
                "1 when the antivirus's real-time protection is on, 0 when off; absent when unknown."
            }
            ComplianceFamily::AntivirusSignatures => {
                "When the antivirus signatures were last updated."
            }
            ComplianceFamily::CheckPassing => {
                "1 when the policy check passes, 0 when it fails; absent when unknown or not applicable."
            }
            ComplianceFamily::CheckNotApplicable => {
                "1 when the policy check has no meaning on the device (its OS family, or the policy); absent otherwise."
            }
            ComplianceFamily::CheckFailingSince => "Since when the policy check has been failing.",
            ComplianceFamily::DeviceCompliant => {
                "1 when every policy check passes, 0 when one fails; absent when unknown."
            }
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family (all compliance families are gauges).
fn render_header(out: &mut Vec<u8>, family: ComplianceFamily) {
    header(out, family.name(), FamilyType::Gauge, family.help());
}

/// Writes every compliance family for `devices` (in id order; `ids` their
/// escaped ids), family-major. Each device's facts and verdicts are read
/// once, into a flat row, instead of once per family.
pub fn render_compliance_families<'a>(
    out: &mut Sink<'_>,
    devices: impl ExactSizeIterator<Item = DeviceCompliance<'a>>,
    ids: &DeviceIds,
) {
    let mut rows: Vec<ComplianceRow> = Vec::with_capacity(devices.len());
    let mut tables = LabelledTables::with_capacity(devices.len());
    // The failing checks' since, back to back; `failing_ends[i]` is where
    // device `i`'s end.
    let mut failing: Vec<(PolicyCheck, i64)> = Vec::new();
    let mut failing_ends: Vec<usize> = Vec::with_capacity(devices.len());
    for d in devices {
        rows.push(ComplianceRow::new(d.facts, d.outcomes, &mut tables));
        failing.extend(
            d.failing_since
                .iter()
                .filter(|(check, _)| d.outcomes.is_failing(*check)),
        );
        failing_ends.push(failing.len());
    }
    for family in COMPLIANCE_FAMILIES {
        render_header(out, family);
        let mut start = 0;
        for (i, row) in rows.iter().enumerate() {
            if !out.maybe_flush() {
                return;
            }
            let end = failing_ends[i];
            render_row(out, family, ids.get(i), row, &tables, &failing[start..end]);
            start = end;
        }
    }
}

// Slots of `ComplianceRow::values`.
const PENDING_SECURITY: usize = 0;
const PENDING_OTHER: usize = 1;
const LAST_INSTALL: usize = 2;
const CACHE: usize = 3;
const REBOOT: usize = 4;
const REBOOT_SINCE: usize = 5;
const FIREWALL: usize = 6;
const AV_REAL_TIME: usize = 7;
const AV_SIGNATURES: usize = 8;
const SETTINGS: usize = 9;
const ACCOUNTS: usize = SETTINGS + PASSWORD_SETTINGS.len();
const SLOTS: usize = ACCOUNTS + ACCOUNT_STATES.len();
const _: () = assert!(SLOTS <= 32, "ComplianceRow::present has 32 bits");

/// The `state` label values of `fleetwatch_password_accounts`.
const ACCOUNT_STATES: [&str; 4] = ["empty", "expired", "locked", "total"];

/// Samples with one agent-named label (a backup job, a volume) of a
/// scrape's devices, flattened as their rows are gathered: each name
/// escaped once (not once per family) and all of them read back to back.
#[derive(Debug)]
pub struct LabelledRows<const N: usize> {
    /// Escaped, capped names, back to back.
    names: Vec<u8>,
    entries: Vec<LabelledRow<N>>,
}

/// One entry: where its name is in [`LabelledRows::names`], and its value
/// in each of the table's families (`None`: no sample).
#[derive(Debug, Clone, Copy)]
struct LabelledRow<const N: usize> {
    name: (usize, usize),
    values: [Option<i64>; N],
}

impl<const N: usize> LabelledRows<N> {
    /// Room for `entries` entries (a fleet has about one per device), so
    /// the table is not regrown, and briefly held twice, while rows are
    /// gathered.
    pub fn with_capacity(entries: usize) -> Self {
        LabelledRows {
            names: Vec::with_capacity(entries * 8),
            entries: Vec::with_capacity(entries),
        }
    }

    /// Adds an entry of the device whose entries start at `first`, unless
    /// one of them already renders to the same label value (`a\tb` and
    /// `a b` both become `a b`): a repeated label set would be a duplicate
    /// series, so the first one wins, as for disks.
    fn push(&mut self, name: &str, max_len: usize, values: [Option<i64>; N], first: usize) {
        let start = self.names.len();
        escape_label_value(&mut self.names, name, max_len);
        let rendered = &self.names[start..];
        if self.entries[first..]
            .iter()
            .any(|e| &self.names[e.name.0..e.name.1] == rendered)
        {
            self.names.truncate(start);
            return;
        }
        self.entries.push(LabelledRow {
            name: (start, self.names.len()),
            values,
        });
    }

    /// Writes the samples of entries `range` for family number `which` of
    /// the table, `label` being the label-set tail before the name
    /// (`",backup="`).
    fn render(
        &self,
        out: &mut Vec<u8>,
        range: std::ops::Range<usize>,
        which: usize,
        prefix: &[u8],
        id: &[u8],
        label: &[u8],
    ) {
        let mut buf = itoa::Buffer::new();
        for entry in &self.entries[range] {
            if let Some(value) = entry.values[which] {
                let name = &self.names[entry.name.0..entry.name.1];
                let value = buf.format(value).as_bytes();
                line(out, [prefix, id, label, name, b"\"} ", value, b"\n"]);
            }
        }
    }
}

/// The labelled tables of one scrape: backup jobs and volumes.
#[derive(Debug)]
pub struct LabelledTables {
    /// Backup jobs, values in [`BACKUP_FAMILIES`] order.
    backups: LabelledRows<3>,
    /// Volumes: `fleetwatch_disk_encrypted`.
    volumes: LabelledRows<1>,
}

impl LabelledTables {
    /// Room for about `devices` devices.
    pub fn with_capacity(devices: usize) -> Self {
        LabelledTables {
            backups: LabelledRows::with_capacity(devices),
            volumes: LabelledRows::with_capacity(devices * 2),
        }
    }

    fn push_backup(&mut self, job: &BackupJobFacts, first: usize) {
        let last_run = match job.last_result {
            BackupResult::Success => Some(1),
            BackupResult::Failure => Some(0),
            BackupResult::Unknown => None,
        };
        self.backups.push(
            &job.name,
            MAX_BACKUP_NAME_LEN,
            [
                Some(job.last_success_at.unwrap_or(0)),
                last_run,
                job.size_bytes.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            ],
            first,
        );
    }
}

/// The backup families, in the order of the backup table's values.
const BACKUP_FAMILIES: [ComplianceFamily; 3] = [
    ComplianceFamily::BackupLastSuccess,
    ComplianceFamily::BackupLastRunSuccess,
    ComplianceFamily::BackupSize,
];

/// One device's compliance values, read once from its facts: a scrape
/// gathers these for every device, then each family pass reads this flat
/// row instead of following the facts' pointers again.
#[derive(Debug, Clone)]
pub struct ComplianceRow {
    /// The device's jobs in the [`LabelledTables`] it was gathered with.
    jobs: std::ops::Range<usize>,
    /// The device's volumes there.
    volumes: std::ops::Range<usize>,
    values: [i64; SLOTS],
    /// Bit `i` set: `values[i]` has a sample.
    present: u32,
    outcomes: Outcomes,
}

impl ComplianceRow {
    /// The row of a device with `facts` and current `outcomes`; its backup
    /// jobs and volumes go to `tables`.
    pub fn new(facts: &ComplianceFacts, outcomes: Outcomes, tables: &mut LabelledTables) -> Self {
        let first_job = tables.backups.entries.len();
        for job in facts.backup.data.iter().flat_map(|b| &b.jobs) {
            tables.push_backup(job, first_job);
        }
        let first_volume = tables.volumes.entries.len();
        let protection = facts.data_protection.data.as_ref();
        for v in protection.iter().flat_map(|d| &d.volumes) {
            let encrypted = v.protected().map(i64::from);
            tables.volumes.push(
                &v.mount_point,
                MAX_VOLUME_NAME_LEN,
                [encrypted],
                first_volume,
            );
        }
        let mut row = ComplianceRow {
            jobs: first_job..tables.backups.entries.len(),
            volumes: first_volume..tables.volumes.entries.len(),
            values: [0; SLOTS],
            present: 0,
            outcomes,
        };
        if let Some(p) = facts.patches.data.as_ref() {
            row.set(PENDING_SECURITY, p.pending_security.map(i64::from));
            // Without a security count, "other" is every pending update and
            // the security sample is absent (unknown, not zero).
            let other = p
                .pending_total
                .saturating_sub(p.pending_security.unwrap_or(0));
            row.set(PENDING_OTHER, Some(i64::from(other)));
            row.set(LAST_INSTALL, p.last_install_at);
            row.set(CACHE, p.cache_updated_at);
            // Unknown is an absent sample, not 0.
            row.set(
                REBOOT,
                (!p.reboot_unknown).then(|| i64::from(p.reboot_required)),
            );
            if p.reboot_required {
                row.set(REBOOT_SINCE, p.reboot_required_since);
            }
        }
        if let Some(d) = protection {
            let firewall = d.firewall.as_ref().and_then(|f| f.enabled);
            row.set(FIREWALL, firewall.map(i64::from));
            if let Some(av) = d.antivirus.as_ref() {
                row.set(AV_REAL_TIME, av.real_time_protection.map(i64::from));
                row.set(AV_SIGNATURES, av.signatures_updated_at);
            }
        }
        if let Some(p) = facts.password.data.as_ref() {
            let settings = [
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
            for (i, v) in settings.into_iter().enumerate() {
                row.set(SETTINGS + i, v);
            }
            if let Some(a) = p.accounts.as_ref() {
                for (i, n) in [a.empty, a.expired, a.locked, a.total]
                    .into_iter()
                    .enumerate()
                {
                    row.set(ACCOUNTS + i, Some(i64::from(n)));
                }
            }
        }
        row
    }

    fn set(&mut self, slot: usize, value: Option<i64>) {
        if let Some(v) = value {
            self.values[slot] = v;
            self.present |= 1 << slot;
        }
    }

    fn get(&self, slot: usize) -> Option<i64> {
        (self.present & (1 << slot) != 0).then_some(self.values[slot])
    }
}

/// The constant label-set tails (`",label="value"} `) of the compliance
/// samples, built once.
struct Suffixes {
    check: Vec<Vec<u8>>,
    setting: Vec<Vec<u8>>,
    state: Vec<Vec<u8>>,
}

static SUFFIXES: LazyLock<Suffixes> = LazyLock::new(|| {
    let tails = |label: &str, values: &mut dyn Iterator<Item = &str>| {
        values
            .map(|v| format!("\",{label}=\"{v}\"}} ").into_bytes())
            .collect()
    };
    Suffixes {
        check: tails("check", &mut PolicyCheck::ALL.iter().map(|c| c.as_str())),
        setting: tails("setting", &mut PASSWORD_SETTINGS.iter().copied()),
        state: tails("state", &mut ACCOUNT_STATES.iter().copied()),
    }
});

/// Writes one device's samples of one family (no header) from its row;
/// `id` is the escaped device id, `failing` the failing checks with their
/// since (only read for that family), `tables` the labelled entries the row
/// was gathered with.
fn render_row(
    out: &mut Vec<u8>,
    family: ComplianceFamily,
    id: &[u8],
    row: &ComplianceRow,
    tables: &LabelledTables,
    failing: &[(PolicyCheck, i64)],
) {
    let prefix = family.prefix().as_bytes();
    let mut buf = itoa::Buffer::new();
    let mut put = |out: &mut Vec<u8>, suffix: &[u8], v: i64| {
        line(out, [prefix, id, suffix, buf.format(v).as_bytes(), b"\n"]);
    };
    let mut slot = |out: &mut Vec<u8>, suffix: &[u8], slot: usize| {
        if let Some(v) = row.get(slot) {
            put(out, suffix, v);
        }
    };
    match family {
        ComplianceFamily::PatchesPending => {
            slot(out, b"\",category=\"security\"} ", PENDING_SECURITY);
            slot(out, b"\",category=\"other\"} ", PENDING_OTHER);
        }
        ComplianceFamily::PatchLastInstall => slot(out, NO_LABELS, LAST_INSTALL),
        ComplianceFamily::PatchCache => slot(out, NO_LABELS, CACHE),
        ComplianceFamily::RebootRequired => slot(out, NO_LABELS, REBOOT),
        ComplianceFamily::RebootRequiredSince => slot(out, NO_LABELS, REBOOT_SINCE),
        ComplianceFamily::BackupLastSuccess
        | ComplianceFamily::BackupLastRunSuccess
        | ComplianceFamily::BackupSize => {
            let which = BACKUP_FAMILIES
                .iter()
                .position(|f| *f == family)
                .unwrap_or_default();
            tables
                .backups
                .render(out, row.jobs.clone(), which, prefix, id, b"\",backup=\"");
        }
        ComplianceFamily::DiskEncrypted => {
            tables
                .volumes
                .render(out, row.volumes.clone(), 0, prefix, id, b"\",volume=\"");
        }
        ComplianceFamily::FirewallEnabled => slot(out, NO_LABELS, FIREWALL),
        ComplianceFamily::AntivirusRealTime => slot(out, NO_LABELS, AV_REAL_TIME),
        ComplianceFamily::AntivirusSignatures => slot(out, NO_LABELS, AV_SIGNATURES),
        ComplianceFamily::PasswordPolicySetting => {
            for (i, suffix) in SUFFIXES.setting.iter().enumerate() {
                slot(out, suffix, SETTINGS + i);
            }
        }
        ComplianceFamily::PasswordAccounts => {
            for (i, suffix) in SUFFIXES.state.iter().enumerate() {
                slot(out, suffix, ACCOUNTS + i);
            }
        }
        ComplianceFamily::CheckPassing => {
            for (check, verdict) in row.outcomes.iter() {
                let value = match verdict {
                    VerdictKind::Passing => 1,
                    VerdictKind::Failing => 0,
                    VerdictKind::Unknown | VerdictKind::NotApplicable => continue,
                };
                put(out, &SUFFIXES.check[check.index()], value);
            }
        }
        ComplianceFamily::CheckNotApplicable => {
            for (check, verdict) in row.outcomes.iter() {
                if verdict == VerdictKind::NotApplicable {
                    put(out, &SUFFIXES.check[check.index()], 1);
                }
            }
        }
        ComplianceFamily::CheckFailingSince => {
            for &(check, since) in failing {
                put(out, &SUFFIXES.check[check.index()], since);
            }
        }
        ComplianceFamily::DeviceCompliant => {
            if let Some(c) = row.outcomes.compliant() {
                put(out, NO_LABELS, i64::from(c));
            }
        }
    }
}

/// The label-set tail of a sample with only `device_id`.
const NO_LABELS: &[u8] = b"\"} ";

/// Per check, how many devices pass, fail, are unknown or not applicable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetCheckCounts {
    counts: [[u64; VerdictKind::ALL.len()]; PolicyCheck::COUNT],
}

impl FleetCheckCounts {
    /// Counts one device's verdicts (disabled checks are not counted).
    pub fn add(&mut self, outcomes: Outcomes) {
        for (check, verdict) in outcomes.iter() {
            self.counts[check.index()][verdict.index()] += 1;
        }
    }

    /// Devices with `verdict` on `check`.
    pub fn get(&self, check: PolicyCheck, verdict: VerdictKind) -> u64 {
        self.counts[check.index()][verdict.index()]
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
        FamilyType::Gauge,
        "Devices per policy check and result (passing, failing, unknown, not_applicable).",
    );
    for check in PolicyCheck::ALL {
        for verdict in VerdictKind::ALL {
            let (result, n) = (verdict.as_str(), counts.get(check, verdict));
            out.extend_from_slice(FLEET_CHECKS.as_bytes());
            out.extend_from_slice(b"{check=\"");
            out.extend_from_slice(check.as_str().as_bytes());
            out.extend_from_slice(b"\",result=\"");
            out.extend_from_slice(result.as_bytes());
            close(out, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Ends the label set (after an open label value) and writes the value.
fn close(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(b"\"} ");
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(value).as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests;
