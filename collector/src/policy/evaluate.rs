//! Pure evaluation: `(facts, last_seen, policy, now) -> findings`, and the
//! pure failing-since tracker.
//!
//! Rules that hold for every check:
//! - a check whose section is missing, unsupported, failed on the agent, or
//!   older than `stale_after` is **unknown**, never passing;
//! - age limits are inclusive: exactly at the limit still passes;
//! - a disabled check has no verdict at all (`Findings::get` is `None`) and
//!   does not count towards `compliant`;
//! - a check with no meaning on the device's OS family
//!   ([`PolicyCheck::not_applicable_on`]), or that the policy does not ask
//!   of that family (`antivirus_required_on`), is **not applicable**:
//!   neither failing nor unknown, and it does not count towards `compliant`.
//!
//! `compliant` is `Some(false)` when any enabled check fails, `None` when
//! nothing fails but something is unknown, `Some(true)` otherwise.

use std::collections::HashMap;

use fleetwatch_protocol::OsFamily;
use serde::{Deserialize, Serialize, Serializer};

use super::checks::PolicyCheck;
use super::compliance_facts::{
    BackupJobFacts, ComplianceFacts, PasswordFacts, Section, SectionStatus,
};
use super::config::Policy;
use super::outcomes::{Outcomes, VerdictKind};
use crate::time::{format_duration, rfc3339};

const DAY: i64 = 86_400;

/// The collector's judgement of one check on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    /// Compliant.
    Passing,
    /// Not compliant.
    Failing {
        /// Human-readable why, naming values and the policy limit.
        reason: String,
        /// When the condition became a violation, when the facts tell
        /// (e.g. last backup + max age); the tracker falls back to "now".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// Cannot be judged; never counts as passing.
    Unknown {
        /// Why not.
        reason: String,
    },
    /// The check has no meaning on this device; counts neither way.
    NotApplicable {
        /// Why not.
        reason: String,
    },
}

impl Verdict {
    /// The verdict without its reason.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Passing => VerdictKind::Passing,
            Verdict::Failing { .. } => VerdictKind::Failing,
            Verdict::Unknown { .. } => VerdictKind::Unknown,
            Verdict::NotApplicable { .. } => VerdictKind::NotApplicable,
        }
    }

    /// `passing`, `failing`, `unknown` or `not_applicable`.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// True only for [`Verdict::Passing`].
    pub fn is_passing(&self) -> bool {
        matches!(self, Verdict::Passing)
    }

    /// True only for [`Verdict::Failing`].
    pub fn is_failing(&self) -> bool {
        matches!(self, Verdict::Failing { .. })
    }

    /// The reason, for failing, unknown and not-applicable verdicts.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Passing => None,
            Verdict::Failing { reason, .. }
            | Verdict::Unknown { reason }
            | Verdict::NotApplicable { reason } => Some(reason),
        }
    }
}

/// All verdicts of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    verdicts: [Option<Verdict>; PolicyCheck::COUNT],
    /// `Some(false)` if any check fails, `None` if none fails but one is
    /// unknown, `Some(true)` if every enabled check passes.
    pub compliant: Option<bool>,
}

impl Findings {
    /// The verdict of a check; `None` when the check is disabled.
    pub fn get(&self, check: PolicyCheck) -> Option<&Verdict> {
        self.verdicts[check.index()].as_ref()
    }

    /// Enabled checks with their verdicts, in [`PolicyCheck::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (PolicyCheck, &Verdict)> {
        PolicyCheck::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|v| (c, v)))
    }

    /// The compact form: every verdict without its reason, and `compliant`.
    pub fn outcomes(&self) -> Outcomes {
        Outcomes::new(self.iter().map(|(c, v)| (c, v.kind())), self.compliant)
    }

    fn from_verdicts(verdicts: [Option<Verdict>; PolicyCheck::COUNT]) -> Findings {
        let mut compliant = Some(true);
        for v in verdicts.iter().flatten() {
            match v {
                Verdict::Failing { .. } => {
                    compliant = Some(false);
                    break;
                }
                Verdict::Unknown { .. } => compliant = None,
                Verdict::Passing | Verdict::NotApplicable { .. } => {}
            }
        }
        Findings {
            verdicts,
            compliant,
        }
    }
}

