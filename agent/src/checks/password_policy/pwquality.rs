//! libpwquality's settings as `pam_pwquality` ends up with them: built-in
//! defaults, then `pwquality.conf.d/*.conf`, then `pwquality.conf`, then
//! the module's arguments.
//!
//! Read from libpwquality `src/settings.c` (`read_config_file`,
//! `set_name_value`, `pwquality_set_int_value`, `pwquality_read_config`),
//! `src/pwqprivate.h` (defaults) and `src/pam_pwquality.c` (`_pam_parse`,
//! the `enforcing` / `enforce_for_root` test in `pam_sm_chauthtok`).

use super::origin::{Origin, Sourced};

/// libpwquality's built-in `minlen` (`PWQ_DEFAULT_MIN_LENGTH`).
pub(crate) const DEFAULT_MINLEN: u32 = 8;
/// The floor `pwquality_set_int_value` raises a smaller `minlen` to
/// (`PWQ_BASE_MIN_LENGTH`).
const BASE_MINLEN: i64 = 6;
/// `minclass` is capped at the number of classes (`PWQ_NUM_CLASSES`).
const NUM_CLASSES: i64 = 4;

/// One `name value` line of a pwquality.conf file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfLine {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// A pwquality.conf file as `read_config_file` splits it. libpwquality
/// stops at the first line it cannot apply, so `apply_file` needs the lines
/// in order.
pub(crate) fn parse(text: &str) -> Vec<ConfLine> {
    text.lines()
        .filter_map(|line| {
            // `#` starts a comment anywhere on the line.
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                return None;
            }
            // The name ends at whitespace or `=`; then whitespace and at
            // most one `=` are skipped.
            let end = line
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(line.len());
            let (name, rest) = line.split_at(end);
            let mut rest = rest;
            let mut seen_eq = false;
            while let Some(c) = rest.chars().next() {
                if c == '=' && !seen_eq {
                    seen_eq = true;
                } else if !c.is_whitespace() {
                    break;
                }
                rest = &rest[c.len_utf8()..];
            }
            Some(ConfLine {
                name: name.to_string(),
                value: rest.to_string(),
            })
        })
        .collect()
}

/// Why libpwquality refused a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `PWQ_ERROR_UNKNOWN_SETTING`.
    UnknownSetting(String),
    /// `PWQ_ERROR_INTEGER`.
    NotAnInteger(String),
}

/// The settings this check reports, each with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pwquality {
    pub(crate) minlen: Sourced<u32>,
    pub(crate) minclass: Sourced<u32>,
    pub(crate) dcredit: Sourced<i32>,
    pub(crate) ucredit: Sourced<i32>,
    pub(crate) lcredit: Sourced<i32>,
    pub(crate) ocredit: Sourced<i32>,
    /// `enforcing = 0`: bad passwords are only warned about.
    pub(crate) enforcing: Sourced<bool>,
    pub(crate) enforce_for_root: Sourced<bool>,
}

impl Default for Pwquality {
    /// `pwquality_default_settings`.
    fn default() -> Self {
        Pwquality {
            minlen: Sourced::default_value(DEFAULT_MINLEN),
            minclass: Sourced::default_value(0),
            dcredit: Sourced::default_value(0),
            ucredit: Sourced::default_value(0),
            lcredit: Sourced::default_value(0),
            ocredit: Sourced::default_value(0),
            enforcing: Sourced::default_value(true),
            enforce_for_root: Sourced::default_value(false),
        }
    }
}

/// The names `set_name_value` knows (`s_map`) and whether each takes an
/// integer; the others are strings or flags that take any value.
const SETTINGS: [(&str, bool); 20] = [
    ("difok", true),
    ("minlen", true),
    ("dcredit", true),
    ("ucredit", true),
    ("lcredit", true),
    ("ocredit", true),
    ("minclass", true),
    ("maxrepeat", true),
    ("maxclassrepeat", true),
    ("maxsequence", true),
    ("gecoscheck", true),
    ("dictcheck", true),
    ("usercheck", true),
    ("usersubstr", true),
    ("enforcing", true),
    ("badwords", false),
    ("dictpath", false),
    ("retry", true),
    ("enforce_for_root", false),
    ("local_users_only", false),
];

/// `strtol` on the whole value, within `int` (`set_name_value`).
fn integer(value: &str) -> Option<i64> {
    let v: i64 = value.parse().ok()?;
    (i64::from(i32::MIN) < v && v < i64::from(i32::MAX)).then_some(v)
}

