//! Lockout and history settings: `faillock.conf` and `pam_faillock`
//! arguments, `pam_tally2` arguments, `pwhistory.conf` and `pam_pwhistory`
//! arguments.
//!
//! Read from Linux-PAM: `modules/pam_faillock/faillock_config.c`
//! (`read_config_file`, `set_conf_opt`; `#` starts a comment anywhere, a
//! later line wins, a bad number keeps the earlier value),
//! `modules/pam_faillock/pam_faillock.c` (`args_parse`: defaults deny=3,
//! unlock_time=600; arguments after the file), `libpam/pam_modutil_searchkey.c`
//! (`pam_modutil_search_key`, which pwhistory.conf is read with: the FIRST
//! line with the key wins), `modules/pam_pwhistory/pam_pwhistory.c`
//! (remember defaults to 10, arguments clamp it to 0..=400) and, for EL7,
//! `modules/pam_tally2/pam_tally2.c` before its removal (deny defaults to 0,
//! "no deny").

use super::origin::{Origin, Sourced};
use super::pam::PamRule;
use super::pwquality;

/// `pam_faillock`'s built-in `deny`.
const FAILLOCK_DEFAULT_DENY: u32 = 3;
/// `pam_faillock`'s built-in `unlock_time` (seconds).
const FAILLOCK_DEFAULT_UNLOCK: u64 = 600;
/// `MAX_TIME_INTERVAL`: larger unlock times are refused.
const MAX_TIME_INTERVAL: u64 = 604_800;
/// `pam_pwhistory`'s built-in `remember`.
pub(crate) const PWHISTORY_DEFAULT_REMEMBER: u32 = 10;

/// Lockout settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Faillock {
    pub(crate) deny: Sourced<u32>,
    /// Seconds; `never` is 0 (an administrator must unlock).
    pub(crate) unlock_time: Sourced<u64>,
}

impl Default for Faillock {
    fn default() -> Self {
        Faillock {
            deny: Sourced::default_value(FAILLOCK_DEFAULT_DENY),
            unlock_time: Sourced::default_value(FAILLOCK_DEFAULT_UNLOCK),
        }
    }
}

/// `sscanf("%u")`: leading digits after optional whitespace; `None` when
/// there are none. (A `-` that sscanf would wrap around is refused here.)
fn leading_number(value: &str) -> Option<u64> {
    let digits: String = value
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Faillock {
    /// `set_conf_opt`: applies one `name`/`value`; unknown names and bad
    /// numbers change nothing.
    pub(crate) fn apply(&mut self, name: &str, value: &str, origin: &Origin) {
        match name {
            "deny" => {
                if let Some(v) = leading_number(value).and_then(|v| u16::try_from(v).ok()) {
                    self.deny = Sourced::new(u32::from(v), origin.clone());
                }
            }
            "unlock_time" if value == "never" => {
                self.unlock_time = Sourced::new(0, origin.clone());
            }
            "unlock_time" => {
                if let Some(v) = leading_number(value).filter(|v| *v <= MAX_TIME_INTERVAL) {
                    self.unlock_time = Sourced::new(v, origin.clone());
                }
            }
            _ => {}
        }
    }

    /// Applies a faillock.conf file.
    pub(crate) fn apply_file(&mut self, text: &str, path: &str) {
        let origin = Origin::File(path.to_string());
        // faillock_config.c's read_config_file splits lines exactly as
        // libpwquality's does.
        for line in pwquality::parse(text) {
            self.apply(&line.name, &line.value, &origin);
        }
    }

    /// `args_parse`: `name=value` arguments (the mode words and `conf=` are
    /// not settings).
    pub(crate) fn apply_pam_args(&mut self, rule: &PamRule, pam_file: &str) {
        let origin = Origin::PamArgument(pam_file.to_string());
        for (name, value) in rule.kv_args().filter(|(k, _)| *k != "conf") {
            self.apply(name, value, &origin);
        }
    }
}

/// `pam_modutil_search_key`: the value of the first line whose key (before
/// space, tab or `=`, case-insensitive) is `key`.
pub(crate) fn search_key<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim_start();
        if line.is_empty() {
            return None;
        }
        let (name, rest) = line.split_once([' ', '\t', '=']).unwrap_or((line, ""));
        name.eq_ignore_ascii_case(key)
            .then(|| rest.trim_start_matches(|c: char| c.is_whitespace() || c == '='))
    })
}

/// pam_pwhistory's effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pwhistory {
    pub(crate) remember: Sourced<u32>,
    pub(crate) enforce_for_root: Sourced<bool>,
}

impl Default for Pwhistory {
    fn default() -> Self {
        Pwhistory {
            remember: Sourced::default_value(PWHISTORY_DEFAULT_REMEMBER),
            enforce_for_root: Sourced::default_value(false),
        }
    }
}

