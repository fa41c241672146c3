//! Windows password policy: `NetUserModalsGet` levels 0 and 3 (length,
//! ages, history, lockout), `PasswordComplexity` from the `secedit /export`
//! security template (an INI file in UTF-16LE), and per local account from
//! `NetUserEnum` (enabled, locked out, password not required, never
//! expires, password age). No hash or secret is ever read: `NetUserEnum`
//! leaves `usri3_password` NULL.

use std::collections::BTreeMap;

use fleetwatch_protocol::{
    AccountPasswordState, PasswordPolicy, PasswordSettings, SettingOrigin, SettingSource,
};

use super::host::{NetUser, TIMEQ_FOREVER, UserModals, WindowsError, WindowsHost};
use super::inventory::COMPUTER_SYSTEM_QUERY;
use super::values::{boolean, text};
use crate::checks::{Check, CheckContext, CheckError, Collected};

/// `sources` entry for the Net API levels.
pub const NET_USER_MODALS: &str = "NetUserModalsGet";
/// `sources` entry for the security template export.
pub const SECEDIT_EXPORT: &str = "secedit /export /areas SECURITYPOLICY";
/// `sources` entry for the account list.
pub const NET_USER_ENUM: &str = "NetUserEnum";

/// `UF_ACCOUNTDISABLE` (lmaccess.h).
pub const UF_ACCOUNTDISABLE: u32 = 0x0002;
/// `UF_LOCKOUT`: locked out after failed logons.
pub const UF_LOCKOUT: u32 = 0x0010;
/// `UF_PASSWD_NOTREQD`: the account may have an empty password.
pub const UF_PASSWD_NOTREQD: u32 = 0x0020;
/// `UF_DONT_EXPIRE_PASSWD`: the password never expires.
pub const UF_DONT_EXPIRE_PASSWD: u32 = 0x1_0000;

/// Character categories a complex Windows password must mix ("at least
/// three of: upper case, lower case, digits, symbols, other Unicode").
pub const COMPLEXITY_CLASSES: u32 = 3;

const DAY: u32 = 86_400;

/// Why a `secedit /export` file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeceditError {
    /// Not UTF-16LE with a BOM, nor UTF-8.
    #[error("the secedit export is neither UTF-16LE nor UTF-8 text")]
    Encoding,
    /// No `[System Access]` section.
    #[error("the secedit export has no [System Access] section")]
    NoSystemAccess,
}

/// The `[System Access]` section of a `secedit /export` file: key to its
/// numeric value (`MinimumPasswordLength = 14`, `MaximumPasswordAge = -1`).
/// Keys are matched without case, as the security engine does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemAccess {
    values: BTreeMap<String, i64>,
}

impl SystemAccess {
    /// The value of `key`, if present and numeric.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.values.get(&key.to_ascii_lowercase()).copied()
    }
}

/// Decodes a secedit export: UTF-16LE with a BOM (what secedit writes),
/// UTF-16LE without one (NULs in every odd byte), or UTF-8.
pub fn decode_export(bytes: &[u8]) -> Result<String, SeceditError> {
    let utf16 = |b: &[u8]| -> Result<String, SeceditError> {
        if !b.len().is_multiple_of(2) {
            return Err(SeceditError::Encoding);
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|_| SeceditError::Encoding)
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            String::from_utf8(rest.to_vec()).map_err(|_| SeceditError::Encoding)
        }
        [_, 0, ..] => utf16(bytes),
        _ => String::from_utf8(bytes.to_vec()).map_err(|_| SeceditError::Encoding),
    }
}

/// Parses the `[System Access]` section of a decoded export. Lines are
/// `Key = value`; `;` starts a comment; string values (`NewAdministratorName
/// = "Administrator"`) are not numeric and are left out.
pub fn parse_system_access(text: &str) -> Result<SystemAccess, SeceditError> {
    let mut in_section = false;
    let mut seen = false;
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim().eq_ignore_ascii_case("System Access");
            seen |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && let Ok(v) = value.trim().parse::<i64>()
        {
            values.insert(key.trim().to_ascii_lowercase(), v);
        }
    }
    if seen {
        Ok(SystemAccess { values })
    } else {
        Err(SeceditError::NoSystemAccess)
    }
}

