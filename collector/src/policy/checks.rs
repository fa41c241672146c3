//! The collector's fixed list of policy checks. Their names are the only
//! values the `check` label ever takes, so agents cannot mint label values.

use fleetwatch_protocol::OsFamily;
use serde::{Deserialize, Serialize};

/// One policy check the collector judges on every device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyCheck {
    /// The device reported within `stale_after`.
    Reporting,
    /// Every agent check was collected without failure.
    AgentChecks,
    /// No security update pending longer than allowed.
    SecurityUpdates,
    /// No reboot pending longer than allowed.
    Reboot,
    /// The package cache is fresh enough for "pending" to mean something.
    PatchCache,
    /// Every backup job succeeded within `backup_max_age`.
    Backup,
    /// Minimum password length.
    PasswordLength,
    /// Character-class requirements.
    PasswordComplexity,
    /// Remembered old passwords.
    PasswordHistory,
    /// Lockout after failed logins.
    PasswordLockout,
    /// Maximum password age (login.defs and every account with a password).
    PasswordMaxAge,
    /// No usable account with an empty password.
    EmptyPasswords,
    /// No usable account whose password is past its maximum age.
    ExpiredPasswords,
    /// Every fixed volume in scope encrypted, with protection on.
    DiskEncryption,
    /// The host firewall filters incoming traffic.
    Firewall,
    /// Antivirus with real-time protection and fresh signatures.
    Antivirus,
}

impl PolicyCheck {
    /// Number of checks; arrays indexed by [`PolicyCheck::index`] have this length.
    pub const COUNT: usize = 16;

    /// Every check, in label/report order.
    pub const ALL: [PolicyCheck; Self::COUNT] = [
        PolicyCheck::Reporting,
        PolicyCheck::AgentChecks,
        PolicyCheck::SecurityUpdates,
        PolicyCheck::Reboot,
        PolicyCheck::PatchCache,
        PolicyCheck::Backup,
        PolicyCheck::PasswordLength,
        PolicyCheck::PasswordComplexity,
        PolicyCheck::PasswordHistory,
        PolicyCheck::PasswordLockout,
        PolicyCheck::PasswordMaxAge,
        PolicyCheck::EmptyPasswords,
        PolicyCheck::ExpiredPasswords,
        PolicyCheck::DiskEncryption,
        PolicyCheck::Firewall,
        PolicyCheck::Antivirus,
    ];

