//! Where the policy's files come from: the host ([`SysRoot`]) or, for the
//! fuzz targets in `fuzz/`, an in-memory map of path to text, so every
//! parser and the merge run on arbitrary input without a file system.

use std::collections::BTreeMap;

use fleetwatch_protocol::PasswordPolicy;

use super::{account_facts, merge, read_inputs};
use crate::host::{HostError, SysRoot};

/// Read access to the files the password policy is built from.
pub trait PolicyFiles {
    /// The text of a host file, `Ok(None)` when it does not exist.
    fn read_optional(&self, path: &str) -> Result<Option<String>, HostError>;
    /// Names of a directory's entries, sorted; empty when it does not exist.
    fn list_dir(&self, path: &str) -> Result<Vec<String>, HostError>;
    /// Whether the path exists (file or directory).
    fn exists(&self, path: &str) -> bool;
}

impl PolicyFiles for SysRoot {
    fn read_optional(&self, path: &str) -> Result<Option<String>, HostError> {
        SysRoot::read_optional(self, path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, HostError> {
        SysRoot::list_dir(self, path)
    }
    fn exists(&self, path: &str) -> bool {
        SysRoot::exists(self, path)
    }
}

/// Host paths (`/etc/pam.d/passwd`) to file texts; directories exist
/// implicitly when a file lies under them.
impl PolicyFiles for BTreeMap<String, String> {
    fn read_optional(&self, path: &str) -> Result<Option<String>, HostError> {
        Ok(self.get(path).cloned())
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, HostError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        Ok(names)
    }
    fn exists(&self, path: &str) -> bool {
        let dir = format!("{}/", path.trim_end_matches('/'));
        self.contains_key(path) || self.keys().any(|k| k.starts_with(&dir))
    }
}

/// The password policy the check reports for a host holding `files`
/// (`/etc/shadow` unreadable when absent), judged at `now`: the same
/// reading, parsing and merge as the check, minus its "no PAM at all" test.
pub fn policy_from_files(files: &BTreeMap<String, String>, now: i64) -> PasswordPolicy {
    let inputs = read_inputs(files);
    let (settings, sources, origins) = merge::merge(&inputs);
    let shadow = files
        .get("/etc/shadow")
        .cloned()
        .ok_or_else(|| HostError::NotFound {
            path: "/etc/shadow".into(),
        });
    let passwd = files.get("/etc/passwd").map_or("", String::as_str);
    let (accounts, accounts_error) = account_facts(shadow, passwd, now);
    PasswordPolicy {
        settings,
        sources,
        accounts,
        accounts_error,
        origins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn a_map_lists_directories_and_reads_files() {
        let f = files(&[
            ("/etc/security/pwquality.conf.d/b.conf", "minlen = 9"),
            ("/etc/security/pwquality.conf.d/a.conf", "minlen = 8"),
            ("/etc/security/pwquality.conf.d/sub/c.conf", ""),
        ]);
        assert_eq!(
            PolicyFiles::list_dir(&f, "/etc/security/pwquality.conf.d").unwrap(),
            ["a.conf", "b.conf", "sub"]
        );
        assert!(PolicyFiles::exists(&f, "/etc/security"));
        assert!(!PolicyFiles::exists(&f, "/etc/sec"));
        assert_eq!(
            PolicyFiles::read_optional(&f, "/etc/security/pwquality.conf.d/a.conf").unwrap(),
            Some("minlen = 8".into())
        );
    }

    #[test]
    fn the_policy_from_a_map_is_the_policy_the_check_reads_from_disk() {
        let f = files(&[
            ("/etc/login.defs", "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\n"),
            ("/etc/security/pwquality.conf", "minlen = 14\n"),
            (
                "/etc/pam.d/common-password",
                "password requisite pam_pwquality.so retry=3\n\
                 password [success=1 default=ignore] pam_unix.so obscure yescrypt\n\
                 password requisite pam_deny.so\npassword required pam_permit.so\n",
            ),
            ("/etc/shadow", "alice:$y$j9T$x:19000:1:90:7:::\n"),
            ("/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/bash\n"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in &f {
            let p = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let from_map = policy_from_files(&f, 1_700_000_000);
        let inputs = read_inputs(&SysRoot::new(dir.path()));
        let (settings, sources, origins) = merge::merge(&inputs);
        assert_eq!(from_map.settings, settings);
        assert_eq!(from_map.sources, sources);
        assert_eq!(from_map.origins, origins);
        assert_eq!(from_map.settings.max_days, Some(90));
        assert_eq!(from_map.settings.min_length, Some(14));
        assert_eq!(from_map.accounts.unwrap().len(), 1);
    }
}
