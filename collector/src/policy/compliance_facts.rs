//! `ComplianceFacts`: the compact per-device summary the policy needs,
//! extracted from a [`Report`] and merged report after report.
//!
//! The collector holds one of these per device in memory (100,000 devices),
//! so it keeps numbers and short boxed strings only: no package lists, no
//! full account lists, agent-controlled strings capped.
//!
//! ## Merge rule ([`ComplianceFacts::merge`])
//!
//! Per section (inventory, patches, backup, password policy, data protection):
//! - the new report does not carry the section (`None`: the agent did not
//!   run it, e.g. a backup-only report after a marker file changed): the
//!   previous section is kept as it was;
//! - the new report is older than what is stored (a spooled report delivered
//!   late): the previous section is kept;
//! - the section `failed`: the status becomes failed (with the error) but the
//!   previous section's data is kept, so metrics still show the last known
//!   values and "pending since" survives; evaluation treats the section as
//!   unknown (never passing) and `agent_checks` fails;
//! - `ok` / `unsupported`: the new section replaces the old one.
//!
//! "Pending since" for security updates, and "reboot required since" when the
//! agent does not say, are carried forward across reports here: the time of
//! the first report that showed the condition, kept while it lasts.

use fleetwatch_protocol::{
    AccountPasswordState, BackupJob, BackupResult, CheckResult, CheckStatus, OsFamily,
    PasswordPolicy, Patches, Report,
};
use serde::{Deserialize, Serialize};

use super::protection_facts::DataProtectionFacts;

/// Cap for error strings kept per section (bytes).
const MAX_ERROR_LEN: usize = 200;
/// Cap for backup job names (bytes); also the label value cap.
pub const MAX_BACKUP_NAME_LEN: usize = 128;
/// Cap for account names kept as offenders (bytes).
const MAX_ACCOUNT_NAME_LEN: usize = 64;
/// Backup jobs kept per device; beyond it the least healthy are kept.
pub const MAX_BACKUP_JOBS: usize = 32;
/// Offending account names kept per list.
pub const MAX_OFFENDER_NAMES: usize = 5;

/// Where a section stands after the latest report that carried it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionStatus {
    /// No report has carried this section yet.
    #[default]
    Missing,
    /// Collected.
    Ok,
    /// Not applicable on this host.
    Unsupported,
    /// The agent tried and failed.
    Failed,
    /// The agent sent a status this collector does not know (a newer
    /// agent's): not collected as far as the policy can tell.
    Unknown,
}

impl SectionStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SectionStatus::Missing => "missing",
            SectionStatus::Ok => "ok",
            SectionStatus::Unsupported => "unsupported",
            SectionStatus::Failed => "failed",
            SectionStatus::Unknown => "unknown",
        }
    }
}

/// One section's state plus its data (possibly retained from an earlier report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct Section<T> {
    /// Outcome of the latest report carrying this section.
    #[serde(default)]
    pub status: SectionStatus,
    /// Time of that report (see [`ComplianceFacts::as_of`]); 0 = never.
    #[serde(default)]
    pub as_of: i64,
    /// The agent's error for unsupported/failed (capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<str>>,
    /// The newest data; kept from an earlier report when the section failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Time of the report `data` came from; 0 when there is none.
    #[serde(default)]
    pub data_as_of: i64,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Section {
            status: SectionStatus::Missing,
            as_of: 0,
            error: None,
            data: None,
            data_as_of: 0,
        }
    }
}