    /// The `check` label value (and JSON/CSV name).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyCheck::Reporting => "reporting",
            PolicyCheck::AgentChecks => "agent_checks",
            PolicyCheck::SecurityUpdates => "security_updates",
            PolicyCheck::Reboot => "reboot",
            PolicyCheck::PatchCache => "patch_cache",
            PolicyCheck::Backup => "backup",
            PolicyCheck::PasswordLength => "password_length",
            PolicyCheck::PasswordComplexity => "password_complexity",
            PolicyCheck::PasswordHistory => "password_history",
            PolicyCheck::PasswordLockout => "password_lockout",
            PolicyCheck::PasswordMaxAge => "password_max_age",
            PolicyCheck::EmptyPasswords => "empty_passwords",
            PolicyCheck::ExpiredPasswords => "expired_passwords",
            PolicyCheck::DiskEncryption => "disk_encryption",
            PolicyCheck::Firewall => "firewall",
            PolicyCheck::Antivirus => "antivirus",
        }
    }

    /// Position in [`PolicyCheck::ALL`]; used to index per-check arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Looks a check up by its label value.
    pub fn from_name(name: &str) -> Option<PolicyCheck> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The alert a failing verdict raises. `patch_cache` raises none: it is a
    /// dashboard signal (a stale cache makes `security_updates` optimistic),
    /// and issue 4's alert list has no name for it.
    pub fn alert_name(self) -> Option<&'static str> {
        Some(match self {
            PolicyCheck::Reporting => "FleetwatchDeviceNotReporting",
            PolicyCheck::AgentChecks => "FleetwatchCheckFailing",
            PolicyCheck::SecurityUpdates => "FleetwatchSecurityUpdatesPending",
            PolicyCheck::Reboot => "FleetwatchRebootRequired",
            PolicyCheck::PatchCache => return None,
            PolicyCheck::Backup => "FleetwatchBackupOverdue",
            PolicyCheck::PasswordLength
            | PolicyCheck::PasswordComplexity
            | PolicyCheck::PasswordHistory
            | PolicyCheck::PasswordLockout
            | PolicyCheck::PasswordMaxAge
            | PolicyCheck::EmptyPasswords
            | PolicyCheck::ExpiredPasswords => "FleetwatchPasswordPolicyViolation",
            PolicyCheck::DiskEncryption | PolicyCheck::Firewall | PolicyCheck::Antivirus => {
                "FleetwatchDataProtectionViolation"
            }
        })
    }

    /// Why this check has no meaning on devices of `family`, if it has none
    /// there (the policy can rule out more: see `antivirus_required_on`).
    /// Such a verdict is "not applicable": neither failing nor unknown.
    pub fn not_applicable_on(self, family: OsFamily) -> Option<&'static str> {
        match (self, family) {
            // The Windows agent asks Windows Update itself at every report
            // (a search, never a cached list): no cache can go stale, and a
            // search that fails fails the patches section instead.
            (PolicyCheck::PatchCache, OsFamily::Windows) => Some(
                "Windows Update is searched at every report: there is no package cache to go stale",
            ),
            // Whether a macOS password is empty is only in the account's
            // ShadowHashData, which the agent never reads; the minimum
            // length (pwpolicy minChars) rules empty passwords out.
            (PolicyCheck::EmptyPasswords, OsFamily::Macos) => Some(
                "macOS keeps whether a password is empty only in the account's password hash, which the agent never reads; password_length covers it",
            ),
            _ => None,
        }
    }
}

impl std::fmt::Display for PolicyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_round_trip() {
        for (i, c) in PolicyCheck::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(PolicyCheck::from_name(c.as_str()), Some(c));
            // serde uses the same names as the label.
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            // Label values must be valid without escaping.
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        assert_eq!(PolicyCheck::from_name("nope"), None);
    }

    #[test]
    fn alert_names_match_issue_4() {
        assert_eq!(
            PolicyCheck::Reporting.alert_name(),
            Some("FleetwatchDeviceNotReporting")
        );
        assert_eq!(
            PolicyCheck::Backup.alert_name(),
            Some("FleetwatchBackupOverdue")
        );
        assert_eq!(
            PolicyCheck::EmptyPasswords.alert_name(),
            Some("FleetwatchPasswordPolicyViolation")
        );
        assert_eq!(
            PolicyCheck::AgentChecks.alert_name(),
            Some("FleetwatchCheckFailing")
        );
        assert_eq!(PolicyCheck::PatchCache.alert_name(), None);
        for c in [
            PolicyCheck::DiskEncryption,
            PolicyCheck::Firewall,
            PolicyCheck::Antivirus,
        ] {
            assert_eq!(c.alert_name(), Some("FleetwatchDataProtectionViolation"));
        }
    }

    #[test]
    fn every_check_applies_on_linux() {
        for c in PolicyCheck::ALL {
            assert_eq!(c.not_applicable_on(OsFamily::Linux), None, "{c}");
            assert_eq!(c.not_applicable_on(OsFamily::Other), None, "{c}");
        }
        assert!(
            PolicyCheck::PatchCache
                .not_applicable_on(OsFamily::Windows)
                .is_some()
        );
        assert!(
            PolicyCheck::PatchCache
                .not_applicable_on(OsFamily::Macos)
                .is_none()
        );
        assert!(
            PolicyCheck::EmptyPasswords
                .not_applicable_on(OsFamily::Macos)
                .is_some()
        );
        assert!(
            PolicyCheck::EmptyPasswords
                .not_applicable_on(OsFamily::Windows)
                .is_none()
        );
    }
}
