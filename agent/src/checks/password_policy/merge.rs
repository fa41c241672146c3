//! Merging the parsed sources into the effective settings, in the order the
//! system applies them: login.defs, then the conf files of the PAM modules
//! in use, then PAM module arguments (which override their conf files).

use fleetwatch_protocol::PasswordSettings;

use super::faillock::Faillock;
use super::login_defs::LoginDefs;
use super::pam::PamRule;
use super::pwquality::Pwquality;

/// Everything read from the host, already parsed; paths are host paths.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) login_defs: Option<(String, LoginDefs)>,
    /// `pwquality.conf` then `pwquality.conf.d/*.conf` in lexical order.
    pub(crate) pwquality: Vec<(String, Pwquality)>,
    pub(crate) faillock: Option<(String, Faillock)>,
    pub(crate) pwhistory_remember: Option<(String, u32)>,
    /// PAM rules in stack order, with the file each came from. Empty when no
    /// PAM stack was found: the conf files are then taken at their word.
    pub(crate) pam: Vec<(String, PamRule)>,
}

/// Hash algorithms `pam_unix` accepts as options.
const PAM_UNIX_HASHES: [&str; 7] = [
    "md5",
    "bigcrypt",
    "sha256",
    "sha512",
    "blowfish",
    "gost_yescrypt",
    "yescrypt",
];

/// `deny` when pam_faillock is in the stack and nothing sets it.
const FAILLOCK_DEFAULT_DENY: u32 = 3;
/// `unlock_time` (seconds) when pam_faillock is in the stack and nothing sets it.
const FAILLOCK_DEFAULT_UNLOCK: u64 = 600;

/// The effective settings and the files that contributed, in order.
pub(crate) fn merge(inputs: &Inputs) -> (PasswordSettings, Vec<String>) {
    let mut s = PasswordSettings::default();
    let mut sources: Vec<String> = Vec::new();
    let mut used = |path: &str| {
        if !sources.iter().any(|p| p == path) {
            sources.push(path.to_string());
        }
    };
    let no_pam = inputs.pam.is_empty();
    let has = |module: &str| inputs.pam.iter().any(|(_, r)| r.module == module);

    if let Some((path, defs)) = &inputs.login_defs {
        s.max_days = defs.pass_max_days;
        s.min_days = defs.pass_min_days;
        s.warn_days = defs.pass_warn_age;
        s.hash_algorithm = defs.encrypt_method.clone();
        // PASS_MIN_LEN is ignored by PAM's passwd; it counts only without PAM.
        if no_pam {
            s.min_length = defs.pass_min_len;
        }
        if !defs.is_empty() {
            used(path);
        }
    }

    // pwquality.conf is read by pam_pwquality only (pam_cracklib takes
    // arguments alone).
    let mut quality = Pwquality::default();
    if no_pam || has("pam_pwquality") {
        for (path, q) in &inputs.pwquality {
            if !q.is_empty() {
                quality.overlay(q);
                used(path);
            }
        }
    }
    let mut lock = Faillock::default();
    if (no_pam || has("pam_faillock"))
        && let Some((path, f)) = &inputs.faillock
        && !f.is_empty()
    {
        lock.overlay(f);
        used(path);
    }
    let mut pwhistory: Option<u32> = None;
    if (no_pam || has("pam_pwhistory"))
        && let Some((path, n)) = &inputs.pwhistory_remember
    {
        pwhistory = Some(*n);
        used(path);
    }

    let mut unix_remember: Option<u32> = None;
    let mut unix_minlen: Option<u32> = None;
    for (path, rule) in &inputs.pam {
        let mut contributed = false;
        match (rule.kind.as_str(), rule.module.as_str()) {
            ("password", "pam_pwquality" | "pam_cracklib") => {
                for (k, v) in rule.kv_args() {
                    contributed |= quality.apply(k, v);
                }
            }
            ("password", "pam_pwhistory") => {
                for (k, v) in rule.kv_args() {
                    if k == "remember"
                        && let Ok(n) = v.parse()
                    {
                        pwhistory = Some(n);
                        contributed = true;
                    }
                }
            }
            ("password", "pam_unix") => {
                for arg in &rule.args {
                    if PAM_UNIX_HASHES.contains(&arg.as_str()) {
                        s.hash_algorithm = Some(arg.clone());
                        contributed = true;
                    }
                }
                for (k, v) in rule.kv_args() {
                    let n = v.parse().ok();
                    match k {
                        "remember" if n.is_some() => unix_remember = n,
                        "minlen" if n.is_some() => unix_minlen = n,
                        _ => continue,
                    }
                    contributed = true;
                }
            }
            (_, "pam_faillock") => {
                for (k, v) in rule.kv_args() {
                    lock.apply(k, v);
                }
                // The module locks out even when nothing is configured.
                contributed = true;
            }
            _ => {}
        }
        if contributed {
            used(path);
        }
    }

    s.min_length = quality.minlen.or(unix_minlen).or(s.min_length);
    s.min_classes = quality.minclass;
    s.dcredit = quality.dcredit;
    s.ucredit = quality.ucredit;
    s.lcredit = quality.lcredit;
    s.ocredit = quality.ocredit;
    // Both modules enforce their own history; the stricter one binds.
    s.history = pwhistory.max(unix_remember);
    if has("pam_faillock") {
        // pam_faillock's documented built-in defaults.
        s.lockout_threshold = Some(lock.deny.unwrap_or(FAILLOCK_DEFAULT_DENY));
        s.lockout_unlock_seconds = Some(lock.unlock_time.unwrap_or(FAILLOCK_DEFAULT_UNLOCK));
    } else {
        s.lockout_threshold = lock.deny;
        s.lockout_unlock_seconds = lock.unlock_time;
    }
    (s, sources)
}