impl Serialize for Findings {
    /// `{"compliant": bool|null, "checks": {"backup": {"result": ..., ...}}}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Checks<'a>(&'a Findings);
        impl Serialize for Checks<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                for (c, v) in self.0.iter() {
                    m.serialize_entry(c.as_str(), v)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("compliant", &self.compliant)?;
        m.serialize_entry("checks", &Checks(self))?;
        m.end()
    }
}

/// Judges one device. Pure: the same inputs always give the same findings.
/// `last_seen` is when the collector last accepted a report from the device,
/// or its enrollment time if it never reported (0 = unknown); `now` is the
/// evaluation time; both Unix seconds.
pub fn evaluate(facts: &ComplianceFacts, last_seen: i64, policy: &Policy, now: i64) -> Findings {
    let ctx = Ctx {
        policy,
        now,
        with_reasons: true,
    };
    ctx.evaluate(facts, last_seen)
}

/// Judges one device like [`evaluate`] but formats no reason: the periodic
/// pass over the whole fleet needs only the outcomes and failing-since, and
/// formatting a reason for every failing check of 100,000 devices was most
/// of its cost.
pub fn evaluate_outcomes(
    facts: &ComplianceFacts,
    last_seen: i64,
    policy: &Policy,
    now: i64,
) -> BareFindings {
    let ctx = Ctx {
        policy,
        now,
        with_reasons: false,
    };
    BareFindings(ctx.evaluate(facts, last_seen))
}

/// The verdicts of one device without their reasons (see
/// [`evaluate_outcomes`]); only what does not depend on a reason is exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BareFindings(Findings);

impl BareFindings {
    /// The compact verdicts.
    pub fn outcomes(&self) -> Outcomes {
        self.0.outcomes()
    }

    /// Failing-since after these verdicts (see [`CheckStateTracker::update`]).
    pub fn failing_since(&self, previous: &FailingSince, now: i64) -> FailingSince {
        CheckStateTracker::update(previous, &self.0, now)
    }
}

struct Ctx<'a> {
    policy: &'a Policy,
    now: i64,
    /// Whether verdicts carry their reason; without, reasons are empty and
    /// never formatted.
    with_reasons: bool,
}

