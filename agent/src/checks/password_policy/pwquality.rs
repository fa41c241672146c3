//! `pwquality.conf` (`key = value`) and the same keys as `pam_pwquality` /
//! `pam_cracklib` module arguments (`key=value`).

/// The pwquality settings the report carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pwquality {
    pub(crate) minlen: Option<u32>,
    pub(crate) minclass: Option<u32>,
    pub(crate) dcredit: Option<i32>,
    pub(crate) ucredit: Option<i32>,
    pub(crate) lcredit: Option<i32>,
    pub(crate) ocredit: Option<i32>,
}

impl Pwquality {
    /// Applies one `key`/`value`; true when it was a known key with a valid value.
    pub(crate) fn apply(&mut self, key: &str, value: &str) -> bool {
        let value = value.trim();
        fn put<T: std::str::FromStr>(slot: &mut Option<T>, v: &str) -> bool {
            match v.parse() {
                Ok(v) => {
                    *slot = Some(v);
                    true
                }
                Err(_) => false,
            }
        }
        match key.trim() {
            "minlen" => put(&mut self.minlen, value),
            "minclass" => put(&mut self.minclass, value),
            "dcredit" => put(&mut self.dcredit, value),
            "ucredit" => put(&mut self.ucredit, value),
            "lcredit" => put(&mut self.lcredit, value),
            "ocredit" => put(&mut self.ocredit, value),
            _ => false,
        }
    }

    /// Overlays the settings `later` sets (later wins).
    pub(crate) fn overlay(&mut self, later: &Pwquality) {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(minlen, minclass, dcredit, ucredit, lcredit, ocredit);
    }

    /// True when no setting was found.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Pwquality::default()
    }
}

/// Parses a pwquality.conf file; comments and malformed lines are skipped.
pub(crate) fn parse(text: &str) -> Pwquality {
    let mut q = Pwquality::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            q.apply(k, v);
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conf_and_overlay() {
        let mut base =
            parse("# minlen = 8\nminlen = 12\n dcredit=-1\nminclass = three\nnonsense\n= 4\n");
        assert_eq!(base.minlen, Some(12));
        assert_eq!(base.dcredit, Some(-1));
        assert_eq!(base.minclass, None);
        base.overlay(&parse("minlen = 14\n"));
        assert_eq!(base.minlen, Some(14));
        assert_eq!(base.dcredit, Some(-1));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }
    }
}