/// What the password check read, each source with its own outcome.
#[derive(Debug, Clone)]
pub struct PasswordSources {
    /// `NetUserModalsGet`.
    pub modals: Result<UserModals, WindowsError>,
    /// `[System Access]` of the secedit export (or why it is missing).
    pub secedit: Result<SystemAccess, String>,
    /// `NetUserEnum`.
    pub users: Result<Vec<NetUser>, WindowsError>,
    /// The AD domain when the machine is joined to one
    /// (`Win32_ComputerSystem.PartOfDomain`).
    pub domain: Option<String>,
}

/// Reads every source from `host`.
pub fn read_sources(host: &dyn WindowsHost) -> PasswordSources {
    let secedit = host
        .secedit_export()
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            decode_export(&bytes)
                .and_then(|t| parse_system_access(&t))
                .map_err(|e| e.to_string())
        });
    let cs = host
        .wmi_query(COMPUTER_SYSTEM_QUERY)
        .ok()
        .and_then(|rows| rows.into_iter().next())
        .unwrap_or_default();
    let domain = (boolean(&cs, "PartOfDomain") == Some(true))
        .then(|| text(&cs, "Domain"))
        .flatten();
    PasswordSources {
        modals: host.user_modals(),
        secedit,
        users: host.local_users(),
        domain,
    }
}

/// Maps what was read to the password-policy section (pure). Fails only
/// when neither `NetUserModalsGet` nor secedit answered: then nothing at
/// all is known about the policy.
pub fn policy_from(sources: &PasswordSources, now: i64) -> Result<PasswordPolicy, WindowsError> {
    let sa = sources.secedit.as_ref().ok();
    let mut settings = PasswordSettings::default();
    let mut from: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    let mut record = |field: &'static str, source: &'static str| {
        from.insert(field, source);
    };
    match (&sources.modals, sa) {
        (Ok(m), _) => {
            settings.min_length = Some(m.min_passwd_len);
            settings.history = Some(m.password_hist_len);
            settings.max_days = max_age_days(m.max_passwd_age);
            settings.min_days = Some(i64::from(m.min_passwd_age / DAY));
            settings.lockout_threshold = m.lockout_threshold;
            settings.lockout_unlock_seconds = m.lockout_duration.map(|d| {
                // Locked until an administrator unlocks: "never" is 0.
                if d == TIMEQ_FOREVER { 0 } else { u64::from(d) }
            });
            for f in ["min_length", "history", "max_days", "min_days"] {
                record(f, NET_USER_MODALS);
            }
            if m.lockout_threshold.is_some() {
                record("lockout_threshold", NET_USER_MODALS);
                record("lockout_unlock_seconds", NET_USER_MODALS);
            }
        }
        (Err(_), Some(sa)) => {
            // The template carries the same values, in days and minutes.
            let u = |k: &str| sa.get(k).and_then(|v| u32::try_from(v).ok());
            settings.min_length = u("MinimumPasswordLength");
            settings.history = u("PasswordHistorySize");
            settings.max_days = sa
                .get("MaximumPasswordAge")
                .filter(|d| (1..=999).contains(d));
            settings.min_days = sa.get("MinimumPasswordAge").filter(|d| *d >= 0);
            settings.lockout_threshold = u("LockoutBadCount");
            settings.lockout_unlock_seconds = sa
                .get("LockoutDuration")
                .map(|m| if m < 0 { 0 } else { m as u64 * 60 });
            for (f, k) in [
                ("min_length", "MinimumPasswordLength"),
                ("history", "PasswordHistorySize"),
                ("max_days", "MaximumPasswordAge"),
                ("min_days", "MinimumPasswordAge"),
                ("lockout_threshold", "LockoutBadCount"),
                ("lockout_unlock_seconds", "LockoutDuration"),
            ] {
                if sa.get(k).is_some() {
                    record(f, SECEDIT_EXPORT);
                }
            }
        }
        (Err(e), None) => return Err(e.clone()),
    }
    // Only the template says whether complexity is on; unknown stays unset.
    if let Some(c) = sa.and_then(|sa| sa.get("PasswordComplexity")) {
        settings.min_classes = Some(if c == 1 { COMPLEXITY_CLASSES } else { 0 });
        record("min_classes", SECEDIT_EXPORT);
    }

    let mut sources_list = Vec::new();
    if sources.modals.is_ok() {
        sources_list.push(NET_USER_MODALS.to_string());
    }
    match &sources.secedit {
        Ok(_) => sources_list.push(SECEDIT_EXPORT.to_string()),
        Err(e) => sources_list.push(format!("{SECEDIT_EXPORT} (failed: {e})")),
    }
    if let Some(domain) = &sources.domain {
        // A domain member: domain accounts follow the domain's policy;
        // these are the local values, which bind the local accounts.
        sources_list.push(format!(
            "domain member of {domain}: the domain's policy applies to domain accounts; these are the local values"
        ));
    }

    let (accounts, accounts_error) = match &sources.users {
        Ok(users) => {
            sources_list.push(NET_USER_ENUM.to_string());
            (
                Some(
                    users
                        .iter()
                        .map(|u| account(u, settings.max_days, now))
                        .collect(),
                ),
                None,
            )
        }
        Err(e) => (None, Some(e.to_string())),
    };

    let origins = from
        .into_iter()
        .map(|(field, path)| {
            (
                field.to_string(),
                SettingOrigin {
                    source: SettingSource::Unknown,
                    path: Some(path.to_string()),
                    module: None,
                    // Windows applies its account policy itself: no warn-only mode.
                    enforced: Some(true),
                    not_enforced_reason: None,
                    enforce_for_root: None,
                },
            )
        })
        .collect();
    Ok(PasswordPolicy {
        settings,
        sources: sources_list,
        accounts,
        accounts_error,
        origins,
    })
}

