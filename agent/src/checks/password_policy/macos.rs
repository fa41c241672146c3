//! macOS password policy: the local directory's account policies
//! (`pwpolicy -getaccountpolicies`: a header line, then a property list)
//! and the managed profile (`com.apple.mobiledevice.passwordpolicy`, the
//! Passcode payload an MDM installs), which wins for every setting it sets.
//!
//! Policies are read from their parameters (`minimumLength`,
//! `policyAttributePasswordHistoryDepth`, ...), falling back to the
//! `.{N,}` length in the content expression, so both the policies the
//! legacy `pwpolicy -setglobalpolicy` keywords create and those a profile
//! creates are understood. Per-account password state is not read: the
//! hashes live in the directory service, which the agent never opens.

use std::collections::BTreeMap;

use fleetwatch_protocol::{PasswordPolicy, PasswordSettings, SettingOrigin, SettingSource};
use serde::Deserialize;

use crate::checks::{Check, CheckContext, CheckError, Collected, plist};

/// The managed Passcode profile's preferences.
pub const MANAGED_PROFILE: &str =
    "/Library/Managed Preferences/com.apple.mobiledevice.passwordpolicy.plist";

/// The source name of the pwpolicy answer.
pub const PWPOLICY: &str = "pwpolicy -getaccountpolicies";

/// Why `accounts` is missing on a Mac.
pub const ACCOUNTS_NOT_READ: &str = "per-account password state is not read on macOS \
     (the password data lives in the directory service, which the agent does not open)";

/// Reads the effective macOS password policy.
#[derive(Debug, Clone, Default)]
pub struct MacPasswordPolicyCheck;

/// What either source requires; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Minimum length.
    pub min_length: Option<u32>,
    /// Minimum letters (either case).
    pub alpha: Option<u32>,
    /// Minimum digits.
    pub numeric: Option<u32>,
    /// Minimum symbols (non-alphanumeric).
    pub symbols: Option<u32>,
    /// Upper and lower case both required.
    pub mixed_case: Option<bool>,
    /// Remembered passwords.
    pub history: Option<u32>,
    /// Maximum password age in days.
    pub max_age_days: Option<i64>,
    /// Failed attempts before lockout.
    pub lockout_threshold: Option<u32>,
    /// Seconds until a locked account unlocks.
    pub lockout_unlock_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct AccountPolicies {
    #[serde(rename = "policyCategoryPasswordContent", default)]
    content: Vec<Policy>,
    #[serde(rename = "policyCategoryPasswordChange", default)]
    change: Vec<Policy>,
    #[serde(rename = "policyCategoryAuthentication", default)]
    authentication: Vec<Policy>,
}

#[derive(Debug, Deserialize)]
struct Policy {
    #[serde(rename = "policyContent", default)]
    content: String,
    #[serde(rename = "policyParameters", default)]
    parameters: BTreeMap<String, plist::Value>,
}

impl Policy {
    fn number(&self, key: &str) -> Option<i64> {
        let v = self.parameters.get(key)?;
        v.as_signed_integer()
            .or_else(|| v.as_unsigned_integer().and_then(|u| i64::try_from(u).ok()))
            .or_else(|| v.as_real().map(|r| r as i64))
            .or_else(|| v.as_string().and_then(|s| s.trim().parse().ok()))
    }

    fn count(&self, key: &str) -> Option<u32> {
        self.number(key).and_then(|n| u32::try_from(n).ok())
    }
}

/// `N` of the first `.{N,}` in a content expression.
fn length_in_content(content: &str) -> Option<u32> {
    let start = content.find(".{")? + 2;
    let rest = &content[start..];
    rest[..rest.find(',')?].trim().parse().ok()
}

