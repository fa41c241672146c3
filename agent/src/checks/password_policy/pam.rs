//! PAM stack files (`/etc/pam.d/*`): `TYPE CONTROL MODULE ARGS…` rules and
//! includes (`@include FILE`, `TYPE include|substack FILE`).
//!
//! The control field is kept as libpam reads it (Linux-PAM
//! `libpam/pam_handlers.c` `_pam_parse_conf_file` and `libpam/pam_misc.c`
//! `_pam_parse_control`): `required`, `requisite`, `optional` and
//! `sufficient` are shorthands for an action per return value, a
//! `[value=action …]` list sets them one by one, and every value the list
//! leaves unset is `bad`.

/// One line of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PamEntry {
    /// A module rule.
    Rule(PamRule),
    /// Pulls in another file; `kind` limits it to one rule type (Debian's
    /// `@include` takes every type).
    Include {
        kind: Option<String>,
        target: String,
        /// `substack`: jumps, `done` and `die` inside stay inside.
        substack: bool,
    },
}

/// What libpam does with one module return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    /// Skip the next N modules.
    Jump(u32),
}

/// The return values of `_pam_token_returns` this check asks about; the
/// rest fall to `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Return {
    #[cfg(test)]
    Success,
    AuthErr,
    AuthtokErr,
    Maxtries,
}

impl Return {
    fn token(self) -> &'static str {
        match self {
            #[cfg(test)]
            Return::Success => "success",
            Return::AuthErr => "auth_err",
            Return::AuthtokErr => "authtok_err",
            Return::Maxtries => "maxtries",
        }
    }
}

/// A rule's control field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    /// Explicit `value=action` pairs, in line order (a later one wins).
    explicit: Vec<(String, Action)>,
    /// The action of every value not listed.
    default: Action,
    /// The control as written (`required`, `[success=1 default=ignore]`).
    pub(crate) text: String,
}

impl Control {
    /// The action libpam takes when the module returns `ret`.
    pub(crate) fn action(&self, ret: Return) -> Action {
        self.explicit
            .iter()
            .rev()
            .find(|(k, _)| k == ret.token())
            .map_or(self.default, |(_, a)| *a)
    }

    /// Every action this control can take, for any return value.
    pub(crate) fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.explicit
            .iter()
            .map(|(_, a)| *a)
            .chain(std::iter::once(self.default))
    }

    fn keyword(word: &str) -> Option<Control> {
        use Action::*;
        // Linux-PAM `_pam_parse_conf_file`: the four shorthands.
        let (explicit, default) = match word.to_ascii_lowercase().as_str() {
            "required" => (
                vec![
                    ("success", Ok),
                    ("new_authtok_reqd", Ok),
                    ("ignore", Ignore),
                ],
                Bad,
            ),
            "requisite" => (
                vec![
                    ("success", Ok),
                    ("new_authtok_reqd", Ok),
                    ("ignore", Ignore),
                ],
                Die,
            ),
            "optional" => (vec![("success", Ok), ("new_authtok_reqd", Ok)], Ignore),
            "sufficient" => (vec![("success", Done), ("new_authtok_reqd", Done)], Ignore),
            _ => return None,
        };
        Some(Control {
            explicit: explicit
                .into_iter()
                .map(|(k, a)| (k.to_string(), a))
                .collect(),
            default,
            text: word.to_string(),
        })
    }

    /// `[value=action …]` contents; a syntax error makes every value `bad`,
    /// as `_pam_parse_control` does.
    fn bracketed(inner: &str) -> Control {
        let text = format!("[{inner}]");
        let mut explicit = Vec::new();
        let mut default = None;
        for pair in inner.split_whitespace() {
            let Some((key, action)) = pair.split_once('=') else {
                return Control::all_bad(text);
            };
            let Some(action) = parse_action(action) else {
                return Control::all_bad(text);
            };
            if key == "default" {
                // `default=` fills the values not yet set; later explicit
                // pairs still win, which `explicit` models.
                default.get_or_insert(action);
            } else {
                explicit.push((key.to_string(), action));
            }
        }
        Control {
            explicit,
            default: default.unwrap_or(Action::Bad),
            text,
        }
    }

    /// The control of libpam's substack handler, which the dispatcher
    /// steps over without applying any action.
    pub(crate) fn inert(text: &str) -> Control {
        Control {
            explicit: Vec::new(),
            default: Action::Ignore,
            text: text.to_string(),
        }
    }

    fn all_bad(text: String) -> Control {
        Control {
            explicit: Vec::new(),
            default: Action::Bad,
            text,
        }
    }
}

fn parse_action(word: &str) -> Option<Action> {
    Some(match word {
        "ignore" => Action::Ignore,
        "ok" => Action::Ok,
        "done" => Action::Done,
        "bad" => Action::Bad,
        "die" => Action::Die,
        "reset" => Action::Reset,
        n => match n.parse::<u32>() {
            Ok(0) | Err(_) => return None,
            Ok(n) => Action::Jump(n),
        },
    })
}

/// A module rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PamRule {
    /// `auth`, `account`, `password`, `session`.
    pub(crate) kind: String,
    /// What libpam does with each return value.
    pub(crate) control: Control,
    /// Module name without directory and `.so` (`pam_unix`).
    pub(crate) module: String,
    /// Module arguments.
    pub(crate) args: Vec<String>,
}

