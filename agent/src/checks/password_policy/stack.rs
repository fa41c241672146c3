//! A service's PAM stack as libpam builds and runs it: includes and
//! substacks expanded in place, then which modules can really stop a
//! password change or a login.
//!
//! Built from Linux-PAM `libpam/pam_handlers.c` (`_pam_load_conf_file`:
//! `include`/`substack` nest up to `PAM_SUBSTACK_MAX_LEVEL` = 16 levels,
//! `_pam_open_config_file`: `/etc/pam.d`, then `/usr/lib/pam.d`, then the
//! vendor directory) and `libpam/pam_dispatch.c` (`_pam_dispatch_aux`: a
//! jump skips N modules of its own level, a substack counting as one;
//! `done` ends the stack at its level and below).

use super::pam::{self, Action, Control, PamEntry, PamRule, Return};

/// libpam's include depth limit (`PAM_SUBSTACK_MAX_LEVEL`).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One module of a flattened stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StackRule {
    /// Host path of the file the rule is in.
    pub(crate) path: String,
    /// Substack depth (0 = the service file's own level).
    pub(crate) level: usize,
    pub(crate) rule: PamRule,
}

/// The rules of `kind` of service file `name`, includes and substacks
/// expanded. `open` maps a PAM file name to its host path and text (`None`
/// when no directory has it). Include loops and files nested deeper than
/// libpam allows are cut off, as libpam refuses them.
pub(crate) fn flatten(
    name: &str,
    kind: &str,
    open: &dyn Fn(&str) -> Option<(String, String)>,
) -> Vec<StackRule> {
    let mut out = Vec::new();
    let mut chain = Vec::new();
    expand(name, kind, 0, 0, open, &mut chain, &mut out);
    out
}

fn expand(
    name: &str,
    kind: &str,
    depth: usize,
    level: usize,
    open: &dyn Fn(&str) -> Option<(String, String)>,
    chain: &mut Vec<String>,
    out: &mut Vec<StackRule>,
) {
    if depth >= MAX_INCLUDE_DEPTH {
        tracing::debug!(file = name, "PAM include depth limit reached");
        return;
    }
    let Some((path, text)) = open(name) else {
        return;
    };
    if chain.contains(&path) {
        tracing::debug!(file = %path, "PAM include loop cut");
        return;
    }
    chain.push(path.clone());
    for entry in pam::parse(&text) {
        match entry {
            PamEntry::Rule(rule) if rule.kind == kind => out.push(StackRule {
                path: path.clone(),
                level,
                rule,
            }),
            PamEntry::Rule(_) => {}
            PamEntry::Include {
                kind: k,
                target,
                substack,
            } => {
                if k.as_deref().is_none_or(|k| k == kind) {
                    if substack {
                        // libpam adds a handler for the substack line at
                        // the parent's level: a jump counts it as one.
                        out.push(StackRule {
                            path: path.clone(),
                            level,
                            rule: PamRule {
                                kind: kind.to_string(),
                                control: Control::inert("substack"),
                                module: format!("substack {target}"),
                                args: Vec::new(),
                            },
                        });
                    }
                    let level = level + usize::from(substack);
                    expand(&target, kind, depth + 1, level, open, chain, out);
                }
            }
        }
    }
    chain.pop();
}

/// Whether a module's verdict binds, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Enforcement {
    Enforced,
    NotEnforced(String),
}

impl Enforcement {
    /// True when enforced.
    pub(crate) fn is_enforced(&self) -> bool {
        *self == Enforcement::Enforced
    }
}