impl<T> Section<T> {
    fn from_result<S>(
        result: Option<&CheckResult<S>>,
        as_of: i64,
        extract: impl FnOnce(&S) -> T,
    ) -> Self {
        let Some(result) = result else {
            return Section::default();
        };
        let error = result.error.as_deref().map(|e| cap(e, MAX_ERROR_LEN));
        let (status, data) = match (result.status, result.data()) {
            (CheckStatus::Ok, Some(d)) => (SectionStatus::Ok, Some(extract(d))),
            // "ok" without data breaks the protocol contract: treat as failed.
            (CheckStatus::Ok, None) => (SectionStatus::Failed, None),
            (CheckStatus::Unsupported, _) => (SectionStatus::Unsupported, None),
            (CheckStatus::Failed, _) => (SectionStatus::Failed, None),
            (CheckStatus::Unknown, _) => (SectionStatus::Unknown, None),
        };
        let error = match (status, error) {
            (SectionStatus::Failed, None) => Some("ok without data".into()),
            (_, e) => e,
        };
        let data_as_of = if data.is_some() { as_of } else { 0 };
        Section {
            status,
            as_of,
            error,
            data,
            data_as_of,
        }
    }

    /// The merge rule for one section (see the module docs).
    fn merge(previous: Section<T>, new: Section<T>) -> Section<T> {
        if new.status == SectionStatus::Missing || new.as_of < previous.as_of {
            return previous;
        }
        if new.status == SectionStatus::Failed {
            return Section {
                data: previous.data,
                data_as_of: previous.data_as_of,
                ..new
            };
        }
        new
    }
}

/// What the policy needs of the inventory: the OS family, which decides
/// the checks that apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceOs {
    /// `None` from agents older than the field (all of them Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<OsFamily>,
}

/// Patch facts needed by evaluation and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchFacts {
    /// Updates pending, all categories.
    pub pending_total: u32,
    /// Security updates pending; `None` when the package manager cannot tell.
    pub pending_security: Option<u32>,
    /// Since when security updates have been pending (carried by merge).
    pub security_pending_since: Option<i64>,
    /// Last package-cache refresh.
    pub cache_updated_at: Option<i64>,
    /// Last package install/upgrade.
    pub last_install_at: Option<i64>,
    /// The system asks for a reboot.
    pub reboot_required: bool,
    /// The agent could not tell whether a reboot is required.
    #[serde(default)]
    pub reboot_unknown: bool,
    /// Since when: the agent's value, else carried by merge.
    pub reboot_required_since: Option<i64>,
}

impl PatchFacts {
    fn from_patches(p: &Patches, as_of: i64) -> Self {
        PatchFacts {
            pending_total: p.pending_total,
            pending_security: p.pending_security,
            security_pending_since: p.pending_security.filter(|&n| n > 0).map(|_| as_of),
            cache_updated_at: p.cache_updated_at,
            last_install_at: p.last_install_at,
            reboot_required: p.reboot_required,
            reboot_unknown: p.reboot_required_state().is_none(),
            reboot_required_since: if p.reboot_required {
                Some(p.reboot_required_since.unwrap_or(as_of))
            } else {
                None
            },
        }
    }

    /// Carries "since" values forward from the previous data while the
    /// condition lasts, so the first report that showed it sets the clock.
    fn carry_since(&mut self, previous: &PatchFacts, agent_gave_reboot_since: bool) {
        if self.pending_security.is_some_and(|n| n > 0)
            && let Some(prev) = previous
                .security_pending_since
                .filter(|_| previous.pending_security.is_some_and(|n| n > 0))
        {
            self.security_pending_since =
                Some(self.security_pending_since.map_or(prev, |s| s.min(prev)));
        }
        if self.reboot_required
            && !agent_gave_reboot_since
            && previous.reboot_required
            && let Some(prev) = previous.reboot_required_since
        {
            self.reboot_required_since =
                Some(self.reboot_required_since.map_or(prev, |s| s.min(prev)));
        }
    }
}

/// One backup job, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJobFacts {
    /// Job name, capped at [`MAX_BACKUP_NAME_LEN`] bytes (not yet escaped).
    pub name: Box<str>,
    /// Last successful backup.
    pub last_success_at: Option<i64>,
    /// Outcome of the last attempt.
    pub last_result: BackupResult,
    /// Size of the latest backup.
    pub size_bytes: Option<u64>,
    /// The agent could not read this job's state.
    #[serde(default)]
    pub unreadable: bool,
}