/// Keeps the stricter of two values: several policies all apply.
fn stricter<T: Ord>(a: Option<T>, b: Option<T>, higher_is_stricter: bool) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a > b) == higher_is_stricter { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Strips the `Getting global account policies` header and parses the plist.
pub fn parse_pwpolicy(stdout: &[u8]) -> Result<Requirements, CheckError> {
    let text = String::from_utf8_lossy(stdout);
    let Some(start) = text.find("<?xml").or_else(|| text.find("<plist")) else {
        // pwpolicy prints only its header when no account policy is set.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with("Getting "))
        {
            return Ok(Requirements::default());
        }
        return Err(CheckError::Parse {
            what: PWPOLICY.into(),
            detail: "no property list in the output".into(),
        });
    };
    let policies: AccountPolicies = plist::parse(text[start..].as_bytes(), PWPOLICY)?;
    Ok(requirements(&policies))
}

fn requirements(p: &AccountPolicies) -> Requirements {
    let mut r = Requirements::default();
    for policy in &p.content {
        let length = policy.count("minimumLength").or_else(|| {
            length_in_content(&policy.content)
                .filter(|_| policy.content.contains("policyAttributePassword matches"))
        });
        r.min_length = stricter(r.min_length, length, true);
        r.alpha = stricter(r.alpha, policy.count("minimumAlphaCharacters"), true);
        r.numeric = stricter(r.numeric, policy.count("minimumNumericCharacters"), true);
        r.symbols = stricter(r.symbols, policy.count("minimumSymbols"), true);
        if policy
            .count("minimumMixedCaseCharacters")
            .is_some_and(|n| n > 0)
        {
            r.mixed_case = Some(true);
        }
        r.history = stricter(
            r.history,
            policy.count("policyAttributePasswordHistoryDepth"),
            true,
        );
    }
    for policy in &p.change {
        let days = policy
            .number("policyAttributeExpiresEveryNDays")
            .or_else(|| policy.number("policyAttributeDaysUntilExpiration"))
            .or_else(|| {
                policy
                    .number("maxMinutesUntilChangePassword")
                    .map(|m| m / 1440)
            });
        r.max_age_days = stricter(r.max_age_days, days, false);
    }
    for policy in &p.authentication {
        r.lockout_threshold = stricter(
            r.lockout_threshold,
            policy.count("policyAttributeMaximumFailedAuthentications"),
            false,
        );
        let unlock = policy
            .number("autoEnableInSeconds")
            .and_then(|s| u64::try_from(s).ok());
        r.lockout_unlock_seconds = stricter(r.lockout_unlock_seconds, unlock, true);
    }
    r
}

/// The managed Passcode payload's keys (Apple's documented names).
#[derive(Debug, Default, Deserialize)]
pub struct ManagedProfile {
    #[serde(rename = "minLength")]
    min_length: Option<u32>,
    #[serde(rename = "requireAlphanumeric")]
    require_alphanumeric: Option<bool>,
    #[serde(rename = "minComplexChars")]
    min_complex_chars: Option<u32>,
    #[serde(rename = "maxPINAgeInDays")]
    max_pin_age_days: Option<i64>,
    #[serde(rename = "pinHistory")]
    pin_history: Option<u32>,
    #[serde(rename = "maxFailedAttempts")]
    max_failed_attempts: Option<u32>,
    #[serde(rename = "minutesUntilFailedLoginReset")]
    minutes_until_failed_login_reset: Option<u64>,
}

impl ManagedProfile {
    /// The profile's requirements.
    pub fn requirements(&self) -> Requirements {
        let alnum = self.require_alphanumeric.filter(|r| *r).map(|_| 1);
        Requirements {
            min_length: self.min_length,
            alpha: alnum,
            numeric: alnum,
            symbols: self.min_complex_chars,
            mixed_case: None,
            history: self.pin_history,
            max_age_days: self.max_pin_age_days,
            lockout_threshold: self.max_failed_attempts,
            lockout_unlock_seconds: self.minutes_until_failed_login_reset.map(|m| m * 60),
        }
    }
}

impl Requirements {
    /// `self` with every value `over` sets replacing it (the profile wins).
    pub fn overridden_by(self, over: Requirements) -> Requirements {
        Requirements {
            min_length: over.min_length.or(self.min_length),
            alpha: over.alpha.or(self.alpha),
            numeric: over.numeric.or(self.numeric),
            symbols: over.symbols.or(self.symbols),
            mixed_case: over.mixed_case.or(self.mixed_case),
            history: over.history.or(self.history),
            max_age_days: over.max_age_days.or(self.max_age_days),
            lockout_threshold: over.lockout_threshold.or(self.lockout_threshold),
            lockout_unlock_seconds: over.lockout_unlock_seconds.or(self.lockout_unlock_seconds),
        }
    }

    /// The cross-platform settings: character-class minimums become
    /// pwquality-style negative credits, and `min_classes` counts the
    /// required classes (letters count once, or twice when both cases are
    /// required).
    pub fn settings(&self) -> PasswordSettings {
        let credit = |n: Option<u32>| {
            n.filter(|n| *n > 0)
                .map(|n| -(n.min(i32::MAX as u32) as i32))
        };
        let mixed = self.mixed_case == Some(true);
        let letters = if mixed {
            2
        } else {
            u32::from(self.alpha.is_some_and(|n| n > 0))
        };
        let classes = letters
            + u32::from(self.numeric.is_some_and(|n| n > 0))
            + u32::from(self.symbols.is_some_and(|n| n > 0));
        let any_class_rule = self.alpha.is_some()
            || self.numeric.is_some()
            || self.symbols.is_some()
            || self.mixed_case.is_some();
        PasswordSettings {
            min_length: self.min_length,
            min_classes: any_class_rule.then_some(classes),
            dcredit: credit(self.numeric),
            ocredit: credit(self.symbols),
            ucredit: mixed.then_some(-1),
            lcredit: mixed.then_some(-1),
            history: self.history,
            lockout_threshold: self.lockout_threshold,
            lockout_unlock_seconds: self.lockout_unlock_seconds,
            max_days: self.max_age_days,
            ..PasswordSettings::default()
        }
    }
}

impl Check for MacPasswordPolicyCheck {
    type Output = PasswordPolicy;
    const NAME: &'static str = "password_policy";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<PasswordPolicy>, CheckError> {
        let profile = plist::read::<ManagedProfile>(ctx.root, MANAGED_PROFILE)?;
        let profile_present = profile.is_some();
        let local = ctx
            .run_ok(PWPOLICY, "pwpolicy", &["-getaccountpolicies"])
            .and_then(|out| parse_pwpolicy(&out.stdout));
        let mut sources = Vec::new();
        let base = match (local, &profile) {
            (Ok(r), _) => {
                sources.push(PWPOLICY.to_string());
                r
            }
            // The profile alone still says what is enforced.
            (Err(e), Some(_)) => {
                tracing::warn!(error = %e, "pwpolicy unreadable; using the managed profile only");
                Requirements::default()
            }
            (Err(e), None) => return Err(e),
        };
        let from_profile = profile.map(|p| p.requirements()).unwrap_or_default();
        if profile_present {
            sources.push(MANAGED_PROFILE.to_string());
        }
        let settings = base.overridden_by(from_profile.clone()).settings();
        Ok(Collected::Ok(PasswordPolicy {
            origins: origins(&settings, &from_profile.settings()),
            settings,
            sources,
            accounts: None,
            accounts_error: Some(ACCOUNTS_NOT_READ.into()),
        }))
    }
}

