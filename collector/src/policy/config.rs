//! The policy as TOML: the `[policy]` section of the collector config,
//! parsed raw (with spans) and then validated into a [`Policy`]. Errors name
//! the key and its line.
//!
//! ```
//! use fleetwatch_collector::policy::Policy;
//! let p = Policy::from_collector_config_str("[policy]\nstale_after = \"30m\"\n", "example").unwrap();
//! assert_eq!(p.stale_after_secs, 1800);
//! let err = Policy::from_collector_config_str("[policy]\npassword_min_length = 0\n", "example").unwrap_err();
//! assert!(err.to_string().contains("policy.password_min_length (line 2): must be between 1 and 128, got 0"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use fleetwatch_protocol::OsFamily;
use serde::Deserialize;
use toml::Spanned;

use super::checks::PolicyCheck;
use crate::time::RawDuration;

/// The validated company policy; every field is in force as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A device whose last report is older than this is not reporting.
    pub stale_after_secs: i64,
    /// Every backup job must have succeeded within this.
    pub backup_max_age_secs: i64,
    /// A device with no backup job fails the backup check.
    pub require_backup: bool,
    /// Security updates may be pending at most this many days.
    pub security_updates_max_pending_days: u32,
    /// A reboot may be pending at most this many days.
    pub reboot_max_pending_days: u32,
    /// The package cache must be refreshed within this; `None` = not judged.
    pub patch_cache_max_age_secs: Option<i64>,
    /// Minimum password length the system must enforce.
    pub password_min_length: u32,
    /// Character classes the system must require (minclass or negative credits).
    pub password_min_classes: u32,
    /// Old passwords the system must remember.
    pub password_history: u32,
    /// Lockout must be configured with at most this many failed attempts.
    pub password_lockout_max_attempts: u32,
    /// Maximum password age the system must enforce, days.
    pub password_max_age_days: i64,
    /// An account with an empty password fails `empty_passwords`.
    pub forbid_empty_passwords: bool,
    /// An account with an expired password fails `expired_passwords`.
    pub forbid_expired_passwords: bool,
    /// Which volumes `disk_encryption` judges.
    pub disk_encryption_scope: DiskEncryptionScope,
    /// Mount points `disk_encryption` leaves out (the boot partitions a
    /// boot loader must read unencrypted).
    pub disk_encryption_exclude: Vec<String>,
    /// OS families on which an antivirus is required; elsewhere the
    /// `antivirus` check is not applicable.
    pub antivirus_required_on: Vec<OsFamily>,
    /// Antivirus signatures must be younger than this.
    pub antivirus_signature_max_age_secs: i64,
    /// Real-time (on-access) protection must be on.
    pub antivirus_require_real_time: bool,
    /// Per-check switches from `[policy.checks.<name>] enabled = ...`,
    /// indexed by [`PolicyCheck::index`]; prefer [`Policy::is_enabled`].
    pub switches: [bool; PolicyCheck::COUNT],
}

impl Default for Policy {
    /// CIS-like defaults; `deploy/policy.example.toml` documents the same values.
    fn default() -> Self {
        Policy {
            stale_after_secs: 2 * 3_600,
            backup_max_age_secs: 26 * 3_600,
            require_backup: true,
            security_updates_max_pending_days: 7,
            reboot_max_pending_days: 7,
            patch_cache_max_age_secs: None,
            password_min_length: 14,
            password_min_classes: 3,
            password_history: 5,
            password_lockout_max_attempts: 5,
            password_max_age_days: 365,
            forbid_empty_passwords: true,
            forbid_expired_passwords: true,
            disk_encryption_scope: DiskEncryptionScope::AllFixed,
            disk_encryption_exclude: DEFAULT_DISK_ENCRYPTION_EXCLUDE
                .iter()
                .map(|m| m.to_string())
                .collect(),
            antivirus_required_on: vec![OsFamily::Windows, OsFamily::Macos],
            antivirus_signature_max_age_secs: 3 * DAY,
            antivirus_require_real_time: true,
            switches: [true; PolicyCheck::COUNT],
        }
    }
}

/// Mount points left out of `disk_encryption` by default: `/boot` and the
/// EFI system partition, which the boot loader reads before any volume is
/// unlocked.
pub const DEFAULT_DISK_ENCRYPTION_EXCLUDE: [&str; 3] = ["/boot", "/boot/efi", "/efi"];

/// Which volumes must be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskEncryptionScope {
    /// Only the volume holding the operating system.
    System,
    /// Every fixed volume the agent reports (swap included), less the
    /// excluded mount points.
    AllFixed,
}

