//! The collector's fixed list of policy checks. Their names are the only
//! values the `check` label ever takes, so agents cannot mint label values.

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
}

impl PolicyCheck {
    /// Number of checks; arrays indexed by [`PolicyCheck::index`] have this length.
    pub const COUNT: usize = 13;

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
        })
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
    }
}