impl Ctx<'_> {
    fn evaluate(&self, facts: &ComplianceFacts, last_seen: i64) -> Findings {
        let policy = self.policy;
        let family = facts.os_family();
        let mut verdicts: [Option<Verdict>; PolicyCheck::COUNT] = Default::default();
        for check in PolicyCheck::ALL {
            if policy.is_enabled(check) {
                let verdict = match self.not_applicable(check, family) {
                    Some(v) => v,
                    None => self.judge(check, facts, last_seen),
                };
                verdicts[check.index()] = Some(verdict);
            }
        }
        Findings::from_verdicts(verdicts)
    }

    /// The not-applicable verdict of `check` on a device of `family`, if
    /// the check has no meaning there or the policy does not ask it there.
    fn not_applicable(&self, check: PolicyCheck, family: OsFamily) -> Option<Verdict> {
        if let Some(why) = check.not_applicable_on(family) {
            return Some(Verdict::NotApplicable {
                reason: self.reason(|| format!("not applicable on {}: {why}", family.as_str())),
            });
        }
        let required = &self.policy.antivirus_required_on;
        // A family the policy cannot name (a newer agent's) is judged.
        if check == PolicyCheck::Antivirus
            && family != OsFamily::Other
            && !required.contains(&family)
        {
            return Some(Verdict::NotApplicable {
                reason: self.reason(|| {
                    format!(
                        "not applicable on {}: the policy requires an antivirus on {} only (antivirus_required_on)",
                        family.as_str(),
                        required
                            .iter()
                            .map(|f| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            });
        }
        None
    }

    /// A failing verdict; `reason` runs only when reasons are wanted.
    fn failing(&self, since: Option<i64>, reason: impl FnOnce() -> String) -> Verdict {
        Verdict::Failing {
            reason: self.reason(reason),
            since,
        }
    }

    /// An unknown verdict; `reason` runs only when reasons are wanted.
    fn unknown(&self, reason: impl FnOnce() -> String) -> Verdict {
        Verdict::Unknown {
            reason: self.reason(reason),
        }
    }

    fn reason(&self, reason: impl FnOnce() -> String) -> String {
        if self.with_reasons {
            reason()
        } else {
            String::new()
        }
    }

    fn judge(&self, check: PolicyCheck, facts: &ComplianceFacts, last_seen: i64) -> Verdict {
        let p = self.policy;
        match check {
            PolicyCheck::Reporting => self.reporting(last_seen),
            PolicyCheck::AgentChecks => self.agent_checks(facts),
            PolicyCheck::SecurityUpdates => self.with(&facts.patches, "patches", |d, data_as_of| {
                let Some(pending) = d.pending_security else {
                    return self.unknown(|| "the package manager does not tell security updates apart".into());
                };
                if pending == 0 {
                    return Verdict::Passing;
                }
                let since = d.security_pending_since.unwrap_or(data_as_of);
                self.pending_too_long(since, p.security_updates_max_pending_days, || {
                    format!("{pending} security update(s) pending")
                })
            }),
            PolicyCheck::Reboot => self.with(&facts.patches, "patches", |d, data_as_of| {
                if d.reboot_unknown {
                    return self.unknown(|| "the agent cannot tell whether a reboot is required".into());
                }
                if !d.reboot_required {
                    return Verdict::Passing;
                }
                let since = d.reboot_required_since.unwrap_or(data_as_of);
                self.pending_too_long(since, p.reboot_max_pending_days, || "reboot required".into())
            }),
            PolicyCheck::PatchCache => self.with(&facts.patches, "patches", |d, _| {
                let Some(max) = p.patch_cache_max_age_secs else { return Verdict::Passing };
                match d.cache_updated_at {
                    None => self.unknown(|| "the agent does not know when the package cache was refreshed".into()),
                    Some(at) => self.max_age(at, max, "package cache refreshed"),
                }
            }),
            PolicyCheck::Backup => self.with(&facts.backup, "backup", |d, _| self.backup(d)),
            PolicyCheck::PasswordLength => self.with(&facts.password, "password_policy", |d, _| {
                if let Some(v) = self.unenforced(d, &["min_length"]) {
                    return v;
                }
                self.at_least("minimum password length", d.min_length, p.password_min_length)
            }),
            PolicyCheck::PasswordComplexity => self.with(&facts.password, "password_policy", |d, _| {
                if let Some(v) = self.unenforced(d, &["min_classes", "dcredit", "ucredit", "lcredit", "ocredit"]) {
                    return v;
                }
                let classes = d.required_classes();
                if classes >= p.password_min_classes {
                    Verdict::Passing
                } else {
                    self.failing(None, || {
                        format!(
                            "{classes} character class(es) required (minclass {}, {} negative credit(s)); policy: at least {}",
                            d.min_classes.map_or("unset".to_string(), |c| c.to_string()),
                            d.negative_credits,
                            p.password_min_classes
                        )
                    })
                }
            }),
            PolicyCheck::PasswordHistory => self.with(&facts.password, "password_policy", |d, _| {
                if let Some(v) = self.unenforced(d, &["history"]) {
                    return v;
                }
                self.at_least("remembered passwords", Some(d.history.unwrap_or(0)), p.password_history)
            }),
            PolicyCheck::PasswordLockout => self.with(&facts.password, "password_policy", |d, _| {
                if let Some(v) = self.unenforced(d, &["lockout_threshold"]) {
                    return v;
                }
                let max = p.password_lockout_max_attempts;
                match d.lockout_threshold {
                    None | Some(0) => {
                        self.failing(None, || format!("no lockout after failed logins; policy: at most {max} attempts"))
                    }
                    Some(t) if t > max => self.failing(None, || {
                        format!("lockout after {t} failed logins; policy: at most {max} attempts")
                    }),
                    Some(_) => Verdict::Passing,
                }
            }),
            PolicyCheck::PasswordMaxAge => self.with(&facts.password, "password_policy", |d, _| {
                let max = p.password_max_age_days;
                match d.max_days {
                    None => return self.failing(None, || format!("PASS_MAX_DAYS not set; policy: at most {max} days")),
                    Some(v) if !(1..=max).contains(&v) => {
                        return self.failing(None, || format!("PASS_MAX_DAYS is {v}; policy: at most {max} days"));
                    }
                    Some(_) => {}
                }
                // login.defs only applies to accounts created later; existing
                // accounts keep their own maximum in /etc/shadow.
                let Some(accounts) = &d.accounts else {
                    return self.unknown(|| {
                        format!(
                            "per-account maximum ages unknown: {}",
                            d.accounts_error.as_deref().unwrap_or("/etc/shadow was not readable")
                        )
                    });
                };
                match &accounts.worst_max_age {
                    Some(w) if w.max_days.is_none_or(|m| m > max) => self.failing(None, || {
                        format!(
                            "account {:?} has {}; policy: at most {max} days",
                            w.name,
                            w.max_days.map_or("no maximum password age".to_string(), |m| format!("a maximum age of {m} days"))
                        )
                    }),
                    _ => Verdict::Passing,
                }
            }),
            PolicyCheck::EmptyPasswords => self.with(&facts.password, "password_policy", |d, _| {
                self.accounts(d, |a| (a.empty, &a.empty_names), "with an empty password")
            }),
            PolicyCheck::ExpiredPasswords => self.with(&facts.password, "password_policy", |d, _| {
                self.accounts(d, |a| (a.expired, &a.expired_names), "with an expired password")
            }),
            PolicyCheck::DiskEncryption => {
                self.with(&facts.data_protection, "data_protection", |d, _| self.disk_encryption(d))
            }
            PolicyCheck::Firewall => {
                self.with(&facts.data_protection, "data_protection", |d, _| self.firewall(d))
            }
            PolicyCheck::Antivirus => {
                self.with(&facts.data_protection, "data_protection", |d, _| self.antivirus(d))
            }
        }
    }

    fn reporting(&self, last_seen: i64) -> Verdict {
        let max = self.policy.stale_after_secs;
        // Without any time to measure from we cannot say; the collector
        // passes the enrollment time for a device that never reported, so a
        // device that enrolls and goes silent still fails after stale_after.
        if last_seen <= 0 {
            return self.unknown(|| "never reported".into());
        }
        let age = self.now - last_seen;
        if age <= max {
            return Verdict::Passing;
        }
        self.failing(Some(last_seen + max), || {
            format!(
                "last report {} ago at {}; policy: every {}",
                humane(age),
                rfc3339(last_seen),
                humane(max)
            )
        })
    }

    fn agent_checks(&self, f: &ComplianceFacts) -> Verdict {
        if f.as_of == 0 {
            return self.unknown(|| "no report received yet".into());
        }
        let sections: [(&str, SectionStatus, i64, Option<&str>); 5] = [
            (
                "inventory",
                f.inventory.status,
                f.inventory.as_of,
                f.inventory.error.as_deref(),
            ),
            (
                "patches",
                f.patches.status,
                f.patches.as_of,
                f.patches.error.as_deref(),
            ),
            (
                "backup",
                f.backup.status,
                f.backup.as_of,
                f.backup.error.as_deref(),
            ),
            (
                "password_policy",
                f.password.status,
                f.password.as_of,
                f.password.error.as_deref(),
            ),
            (
                "data_protection",
                f.data_protection.status,
                f.data_protection.as_of,
                f.data_protection.error.as_deref(),
            ),
        ];
        let mut failed = sections
            .iter()
            .filter(|(_, status, as_of, _)| *status == SectionStatus::Failed && self.fresh(*as_of))
            .peekable();
        if failed.peek().is_some() {
            return self.failing(None, || {
                let failed: Vec<String> = failed
                    .map(|(name, _, _, err)| format!("{name}: {}", err.unwrap_or("failed")))
                    .collect();
                format!("the agent could not collect {}", failed.join("; "))
            });
        }
        if !self.fresh(f.as_of) {
            return self.unknown(|| format!("no report for {}", humane(self.now - f.as_of)));
        }
        Verdict::Passing
    }

    fn fresh(&self, as_of: i64) -> bool {
        self.now - as_of <= self.policy.stale_after_secs
    }

    /// Runs `judge` on a section's data when it is fresh and collected,
    /// otherwise says why the check is unknown.
    fn with<T>(
        &self,
        section: &Section<T>,
        name: &str,
        judge: impl FnOnce(&T, i64) -> Verdict,
    ) -> Verdict {
        let err = section.error.as_deref().unwrap_or("no reason given");
        match (section.status, &section.data) {
            (SectionStatus::Missing, _) => {
                self.unknown(|| format!("the agent has not reported the {name} check"))
            }
            (SectionStatus::Unsupported, _) => {
                self.unknown(|| format!("{name} check unsupported on this device: {err}"))
            }
            (SectionStatus::Failed, _) => {
                self.unknown(|| format!("the agent could not collect {name}: {err}"))
            }
            (SectionStatus::Unknown, _) => self.unknown(|| {
                format!("the agent sent a {name} status this collector does not know: {err}")
            }),
            (SectionStatus::Ok, None) => self.unknown(|| format!("no {name} data")),
            (SectionStatus::Ok, Some(_)) if !self.fresh(section.as_of) => self.unknown(|| {
                format!(
                    "{name} facts are {} old; policy: stale after {}",
                    humane(self.now - section.as_of),
                    humane(self.policy.stale_after_secs)
                )
            }),
            (SectionStatus::Ok, Some(data)) => judge(data, section.data_as_of),
        }
    }

    fn pending_too_long(
        &self,
        since: i64,
        max_days: u32,
        what: impl FnOnce() -> String,
    ) -> Verdict {
        let deadline = since.saturating_add(i64::from(max_days) * DAY);
        if self.now <= deadline {
            return Verdict::Passing;
        }
        self.failing(Some(deadline), || {
            format!(
                "{} since {} ({}); policy: at most {max_days} day(s)",
                what(),
                rfc3339(since),
                humane(self.now.saturating_sub(since))
            )
        })
    }

    fn max_age(&self, at: i64, max: i64, what: &str) -> Verdict {
        if self.now.saturating_sub(at) <= max {
            return Verdict::Passing;
        }
        self.failing(Some(at.saturating_add(max)), || {
            format!(
                "{what} {} ago at {}; policy: at most {}",
                humane(self.now.saturating_sub(at)),
                rfc3339(at),
                humane(max)
            )
        })
    }

    fn backup(&self, d: &super::compliance_facts::BackupFacts) -> Verdict {
        let max = self.policy.backup_max_age_secs;
        if d.jobs.is_empty() {
            return if self.policy.require_backup {
                self.failing(None, || {
                    "no backup job configured; policy: a backup is required".into()
                })
            } else {
                Verdict::Passing
            };
        }
        let overdue = |job: &&BackupJobFacts| job.is_overdue(self.now, max);
        if d.jobs.iter().any(|job| overdue(&job)) {
            let since = d
                .jobs
                .iter()
                .filter(overdue)
                .filter_map(|job| job.last_success_at)
                .map(|at| at.saturating_add(max))
                .min();
            return self.failing(since, || {
                let mut failing: Vec<String> = d
                    .jobs
                    .iter()
                    .filter(overdue)
                    .map(|job| match job.last_success_at {
                        None => format!("{:?} never succeeded", job.name),
                        Some(at) => format!(
                            "{:?} last succeeded {} ago",
                            job.name,
                            humane(self.now.saturating_sub(at))
                        ),
                    })
                    .collect();
                let more = if failing.len() > 3 {
                    format!(" and {} more", failing.len() - 3)
                } else {
                    String::new()
                };
                failing.truncate(3);
                format!(
                    "backup {}{more}; policy: at most {}",
                    failing.join(", "),
                    humane(max)
                )
            });
        }
        if d.jobs.iter().any(|job| job.unreadable) {
            return self.unknown(|| {
                let unknown: Vec<&str> = d
                    .jobs
                    .iter()
                    .filter(|job| job.unreadable)
                    .map(|job| job.name.as_ref())
                    .collect();
                format!("the agent could not read backup job(s) {unknown:?}")
            });
        }
        Verdict::Passing
    }

    fn accounts(
        &self,
        d: &PasswordFacts,
        pick: impl Fn(&super::compliance_facts::AccountFacts) -> (u32, &Vec<Box<str>>),
        what: &str,
    ) -> Verdict {
        let Some(accounts) = &d.accounts else {
            return self.unknown(|| {
                format!(
                    "accounts unknown: {}",
                    d.accounts_error
                        .as_deref()
                        .unwrap_or("/etc/shadow was not readable")
                )
            });
        };
        let (count, names) = pick(accounts);
        if count == 0 {
            return Verdict::Passing;
        }
        self.failing(None, || {
            let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
            let more = if count as usize > names.len() {
                ", ..."
            } else {
                ""
            };
            format!("{count} account(s) {what}: {}{more}", names.join(", "))
        })
    }

    /// A failing verdict when any of `settings` is configured but not
    /// enforced on the device: a warn-only rule does not pass.
    fn unenforced(&self, d: &PasswordFacts, settings: &[&str]) -> Option<Verdict> {
        let (name, why) = settings
            .iter()
            .find_map(|s| d.not_enforced(s).map(|why| (*s, why)))?;
        Some(self.failing(None, || {
            format!("{name} is configured but not enforced: {why}")
        }))
    }

    fn at_least(&self, what: &str, value: Option<u32>, min: u32) -> Verdict {
        match value {
            Some(v) if v >= min => Verdict::Passing,
            Some(v) => self.failing(None, || format!("{what} is {v}; policy: at least {min}")),
            None => self.failing(None, || {
                format!("{what} not configured; policy: at least {min}")
            }),
        }
    }
}

fn humane(secs: i64) -> String {
    // Rounded to the unit a human would use; exact values are in the metrics.
    let secs = secs.max(0);
    let rounded = match secs {
        s if s >= 2 * DAY => s / DAY * DAY,
        s if s >= 2 * 3_600 => s / 3_600 * 3_600,
        s if s >= 120 => s / 60 * 60,
        s => s,
    };
    format_duration(rounded as u64)
}

/// Since when each check has been failing on one device; persisted by the
/// store so it survives restarts. Compact: no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailingSince([Option<i64>; PolicyCheck::COUNT]);

impl FailingSince {
    /// When `check` started failing, if it is failing.
    pub fn get(&self, check: PolicyCheck) -> Option<i64> {
        self.0[check.index()]
    }

    /// Sets or clears one entry.
    pub fn set(&mut self, check: PolicyCheck, since: Option<i64>) {
        self.0[check.index()] = since;
    }

    /// The failing checks with their since, in [`PolicyCheck::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (PolicyCheck, i64)> + '_ {
        PolicyCheck::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|s| (c, s)))
    }

    /// No check is failing.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

impl FromIterator<(PolicyCheck, i64)> for FailingSince {
    fn from_iter<I: IntoIterator<Item = (PolicyCheck, i64)>>(iter: I) -> Self {
        let mut f = FailingSince::default();
        for (check, since) in iter {
            f.set(check, Some(since));
        }
        f
    }
}

impl Serialize for FailingSince {
    /// `{"backup": 1700000000, ...}`: readable in the store's JSON column.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(c, t)| (c.as_str(), t)))
    }
}