impl DiskEncryptionScope {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskEncryptionScope::System => "system",
            DiskEncryptionScope::AllFixed => "all_fixed",
        }
    }
}

impl Policy {
    /// Whether a check is judged at all. A check is off when its switch is off,
    /// when `forbid_*` is false, or (patch_cache) when no max age is set.
    pub fn is_enabled(&self, check: PolicyCheck) -> bool {
        if !self.switches[check.index()] {
            return false;
        }
        match check {
            PolicyCheck::PatchCache => self.patch_cache_max_age_secs.is_some(),
            PolicyCheck::EmptyPasswords => self.forbid_empty_passwords,
            PolicyCheck::ExpiredPasswords => self.forbid_expired_passwords,
            _ => true,
        }
    }

    /// Returns the policy with one check switched on or off (tests, tooling).
    pub fn with_check_enabled(mut self, check: PolicyCheck, enabled: bool) -> Self {
        self.switches[check.index()] = enabled;
        self
    }

    /// Parses the `[policy]` table of the full collector config; the other
    /// tables belong to the rest of the collector and are ignored here.
    pub fn from_collector_config_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        #[derive(Deserialize)]
        struct ConfigWithPolicy {
            #[serde(default)]
            policy: Option<RawPolicy>,
        }
        let file: ConfigWithPolicy = parse_toml(text, origin)?;
        file.policy.unwrap_or_default().build(text, origin)
    }
}

impl Policy {
    /// Validates an already-parsed `[policy]` table (e.g. the collector
    /// config's untyped `policy` field). Spans are lost in a parsed table, so
    /// errors name the key without a line; prefer
    /// [`Policy::from_collector_config_str`] on the original text.
    pub fn from_table(table: &toml::Table, origin: &str) -> Result<Policy, PolicyError> {
        let mut doc = toml::Table::new();
        doc.insert("policy".into(), toml::Value::Table(table.clone()));
        let text = toml::to_string(&doc).map_err(|e| PolicyError::Toml {
            origin: origin.to_string(),
            line: None,
            message: e.to_string(),
        })?;
        // Lines would point into the re-serialized text: drop them.
        Policy::from_collector_config_str(&text, origin).map_err(|e| match e {
            PolicyError::Toml {
                origin, message, ..
            } => PolicyError::Toml {
                origin,
                line: None,
                message,
            },
            PolicyError::Invalid {
                origin,
                mut problems,
            } => {
                problems.iter_mut().for_each(|p| p.line = None);
                PolicyError::Invalid { origin, problems }
            }
            other => other,
        })
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, PolicyError> {
    toml::from_str(text).map_err(|e| PolicyError::Toml {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        // The Display form is a multi-line snippet; the message alone reads
        // well in one log line and already names the offending key.
        message: e.message().trim().to_string(),
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Why a policy was refused. The last good policy stays in force.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file could not be read.
    #[error("reading policy from {path}: {source}")]
    Io {
        /// File that was read.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown/mistyped keys.
    #[error("{origin}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Toml {
        /// File name or other description of where the text came from.
        origin: String,
        /// Line of the problem, when known.
        line: Option<usize>,
        /// What the TOML parser said (names the key).
        message: String,
    },
    /// The TOML parses but values are out of range.
    #[error("{origin}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// File name or other description of where the text came from.
        origin: String,
        /// Every problem found, in file order.
        problems: Vec<FieldProblem>,
    },
}

/// One invalid value: which key, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Full key path, e.g. `policy.password_min_length`.
    pub key: String,
    /// 1-based line in the source text.
    pub line: Option<usize>,
    /// What is wrong, e.g. "must be between 1 and 128, got 0".
    pub reason: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line}): {}", self.key, self.reason),
            None => write!(f, "{}: {}", self.key, self.reason),
        }
    }
}

/// A per-check switch: `[policy.checks.backup] enabled = false`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckSwitch {
    /// Whether the check is judged (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The `[policy]` table as written; every key optional, unknown keys refused.
