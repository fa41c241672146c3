//! The compliance sections: patches, backups, password policy.
//!
//! The agent states facts; the collector's policy judges them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Patch level of the host, one model for every package manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patches {
    /// `apt`, `dnf`, `yum`, `zypper`, `pacman`, ...
    pub manager: String,
    /// Installed packages with an update pending in the local cache (no
    /// network used), counted in packages on every manager.
    #[serde(default)]
    pub pending_total: u32,
    /// Of those, the packages a security advisory or security origin
    /// updates, counted in **packages** on every manager (a zypper patch
    /// or dnf advisory that fixes three packages counts three), so fleet
    /// numbers add up. `None` when the agent cannot tell: the manager has
    /// no security metadata (pacman), or a pending update comes from a
    /// repository without any (a reposync mirror without updateinfo, an
    /// apt source whose Release file does not say security).
    #[serde(default)]
    pub pending_security: Option<u32>,
    /// The pending packages, capped (see `pending_truncated`).
    #[serde(default)]
    pub pending: Vec<PendingUpdate>,
    /// Packages the pending upgrades would newly install (a new kernel ABI
    /// package, a new dependency); not counted in `pending_total`. Capped
    /// like `pending`. Absent in reports of agents before 0.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_packages: Vec<PendingUpdate>,
    /// True when `pending` was cut at the cap.
    #[serde(default)]
    pub pending_truncated: bool,
    /// Last package-cache refresh (Unix seconds).
    #[serde(default)]
    pub cache_updated_at: Option<i64>,
    /// Last package install or upgrade (Unix seconds).
    #[serde(default)]
    pub last_install_at: Option<i64>,
    /// Whether the system asks for a reboot; meaningless (and `false`) when
    /// `reboot_required_unknown` is set. Read it through
    /// [`Patches::reboot_required_state`].
    #[serde(default)]
    pub reboot_required: bool,
    /// The agent cannot tell whether a reboot is required (the tool that
    /// knows, such as `needs-restarting`, is missing or failed). Absent
    /// (and so `false`) in reports of agents before 0.2, which said
    /// `reboot_required: false` in that case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reboot_required_unknown: bool,
    /// Since when a reboot has been required (Unix seconds).
    #[serde(default)]
    pub reboot_required_since: Option<i64>,
    /// Packages that asked for the reboot.
    #[serde(default)]
    pub reboot_required_packages: Vec<String>,
    /// Running kernel release.
    #[serde(default)]
    pub running_kernel: Option<String>,
    /// Newest installed kernel release.
    #[serde(default)]
    pub newest_kernel: Option<String>,
}

impl Patches {
    /// `Some(required)` when known, `None` when the agent could not tell.
    pub fn reboot_required_state(&self) -> Option<bool> {
        (!self.reboot_required_unknown).then_some(self.reboot_required)
    }
}

/// One pending update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    /// Package name.
    pub name: String,
    /// Installed version, if installed.
    #[serde(default)]
    pub installed_version: Option<String>,
    /// Version the update would install.
    #[serde(default)]
    pub candidate_version: Option<String>,
    /// From a security origin / advisory.
    #[serde(default)]
    pub security: bool,
    /// Repository or origin it comes from.
    #[serde(default)]
    pub source: Option<String>,
}

/// Backup jobs configured on the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStatus {
    /// One entry per configured job.
    #[serde(default)]
    pub jobs: Vec<BackupJob>,
}

/// Result of the last backup attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupResult {
    /// The last attempt succeeded.
    Success,
    /// The last attempt failed.
    Failure,
    /// Not known, or a result this version does not know (a newer agent's).
    #[default]
    #[serde(other)]
    Unknown,
}

/// One backup job's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    /// Job name from the agent config (unique per device).
    pub name: String,
    /// `restic`, `borg`, `marker`, `command`, `time_machine`, ...
    pub kind: String,
    /// Last successful backup (Unix seconds).
    #[serde(default)]
    pub last_success_at: Option<i64>,
    /// Last attempt, successful or not (Unix seconds).
    #[serde(default)]
    pub last_attempt_at: Option<i64>,
    /// Outcome of the last attempt.
    #[serde(default)]
    pub last_result: BackupResult,
    /// Size of the latest backup, bytes.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Number of snapshots/archives in the repository.
    #[serde(default)]
    pub snapshot_count: Option<u64>,
    /// Why the job's state could not be read.
    #[serde(default)]
    pub error: Option<String>,
    /// The job cannot be read on this host at all (Time Machine without
    /// Full Disk Access, say); `error` says why. Never "no backup".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsupported: bool,
}