impl BackupJobFacts {
    /// Whether this job fails the backup check at `now`: its last success is
    /// older than `max_age_secs`, or it never succeeded. An unreadable job
    /// is unknown, never overdue. (The one rule: evaluation and alerts both
    /// use it.)
    pub fn is_overdue(&self, now: i64, max_age_secs: i64) -> bool {
        !self.unreadable
            && self
                .last_success_at
                .is_none_or(|at| now.saturating_sub(at) > max_age_secs)
    }
}

/// Backup jobs of one device, sorted by name, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFacts {
    /// At most [`MAX_BACKUP_JOBS`].
    pub jobs: Vec<BackupJobFacts>,
    /// Jobs dropped by the cap (the least healthy are always kept).
    #[serde(default)]
    pub jobs_dropped: u32,
}

impl BackupFacts {
    fn from_jobs(jobs: &[BackupJob]) -> Self {
        let mut sorted: Vec<&BackupJob> = jobs.iter().collect();
        // Least healthy first (never succeeded, then oldest success) so the cap
        // can never hide an overdue job from evaluation.
        sorted.sort_by_key(|j| (j.error.is_none(), j.last_success_at.unwrap_or(i64::MIN)));
        let mut kept: Vec<BackupJobFacts> = Vec::with_capacity(sorted.len().min(MAX_BACKUP_JOBS));
        let mut dropped = 0u32;
        for job in sorted {
            let name = cap(&job.name, MAX_BACKUP_NAME_LEN);
            // Names are unique per device on the agent, but capping can make
            // two collide, and two equal label sets would break the scrape.
            if kept.len() >= MAX_BACKUP_JOBS || kept.iter().any(|k| k.name == name) {
                dropped += 1;
                continue;
            }
            kept.push(BackupJobFacts {
                name,
                last_success_at: job.last_success_at,
                last_result: job.last_result,
                size_bytes: job.size_bytes,
                unreadable: job.error.is_some(),
            });
        }
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        BackupFacts {
            jobs: kept,
            jobs_dropped: dropped,
        }
    }
}

/// Per-account summary: counts plus a few offending names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// Local accounts in `/etc/shadow`.
    pub total: u32,
    /// Usable (not locked) accounts with an empty password.
    pub empty: u32,
    /// Usable accounts with a password past its maximum age.
    pub expired: u32,
    /// Locked accounts.
    pub locked: u32,
    /// Up to [`MAX_OFFENDER_NAMES`] accounts counted in `empty`.
    pub empty_names: Vec<Box<str>>,
    /// Up to [`MAX_OFFENDER_NAMES`] accounts counted in `expired`.
    pub expired_names: Vec<Box<str>>,
    /// The usable account with a password and the longest maximum age.
    pub worst_max_age: Option<AccountMaxAge>,
}

/// An account's maximum password age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMaxAge {
    /// Login name (capped).
    pub name: Box<str>,
    /// Days; `None` means no maximum (unset, negative or 99999-style).
    pub max_days: Option<i64>,
}

/// `PASS_MAX_DAYS`-style values at or above this mean "never expires".
const NO_MAX_AGE_DAYS: i64 = 10_000;

impl AccountFacts {
    fn from_accounts(accounts: &[AccountPasswordState]) -> Self {
        let mut f = AccountFacts {
            total: saturating_u32(accounts.len()),
            ..AccountFacts::default()
        };
        for a in accounts {
            if a.locked {
                f.locked += 1;
                // A locked account cannot log in with its password at all.
                continue;
            }
            if a.empty_password {
                f.empty += 1;
                push_capped(&mut f.empty_names, &a.name);
                continue;
            }
            if !a.has_password {
                continue;
            }
            if a.expired {
                f.expired += 1;
                push_capped(&mut f.expired_names, &a.name);
            }
            let max_days = a.max_days.filter(|&d| (0..NO_MAX_AGE_DAYS).contains(&d));
            // None (no maximum) is the worst possible value.
            let worse = match &f.worst_max_age {
                None => true,
                Some(w) => match (w.max_days, max_days) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(old), Some(new)) => new > old,
                },
            };
            if worse {
                f.worst_max_age = Some(AccountMaxAge {
                    name: cap(&a.name, MAX_ACCOUNT_NAME_LEN),
                    max_days,
                });
            }
        }
        f
    }
}

