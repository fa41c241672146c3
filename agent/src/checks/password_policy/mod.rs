//! The password-policy check: the effective settings merged from
//! login.defs, pwquality, pwhistory, faillock and the PAM stacks, plus
//! per-account facts from `/etc/shadow` (never the hashes).
//!
//! Reading lives here; each source has a pure parser module, and
//! [`merge`] applies them in the order the system does.

mod faillock;
mod login_defs;
pub mod macos;
mod merge;
mod pam;
mod pwquality;
mod shadow;

use fleetwatch_protocol::{AccountPasswordState, PasswordPolicy};

use super::{Check, CheckContext, CheckError, Collected};
use crate::host::{HostError, SysRoot};
use pam::{PamEntry, PamRule};

/// Merges login.defs, pwquality and PAM into the effective policy; reads shadow facts.
#[derive(Debug, Clone, Default)]
pub struct PasswordPolicyCheck;

/// The PAM stacks that carry password, history and lockout rules:
/// Debian/Ubuntu/SUSE `common-*`, RHEL/Arch `system-auth` + `password-auth`.
const PAM_STACKS: [&str; 5] = [
    "common-password",
    "common-auth",
    "common-account",
    "system-auth",
    "password-auth",
];

const PWQUALITY_CONF: &str = "/etc/security/pwquality.conf";
const PWQUALITY_DIR: &str = "/etc/security/pwquality.conf.d";

impl Check for PasswordPolicyCheck {
    type Output = PasswordPolicy;
    const NAME: &'static str = "password_policy";
    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<PasswordPolicy>, CheckError> {
        let root = ctx.root;
        if !root.exists("/etc/login.defs") && !root.exists("/etc/pam.d") {
            return Ok(Collected::Unsupported(
                "neither /etc/login.defs nor /etc/pam.d exists".into(),
            ));
        }
        let inputs = read_inputs(root);
        let (settings, sources) = merge::merge(&inputs);
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
            let list = shadow::accounts(
                &shadow::parse_shadow(&text),
                &shadow::parse_passwd(passwd_text),
                now,
            );
            (Some(list), None)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Reads a config file; unreadable files count as absent (logged), since
/// one bad file must not hide the rest of the policy.
fn read(path: &str, root: &SysRoot) -> Option<String> {
    match root.read_optional(path) {
        Ok(text) => text,
        Err(e) => {
            tracing::debug!(error = %e, "skipping unreadable policy file");
            None
        }
    }
}

fn read_inputs(root: &SysRoot) -> merge::Inputs {
    let mut inputs = merge::Inputs {
        login_defs: read("/etc/login.defs", root)
            .map(|t| ("/etc/login.defs".to_string(), login_defs::parse(&t))),
        faillock: read("/etc/security/faillock.conf", root).map(|t| {
            (
                "/etc/security/faillock.conf".to_string(),
                faillock::parse(&t),
            )
        }),
        pwhistory_remember: read("/etc/security/pwhistory.conf", root).and_then(|t| {
            faillock::parse_pwhistory_remember(&t)
                .map(|n| ("/etc/security/pwhistory.conf".to_string(), n))
        }),
        ..Default::default()
    };
    if let Some(text) = read(PWQUALITY_CONF, root) {
        inputs
            .pwquality
            .push((PWQUALITY_CONF.to_string(), pwquality::parse(&text)));
    }
    // list_dir sorts: lexical order, later files win.
    for name in root.list_dir(PWQUALITY_DIR).unwrap_or_default() {
        if !name.ends_with(".conf") {
            continue;
        }
        let path = format!("{PWQUALITY_DIR}/{name}");
        if let Some(text) = read(&path, root) {
            inputs.pwquality.push((path, pwquality::parse(&text)));
        }
    }
    for stack in PAM_STACKS {
        inputs.pam.extend(read_pam_stack(root, stack));
    }
    inputs
}

/// Host path of a PAM include target (relative names live in /etc/pam.d).
fn pam_path(name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/etc/pam.d/{name}")
    }
}

/// The rules of one stack file with its includes expanded one level deep
/// (the stock stacks never nest deeper; this also rules out include loops).
fn read_pam_stack(root: &SysRoot, name: &str) -> Vec<(String, PamRule)> {
    let path = pam_path(name);
    let Some(text) = read(&path, root) else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    for entry in pam::parse(&text) {
        match entry {
            PamEntry::Rule(rule) => rules.push((path.clone(), rule)),
            PamEntry::Include { kind, target } => {
                let target_path = pam_path(&target);
                let Some(included) = read(&target_path, root) else {
                    continue;
                };
                for inner in pam::parse(&included) {
                    if let PamEntry::Rule(rule) = inner
                        && kind.as_deref().is_none_or(|k| k == rule.kind)
                    {
                        rules.push((target_path.clone(), rule));
                    }
                }
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::RecordedRunner;

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
    fn includes_are_followed_one_level_and_type_filtered() {
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