/// Where each effective setting came from: the managed profile where it
/// sets the value, else the local account policies. macOS enforces both.
fn origins(
    settings: &PasswordSettings,
    profile: &PasswordSettings,
) -> BTreeMap<String, SettingOrigin> {
    let set = |s: &PasswordSettings| -> Vec<(&'static str, bool)> {
        vec![
            ("min_length", s.min_length.is_some()),
            ("min_classes", s.min_classes.is_some()),
            ("dcredit", s.dcredit.is_some()),
            ("ucredit", s.ucredit.is_some()),
            ("lcredit", s.lcredit.is_some()),
            ("ocredit", s.ocredit.is_some()),
            ("history", s.history.is_some()),
            ("lockout_threshold", s.lockout_threshold.is_some()),
            ("lockout_unlock_seconds", s.lockout_unlock_seconds.is_some()),
            ("max_days", s.max_days.is_some()),
        ]
    };
    let by_profile: BTreeMap<&str, bool> = set(profile).into_iter().collect();
    set(settings)
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| {
            let (source, path) = if by_profile.get(name) == Some(&true) {
                (SettingSource::File, MANAGED_PROFILE)
            } else {
                // The local directory's account policies, as pwpolicy reports them.
                (SettingSource::Unknown, PWPOLICY)
            };
            let origin = SettingOrigin {
                source,
                path: Some(path.to_string()),
                enforced: Some(true),
                ..SettingOrigin::default()
            };
            (name.to_string(), origin)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_only_answer_means_no_policy() {
        let r = parse_pwpolicy(b"Getting global account policies\n").unwrap();
        assert_eq!(r, Requirements::default());
        assert_eq!(r.settings(), PasswordSettings::default());
        assert!(parse_pwpolicy(b"pwpolicy: error").is_err());
    }

    #[test]
    fn length_from_the_content_expression() {
        assert_eq!(
            length_in_content("policyAttributePassword matches '.{12,}+'"),
            Some(12)
        );
        assert_eq!(
            length_in_content("policyAttributePassword matches '[0-9]'"),
            None
        );
    }

    #[test]
    fn the_profile_wins_where_it_sets_a_value() {
        let local = Requirements {
            min_length: Some(8),
            history: Some(5),
            ..Requirements::default()
        };
        let profile = Requirements {
            min_length: Some(15),
            ..Requirements::default()
        };
        let r = local.overridden_by(profile);
        assert_eq!((r.min_length, r.history), (Some(15), Some(5)));
    }

    #[test]
    fn classes_and_credits() {
        let r = Requirements {
            numeric: Some(2),
            symbols: Some(1),
            mixed_case: Some(true),
            ..Requirements::default()
        };
        let s = r.settings();
        assert_eq!(s.min_classes, Some(4));
        assert_eq!(
            (s.dcredit, s.ocredit, s.ucredit, s.lcredit),
            (Some(-2), Some(-1), Some(-1), Some(-1))
        );
        let alnum = ManagedProfile {
            require_alphanumeric: Some(true),
            ..ManagedProfile::default()
        };
        assert_eq!(alnum.requirements().settings().min_classes, Some(2));
    }
}