/// Whether module `at` of `stack` can refuse: its failure (`failures`,
/// the values the module returns when it refuses) must make the stack fail
/// (`bad` or `die`), and no earlier module may jump over it or end the
/// stack before it (`sufficient`, `[success=N]`, `done`).
pub(crate) fn enforcement(stack: &[StackRule], at: usize, failures: &[Return]) -> Enforcement {
    let Some(target) = stack.get(at) else {
        return Enforcement::NotEnforced("not in the stack".into());
    };
    let r = &target.rule;
    for ret in failures {
        let action = r.control.action(*ret);
        let fails = matches!(action, Action::Bad | Action::Die)
            // Debian's `[success=1 default=ignore] pam_unix.so`: an ignored
            // refusal falls through to the pam_deny the success jumps over.
            || (action == Action::Ignore && next_is_deny(stack, at));
        if !fails {
            return Enforcement::NotEnforced(format!(
                "{} is `{}` in {}: its refusal is ignored",
                r.module, r.control.text, target.path
            ));
        }
    }
    if let Some(j) = (0..at).find(|&j| can_skip(stack, j, at)) {
        let e = &stack[j];
        return Enforcement::NotEnforced(format!(
            "{} `{}` in {} can skip {}",
            e.rule.module, e.rule.control.text, e.path, r.module
        ));
    }
    Enforcement::Enforced
}

/// Whether the rule after `at`, at its level, is a `pam_deny` whose refusal
/// fails the stack.
fn next_is_deny(stack: &[StackRule], at: usize) -> bool {
    stack.get(at + 1).is_some_and(|next| {
        let deny_returns = if next.rule.kind == "auth" {
            Return::AuthErr
        } else {
            Return::AuthtokErr
        };
        next.level == stack[at].level
            && next.rule.module == "pam_deny"
            && matches!(
                next.rule.control.action(deny_returns),
                Action::Bad | Action::Die
            )
    })
}

/// Whether rule `j` can make libpam pass over rule `at` (`at > j`).
fn can_skip(stack: &[StackRule], j: usize, at: usize) -> bool {
    let lj = stack[j].level;
    // `done` at level lj skips every following rule of level >= lj.
    let in_scope = stack[j + 1..=at].iter().all(|r| r.level >= lj);
    stack[j].rule.control.actions().any(|a| match a {
        Action::Done => in_scope,
        Action::Jump(n) => jump_lands_past(stack, j, n as usize, at),
        _ => false,
    })
}