/// `usrmod0_max_passwd_age` in days; `TIMEQ_FOREVER` (never) is unset.
fn max_age_days(seconds: u32) -> Option<i64> {
    (seconds != TIMEQ_FOREVER).then(|| i64::from(seconds / DAY))
}

fn account(u: &NetUser, policy_max_days: Option<i64>, now: i64) -> AccountPasswordState {
    let disabled = u.flags & UF_ACCOUNTDISABLE != 0;
    let empty_allowed = u.flags & UF_PASSWD_NOTREQD != 0;
    let max_days = if u.flags & UF_DONT_EXPIRE_PASSWD != 0 {
        None
    } else {
        policy_max_days
    };
    AccountPasswordState {
        name: u.name.clone(),
        // No hash is read: a password is assumed set where one is required.
        has_password: !empty_allowed,
        empty_password: empty_allowed,
        // Disabled or locked out: no password logon possible.
        locked: disabled || u.flags & UF_LOCKOUT != 0,
        last_change_at: Some(now - i64::from(u.password_age)),
        max_days,
        expired: u.password_expired,
        interactive: !disabled,
        inactive_days: None,
        account_expires_at: None,
        account_expired: None,
    }
}

/// The password-policy check of a Windows machine.
pub struct WindowsPasswordCheck<'h> {
    /// Where the Net API and secedit are read.
    pub host: &'h dyn WindowsHost,
}