/// Deserialize it with the `toml` crate directly: the spans give error lines.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each key is documented in deploy/policy.example.toml
pub struct RawPolicy {
    pub stale_after: Option<Spanned<RawDuration>>,
    pub backup_max_age: Option<Spanned<RawDuration>>,
    pub require_backup: Option<bool>,
    pub security_updates_max_pending_days: Option<Spanned<i64>>,
    pub reboot_max_pending_days: Option<Spanned<i64>>,
    pub patch_cache_max_age: Option<Spanned<RawDuration>>,
    pub password_min_length: Option<Spanned<i64>>,
    pub password_min_classes: Option<Spanned<i64>>,
    pub password_history: Option<Spanned<i64>>,
    pub password_lockout_max_attempts: Option<Spanned<i64>>,
    pub password_max_age_days: Option<Spanned<i64>>,
    pub forbid_empty_passwords: Option<bool>,
    pub forbid_expired_passwords: Option<bool>,
    pub disk_encryption_scope: Option<Spanned<String>>,
    pub disk_encryption_exclude: Option<Vec<String>>,
    pub antivirus_required_on: Option<Vec<Spanned<String>>>,
    pub antivirus_signature_max_age: Option<Spanned<RawDuration>>,
    pub antivirus_require_real_time: Option<bool>,
    pub checks: Option<BTreeMap<Spanned<String>, RawCheckSwitch>>,
}

const DAY: i64 = 86_400;

/// Collects problems while validating so the user sees all of them at once.
struct Validator<'a> {
    text: &'a str,
    problems: Vec<FieldProblem>,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, span_start: Option<usize>, reason: String) {
        self.problems.push(FieldProblem {
            key: format!("policy.{key}"),
            line: span_start.map(|s| line_of(self.text, s)),
            reason,
        });
    }

    fn int(
        &mut self,
        key: &str,
        raw: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
        default: i64,
    ) -> i64 {
        let Some(v) = raw else { return default };
        let value = *v.get_ref();
        if value < min || value > max {
            self.problem(
                key,
                Some(v.span().start),
                format!("must be between {min} and {max}, got {value}"),
            );
            return default;
        }
        value
    }

    fn duration(
        &mut self,
        key: &str,
        raw: &Option<Spanned<RawDuration>>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let v = raw.as_ref()?;
        match v.get_ref().seconds_in(min, max) {
            Ok(secs) => Some(secs),
            Err(reason) => {
                self.problem(key, Some(v.span().start), reason);
                None
            }
        }
    }
}