/// `_pam_dispatch_aux`'s skip loop: from `j`, pass `n` modules of `j`'s
/// level (a deeper substack counts as one); true when `at` is passed over.
fn jump_lands_past(stack: &[StackRule], j: usize, mut n: usize, at: usize) -> bool {
    let lj = stack[j].level;
    let mut k = j;
    while k + 1 < stack.len() && stack[k + 1].level >= lj && n > 0 {
        loop {
            k += 1;
            if !(k + 1 < stack.len() && stack[k + 1].level > lj) {
                break;
            }
        }
        n -= 1;
    }
    (j + 1..=k).contains(&at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn files(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn open(fs: &HashMap<String, String>) -> impl Fn(&str) -> Option<(String, String)> + '_ {
        move |name| {
            fs.get(name)
                .map(|t| (format!("/etc/pam.d/{name}"), t.clone()))
        }
    }

    fn at(stack: &[StackRule], module: &str) -> usize {
        stack.iter().position(|r| r.rule.module == module).unwrap()
    }

    const QUALITY: &[Return] = &[Return::AuthtokErr, Return::Maxtries];

    #[test]
    fn includes_nest_to_any_depth_and_loops_are_cut() {
        let fs = files(&[
            ("passwd", "@include a\n"),
            ("a", "password include b\nauth required pam_faillock.so\n"),
            ("b", "password substack c\n"),
            (
                "c",
                "password requisite pam_pwquality.so\n@include passwd\npassword include c\n",
            ),
        ]);
        let stack = flatten("passwd", "password", &open(&fs));
        assert_eq!(stack.len(), 2, "{stack:#?}");
        assert_eq!(stack[0].rule.module, "substack c");
        assert_eq!(
            (stack[0].path.as_str(), stack[0].level),
            ("/etc/pam.d/b", 0)
        );
        assert_eq!(stack[1].path, "/etc/pam.d/c");
        assert_eq!(stack[1].level, 1);
    }

    #[test]
    fn the_depth_limit_is_libpams() {
        let mut list: Vec<(String, String)> = (0..20)
            .map(|i| (format!("f{i}"), format!("password include f{}\n", i + 1)))
            .collect();
        list.push(("f20".into(), "password required pam_pwquality.so\n".into()));
        let fs: HashMap<String, String> = list.into_iter().collect();
        assert!(flatten("f0", "password", &open(&fs)).is_empty());
        // 15 includes deep is still read.
        assert_eq!(flatten("f5", "password", &open(&fs)).len(), 1);
    }

    #[test]
    fn optional_and_ignored_failures_do_not_enforce() {
        let fs = files(&[(
            "s",
            "password optional pam_pwquality.so\n\
             password [success=ok default=ignore] pam_pwhistory.so\n\
             password required pam_unix.so\n",
        )]);
        let stack = flatten("s", "password", &open(&fs));
        let e = enforcement(&stack, 0, QUALITY);
        assert_eq!(
            e,
            Enforcement::NotEnforced(
                "pam_pwquality is `optional` in /etc/pam.d/s: its refusal is ignored".into()
            )
        );
        assert!(!enforcement(&stack, 1, QUALITY).is_enforced());
        assert!(enforcement(&stack, 2, QUALITY).is_enforced());
    }

    #[test]
    fn an_ignored_refusal_before_pam_deny_still_fails() {
        let fs = files(&[(
            "common-password",
            "password [success=1 default=ignore] pam_unix.so remember=5
             password requisite pam_deny.so
             password required pam_permit.so
             password [success=1 default=ignore] pam_unix.so
             password required pam_permit.so
",
        )]);
        let stack = flatten("common-password", "password", &open(&fs));
        assert!(enforcement(&stack, 0, QUALITY).is_enforced());
        assert!(!enforcement(&stack, 3, QUALITY).is_enforced());
    }

    #[test]
    fn jumps_and_sufficient_before_a_module_skip_it() {
        let fs = files(&[(
            "s",
            "password [success=1 default=ignore] pam_systemd_home.so\n\
             password requisite pam_pwquality.so\n\
             password requisite pam_pwhistory.so\n\
             password sufficient pam_unix.so\n\
             password required pam_cracklib.so\n",
        )]);
        let stack = flatten("s", "password", &open(&fs));
        let e = enforcement(&stack, at(&stack, "pam_pwquality"), QUALITY);
        assert_eq!(
            e,
            Enforcement::NotEnforced(
                "pam_systemd_home `[success=1 default=ignore]` in /etc/pam.d/s can skip pam_pwquality"
                    .into()
            )
        );
        // The jump of 1 lands on pam_pwhistory: it runs.
        assert!(enforcement(&stack, at(&stack, "pam_pwhistory"), QUALITY).is_enforced());
        assert!(!enforcement(&stack, at(&stack, "pam_cracklib"), QUALITY).is_enforced());
    }

    #[test]
    fn a_substack_counts_as_one_and_confines_its_jumps() {
        let fs = files(&[
            (
                "passwd",
                "password [success=1 default=ignore] pam_a.so\n\
                 password substack sub\n\
                 password requisite pam_pwquality.so\n",
            ),
            (
                "sub",
                "password sufficient pam_b.so\npassword required pam_c.so\npassword required pam_d.so\n",
            ),
        ]);
        let stack = flatten("passwd", "password", &open(&fs));
        // pam_a's jump passes the whole substack and lands on pam_pwquality.
        assert!(enforcement(&stack, at(&stack, "pam_pwquality"), QUALITY).is_enforced());
        // pam_b's `done` ends the substack only.
        assert!(!enforcement(&stack, at(&stack, "pam_c"), QUALITY).is_enforced());
        // pam_a's jump passes everything in the substack.
        assert!(!enforcement(&stack, at(&stack, "pam_b"), QUALITY).is_enforced());
    }

    proptest! {
        #[test]
        fn never_panics(a in "\\PC*", b in "\\PC*") {
            let fs = files(&[("a", &a), ("b", &b)]);
            for kind in ["password", "auth"] {
                let stack = flatten("a", kind, &open(&fs));
                for i in 0..stack.len() + 1 {
                    let _ = enforcement(&stack, i, QUALITY);
                }
            }
        }
    }
}
