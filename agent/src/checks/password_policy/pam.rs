//! PAM stack files (`/etc/pam.d/*`): `TYPE CONTROL MODULE ARGS…` rules and
//! includes (`@include FILE`, `TYPE include|substack FILE`).

/// One line of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PamEntry {
    /// A module rule.
    Rule(PamRule),
    /// Pulls in another file; `kind` limits it to one rule type.
    Include {
        kind: Option<String>,
        target: String,
    },
}

/// A module rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PamRule {
    /// `auth`, `account`, `password`, `session`.
    pub(crate) kind: String,
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
            }
        });
    }
    let (kind, rest) = line.split_once(char::is_whitespace)?;
    // A leading `-` means "skip if the module is missing".
    let kind = kind.trim_start_matches('-');
    if !matches!(kind, "auth" | "account" | "password" | "session") {
        return None;
    }
    let rest = rest.trim_start();
    let (control, rest) = if let Some(bracketed) = rest.strip_prefix('[') {
        let end = bracketed.find(']')?;
        (&bracketed[..end], &bracketed[end + 1..])
    } else {
        rest.split_once(char::is_whitespace)?
    };
    let mut words = rest.split_whitespace();
    let module_path = words.next()?;
    if matches!(control, "include" | "substack") {
        return Some(PamEntry::Include {
            kind: Some(kind.to_string()),
            target: module_path.to_string(),
        });
    }
    let module = module_path.rsplit('/').next()?.trim_end_matches(".so");
    if module.is_empty() {
        return None;
    }
    Some(PamEntry::Rule(PamRule {
        kind: kind.to_string(),
        module: module.to_string(),
        args: words.map(str::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
             password [broken pam_x.so\n",
        );
        assert_eq!(entries.len(), 6, "{entries:#?}");
        let PamEntry::Rule(r) = &entries[1] else {
            panic!()
        };
        assert_eq!(r.module, "pam_unix");
        assert_eq!(
            r.args,
            vec!["obscure", "use_authtok", "yescrypt", "remember=5"]
        );
        let PamEntry::Rule(r) = &entries[2] else {
            panic!()
        };
        assert_eq!(
            (r.kind.as_str(), r.module.as_str()),
            ("auth", "pam_faillock")
        );
        assert_eq!(
            entries[4],
            PamEntry::Include {
                kind: Some("password".into()),
                target: "system-auth".into()
            }
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse(&format!("password [{s}"));
        }
    }
}