/// Password settings and account summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordFacts {
    /// pwquality `minlen`.
    pub min_length: Option<u32>,
    /// pwquality `minclass`.
    pub min_classes: Option<u32>,
    /// How many of dcredit/ucredit/lcredit/ocredit are negative (each one
    /// forces a class).
    pub negative_credits: u8,
    /// Remembered passwords.
    pub history: Option<u32>,
    /// Failed logins before lockout.
    pub lockout_threshold: Option<u32>,
    /// Seconds until a locked account unlocks (0 = never).
    pub lockout_unlock_seconds: Option<u64>,
    /// `PASS_MAX_DAYS`.
    pub max_days: Option<i64>,
    /// `PASS_MIN_DAYS`.
    pub min_days: Option<i64>,
    /// `PASS_WARN_AGE`.
    pub warn_days: Option<i64>,
    /// `None` when `/etc/shadow` was unreadable.
    pub accounts: Option<AccountFacts>,
    /// Why `accounts` is missing (capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_error: Option<Box<str>>,
    /// Settings the agent reports as configured but not enforced
    /// (warn-only pwquality, an `optional` module, a module a jump skips),
    /// as `(setting, why)`; why is capped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_enforced: Vec<(Box<str>, Box<str>)>,
}

/// The judged settings whose enforcement the agent reports.
const ENFORCEABLE_SETTINGS: [&str; 8] = [
    "min_length",
    "min_classes",
    "dcredit",
    "ucredit",
    "lcredit",
    "ocredit",
    "history",
    "lockout_threshold",
];

impl PasswordFacts {
    fn from_policy(p: &PasswordPolicy) -> Self {
        let s = &p.settings;
        let negative_credits = [s.dcredit, s.ucredit, s.lcredit, s.ocredit]
            .iter()
            .filter(|c| c.is_some_and(|c| c < 0))
            .count() as u8;
        PasswordFacts {
            min_length: s.min_length,
            min_classes: s.min_classes,
            negative_credits,
            history: s.history,
            lockout_threshold: s.lockout_threshold,
            lockout_unlock_seconds: s.lockout_unlock_seconds,
            max_days: s.max_days,
            min_days: s.min_days,
            warn_days: s.warn_days,
            accounts: p.accounts.as_deref().map(AccountFacts::from_accounts),
            accounts_error: p.accounts_error.as_deref().map(|e| cap(e, MAX_ERROR_LEN)),
            not_enforced: ENFORCEABLE_SETTINGS
                .iter()
                .filter_map(|name| {
                    let o = p.origins.get(*name)?;
                    (o.enforced == Some(false)).then(|| {
                        let why = o
                            .not_enforced_reason
                            .as_deref()
                            .unwrap_or("reported as not enforced");
                        (Box::from(*name), cap(why, MAX_ERROR_LEN))
                    })
                })
                .collect(),
        }
    }

    /// Why `setting` is not enforced, when the agent says it is not.
    pub fn not_enforced(&self, setting: &str) -> Option<&str> {
        self.not_enforced
            .iter()
            .find(|(name, _)| name.as_ref() == setting)
            .map(|(_, why)| why.as_ref())
    }

    /// Character classes the system effectively requires.
    pub fn required_classes(&self) -> u32 {
        self.min_classes
            .unwrap_or(0)
            .max(u32::from(self.negative_credits))
    }
}

/// The compact per-device compliance state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplianceFacts {
    /// Time of the newest report merged in: `min(collected_at, received_at)`,
    /// so neither a skewed agent clock nor a late spooled report makes facts
    /// look fresher than they are. 0 = no report yet.
    #[serde(default)]
    pub as_of: i64,
    /// Inventory outcome and the OS family.
    #[serde(default)]
    pub inventory: Section<DeviceOs>,
    /// Patch levels.
    #[serde(default)]
    pub patches: Section<PatchFacts>,
    /// Backup jobs.
    #[serde(default)]
    pub backup: Section<BackupFacts>,
    /// Password policy and accounts.
    #[serde(default)]
    pub password: Section<PasswordFacts>,
    /// Disk encryption, firewall, antivirus.
    #[serde(default)]
    pub data_protection: Section<DataProtectionFacts>,
}

