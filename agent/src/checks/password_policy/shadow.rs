//! `/etc/shadow` and `/etc/passwd` → per-account password facts. The hash
//! is classified while parsing and never kept. Fields as shadow(5) lists
//! them: name, password, last change, min, max, warn, inactive, expire.

use std::collections::HashMap;

use fleetwatch_protocol::AccountPasswordState;

use crate::checks::inventory::passwd::parse_passwd;

const DAY: i64 = 86_400;

/// What the password field says, without the hash itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordField {
    Empty,
    Locked,
    Set,
}

/// One shadow line, minus the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShadowEntry {
    name: String,
    password: PasswordField,
    last_change_days: Option<i64>,
    max_days: Option<i64>,
    inactive_days: Option<i64>,
    /// `None`: the field is empty (the account never expires).
    expire_days: Option<i64>,
}

/// Parses shadow text; lines without a name and a password field are skipped.
pub(crate) fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.trim();
            let pw = f.next()?;
            if name.is_empty() || name.starts_with('#') {
                return None;
            }
            let password = if pw.is_empty() {
                PasswordField::Empty
            } else if pw.starts_with(['!', '*']) {
                PasswordField::Locked
            } else {
                PasswordField::Set
            };
            let number = |s: Option<&str>| s.and_then(|s| s.trim().parse::<i64>().ok());
            let last_change_days = number(f.next());
            let _min_days = f.next();
            // Negative maxima disable aging, like shadow-utils.
            let max_days = number(f.next()).filter(|m| *m >= 0);
            let _warn_days = f.next();
            // Negative values mean "unset" to shadow-utils as well.
            let inactive_days = number(f.next()).filter(|d| *d >= 0);
            let expire_days = number(f.next()).filter(|d| *d >= 0);
            Some(ShadowEntry {
                name: name.to_string(),
                password,
                last_change_days,
                max_days,
                inactive_days,
                expire_days,
            })
        })
        .collect()
}

/// Builds the account facts at time `now` (Unix seconds).
/// Whether each account is interactive is the inventory's reading of
/// `passwd_text` ([`parse_passwd`]), so both sections agree.
pub(crate) fn accounts(
    shadow: &[ShadowEntry],
    passwd_text: &str,
    now: i64,
) -> Vec<AccountPasswordState> {
    let interactive: HashMap<String, bool> = parse_passwd(passwd_text)
        .into_iter()
        .map(|u| (u.name, u.interactive))
        .collect();
    shadow
        .iter()
        .map(|e| {
            // 0 = "must change at next login".
            let must_change = e.last_change_days == Some(0);
            let aged_out = match (e.last_change_days, e.max_days) {
                (Some(last), Some(max)) if last > 0 => {
                    last.saturating_add(max).saturating_mul(DAY) < now
                }
                _ => false,
            };
            AccountPasswordState {
                name: e.name.clone(),
                has_password: e.password == PasswordField::Set,
                empty_password: e.password == PasswordField::Empty,
                locked: e.password == PasswordField::Locked,
                last_change_at: e
                    .last_change_days
                    .filter(|d| *d > 0)
                    .map(|d| d.saturating_mul(DAY)),
                max_days: e.max_days,
                expired: must_change || aged_out,
                interactive: interactive.get(&e.name).copied().unwrap_or(false),
                inactive_days: e.inactive_days,
                account_expires_at: e.expire_days.map(|d| d.saturating_mul(DAY)),
                // Day 0 reads as "never" or "1970" (shadow(5)): not known.
                account_expired: match e.expire_days {
                    None => Some(false),
                    Some(0) => None,
                    Some(d) => Some(d.saturating_mul(DAY) <= now),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 20_000 * DAY;

    #[test]
    fn facts_without_hashes() {
        let shadow = "\
root:$y$j9T$abcdefghijklmnopqrstu.$AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCDEF:19800:0:99999:7:::
daemon:*:19800:0:99999:7:::
alice:$6$saltsalt$Zm9vYmFy/long.hash.value:19990:1:90:7:::
bob::19990:0:99999:7:::
carol:$6$s$h:19000:1:90:7:::
dave:!$6$s$h:19990:0:99999:7:::
erin:$6$s$h:0:0:99999:7:::
frank:$6$s$h:19990:0:90:7:14:19000:
gina:$6$s$h:19990:0:90:7::25000:
broken line
";
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             alice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n\
             frank:x:1002:1002::/home/frank:\n";
        let a = accounts(&parse_shadow(shadow), passwd, NOW);
        assert_eq!(a.len(), 9);
        let by = |n: &str| a.iter().find(|x| x.name == n).unwrap().clone();
        assert!(by("root").has_password && by("root").interactive);
        assert!(by("daemon").locked && !by("daemon").interactive);
        assert!(by("bob").empty_password && !by("bob").has_password);
        assert!(!by("alice").expired);
        assert_eq!(by("alice").max_days, Some(90));
        assert_eq!(by("alice").last_change_at, Some(19_990 * DAY));
        assert!(by("carol").expired);
        assert!(by("dave").locked);
        assert!(by("erin").expired);
        assert_eq!(by("erin").last_change_at, None);
        assert_eq!(by("alice").account_expired, Some(false));
        assert_eq!(by("alice").inactive_days, None);
        let frank = by("frank");
        assert_eq!(frank.inactive_days, Some(14));
        assert_eq!(frank.account_expires_at, Some(19_000 * DAY));
        assert_eq!(frank.account_expired, Some(true));
        // An empty shell is /bin/sh: interactive, as the inventory says.
        assert!(frank.interactive);
        assert_eq!(by("gina").account_expired, Some(false));
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains('$'), "{json}");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*", now in any::<i64>()) {
            let _ = accounts(&parse_shadow(&s), &s, now);
        }
    }
}
