//! `/etc/shadow` and `/etc/passwd` → per-account password facts. The hash
//! is classified while parsing and never kept.

use std::collections::HashMap;

use fleetwatch_protocol::AccountPasswordState;

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
            Some(ShadowEntry {
                name: name.to_string(),
                password,
                last_change_days,
                max_days,
            })
        })
        .collect()
}

/// Per-user `(uid, shell)` from passwd text.
pub(crate) fn parse_passwd(text: &str) -> HashMap<String, (u32, String)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some((
                f[0].to_string(),
                (f[2].parse().ok()?, f[6].trim().to_string()),
            ))
        })
        .collect()
}

/// A human account: root or a regular uid, with a shell one can log in with.
fn is_interactive(uid: u32, shell: &str) -> bool {
    let login_shell = !(shell.ends_with("/nologin")
        || shell.ends_with("/false")
        || shell.ends_with("/sync")
        || shell.ends_with("/shutdown")
        || shell.ends_with("/halt"));
    login_shell && (uid == 0 || (1000..65534).contains(&uid))
}

/// Builds the account facts at time `now` (Unix seconds).
pub(crate) fn accounts(
    shadow: &[ShadowEntry],
    passwd: &HashMap<String, (u32, String)>,
    now: i64,
) -> Vec<AccountPasswordState> {
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
                interactive: passwd
                    .get(&e.name)
                    .is_some_and(|(uid, shell)| is_interactive(*uid, shell)),
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
broken line
";
        let passwd = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             alice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        );
        let a = accounts(&parse_shadow(shadow), &passwd, NOW);
        assert_eq!(a.len(), 7);
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
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains('$'), "{json}");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*", now in any::<i64>()) {
            let passwd = parse_passwd(&s);
            let _ = accounts(&parse_shadow(&s), &passwd, now);
        }
    }
}
