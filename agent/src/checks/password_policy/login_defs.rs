//! `/etc/login.defs`: `KEY value` lines; comments and malformed lines are skipped.

/// The settings this check reads from login.defs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoginDefs {
    pub(crate) pass_max_days: Option<i64>,
    pub(crate) pass_min_days: Option<i64>,
    pub(crate) pass_warn_age: Option<i64>,
    pub(crate) pass_min_len: Option<u32>,
    /// Lower-cased (`sha512`, `yescrypt`), as PAM spells it.
    pub(crate) encrypt_method: Option<String>,
}

impl LoginDefs {
    /// True when no setting was found.
    pub(crate) fn is_empty(&self) -> bool {
        *self == LoginDefs::default()
    }
}

/// Parses login.defs text; the last occurrence of a key wins, as in shadow-utils.
pub(crate) fn parse(text: &str) -> LoginDefs {
    let mut defs = LoginDefs::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let value = value.trim_matches('"');
        match key {
            "PASS_MAX_DAYS" => set(&mut defs.pass_max_days, value.parse().ok()),
            "PASS_MIN_DAYS" => set(&mut defs.pass_min_days, value.parse().ok()),
            "PASS_WARN_AGE" => set(&mut defs.pass_warn_age, value.parse().ok()),
            "PASS_MIN_LEN" => set(&mut defs.pass_min_len, value.parse().ok()),
            "ENCRYPT_METHOD"
                if value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                defs.encrypt_method = Some(value.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    defs
}

/// A malformed value leaves the earlier one in place.
fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_keys_skips_comments_and_garbage() {
        let d = parse(
            "# PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS 0\n  PASS_WARN_AGE 7 # trailing\n\
             PASS_MIN_LEN lots\nENCRYPT_METHOD YESCRYPT\nUMASK 022\nPASS_MAX_DAYS\n",
        );
        assert_eq!(d.pass_max_days, Some(99999));
        assert_eq!(d.pass_min_days, Some(0));
        assert_eq!(d.pass_warn_age, Some(7));
        assert_eq!(d.pass_min_len, None);
        assert_eq!(d.encrypt_method.as_deref(), Some("yescrypt"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }
    }
}
