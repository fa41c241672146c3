//! The password-policy check: the effective settings merged from
//! login.defs, pwquality, pwhistory, faillock and the PAM stacks, plus
//! per-account facts from `/etc/shadow` (never the hashes).
//!
//! Reading lives here; each source has a pure parser module, and
//! [`merge`] applies them in the order the system does.

mod faillock;
mod files;
mod login_defs;
pub mod macos;
mod merge;
mod origin;
mod pam;
mod pwquality;
mod shadow;
mod stack;

use std::collections::HashMap;

use fleetwatch_protocol::{AccountPasswordState, PasswordPolicy};

use super::{Check, CheckContext, CheckError, Collected};
use crate::host::HostError;
pub use files::{PolicyFiles, policy_from_files};
use stack::StackRule;

/// Merges login.defs, pwquality and PAM into the effective policy; reads shadow facts.
#[derive(Debug, Clone, Default)]
pub struct PasswordPolicyCheck;

/// The services that change passwords (their `password` stacks are read).
const PASSWORD_SERVICES: [&str; 2] = ["passwd", "chpasswd"];
/// The shared stacks: Debian/Ubuntu/SUSE `common-*`, RHEL/Arch
/// `system-auth` + `password-auth`. Their `auth` rules are what logins run;
/// their `password` rules stand in when no password service file exists.
const SHARED_PASSWORD_STACKS: [&str; 3] = ["common-password", "system-auth", "password-auth"];
const SHARED_AUTH_STACKS: [&str; 3] = ["common-auth", "system-auth", "password-auth"];

/// Where libpam looks for a service file, in order (`_pam_open_config_file`:
/// `/etc/pam.d`, `/usr/lib/pam.d`, then the build's vendor directory, which
/// openSUSE sets to `/usr/etc`: pam.spec `-Dvendordir=%{_distconfdir}`).
const PAM_DIRS: [&str; 3] = ["/etc/pam.d", "/usr/lib/pam.d", "/usr/etc/pam.d"];

/// login.defs, with openSUSE's vendor copy (shadow built with libeconf)
/// used when `/etc` has none.
const LOGIN_DEFS: [&str; 2] = ["/etc/login.defs", "/usr/etc/login.defs"];
/// pam_faillock / pam_pwhistory: `/etc/security/X`, else
/// `VENDORDIR/security/X` (`faillock_config.c`, `pwhistory_config.c`).
const FAILLOCK_CONF: [&str; 2] = [
    "/etc/security/faillock.conf",
    "/usr/etc/security/faillock.conf",
];
const PWHISTORY_CONF: [&str; 2] = [
    "/etc/security/pwhistory.conf",
    "/usr/etc/security/pwhistory.conf",
];
/// libpwquality's main file and its base (vendor) fallback
/// (`PWQUALITY_DEFAULT_CFGFILE`, `PWQUALITY_BASE_CFGFILE` in pwqprivate.h).
const PWQUALITY_CONF: &str = "/etc/security/pwquality.conf";
const PWQUALITY_BASE_CONF: &str = "/usr/lib/security/pwquality.conf";

impl Check for PasswordPolicyCheck {
    type Output = PasswordPolicy;
    const NAME: &'static str = "password_policy";
    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<PasswordPolicy>, CheckError> {
        let root = ctx.root;
        if !LOGIN_DEFS.iter().chain(&PAM_DIRS).any(|p| root.exists(p)) {
            return Ok(Collected::Unsupported(
                "no login.defs and no pam.d directory".into(),
            ));
        }
        let inputs = read_inputs(root);
        let (settings, sources, origins) = merge::merge(&inputs);
        let (accounts, accounts_error) = account_facts(
            root.read_to_string("/etc/shadow"),
            &read("/etc/passwd", root).unwrap_or_default(),
            ctx.now,
        );
        Ok(Collected::Ok(PasswordPolicy {
            settings,
            sources,
            accounts,
            accounts_error,
            origins,
        }))
    }
}