impl RawPolicy {
    /// Validates into a [`Policy`]; `text` is the source the spans point into
    /// (for line numbers), `origin` names it in errors (usually the path).
    pub fn build(&self, text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let d = Policy::default();
        let mut v = Validator {
            text,
            problems: Vec::new(),
        };
        // Bounds: wide enough for any sane policy, tight enough to catch
        // unit mistakes ("backup_max_age = 2" meaning two hours).
        // stale_after goes down to 1s: it is also how tests and demos make a
        // device go silent quickly (a 2s report interval is legitimate there).
        let stale_after_secs = v.duration("stale_after", &self.stale_after, 1, 365 * DAY);
        let backup_max_age_secs = v.duration("backup_max_age", &self.backup_max_age, 60, 365 * DAY);
        let patch_cache_max_age_secs = v.duration(
            "patch_cache_max_age",
            &self.patch_cache_max_age,
            60,
            365 * DAY,
        );
        let security = v.int(
            "security_updates_max_pending_days",
            &self.security_updates_max_pending_days,
            0,
            365,
            7,
        );
        let reboot = v.int(
            "reboot_max_pending_days",
            &self.reboot_max_pending_days,
            0,
            365,
            7,
        );
        let min_length = v.int("password_min_length", &self.password_min_length, 1, 128, 14);
        let min_classes = v.int("password_min_classes", &self.password_min_classes, 1, 4, 3);
        let history = v.int("password_history", &self.password_history, 0, 400, 5);
        let lockout = v.int(
            "password_lockout_max_attempts",
            &self.password_lockout_max_attempts,
            1,
            100,
            5,
        );
        let max_age = v.int(
            "password_max_age_days",
            &self.password_max_age_days,
            1,
            9_999,
            365,
        );

        let signature_max_age = v.duration(
            "antivirus_signature_max_age",
            &self.antivirus_signature_max_age,
            3_600,
            365 * DAY,
        );
        let scope = match self.disk_encryption_scope.as_ref() {
            None => d.disk_encryption_scope,
            Some(raw) => match raw.get_ref().as_str() {
                "system" => DiskEncryptionScope::System,
                "all_fixed" => DiskEncryptionScope::AllFixed,
                other => {
                    v.problem(
                        "disk_encryption_scope",
                        Some(raw.span().start),
                        format!("must be \"system\" or \"all_fixed\", got {other:?}"),
                    );
                    d.disk_encryption_scope
                }
            },
        };
        let mut required_on = Vec::new();
        for raw in self.antivirus_required_on.iter().flatten() {
            match [OsFamily::Linux, OsFamily::Macos, OsFamily::Windows]
                .into_iter()
                .find(|f| f.as_str() == raw.get_ref())
            {
                Some(f) if !required_on.contains(&f) => required_on.push(f),
                Some(_) => {}
                None => v.problem(
                    "antivirus_required_on",
                    Some(raw.span().start),
                    format!(
                        "unknown OS family {:?}, expected linux, macos or windows",
                        raw.get_ref()
                    ),
                ),
            }
        }

        let mut switches = [true; PolicyCheck::COUNT];
        for (name, switch) in self.checks.iter().flatten() {
            match PolicyCheck::from_name(name.get_ref()) {
                Some(check) => switches[check.index()] = switch.enabled.unwrap_or(true),
                None => {
                    let known: Vec<&str> = PolicyCheck::ALL.iter().map(|c| c.as_str()).collect();
                    v.problem(
                        &format!("checks.{}", name.get_ref()),
                        Some(name.span().start),
                        format!("unknown check, expected one of {}", known.join(", ")),
                    );
                }
            }
        }

        if !v.problems.is_empty() {
            v.problems.sort_by_key(|p| p.line);
            return Err(PolicyError::Invalid {
                origin: origin.to_string(),
                problems: v.problems,
            });
        }
        // Casts are lossless: every value was range-checked above.
        Ok(Policy {
            stale_after_secs: stale_after_secs.unwrap_or(d.stale_after_secs),
            backup_max_age_secs: backup_max_age_secs.unwrap_or(d.backup_max_age_secs),
            require_backup: self.require_backup.unwrap_or(d.require_backup),
            security_updates_max_pending_days: security as u32,
            reboot_max_pending_days: reboot as u32,
            patch_cache_max_age_secs,
            password_min_length: min_length as u32,
            password_min_classes: min_classes as u32,
            password_history: history as u32,
            password_lockout_max_attempts: lockout as u32,
            password_max_age_days: max_age,
            forbid_empty_passwords: self
                .forbid_empty_passwords
                .unwrap_or(d.forbid_empty_passwords),
            forbid_expired_passwords: self
                .forbid_expired_passwords
                .unwrap_or(d.forbid_expired_passwords),
            disk_encryption_scope: scope,
            disk_encryption_exclude: self
                .disk_encryption_exclude
                .clone()
                .unwrap_or(d.disk_encryption_exclude),
            antivirus_required_on: if self.antivirus_required_on.is_some() {
                required_on
            } else {
                d.antivirus_required_on
            },
            antivirus_signature_max_age_secs: signature_max_age
                .unwrap_or(d.antivirus_signature_max_age_secs),
            antivirus_require_real_time: self
                .antivirus_require_real_time
                .unwrap_or(d.antivirus_require_real_time),
            switches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../deploy/policy.example.toml");

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let p = Policy::from_collector_config_str(EXAMPLE, "deploy/policy.example.toml").unwrap();
        // The example documents the defaults; any drift between the two is a bug.
        let expected = Policy {
            patch_cache_max_age_secs: p.patch_cache_max_age_secs,
            ..Policy::default()
        };
        assert_eq!(p, expected);
        // The example recommends judging the cache; the built-in default does not.
        assert_eq!(p.patch_cache_max_age_secs, Some(7 * DAY));
        // The same text as a section of the collector config parses too.
        let in_config = format!("[server]\nlisten = \"0.0.0.0:8443\"\n\n{EXAMPLE}");
        assert_eq!(
            Policy::from_collector_config_str(&in_config, "collector.toml").unwrap(),
            p
        );
    }

    #[test]
    fn empty_text_gives_defaults() {
        assert_eq!(
            Policy::from_collector_config_str("", "x").unwrap(),
            Policy::default()
        );
        assert_eq!(
            Policy::from_collector_config_str("[server]\na = 1\n", "x").unwrap(),
            Policy::default()
        );
    }

    #[test]
    fn durations_accept_strings_and_seconds() {
        let p = Policy::from_collector_config_str(
            "[policy]\nstale_after = 900\nbackup_max_age = \"1d2h\"\npatch_cache_max_age = \"2w\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(p.stale_after_secs, 900);
        assert_eq!(p.backup_max_age_secs, 26 * 3600);
        assert_eq!(p.patch_cache_max_age_secs, Some(14 * DAY));
        assert!(p.is_enabled(PolicyCheck::PatchCache));
        assert!(!Policy::default().is_enabled(PolicyCheck::PatchCache));
    }

    #[test]
    fn out_of_range_values_name_key_line_and_value() {
        let text =
            "[policy]\nstale_after = \"2h\"\npassword_min_length = 0\npassword_min_classes = 5\n";
        let err = Policy::from_collector_config_str(text, "policy.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("policy.password_min_length (line 3): must be between 1 and 128, got 0"),
            "{err}"
        );
        assert!(
            err.contains("policy.password_min_classes (line 4): must be between 1 and 4, got 5"),
            "{err}"
        );
        assert!(err.starts_with("policy.toml: "), "{err}");
    }

    #[test]
    fn bad_durations_are_refused() {
        for (value, want) in [
            ("\"2 hours\"", "\"2 hours\" is not a duration"),
            ("\"1h30\"", "is not a duration"),
            ("0", "must be between 1s and 365d, got 0s"),
            ("-60", "got -60"),
            ("\"400d\"", "got 400d"),
        ] {
            let err = Policy::from_collector_config_str(
                &format!("[policy]\nstale_after = {value}\n"),
                "p",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("policy.stale_after (line 2): "), "{err}");
            assert!(err.contains(want), "{value}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let err = Policy::from_collector_config_str(
            "[policy]\nstale_after = \"2h\"\npasword_min_length = 12\n",
            "p",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, PolicyError::Toml { line: Some(3), .. }),
            "{msg}"
        );
        assert!(msg.contains("pasword_min_length"), "{msg}");
        // Wrong types are named too.
        let msg = Policy::from_collector_config_str("[policy]\nrequire_backup = \"yes\"\n", "p")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn from_an_untyped_table() {
        let config: toml::Table = toml::from_str(
            "[policy]\nstale_after = \"30m\"\n[policy.checks.backup]\nenabled = false\n",
        )
        .unwrap();
        let table = config["policy"].as_table().unwrap();
        let p = Policy::from_table(table, "collector.toml").unwrap();
        assert_eq!(p.stale_after_secs, 1800);
        assert!(!p.is_enabled(PolicyCheck::Backup));
        let bad: toml::Table = toml::from_str("password_min_length = 0\n").unwrap();
        let err = Policy::from_table(&bad, "collector.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "collector.toml: policy.password_min_length: must be between 1 and 128, got 0"
        );
        let unknown: toml::Table = toml::from_str("nope = 1\n").unwrap();
        assert!(
            Policy::from_table(&unknown, "c")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }

    #[test]
    fn data_protection_settings() {
        let p = Policy::from_collector_config_str(
            "[policy]\ndisk_encryption_scope = \"system\"\ndisk_encryption_exclude = []\nantivirus_required_on = [\"windows\", \"linux\", \"windows\"]\nantivirus_signature_max_age = \"1d\"\nantivirus_require_real_time = false\n",
            "p",
        )
        .unwrap();
        assert_eq!(p.disk_encryption_scope, DiskEncryptionScope::System);
        assert!(p.disk_encryption_exclude.is_empty());
        assert_eq!(
            p.antivirus_required_on,
            [OsFamily::Windows, OsFamily::Linux]
        );
        assert_eq!(p.antivirus_signature_max_age_secs, DAY);
        assert!(!p.antivirus_require_real_time);
        let d = Policy::default();
        assert_eq!(d.disk_encryption_exclude, ["/boot", "/boot/efi", "/efi"]);
        assert_eq!(
            d.antivirus_required_on,
            [OsFamily::Windows, OsFamily::Macos]
        );
        let err = Policy::from_collector_config_str(
            "[policy]\ndisk_encryption_scope = \"everything\"\nantivirus_required_on = [\"beos\"]\nantivirus_signature_max_age = \"10m\"\n",
            "p",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("policy.disk_encryption_scope (line 2): must be \"system\" or \"all_fixed\", got \"everything\""), "{err}");
        assert!(
            err.contains("policy.antivirus_required_on (line 3): unknown OS family \"beos\""),
            "{err}"
        );
        assert!(
            err.contains(
                "policy.antivirus_signature_max_age (line 4): must be between 1h and 365d"
            ),
            "{err}"
        );
    }

    #[test]
    fn check_switches() {
        let text =
            "[policy]\nforbid_expired_passwords = false\n[policy.checks.backup]\nenabled = false\n";
        let p = Policy::from_collector_config_str(text, "p").unwrap();
        assert!(!p.is_enabled(PolicyCheck::Backup));
        assert!(!p.is_enabled(PolicyCheck::ExpiredPasswords));
        assert!(p.is_enabled(PolicyCheck::EmptyPasswords));
        let err =
            Policy::from_collector_config_str("[policy.checks.bakup]\nenabled = false\n", "p")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("policy.checks.bakup (line 1): unknown check, expected one of reporting,"),
            "{err}"
        );
        let err =
            Policy::from_collector_config_str("[policy.checks.backup]\nenable = false\n", "p")
                .unwrap_err();
        assert!(err.to_string().contains("enable"), "{err}");
    }
}
