//! `/etc/security/faillock.conf` and `pam_faillock` arguments (`deny=`, `unlock_time=`).

/// Lockout settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Faillock {
    pub(crate) deny: Option<u32>,
    /// Seconds; `never` is 0 (an administrator must unlock).
    pub(crate) unlock_time: Option<u64>,
}

impl Faillock {
    /// Applies one `key`/`value`; true when it was understood.
    pub(crate) fn apply(&mut self, key: &str, value: &str) -> bool {
        let value = value.trim();
        match key.trim() {
            "deny" => value.parse().map(|v| self.deny = Some(v)).is_ok(),
            "unlock_time" if value == "never" => {
                self.unlock_time = Some(0);
                true
            }
            "unlock_time" => value.parse().map(|v| self.unlock_time = Some(v)).is_ok(),
            _ => false,
        }
    }

    /// Overlays what `later` sets.
    pub(crate) fn overlay(&mut self, later: &Faillock) {
        if later.deny.is_some() {
            self.deny = later.deny;
        }
        if later.unlock_time.is_some() {
            self.unlock_time = later.unlock_time;
        }
    }

    /// True when no setting was found.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Faillock::default()
    }
}

/// Parses faillock.conf; comments and malformed lines are skipped.
pub(crate) fn parse(text: &str) -> Faillock {
    let mut f = Faillock::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            f.apply(k, v);
        }
    }
    f
}

/// `remember = N` from `/etc/security/pwhistory.conf`.
pub(crate) fn parse_pwhistory_remember(text: &str) -> Option<u32> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == "remember")
        .filter_map(|(_, v)| v.trim().parse().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conf() {
        let f = parse("# deny = 3\ndeny = 5\nunlock_time = never\naudit\nsilent\ndeny = x\n");
        assert_eq!(f.deny, Some(5));
        assert_eq!(f.unlock_time, Some(0));
        assert_eq!(
            parse_pwhistory_remember("# remember = 10\nremember = 24\n"),
            Some(24)
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse_pwhistory_remember(&s);
        }
    }
}
