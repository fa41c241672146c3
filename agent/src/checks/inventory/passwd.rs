//! `/etc/passwd` parsing. Only public account facts are kept: the password
//! field (which may hold a hash on old systems) is never read into the result.

use fleetwatch_protocol::LocalUser;

/// Shell names (last path component) that end a login at once: a
/// `nologin`, `false` or `true`, or the special accounts' `sync`,
/// `shutdown` and `halt`.
const NON_LOGIN_SHELLS: &[&str] = &["nologin", "false", "true", "sync", "shutdown", "halt"];

/// Whether `shell` can give an interactive login. An empty field means
/// `/bin/sh` (passwd(5)), so it can.
pub(crate) fn is_login_shell(shell: &str) -> bool {
    let name = shell.rsplit('/').next().unwrap_or(shell);
    shell.is_empty() || !NON_LOGIN_SHELLS.contains(&name)
}

/// Whether an account is an interactive (human) one: root or a regular
/// uid (system accounts sit below 1000 on Debian and RHEL alike; 65534 is
/// `nobody`, 4294967295 is `(uid_t)-1`), with a shell one can log in with.
/// The one definition the inventory and the password facts share.
pub fn is_interactive(uid: u32, shell: &str) -> bool {
    let human_uid = uid == 0 || (uid >= 1000 && uid != 65534 && uid != u32::MAX);
    human_uid && is_login_shell(shell)
}

/// Parses `/etc/passwd`; malformed lines and NIS `+`/`-` entries are skipped.
pub fn parse_passwd(text: &str) -> Vec<LocalUser> {
    let mut users = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with(['+', '-']) {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 {
            continue;
        }
        // fields[1] is the password field: deliberately ignored.
        let (Ok(uid), Ok(gid)) = (fields[2].parse::<u32>(), fields[3].parse::<u32>()) else {
            continue;
        };
        let shell = fields[6].trim().to_string();
        users.push(LocalUser {
            name: fields[0].to_string(),
            uid,
            gid,
            home: fields[5].to_string(),
            interactive: is_interactive(uid, &shell),
            shell,
        });
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_accounts_and_flags_interactive_ones() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
                    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                    sync:x:4:65534:sync:/bin:/bin/sync\n\
                    nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n\
                    alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n\
                    svc:x:1001:1001::/srv:/usr/sbin/nologin\n\
                    broken line\n\
                    bad:x:notanumber:1::/:/bin/sh\n\
                    +nisuser::::::\n";
        let users = parse_passwd(text);
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "sync", "nobody", "alice", "svc"]);
        let interactive: Vec<_> = users
            .iter()
            .filter(|u| u.interactive)
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(interactive, ["root", "alice"]);
        let alice = &users[4];
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.shell, "/bin/zsh");
    }

    #[test]
    fn empty_shell_is_sh_and_shells_are_judged_by_name() {
        let users = parse_passwd(
            "old:x:1002:1002::/home/old:\n\
             local:x:1003:1003::/home/local:/usr/local/sbin/nologin\n\
             t:x:1004:1004::/:/usr/bin/true\n\
             big:x:4294967295:1::/:/bin/sh\n\
             halt:x:7:0:halt:/sbin:/usr/sbin/halt\n",
        );
        let interactive: Vec<_> = users
            .iter()
            .map(|u| (u.name.as_str(), u.interactive))
            .collect();
        assert_eq!(
            interactive,
            [
                ("old", true),
                ("local", false),
                ("t", false),
                ("big", false),
                ("halt", false)
            ]
        );
    }

    #[test]
    fn a_hash_in_the_password_field_is_never_kept() {
        let users = parse_passwd("old:$6$salt$hashhashhash:1000:1000::/home/old:/bin/sh\n");
        assert_eq!(users.len(), 1);
        assert!(!format!("{users:?}").contains("hashhash"));
    }
}