impl PamRule {
    /// `key=value` arguments.
    pub(crate) fn kv_args(&self) -> impl Iterator<Item = (&str, &str)> {
        self.args.iter().filter_map(|a| a.split_once('='))
    }
}

/// Parses a PAM file; comments, blank and malformed lines are skipped.
pub(crate) fn parse(text: &str) -> Vec<PamEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<PamEntry> {
    let line = line.split('#').next()?.trim();
    if let Some(target) = line.strip_prefix("@include") {
        let target = target.trim();
        return (!target.is_empty() && !target.contains(char::is_whitespace)).then(|| {
            PamEntry::Include {
                kind: None,
                target: target.to_string(),
                substack: false,
            }
        });
    }
    let (kind, rest) = line.split_once(char::is_whitespace)?;
    // A leading `-` means "skip if the module is missing".
    let kind = kind.trim_start_matches('-').to_ascii_lowercase();
    if !matches!(kind.as_str(), "auth" | "account" | "password" | "session") {
        return None;
    }
    let rest = rest.trim_start();
    let (control, rest) = if let Some(bracketed) = rest.strip_prefix('[') {
        let end = bracketed.find(']')?;
        (Control::bracketed(&bracketed[..end]), &bracketed[end + 1..])
    } else {
        let (word, rest) = rest.split_once(char::is_whitespace)?;
        if matches!(word.to_ascii_lowercase().as_str(), "include" | "substack") {
            let target = rest.split_whitespace().next()?;
            return Some(PamEntry::Include {
                kind: Some(kind),
                target: target.to_string(),
                substack: word.eq_ignore_ascii_case("substack"),
            });
        }
        (Control::keyword(word)?, rest)
    };
    let mut words = rest.split_whitespace();
    let module_path = words.next()?;
    let module = module_path.rsplit('/').next()?.trim_end_matches(".so");
    if module.is_empty() {
        return None;
    }
    Some(PamEntry::Rule(PamRule {
        kind,
        control,
        module: module.to_string(),
        args: words.map(str::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(e: &PamEntry) -> &PamRule {
        match e {
            PamEntry::Rule(r) => r,
            PamEntry::Include { .. } => panic!("not a rule: {e:?}"),
        }
    }

    #[test]
    fn rules_includes_and_brackets() {
        let entries = parse(
            "# comment\n\
             password\trequisite\tpam_pwquality.so retry=3 minlen=14\n\
             password [success=1 default=ignore] pam_unix.so obscure use_authtok yescrypt remember=5\n\
             -auth required /usr/lib64/security/pam_faillock.so preauth deny=4\n\
             @include common-password\n\
             password include system-auth\n\
             auth substack password-auth\n\
             bogus line here\n\
             password required\n\
             password [broken pam_x.so\n\
             password frobnicate pam_y.so\n",
        );
        assert_eq!(entries.len(), 6, "{entries:#?}");
        let r = rule(&entries[1]);
        assert_eq!(r.module, "pam_unix");
        assert_eq!(
            r.args,
            vec!["obscure", "use_authtok", "yescrypt", "remember=5"]
        );
        assert_eq!(r.control.action(Return::Success), Action::Jump(1));
        assert_eq!(r.control.action(Return::AuthtokErr), Action::Ignore);
        let r = rule(&entries[2]);
        assert_eq!(
            (r.kind.as_str(), r.module.as_str()),
            ("auth", "pam_faillock")
        );
        assert_eq!(
            entries[4],
            PamEntry::Include {
                kind: Some("password".into()),
                target: "system-auth".into(),
                substack: false,
            }
        );
        assert!(matches!(
            entries[5],
            PamEntry::Include { substack: true, .. }
        ));
    }

    #[test]
    fn controls_as_libpam_reads_them() {
        let c = |text: &str| {
            rule(&parse(&format!("password {text} pam_x.so\n"))[0])
                .control
                .clone()
        };
        // Shorthands (pam_handlers.c).
        assert_eq!(c("required").action(Return::AuthtokErr), Action::Bad);
        assert_eq!(c("requisite").action(Return::Maxtries), Action::Die);
        assert_eq!(c("optional").action(Return::AuthtokErr), Action::Ignore);
        assert_eq!(c("sufficient").action(Return::Success), Action::Done);
        assert_eq!(c("Required").action(Return::AuthtokErr), Action::Bad);
        // Values a list leaves unset are `bad`.
        assert_eq!(c("[success=ok]").action(Return::AuthtokErr), Action::Bad);
        assert_eq!(
            c("[default=die success=ok]").action(Return::AuthtokErr),
            Action::Die
        );
        assert_eq!(
            c("[success=ok authtok_err=ignore default=bad]").action(Return::AuthtokErr),
            Action::Ignore
        );
        // A syntax error makes every value bad (pam_misc.c).
        assert_eq!(c("[success=0]").action(Return::Success), Action::Bad);
        assert_eq!(c("[success]").action(Return::Success), Action::Bad);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse(&format!("password [{s}"));
            let _ = parse(&format!("password [{s}] pam_x.so"));
        }
    }
}