impl Check for WindowsPasswordCheck<'_> {
    type Output = PasswordPolicy;
    const NAME: &'static str = "password_policy";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<PasswordPolicy>, CheckError> {
        Ok(Collected::Ok(policy_from(
            &read_sources(self.host),
            ctx.now,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The security template export; see tests/hosts/windows-policy/README.md.
    const HARDENED: &[u8] =
        include_bytes!("../../../../tests/hosts/windows-policy/secedit-export-hardened.inf");
    const DEFAULTS: &[u8] =
        include_bytes!("../../../../tests/hosts/windows-policy/secedit-export-defaults.inf");

    const NOW: i64 = 1_795_334_400;

    fn modals() -> UserModals {
        UserModals {
            min_passwd_len: 14,
            max_passwd_age: 60 * DAY,
            min_passwd_age: DAY,
            password_hist_len: 24,
            lockout_duration: Some(900),
            lockout_observation_window: Some(900),
            lockout_threshold: Some(5),
        }
    }

    fn user(name: &str, flags: u32, age_days: u32) -> NetUser {
        NetUser {
            name: name.into(),
            flags,
            password_age: age_days * DAY,
            last_logon: 0,
            password_expired: false,
            user_id: 1001,
        }
    }

    #[test]
    fn wine_answers_no_policy_source_so_the_check_fails_naming_it() {
        let host = crate::platform::windows::host::RecordedWindowsHost::new(
            serde_json::from_str(include_str!(
                "../../../../tests/hosts/windows-wine8/recording.json"
            ))
            .unwrap(),
        );
        let sources = read_sources(&host);
        assert!(sources.secedit.is_err());
        assert!(sources.domain.is_none(), "WORKGROUP is no domain");
        let e = policy_from(&sources, NOW).unwrap_err();
        assert!(e.to_string().contains("NERR_InternalError"), "{e}");
    }

    #[test]
    fn the_utf16_export_decodes_and_its_system_access_parses() {
        assert_eq!(
            &HARDENED[..2],
            &[0xFF, 0xFE],
            "secedit writes a UTF-16LE BOM"
        );
        let text = decode_export(HARDENED).unwrap();
        assert!(text.contains("[Unicode]"));
        let sa = parse_system_access(&text).unwrap();
        assert_eq!(sa.get("MinimumPasswordLength"), Some(14));
        assert_eq!(sa.get("passwordcomplexity"), Some(1));
        assert_eq!(sa.get("MaximumPasswordAge"), Some(60));
        assert_eq!(sa.get("LockoutBadCount"), Some(5));
        // A quoted string value is not a number; other sections are ignored.
        assert_eq!(sa.get("NewAdministratorName"), None);
        assert_eq!(sa.get("AuditSystemEvents"), None);

        let defaults = parse_system_access(&decode_export(DEFAULTS).unwrap()).unwrap();
        assert_eq!(defaults.get("PasswordComplexity"), Some(0));
        assert_eq!(defaults.get("MaximumPasswordAge"), Some(42));
    }

    #[test]
    fn encodings_and_broken_exports() {
        let utf16_no_bom: Vec<u8> = "[System Access]\r\nPasswordComplexity = 1\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let sa = parse_system_access(&decode_export(&utf16_no_bom).unwrap()).unwrap();
        assert_eq!(sa.get("PasswordComplexity"), Some(1));
        let utf8 = b"\xEF\xBB\xBF[System Access]\nMinimumPasswordLength = 8\n";
        let sa = parse_system_access(&decode_export(utf8).unwrap()).unwrap();
        assert_eq!(sa.get("MinimumPasswordLength"), Some(8));
        assert_eq!(
            decode_export(&[0xFF, 0xFE, 0x41]),
            Err(SeceditError::Encoding)
        );
        assert_eq!(
            parse_system_access("[Version]\nsignature=\"$CHICAGO$\"\n"),
            Err(SeceditError::NoSystemAccess)
        );
    }

    #[test]
    fn net_api_values_with_complexity_from_the_template() {
        let sources = PasswordSources {
            modals: Ok(modals()),
            secedit: parse_system_access(&decode_export(HARDENED).unwrap())
                .map_err(|e| e.to_string()),
            users: Ok(vec![
                user("Administrator", UF_ACCOUNTDISABLE, 400),
                user("alice", 0, 10),
                user("svc-backup", UF_DONT_EXPIRE_PASSWD, 900),
                user("Guest", UF_ACCOUNTDISABLE | UF_PASSWD_NOTREQD, 0),
                user("kiosk", UF_PASSWD_NOTREQD, 3),
                user("bob", UF_LOCKOUT, 20),
            ]),
            domain: None,
        };
        let p = policy_from(&sources, NOW).unwrap();
        let s = &p.settings;
        assert_eq!(s.min_length, Some(14));
        assert_eq!(s.min_classes, Some(3));
        assert_eq!(s.history, Some(24));
        assert_eq!(s.max_days, Some(60));
        assert_eq!(s.min_days, Some(1));
        assert_eq!(s.lockout_threshold, Some(5));
        assert_eq!(s.lockout_unlock_seconds, Some(900));
        assert_eq!(
            p.origins["min_classes"].path.as_deref(),
            Some(SECEDIT_EXPORT)
        );
        assert_eq!(
            p.origins["min_length"].path.as_deref(),
            Some(NET_USER_MODALS)
        );
        assert_eq!(p.sources, [NET_USER_MODALS, SECEDIT_EXPORT, NET_USER_ENUM]);

        let accounts = p.accounts.unwrap();
        let by = |n: &str| accounts.iter().find(|a| a.name == n).unwrap();
        assert!(by("Administrator").locked && !by("Administrator").interactive);
        let alice = by("alice");
        assert!(!alice.locked && alice.has_password && !alice.empty_password);
        assert_eq!(alice.last_change_at, Some(NOW - 10 * 86_400));
        assert_eq!(alice.max_days, Some(60));
        assert_eq!(by("svc-backup").max_days, None, "never expires");
        assert!(by("kiosk").empty_password && !by("kiosk").has_password);
        assert!(by("Guest").empty_password && by("Guest").locked);
        assert!(by("bob").locked, "locked out");
    }

    #[test]
    fn never_and_forever_and_complexity_off() {
        let sources = PasswordSources {
            modals: Ok(UserModals {
                min_passwd_len: 0,
                max_passwd_age: TIMEQ_FOREVER,
                min_passwd_age: 0,
                password_hist_len: 0,
                lockout_duration: Some(TIMEQ_FOREVER),
                lockout_observation_window: Some(1800),
                lockout_threshold: Some(0),
            }),
            secedit: parse_system_access(&decode_export(DEFAULTS).unwrap())
                .map_err(|e| e.to_string()),
            users: Ok(vec![]),
            domain: Some("CORP".into()),
        };
        let p = policy_from(&sources, NOW).unwrap();
        assert_eq!(p.settings.max_days, None, "passwords never expire");
        assert_eq!(p.settings.lockout_unlock_seconds, Some(0));
        assert_eq!(p.settings.lockout_threshold, Some(0));
        assert_eq!(p.settings.min_classes, Some(0));
        assert!(
            p.sources
                .iter()
                .any(|s| s.contains("domain member of CORP"))
        );
    }

    #[test]
    fn failing_sources_stay_unknown() {
        let net = |call: &str| WindowsError::NetApi {
            call: call.into(),
            status: 124,
        };
        // No template: complexity is unset, never assumed on; no accounts.
        let p = policy_from(
            &PasswordSources {
                modals: Ok(modals()),
                secedit: Err("`secedit` is not installed".into()),
                users: Err(net("NetUserEnum(3)")),
                domain: None,
            },
            NOW,
        )
        .unwrap();
        assert_eq!(p.settings.min_classes, None);
        assert!(!p.origins.contains_key("min_classes"));
        assert!(p.accounts.is_none());
        assert!(p.accounts_error.unwrap().contains("NetUserEnum(3)"));
        assert!(p.sources[1].contains("failed"));

        // Net API down: the template's values (days, minutes) stand in.
        let p = policy_from(
            &PasswordSources {
                modals: Err(net("NetUserModalsGet(0)")),
                secedit: parse_system_access(&decode_export(HARDENED).unwrap())
                    .map_err(|e| e.to_string()),
                users: Ok(vec![]),
                domain: None,
            },
            NOW,
        )
        .unwrap();
        assert_eq!(p.settings.min_length, Some(14));
        assert_eq!(p.settings.max_days, Some(60));
        assert_eq!(p.settings.lockout_unlock_seconds, Some(15 * 60));
        assert_eq!(
            p.origins["min_length"].path.as_deref(),
            Some(SECEDIT_EXPORT)
        );

        // Neither: the check fails, naming the Net API error.
        let e = policy_from(
            &PasswordSources {
                modals: Err(net("NetUserModalsGet(0)")),
                secedit: Err("no secedit".into()),
                users: Ok(vec![]),
                domain: None,
            },
            NOW,
        )
        .unwrap_err();
        assert!(e.to_string().contains("NetUserModalsGet(0)"), "{e}");
        // Wine's answer names its status.
        let wine = WindowsError::NetApi {
            call: "NetUserModalsGet(level 0)".into(),
            status: 2140,
        };
        assert_eq!(
            wine.to_string(),
            "NetUserModalsGet(level 0) failed with status 2140 (NERR_InternalError)"
        );
    }
}