/// Account facts from the shadow read's outcome; an unreadable shadow
/// (not root, no such file) is reported, never fatal.
fn account_facts(
    shadow_text: Result<String, HostError>,
    passwd_text: &str,
    now: i64,
) -> (Option<Vec<AccountPasswordState>>, Option<String>) {
    match shadow_text {
        Ok(text) => {
            let list = shadow::accounts(&shadow::parse_shadow(&text), passwd_text, now);
            (Some(list), None)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Reads a config file; unreadable files count as absent (logged), since
/// one bad file must not hide the rest of the policy.
fn read(path: &str, root: &dyn PolicyFiles) -> Option<String> {
    match root.read_optional(path) {
        Ok(text) => text,
        Err(e) => {
            tracing::debug!(error = %e, "skipping unreadable policy file");
            None
        }
    }
}

/// The first of `paths` that exists, with its text.
fn first_of(paths: &[&str], root: &dyn PolicyFiles) -> Option<(String, String)> {
    paths
        .iter()
        .find_map(|p| read(p, root).map(|t| (p.to_string(), t)))
}

/// A PAM file by name: an absolute path as is, else the first directory
/// of [`PAM_DIRS`] that has it.
fn open_pam(name: &str, root: &dyn PolicyFiles) -> Option<(String, String)> {
    if name.starts_with('/') {
        return read(name, root).map(|t| (name.to_string(), t));
    }
    if name.split('/').any(|c| c == "..") {
        return None;
    }
    let paths: Vec<String> = PAM_DIRS.iter().map(|d| format!("{d}/{name}")).collect();
    first_of(&paths.iter().map(String::as_str).collect::<Vec<_>>(), root)
}

/// libpwquality's read order: the `*.conf` names of
/// `/usr/lib/security/pwquality.conf.d` and `/etc/security/pwquality.conf.d`
/// merged in `strcmp` order (an `/etc` file hides a base file of the same
/// name), then the main file, or the base main file when `/etc` has none.
fn pwquality_files(root: &dyn PolicyFiles) -> Vec<String> {
    let etc_dir = format!("{PWQUALITY_CONF}.d");
    let base_dir = format!("{PWQUALITY_BASE_CONF}.d");
    let conf_names = |dir: &str| -> Vec<String> {
        root.list_dir(dir)
            .unwrap_or_default()
            .into_iter()
            // `filter_conf`: the first ".conf" must end the name.
            .filter(|n| n.find(".conf").is_some_and(|i| i + 5 == n.len()))
            .collect()
    };
    let etc = conf_names(&etc_dir);
    let mut by_name: std::collections::BTreeMap<String, String> = conf_names(&base_dir)
        .into_iter()
        .map(|n| (n.clone(), format!("{base_dir}/{n}")))
        .collect();
    for n in etc {
        by_name.insert(n.clone(), format!("{etc_dir}/{n}"));
    }
    let mut files: Vec<String> = by_name.into_values().collect();
    if root.exists(PWQUALITY_CONF) {
        files.push(PWQUALITY_CONF.to_string());
    } else {
        files.push(PWQUALITY_BASE_CONF.to_string());
    }
    files
}

/// The flattened stacks of the first-found files among `names`.
fn stacks(names: &[&str], kind: &str, root: &dyn PolicyFiles) -> Vec<Vec<StackRule>> {
    names
        .iter()
        .filter(|n| open_pam(n, root).is_some())
        .map(|n| stack::flatten(n, kind, &|name| open_pam(name, root)))
        .collect()
}

fn read_inputs(root: &dyn PolicyFiles) -> merge::Inputs {
    let mut password_stacks = stacks(&PASSWORD_SERVICES, "password", root);
    if password_stacks.is_empty() {
        password_stacks = stacks(&SHARED_PASSWORD_STACKS, "password", root);
    }
    let auth_stacks = stacks(&SHARED_AUTH_STACKS, "auth", root);
    // Files named by `conf=` on pam_faillock / pam_pwhistory lines.
    let mut conf_files = HashMap::new();
    for r in password_stacks.iter().chain(&auth_stacks).flatten() {
        for (k, path) in r.rule.kv_args() {
            if k == "conf"
                && path.starts_with('/')
                && let Some(text) = read(path, root)
            {
                conf_files.insert(path.to_string(), text);
            }
        }
    }
    merge::Inputs {
        login_defs: first_of(&LOGIN_DEFS, root).map(|(p, t)| (p, login_defs::parse(&t))),
        pwquality: pwquality_files(root)
            .into_iter()
            .filter_map(|p| read(&p, root).map(|t| (p, pwquality::parse(&t))))
            .collect(),
        faillock_conf: first_of(&FAILLOCK_CONF, root),
        pwhistory_conf: first_of(&PWHISTORY_CONF, root),
        conf_files,
        password_stacks,
        auth_stacks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{RecordedRunner, SysRoot};

    fn write(dir: &std::path::Path, path: &str, text: &str) {
        let p = dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn unreadable_shadow_is_reported_not_fatal() {
        let denied = Err(HostError::PermissionDenied {
            path: "/etc/shadow".into(),
        });
        assert_eq!(
            account_facts(denied, "", 0),
            (
                None,
                Some("/etc/shadow is not readable: permission denied".into())
            )
        );
    }

    #[test]
    fn includes_are_followed_and_type_filtered() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "/etc/pam.d/password-auth",
            "password include pw-common\nauth substack auth-common\n",
        );
        write(
            dir.path(),
            "/etc/pam.d/pw-common",
            "password requisite pam_pwquality.so minlen=15\nauth required pam_faillock.so deny=9\n@include deeper\n",
        );
        write(
            dir.path(),
            "/etc/pam.d/auth-common",
            "auth required pam_faillock.so deny=4\n",
        );
        write(
            dir.path(),
            "/etc/pam.d/deeper",
            "password requisite pam_pwquality.so minlen=99\n",
        );
        let root = SysRoot::new(dir.path());
        let runner = RecordedRunner::new();
        let ctx = CheckContext {
            root: &root,
            runner: &runner,
            now: 0,
            command_timeout: std::time::Duration::from_secs(1),
        };
        let Collected::Ok(p) = PasswordPolicyCheck.collect(&ctx).unwrap() else {
            panic!("unsupported")
        };
        // The first pam_pwquality line is the one reported.
        assert_eq!(p.settings.min_length, Some(15));
        assert_eq!(p.settings.lockout_threshold, Some(4));
        assert_eq!(
            p.sources,
            vec!["/etc/pam.d/pw-common", "/etc/pam.d/auth-common"]
        );
        assert_eq!(p.accounts, None);
        assert_eq!(
            p.accounts_error.as_deref(),
            Some("/etc/shadow does not exist")
        );
    }
}
