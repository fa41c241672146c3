//! Windows Server Backup jobs (`kind = "wbadmin"`): `wbadmin get versions`
//! lists the backups that exist (only finished ones get a version). Each
//! has a version identifier `MM/DD/YYYY-HH:MM` in UTC; the other lines
//! ("Backup time", "Backup location", ...) are localized and in local time,
//! so only the identifiers are read. The newest is the last success.

use crate::checks::patches::timestamp::days_from_civil;

use super::{JobContext, JobError, JobFacts};
use fleetwatch_protocol::BackupResult;

/// The command the job runs.
pub const WBADMIN_ARGS: [&str; 2] = ["get", "versions"];

pub(super) fn collect(jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let out = jc.runner.run("wbadmin", &WBADMIN_ARGS, jc.timeout)?;
    let text = out.stdout_text();
    let versions = version_times(&text);
    if versions.is_empty() && !out.success() {
        // "No backup was found", or no rights to the catalog (wbadmin needs
        // an elevated agent): either way nothing is known for certain.
        let message = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ERROR") || l.contains("rror"))
            .unwrap_or_else(|| text.lines().last().unwrap_or("").trim())
            .to_string();
        return Err(JobError::Failed {
            command: "wbadmin get versions".into(),
            code: out
                .exit_code
                .map_or_else(|| "a signal".into(), |c| c.to_string()),
            stderr: message,
        });
    }
    Ok(facts_from(&versions))
}

/// The facts of the listed versions (Unix seconds).
pub(crate) fn facts_from(versions: &[i64]) -> JobFacts {
    let latest = versions.iter().copied().max();
    JobFacts {
        snapshot_count: Some(versions.len() as u64),
        last_success_at: latest,
        last_attempt_at: latest,
        last_result: if latest.is_some() {
            BackupResult::Success
        } else {
            BackupResult::Unknown
        },
        ..Default::default()
    }
}

/// Every version identifier (`MM/DD/YYYY-HH:MM`, UTC) in the output, as Unix seconds.
pub(crate) fn version_times(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|line| {
            line.split_whitespace().find_map(|token| {
                let t = token.trim_matches(|c: char| !c.is_ascii_digit());
                parse_version_identifier(t)
            })
        })
        .collect()
}

/// `MM/DD/YYYY-HH:MM` (UTC) to Unix seconds.
pub(crate) fn parse_version_identifier(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[2] != b'/' || b[5] != b'/' || b[10] != b'-' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (month, day, year) = (num(0..2)?, num(3..5)?, num(6..10)?);
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Month and day were range-checked above: the casts are exact.
    Some(days_from_civil(year, month as u32, day as u32)? * 86_400 + hour * 3_600 + minute * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See tests/hosts/windows-backup/README.md for where these come from.
    const TWO_VERSIONS: &str =
        include_str!("../../../../tests/hosts/windows-backup/wbadmin-get-versions.txt");
    const GERMAN: &str =
        include_str!("../../../../tests/hosts/windows-backup/wbadmin-get-versions-de.txt");
    const NONE: &str =
        include_str!("../../../../tests/hosts/windows-backup/wbadmin-get-versions-none.txt");

    #[test]
    fn version_identifiers_are_utc_and_the_newest_is_the_last_success() {
        let v = version_times(TWO_VERSIONS);
        // 11/30/2026-20:00 and 12/01/2026-20:00 UTC.
        assert_eq!(v, [1_796_068_800, 1_796_155_200]);
        let f = facts_from(&v);
        assert_eq!(f.last_success_at, Some(1_796_155_200));
        assert_eq!(f.snapshot_count, Some(2));
        assert_eq!(f.last_result, BackupResult::Success);
    }

    #[test]
    fn localized_labels_do_not_matter() {
        assert_eq!(version_times(GERMAN), [1_796_155_200]);
    }

    #[test]
    fn no_version_is_no_success_known() {
        assert!(version_times(NONE).is_empty());
        let f = facts_from(&[]);
        assert_eq!(f.last_success_at, None);
        assert_eq!(f.last_result, BackupResult::Unknown);
    }

    #[test]
    fn identifiers_are_strict() {
        assert_eq!(parse_version_identifier("01/01/1970-00:00"), Some(0));
        assert_eq!(parse_version_identifier("13/01/2026-10:00"), None);
        assert_eq!(parse_version_identifier("12/01/2026-24:00"), None);
        assert_eq!(parse_version_identifier("12/1/2026-20:00"), None);
        // A "Backup time" in local, localized format is not an identifier.
        assert!(version_times("Backup time: 12/1/2026 9:00 PM").is_empty());
    }
}