impl Pwhistory {
    /// `parse_config_file` in pwhistory_config.c.
    pub(crate) fn apply_file(&mut self, text: &str, path: &str) {
        let origin = Origin::File(path.to_string());
        if search_key(text, "enforce_for_root").is_some() {
            self.enforce_for_root = Sourced::new(true, origin.clone());
        }
        if let Some(n) = search_key(text, "remember")
            .and_then(leading_number)
            .and_then(|n| u32::try_from(n).ok())
        {
            self.remember = Sourced::new(n, origin);
        }
    }

    /// `parse_option` in pam_pwhistory.c (after the file).
    pub(crate) fn apply_pam_args(&mut self, rule: &PamRule, pam_file: &str) {
        let origin = Origin::PamArgument(pam_file.to_string());
        for arg in &rule.args {
            if arg.eq_ignore_ascii_case("enforce_for_root") {
                self.enforce_for_root = Sourced::new(true, origin.clone());
            } else if let Some(v) = arg
                .get(..9)
                .filter(|p| p.eq_ignore_ascii_case("remember="))
                .and_then(|_| arg.get(9..))
            {
                // strtol: leading digits (or 0), then clamped to 0..=400.
                let v = v.trim_start();
                let n = if v.starts_with('-') {
                    0
                } else {
                    leading_number(v).unwrap_or(0).min(400)
                };
                self.remember = Sourced::new(n as u32, origin.clone());
            }
        }
    }
}

/// `pam_tally2`'s lockout settings from its arguments (it has no file).
pub(crate) fn tally2(rules: &[(&PamRule, &str)]) -> Faillock {
    let mut f = Faillock {
        // deny=0 means "no deny"; unlock_time=0 means no automatic unlock.
        deny: Sourced::default_value(0),
        unlock_time: Sourced::default_value(0),
    };
    for (rule, pam_file) in rules {
        let origin = Origin::PamArgument(pam_file.to_string());
        for (name, value) in rule.kv_args() {
            match name {
                "deny" => {
                    if let Some(v) = leading_number(value).and_then(|v| u16::try_from(v).ok()) {
                        f.deny = Sourced::new(u32::from(v), origin.clone());
                    }
                }
                "unlock_time" => {
                    if let Some(v) = leading_number(value) {
                        f.unlock_time = Sourced::new(v, origin.clone());
                    }
                }
                _ => {}
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::super::pam::{self, PamEntry};
    use super::*;
    use proptest::prelude::*;

    fn rule(line: &str) -> PamRule {
        match pam::parse(line).pop() {
            Some(PamEntry::Rule(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conf_with_comments_anywhere() {
        let mut f = Faillock::default();
        f.apply_file(
            "# deny = 3\ndeny = 5  # site policy\nunlock_time=never\naudit\nsilent\ndeny = x\n",
            "/etc/security/faillock.conf",
        );
        assert_eq!(
            f.deny,
            Sourced::new(5, Origin::File("/etc/security/faillock.conf".into()))
        );
        assert_eq!(f.unlock_time.value, 0);
        let mut f = Faillock::default();
        f.apply_file("unlock_time = 9999999\n", "/x");
        assert_eq!(f.unlock_time, Sourced::default_value(600));
        f.apply_pam_args(
            &rule("auth required pam_faillock.so preauth deny=4 conf=/x\n"),
            "/p",
        );
        assert_eq!(f.deny, Sourced::new(4, Origin::PamArgument("/p".into())));
    }

    #[test]
    fn pwhistory_first_line_wins_and_arguments_clamp() {
        let mut h = Pwhistory::default();
        h.apply_file(
            "# remember = 99\nremember = 24 # policy\nremember = 5\nenforce_for_root\n",
            "/etc/security/pwhistory.conf",
        );
        assert_eq!(h.remember.value, 24);
        assert!(h.enforce_for_root.value);
        h.apply_pam_args(
            &rule("password required pam_pwhistory.so remember=999\n"),
            "/p",
        );
        assert_eq!(
            h.remember,
            Sourced::new(400, Origin::PamArgument("/p".into()))
        );
        assert_eq!(Pwhistory::default().remember.value, 10);
    }

    #[test]
    fn tally2_without_deny_does_not_lock() {
        let r = rule("auth required pam_tally2.so onerr=fail\n");
        assert_eq!(tally2(&[(&r, "/p")]).deny, Sourced::default_value(0));
        let r = rule("auth required pam_tally2.so deny=5 onerr=fail unlock_time=900\n");
        let f = tally2(&[(&r, "/p")]);
        assert_eq!((f.deny.value, f.unlock_time.value), (5, 900));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            Faillock::default().apply_file(&s, "/x");
            Pwhistory::default().apply_file(&s, "/x");
            let _ = search_key(&s, "remember");
            if let Some(PamEntry::Rule(r)) = pam::parse(&format!("password required pam_pwhistory.so {s}")).pop() {
                Pwhistory::default().apply_pam_args(&r, "/p");
                Faillock::default().apply_pam_args(&r, "/p");
                let _ = tally2(&[(&r, "/p")]);
            }
        }
    }
}