#[cfg(test)]
mod tests {
    use super::super::{faillock, login_defs, pam, pwquality};
    use super::*;

    fn rules(path: &str, text: &str) -> Vec<(String, PamRule)> {
        pam::parse(text)
            .into_iter()
            .filter_map(|e| match e {
                pam::PamEntry::Rule(r) => Some((path.to_string(), r)),
                pam::PamEntry::Include { .. } => None,
            })
            .collect()
    }

    #[test]
    fn pam_args_override_conf_files_and_d_overrides_main() {
        let inputs = Inputs {
            login_defs: Some((
                "/etc/login.defs".into(),
                login_defs::parse("PASS_MAX_DAYS 90\nENCRYPT_METHOD SHA512\nPASS_MIN_LEN 5\n"),
            )),
            pwquality: vec![
                (
                    "/etc/security/pwquality.conf".into(),
                    pwquality::parse("minlen = 8\nminclass = 2\n"),
                ),
                (
                    "/etc/security/pwquality.conf.d/50-site.conf".into(),
                    pwquality::parse("minclass = 3\n"),
                ),
            ],
            faillock: Some((
                "/etc/security/faillock.conf".into(),
                faillock::parse("deny = 3\nunlock_time = 600\n"),
            )),
            pwhistory_remember: None,
            pam: rules(
                "/etc/pam.d/system-auth",
                "auth required pam_faillock.so preauth deny=5\n\
                 password requisite pam_pwquality.so minlen=14\n\
                 password sufficient pam_unix.so yescrypt remember=5\n",
            ),
        };
        let (s, sources) = merge(&inputs);
        assert_eq!(s.min_length, Some(14));
        assert_eq!(s.min_classes, Some(3));
        assert_eq!(s.hash_algorithm.as_deref(), Some("yescrypt"));
        assert_eq!(s.history, Some(5));
        assert_eq!(s.lockout_threshold, Some(5));
        assert_eq!(s.lockout_unlock_seconds, Some(600));
        assert_eq!(s.max_days, Some(90));
        assert_eq!(
            sources,
            vec![
                "/etc/login.defs",
                "/etc/security/pwquality.conf",
                "/etc/security/pwquality.conf.d/50-site.conf",
                "/etc/security/faillock.conf",
                "/etc/pam.d/system-auth"
            ]
        );
    }

    #[test]
    fn conf_files_of_modules_not_in_the_stack_do_not_count() {
        let inputs = Inputs {
            pwquality: vec![(
                "/etc/security/pwquality.conf".into(),
                pwquality::parse("minlen = 14\n"),
            )],
            faillock: Some((
                "/etc/security/faillock.conf".into(),
                faillock::parse("deny = 3\n"),
            )),
            pam: rules(
                "/etc/pam.d/common-password",
                "password [success=1 default=ignore] pam_unix.so obscure sha512\n",
            ),
            ..Default::default()
        };
        let (s, sources) = merge(&inputs);
        assert_eq!(s.min_length, None);
        assert_eq!(s.lockout_threshold, None);
        assert_eq!(s.hash_algorithm.as_deref(), Some("sha512"));
        assert_eq!(sources, vec!["/etc/pam.d/common-password"]);
    }

    #[test]
    fn cracklib_ignores_pwquality_conf() {
        let inputs = Inputs {
            pwquality: vec![(
                "/etc/security/pwquality.conf".into(),
                pwquality::parse("minlen = 14\n"),
            )],
            pam: rules(
                "/etc/pam.d/common-password",
                "password requisite pam_cracklib.so minlen=9 dcredit=-1\n",
            ),
            ..Default::default()
        };
        let (s, _) = merge(&inputs);
        assert_eq!(s.min_length, Some(9));
        assert_eq!(s.dcredit, Some(-1));
    }

    #[test]
    fn faillock_in_the_stack_without_settings_uses_its_defaults() {
        let inputs = Inputs {
            faillock: Some((
                "/etc/security/faillock.conf".into(),
                faillock::parse("# deny = 3\n"),
            )),
            pam: rules(
                "/etc/pam.d/system-auth",
                "auth required pam_faillock.so preauth\n",
            ),
            ..Default::default()
        };
        let (s, sources) = merge(&inputs);
        assert_eq!(
            (s.lockout_threshold, s.lockout_unlock_seconds),
            (Some(3), Some(600))
        );
        assert_eq!(sources, vec!["/etc/pam.d/system-auth"]);
    }
}