/// Effective password policy plus per-account facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// Settings as the system applies them after merging all sources.
    #[serde(default)]
    pub settings: PasswordSettings,
    /// Files that contributed, in the order they were applied.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Per-account state from `/etc/shadow`; `None` when unreadable.
    #[serde(default)]
    pub accounts: Option<Vec<AccountPasswordState>>,
    /// Why `accounts` is missing.
    #[serde(default)]
    pub accounts_error: Option<String>,
    /// Where each reported setting came from and whether the system
    /// enforces it, keyed by the [`PasswordSettings`] field name
    /// (`min_length`, `history`, ...). Empty from agents before 0.2.
    #[serde(default)]
    pub origins: BTreeMap<String, SettingOrigin>,
}

/// Where one effective password setting came from, and whether it binds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingOrigin {
    /// What set the value.
    #[serde(default)]
    pub source: SettingSource,
    /// The file that set it (the PAM file for a module argument).
    #[serde(default)]
    pub path: Option<String>,
    /// The PAM module whose rules apply the value (`pam_pwquality`).
    #[serde(default)]
    pub module: Option<String>,
    /// False when the value is configured but not enforced (warn-only
    /// `enforcing=0`, an `optional` module, a module a jump can skip);
    /// `None` when not stated.
    #[serde(default)]
    pub enforced: Option<bool>,
    /// Why the value is not enforced.
    #[serde(default)]
    pub not_enforced_reason: Option<String>,
    /// Whether the module applies the rule to root too (`enforce_for_root`);
    /// `None` where the module has no such switch.
    #[serde(default)]
    pub enforce_for_root: Option<bool>,
}

/// What set an effective password setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// A configuration file (`path`).
    File,
    /// An argument on a PAM module line (`path` is the PAM file).
    PamArgument,
    /// The module's built-in default: nothing configures it.
    ModuleDefault,
    /// Not known (also what a newer agent's unknown kind reads as).
    #[default]
    #[serde(other)]
    Unknown,
}

/// Effective password settings; `None` means "not configured anywhere".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordSettings {
    /// Minimum password length (pwquality `minlen`).
    #[serde(default)]
    pub min_length: Option<u32>,
    /// Minimum number of character classes (pwquality `minclass`).
    #[serde(default)]
    pub min_classes: Option<u32>,
    /// pwquality `dcredit` (negative: digits required).
    #[serde(default)]
    pub dcredit: Option<i32>,
    /// pwquality `ucredit`.
    #[serde(default)]
    pub ucredit: Option<i32>,
    /// pwquality `lcredit`.
    #[serde(default)]
    pub lcredit: Option<i32>,
    /// pwquality `ocredit`.
    #[serde(default)]
    pub ocredit: Option<i32>,
    /// Remembered old passwords (`pam_pwhistory`/`pam_unix remember=`).
    #[serde(default)]
    pub history: Option<u32>,
    /// Failed logins before lockout (`pam_faillock deny`).
    #[serde(default)]
    pub lockout_threshold: Option<u32>,
    /// Seconds until a locked account unlocks (0 = never).
    #[serde(default)]
    pub lockout_unlock_seconds: Option<u64>,
    /// `PASS_MAX_DAYS`.
    #[serde(default)]
    pub max_days: Option<i64>,
    /// `PASS_MIN_DAYS`.
    #[serde(default)]
    pub min_days: Option<i64>,
    /// `PASS_WARN_AGE`.
    #[serde(default)]
    pub warn_days: Option<i64>,
    /// Hash algorithm (`ENCRYPT_METHOD` or the `pam_unix` option).
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

/// Password facts of one local account; never the hash itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPasswordState {
    /// Login name.
    pub name: String,
    /// A usable password hash is set.
    pub has_password: bool,
    /// The password field is empty: login without a password.
    pub empty_password: bool,
    /// The password is locked (`!` or `*` prefix).
    pub locked: bool,
    /// Last password change (Unix seconds).
    #[serde(default)]
    pub last_change_at: Option<i64>,
    /// Maximum password age in days for this account.
    #[serde(default)]
    pub max_days: Option<i64>,
    /// The password is past its maximum age.
    #[serde(default)]
    pub expired: bool,
    /// Whether this is an interactive (human) account.
    #[serde(default)]
    pub interactive: bool,
    /// Days after the password expires before the account is disabled
    /// (shadow field 7); `None` when unset.
    #[serde(default)]
    pub inactive_days: Option<i64>,
    /// When the account itself expires (shadow field 8, Unix seconds);
    /// `None` when it never does.
    #[serde(default)]
    pub account_expires_at: Option<i64>,
    /// The account is past its expiry date; `None` when not reported.
    #[serde(default)]
    pub account_expired: Option<bool>,
}