impl<'de> Deserialize<'de> for FailingSince {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Keys this collector version does not know (a check removed in a
        // newer/older version) are dropped rather than failing the load.
        let map: HashMap<String, i64> = HashMap::deserialize(d)?;
        let mut f = FailingSince::default();
        for (name, since) in map {
            if let Some(c) = PolicyCheck::from_name(&name) {
                f.set(c, Some(since));
            }
        }
        Ok(f)
    }
}

/// Pure failing-since bookkeeping across evaluations.
///
/// Per check: failing keeps the earliest known since (the previous value, or
/// the verdict's own `since`, else `now`); passing or disabled clears it;
/// unknown keeps the previous value, so a device whose agent briefly cannot
/// collect does not restart the clock (and does not start one).
pub struct CheckStateTracker;

impl CheckStateTracker {
    /// The failing-since state after `findings` at `now`.
    pub fn update(previous: &FailingSince, findings: &Findings, now: i64) -> FailingSince {
        let mut next = FailingSince::default();
        for check in PolicyCheck::ALL {
            let prev = previous.get(check);
            let value = match findings.get(check) {
                None | Some(Verdict::Passing) => None,
                Some(Verdict::Unknown { .. }) => prev,
                Some(Verdict::NotApplicable { .. }) => None,
                Some(Verdict::Failing { since, .. }) => {
                    // A hint in the future (clock skew) must not postpone the start.
                    let hint = since.unwrap_or(now).min(now);
                    Some(prev.map_or(hint, |p| p.min(hint)))
                }
            };
            next.set(check, value);
        }
        next
    }
}

mod data_protection;

#[cfg(test)]
mod tests;