impl ComplianceFacts {
    /// Extracts the facts of one report received at `received_at` (Unix s).
    pub fn from_report(report: &Report, received_at: i64) -> Self {
        let as_of = if report.collected_at > 0 {
            report.collected_at.min(received_at)
        } else {
            received_at
        };
        let checks = &report.checks;
        ComplianceFacts {
            as_of,
            inventory: Section::from_result(Some(&report.inventory), as_of, |inv| DeviceOs {
                family: inv.os.family,
            }),
            patches: Section::from_result(checks.patches.as_ref(), as_of, |p| {
                PatchFacts::from_patches(p, as_of)
            }),
            backup: Section::from_result(checks.backup.as_ref(), as_of, |b| {
                BackupFacts::from_jobs(&b.jobs)
            }),
            password: Section::from_result(
                checks.password_policy.as_ref(),
                as_of,
                PasswordFacts::from_policy,
            ),
            data_protection: Section::from_result(
                checks.data_protection.as_ref(),
                as_of,
                DataProtectionFacts::from_section,
            ),
        }
    }

    /// The device's OS family from its latest good inventory; a device
    /// that has not told yet (or an agent older than the field) is judged
    /// as Linux, where every check applies.
    pub fn os_family(&self) -> OsFamily {
        self.inventory
            .data
            .and_then(|d| d.family)
            .unwrap_or(OsFamily::Linux)
    }

    /// Merges a new report's facts into the stored ones (rule in the module docs).
    pub fn merge(previous: Option<ComplianceFacts>, new: ComplianceFacts) -> ComplianceFacts {
        let Some(previous) = previous else { return new };
        let mut patches = new.patches;
        // The agent's own reboot-since is authoritative; only our fallback
        // (the report time) is carried forward.
        if let (Some(prev), Some(cur)) = (&previous.patches.data, &mut patches.data)
            && patches.status == SectionStatus::Ok
        {
            let agent_gave_reboot_since = cur.reboot_required_since != Some(patches.data_as_of);
            cur.carry_since(prev, agent_gave_reboot_since);
        }
        ComplianceFacts {
            as_of: previous.as_of.max(new.as_of),
            inventory: Section::merge(previous.inventory, new.inventory),
            patches: Section::merge(previous.patches, patches),
            backup: Section::merge(previous.backup, new.backup),
            password: Section::merge(previous.password, new.password),
            data_protection: Section::merge(previous.data_protection, new.data_protection),
        }
    }

    /// Approximate heap bytes held (for memory accounting and tests).
    pub fn heap_bytes(&self) -> usize {
        let names =
            |v: &Vec<Box<str>>| v.iter().map(|s| s.len()).sum::<usize>() + v.capacity() * 16;
        let err = |e: &Option<Box<str>>| e.as_ref().map_or(0, |e| e.len());
        let backup = self.backup.data.as_ref().map_or(0, |b| {
            b.jobs.capacity() * size_of::<BackupJobFacts>()
                + b.jobs.iter().map(|j| j.name.len()).sum::<usize>()
        });
        let password = self.password.data.as_ref().map_or(0, |p| {
            err(&p.accounts_error)
                + p.accounts.as_ref().map_or(0, |a| {
                    names(&a.empty_names)
                        + names(&a.expired_names)
                        + a.worst_max_age.as_ref().map_or(0, |w| w.name.len())
                })
        });
        err(&self.inventory.error)
            + err(&self.patches.error)
            + err(&self.backup.error)
            + err(&self.password.error)
            + err(&self.data_protection.error)
            + backup
            + password
            + self
                .data_protection
                .data
                .as_ref()
                .map_or(0, DataProtectionFacts::heap_bytes)
    }
}