impl Pwquality {
    /// `set_name_value`: applies one setting (names are case-insensitive).
    pub(crate) fn apply(
        &mut self,
        name: &str,
        value: &str,
        origin: &Origin,
    ) -> Result<(), Refused> {
        let name = name.to_ascii_lowercase();
        let Some((_, is_int)) = SETTINGS.iter().find(|(n, _)| *n == name) else {
            return Err(Refused::UnknownSetting(name));
        };
        let int = if *is_int {
            Some(integer(value).ok_or_else(|| Refused::NotAnInteger(name.clone()))?)
        } else {
            None
        };
        let set_i32 = |slot: &mut Sourced<i32>, v: i64| {
            *slot = Sourced::new(v as i32, origin.clone());
        };
        match (name.as_str(), int) {
            ("minlen", Some(v)) => {
                self.minlen = Sourced::new(v.max(BASE_MINLEN) as u32, origin.clone());
            }
            ("minclass", Some(v)) => {
                // A negative minclass requires nothing.
                self.minclass = Sourced::new(v.clamp(0, NUM_CLASSES) as u32, origin.clone());
            }
            ("dcredit", Some(v)) => set_i32(&mut self.dcredit, v),
            ("ucredit", Some(v)) => set_i32(&mut self.ucredit, v),
            ("lcredit", Some(v)) => set_i32(&mut self.lcredit, v),
            ("ocredit", Some(v)) => set_i32(&mut self.ocredit, v),
            ("enforcing", Some(v)) => self.enforcing = Sourced::new(v != 0, origin.clone()),
            // A flag: present means on, whatever follows (`PWQ_TYPE_SET`).
            ("enforce_for_root", _) => self.enforce_for_root = Sourced::new(true, origin.clone()),
            _ => {}
        }
        Ok(())
    }

    /// `read_config_file`: applies a file's lines up to the first one
    /// libpwquality refuses, which stops the file and, from
    /// `pwquality_read_config`, every file after it.
    pub(crate) fn apply_file(&mut self, lines: &[ConfLine], path: &str) -> Result<(), Refused> {
        let origin = Origin::File(path.to_string());
        lines
            .iter()
            .try_for_each(|l| self.apply(&l.name, &l.value, &origin))
    }

    /// `_pam_parse` in pam_pwquality: the module's own options are skipped,
    /// `name=value` (or a bare `name`) goes to `pwquality_set_option`, and a
    /// refused argument is only logged.
    pub(crate) fn apply_pam_args(&mut self, args: &[String], pam_file: &str) {
        let origin = Origin::PamArgument(pam_file.to_string());
        // Prefixes `_pam_parse` keeps for itself (strncmp), besides `debug`.
        const OWN: [&str; 7] = [
            "type=",
            "difignore=",
            "reject_username",
            "authtok_type",
            "use_authtok",
            "use_first_pass",
            "try_first_pass",
        ];
        for arg in args {
            if arg == "debug" || OWN.iter().any(|p| arg.starts_with(p)) {
                continue;
            }
            let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
            if let Err(e) = self.apply(name, value, &origin) {
                tracing::debug!(?e, arg, "pam_pwquality ignores an argument");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(text: &str) -> (Pwquality, Result<(), Refused>) {
        let mut q = Pwquality::default();
        let r = q.apply_file(&parse(text), "/etc/security/pwquality.conf");
        (q, r)
    }

    #[test]
    fn comments_anywhere_and_the_separators_libpwquality_accepts() {
        let (q, r) = read(
            "# minlen = 8\nminlen = 12  # corporate standard\n dcredit=-1\nucredit -2\n\
             lcredit==-1\nMINCLASS = 3\n\n   # indented comment\n",
        );
        assert_eq!(r, Err(Refused::NotAnInteger("lcredit".into())));
        assert_eq!(q.minlen.value, 12);
        assert_eq!(q.dcredit.value, -1);
        assert_eq!(q.ucredit.value, -2);
        // The refused line stops the file: MINCLASS after it is not read.
        assert_eq!(q.minclass, Sourced::default_value(0));
        let (q, r) = read("MinClass = 3\nenforce_for_root\n");
        assert_eq!(r, Ok(()));
        assert_eq!(q.minclass.value, 3);
        assert!(q.enforce_for_root.value);
    }

    #[test]
    fn defaults_floor_and_caps() {
        let q = Pwquality::default();
        assert_eq!((q.minlen.value, q.minclass.value), (8, 0));
        assert!(q.enforcing.value && !q.enforce_for_root.value);
        let (q, _) = read("minlen = 4\nminclass = 9\n");
        assert_eq!((q.minlen.value, q.minclass.value), (6, 4));
        let (q, _) = read("enforcing = 0\n");
        assert!(!q.enforcing.value);
        assert_eq!(
            q.enforcing.origin,
            Origin::File("/etc/security/pwquality.conf".into())
        );
    }

    #[test]
    fn an_unknown_setting_stops_the_file() {
        let (q, r) = read("minlen = 10\nfrobnicate = 1\nminlen = 14\n");
        assert_eq!(r, Err(Refused::UnknownSetting("frobnicate".into())));
        assert_eq!(q.minlen.value, 10);
        let (_, r) = read("minlen = 99999999999\n");
        assert_eq!(r, Err(Refused::NotAnInteger("minlen".into())));
    }

    #[test]
    fn pam_arguments() {
        let mut q = Pwquality::default();
        let args: Vec<String> =
            "retry=3 use_authtok minlen=16 enforcing=0 bogus=1 enforce_for_root try_first_pass"
                .split(' ')
                .map(String::from)
                .collect();
        q.apply_pam_args(&args, "/etc/pam.d/common-password");
        let pam = Origin::PamArgument("/etc/pam.d/common-password".into());
        assert_eq!(q.minlen, Sourced::new(16, pam.clone()));
        assert_eq!(q.enforcing, Sourced::new(false, pam.clone()));
        assert_eq!(q.enforce_for_root, Sourced::new(true, pam));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let mut q = Pwquality::default();
            let _ = q.apply_file(&parse(&s), "/x");
            let args: Vec<String> = s.split_whitespace().map(String::from).collect();
            q.apply_pam_args(&args, "/y");
        }
    }
}