fn push_capped(names: &mut Vec<Box<str>>, name: &str) {
    if names.len() < MAX_OFFENDER_NAMES {
        names.push(cap(name, MAX_ACCOUNT_NAME_LEN));
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn cap(s: &str, max: usize) -> Box<str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fleetwatch_protocol::{
        BackupStatus, Checks, DataProtection, EncryptionState, Firewall, Inventory,
        PasswordSettings, VolumeEncryption,
    };

    /// A report with every section ok, compliant under the default policy at `t`.
    pub(crate) fn full_report(t: i64) -> Report {
        let account = |name: &str| AccountPasswordState {
            name: name.into(),
            has_password: true,
            empty_password: false,
            locked: false,
            last_change_at: Some(t - 86_400),
            max_days: Some(365),
            expired: false,
            interactive: true,
            ..AccountPasswordState::default()
        };
        Report {
            schema_version: 1,
            report_id: "r1".into(),
            device_id: "d1".into(),
            agent_version: "0.1.0".into(),
            collected_at: t,
            inventory: CheckResult::ok(
                0.1,
                Inventory {
                    hostname: "h1".into(),
                    ..Inventory::default()
                },
            ),
            checks: Checks {
                patches: Some(CheckResult::ok(
                    0.2,
                    Patches {
                        manager: "apt".into(),
                        pending_total: 3,
                        pending_security: Some(0),
                        cache_updated_at: Some(t - 3_600),
                        last_install_at: Some(t - 7_200),
                        ..Patches::default()
                    },
                )),
                backup: Some(CheckResult::ok(
                    0.3,
                    BackupStatus {
                        jobs: vec![BackupJob {
                            name: "home".into(),
                            kind: "restic".into(),
                            last_success_at: Some(t - 3_600),
                            last_attempt_at: Some(t - 3_600),
                            last_result: BackupResult::Success,
                            size_bytes: Some(1 << 30),
                            snapshot_count: Some(10),
                            error: None,
                            ..BackupJob::default()
                        }],
                    },
                )),
                password_policy: Some(CheckResult::ok(
                    0.1,
                    PasswordPolicy {
                        settings: PasswordSettings {
                            min_length: Some(14),
                            min_classes: Some(3),
                            history: Some(5),
                            lockout_threshold: Some(5),
                            lockout_unlock_seconds: Some(900),
                            max_days: Some(365),
                            min_days: Some(1),
                            warn_days: Some(7),
                            ..PasswordSettings::default()
                        },
                        sources: vec!["/etc/login.defs".into()],
                        accounts: Some(vec![account("root"), account("alice")]),
                        accounts_error: None,
                        ..PasswordPolicy::default()
                    },
                )),
                data_protection: Some(CheckResult::ok(
                    0.1,
                    DataProtection {
                        volumes: vec![
                            VolumeEncryption {
                                mount_point: "/".into(),
                                device: Some("/dev/mapper/vg-root".into()),
                                method: Some("luks2".into()),
                                state: EncryptionState::Encrypted,
                                protection_on: Some(true),
                                system_volume: true,
                            },
                            VolumeEncryption {
                                mount_point: "/boot".into(),
                                device: Some("/dev/nvme0n1p2".into()),
                                method: None,
                                state: EncryptionState::NotEncrypted,
                                protection_on: Some(false),
                                system_volume: false,
                            },
                        ],
                        firewall: Some(Firewall {
                            product: "nftables".into(),
                            enabled: Some(true),
                            profiles: Vec::new(),
                        }),
                        ..DataProtection::default()
                    },
                )),
            },
        }
    }

    #[test]
    fn extracts_a_full_report() {
        let f = ComplianceFacts::from_report(&full_report(1_000_000), 1_000_010);
        assert_eq!(f.as_of, 1_000_000);
        assert_eq!(f.patches.status, SectionStatus::Ok);
        let p = f.patches.data.as_ref().unwrap();
        assert_eq!(
            (
                p.pending_total,
                p.pending_security,
                p.security_pending_since
            ),
            (3, Some(0), None)
        );
        assert_eq!(
            f.backup.data.as_ref().unwrap().jobs[0].name.as_ref(),
            "home"
        );
        let pw = f.password.data.as_ref().unwrap();
        assert_eq!(pw.accounts.as_ref().unwrap().total, 2);
        assert_eq!(pw.required_classes(), 3);
    }

    #[test]
    fn future_collected_at_does_not_make_facts_fresher() {
        let f = ComplianceFacts::from_report(&full_report(2_000), 1_000);
        assert_eq!(f.as_of, 1_000);
    }

    #[test]
    fn failed_section_keeps_previous_data_but_is_marked_failed() {
        let first = ComplianceFacts::from_report(&full_report(1_000), 1_000);
        let mut report = full_report(2_000);
        report.checks.backup = Some(CheckResult::failed(1.0, "restic: repository locked"));
        report.checks.patches = None; // a partial report: keeps the old section untouched
        let merged = ComplianceFacts::merge(
            Some(first.clone()),
            ComplianceFacts::from_report(&report, 2_000),
        );
        assert_eq!(merged.as_of, 2_000);
        assert_eq!(merged.backup.status, SectionStatus::Failed);
        assert_eq!(merged.backup.as_of, 2_000);
        assert_eq!(
            merged.backup.error.as_deref(),
            Some("restic: repository locked")
        );
        assert_eq!(merged.backup.data, first.backup.data);
        assert_eq!(merged.backup.data_as_of, 1_000);
        assert_eq!(merged.patches, first.patches);
    }

    #[test]
    fn unsupported_section_drops_old_data() {
        let first = ComplianceFacts::from_report(&full_report(1_000), 1_000);
        let mut report = full_report(2_000);
        report.checks.patches = Some(CheckResult::unsupported(0.0, "no package manager"));
        let merged =
            ComplianceFacts::merge(Some(first), ComplianceFacts::from_report(&report, 2_000));
        assert_eq!(merged.patches.status, SectionStatus::Unsupported);
        assert!(merged.patches.data.is_none());
    }

    #[test]
    fn late_spooled_report_does_not_overwrite_newer_facts() {
        let newer = ComplianceFacts::from_report(&full_report(5_000), 5_000);
        let mut old = full_report(1_000);
        old.checks.backup = Some(CheckResult::failed(1.0, "old failure"));
        let merged = ComplianceFacts::merge(
            Some(newer.clone()),
            ComplianceFacts::from_report(&old, 5_100),
        );
        assert_eq!(merged, newer);
    }

    #[test]
    fn pending_since_is_carried_while_pending_and_reset_after() {
        let with_security = |t: i64, n: u32, reboot: bool| {
            let mut r = full_report(t);
            if let Some(CheckResult { data: Some(p), .. }) = &mut r.checks.patches {
                p.pending_security = Some(n);
                p.reboot_required = reboot;
            }
            ComplianceFacts::from_report(&r, t)
        };
        let mut f = with_security(1_000, 2, true);
        for t in [2_000, 3_000] {
            f = ComplianceFacts::merge(Some(f), with_security(t, 3, true));
        }
        let p = f.patches.data.as_ref().unwrap();
        assert_eq!(p.security_pending_since, Some(1_000));
        assert_eq!(p.reboot_required_since, Some(1_000));
        // A failed patches section keeps the clock running.
        let mut failed = full_report(3_500);
        failed.checks.patches = Some(CheckResult::failed(1.0, "apt timed out"));
        f = ComplianceFacts::merge(Some(f), ComplianceFacts::from_report(&failed, 3_500));
        f = ComplianceFacts::merge(Some(f), with_security(4_000, 1, true));
        assert_eq!(
            f.patches.data.as_ref().unwrap().security_pending_since,
            Some(1_000)
        );
        f = ComplianceFacts::merge(Some(f), with_security(5_000, 0, false));
        f = ComplianceFacts::merge(Some(f), with_security(6_000, 1, true));
        let p = f.patches.data.as_ref().unwrap();
        assert_eq!(p.security_pending_since, Some(6_000));
        assert_eq!(p.reboot_required_since, Some(6_000));
    }

    #[test]
    fn agent_reboot_since_wins() {
        let mut r = full_report(10_000);
        if let Some(CheckResult { data: Some(p), .. }) = &mut r.checks.patches {
            p.reboot_required = true;
            p.reboot_required_since = Some(4_000);
        }
        let f = ComplianceFacts::from_report(&r, 10_000);
        assert_eq!(
            f.patches.data.as_ref().unwrap().reboot_required_since,
            Some(4_000)
        );
    }

    #[test]
    fn hostile_backup_jobs_are_capped_deduped_and_worst_kept() {
        let mut r = full_report(100_000);
        let long = "é".repeat(200); // 400 bytes; the cap must land on a char boundary
        let mut jobs: Vec<BackupJob> = (0..40)
            .map(|i| BackupJob {
                name: format!("job{i:02}"),
                last_success_at: Some(100_000 - i),
                ..BackupJob::default()
            })
            .collect();
        jobs.push(BackupJob {
            name: format!("{long}a"),
            last_success_at: None,
            ..BackupJob::default()
        });
        jobs.push(BackupJob {
            name: format!("{long}b"),
            last_success_at: None,
            ..BackupJob::default()
        });
        r.checks.backup = Some(CheckResult::ok(0.0, BackupStatus { jobs }));
        let f = ComplianceFacts::from_report(&r, 100_000);
        let b = f.backup.data.as_ref().unwrap();
        assert_eq!(b.jobs.len(), MAX_BACKUP_JOBS);
        assert_eq!(b.jobs_dropped, 42 - MAX_BACKUP_JOBS as u32);
        let capped: Vec<_> = b.jobs.iter().filter(|j| j.name.starts_with('é')).collect();
        assert_eq!(capped.len(), 1, "the two names collide once capped");
        assert_eq!(capped[0].name.len(), MAX_BACKUP_NAME_LEN);
        // The oldest successes are kept, the freshest dropped.
        assert!(b.jobs.iter().any(|j| j.name.as_ref() == "job39"));
        assert!(!b.jobs.iter().any(|j| j.name.as_ref() == "job00"));
    }

    #[test]
    fn account_summary() {
        let acc =
            |name: &str, has: bool, empty: bool, locked: bool, expired: bool, max: Option<i64>| {
                AccountPasswordState {
                    name: name.into(),
                    has_password: has,
                    empty_password: empty,
                    locked,
                    max_days: max,
                    expired,
                    ..AccountPasswordState::default()
                }
            };
        let f = AccountFacts::from_accounts(&[
            acc("root", true, false, false, false, Some(90)),
            acc("bob", false, true, false, false, None),
            acc("old", true, false, false, true, Some(99_999)),
            acc("svc", false, false, true, true, None),
            acc("daemon", false, false, false, false, None),
        ]);
        assert_eq!((f.total, f.empty, f.expired, f.locked), (5, 1, 1, 1));
        assert_eq!(f.empty_names, vec![Box::<str>::from("bob")]);
        assert_eq!(f.expired_names, vec![Box::<str>::from("old")]);
        assert_eq!(
            f.worst_max_age,
            Some(AccountMaxAge {
                name: "old".into(),
                max_days: None
            })
        );
    }

    #[test]
    fn facts_are_compact_and_round_trip_as_json() {
        let f = ComplianceFacts::from_report(&full_report(1_000), 1_000);
        assert!(
            size_of::<ComplianceFacts>() + f.heap_bytes() <= 1024,
            "{}",
            size_of::<ComplianceFacts>()
        );
        let json = serde_json::to_string(&f).unwrap();
        let back: ComplianceFacts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        // An empty object (an older store row) still loads.
        assert_eq!(
            serde_json::from_str::<ComplianceFacts>("{}").unwrap(),
            ComplianceFacts::default()
        );
    }
}
