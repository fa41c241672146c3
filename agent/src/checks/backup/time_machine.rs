//! Time Machine jobs (`kind = "time_machine"`): `tmutil latestbackup` for
//! the newest backup, `/Library/Preferences/com.apple.TimeMachine.plist`
//! for the destinations' snapshot dates and last result.
//!
//! Both need Full Disk Access for the agent: without it macOS refuses the
//! preferences file (permission denied) and tmutil says so. That makes the
//! job *unsupported* with that reason, never "no backup".

use serde::Deserialize;

use super::{JobContext, JobError, JobFacts};
use crate::checks::plist;
use crate::host::HostError;
use fleetwatch_protocol::BackupResult;

/// Time Machine's preferences.
pub const TIME_MACHINE_PLIST: &str = "/Library/Preferences/com.apple.TimeMachine.plist";

/// The reason a job is unsupported without Full Disk Access.
pub const NEEDS_FULL_DISK_ACCESS: &str = "Time Machine state needs Full Disk Access for the fleetwatch agent \
     (grant it with a Privacy Preferences Policy Control profile)";

#[derive(Debug, Default, Deserialize)]
struct Preferences {
    #[serde(rename = "AutoBackup")]
    auto_backup: Option<bool>,
    #[serde(rename = "Destinations", default)]
    destinations: Vec<Destination>,
}

#[derive(Debug, Deserialize)]
struct Destination {
    #[serde(rename = "SnapshotDates", default)]
    snapshot_dates: Vec<plist::Date>,
    /// The last run's result code (0: success).
    #[serde(rename = "RESULT")]
    result: Option<i64>,
}

/// The backup time in a `tmutil latestbackup` path: the last
/// `YYYY-MM-DD-HHMMSS` component (`.../2024-03-01-101500.backup`), in UTC
/// as Time Machine names APFS backups.
pub fn parse_latestbackup(text: &str) -> Option<i64> {
    let line = text.lines().map(str::trim).find(|l| l.starts_with('/'))?;
    line.split('/')
        .rev()
        .find_map(|part| stamp_to_unix(part.trim_end_matches(".backup")))
}

/// `2024-03-01-101500` → Unix seconds. Time Machine names backups in the
/// Mac's local time; without a time-zone database the agent reads it as
/// UTC, so this is only the fallback when the preferences hold no
/// snapshot dates.
fn stamp_to_unix(stamp: &str) -> Option<i64> {
    let b = stamp.as_bytes();
    if b.len() != 17 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let (date, clock) = stamp.split_at(10);
    let clock = clock.get(1..)?;
    let iso = format!(
        "{date}T{}:{}:{}Z",
        clock.get(0..2)?,
        clock.get(2..4)?,
        clock.get(4..6)?
    );
    crate::checks::patches::timestamp::parse_datetime(&iso)
}

/// True when tmutil's answer is the Full Disk Access refusal.
fn refused_for_full_disk_access(text: &str) -> bool {
    text.contains("Full Disk Access")
}

/// Collects one Time Machine job.
pub(super) fn collect(jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let prefs = match plist::read::<Preferences>(jc.ctx.root, TIME_MACHINE_PLIST) {
        Ok(p) => p,
        Err(crate::checks::CheckError::Host(HostError::PermissionDenied { .. })) => {
            return Err(JobError::Unsupported(NEEDS_FULL_DISK_ACCESS.into()));
        }
        Err(e) => {
            return Err(JobError::Parse {
                command: TIME_MACHINE_PLIST.into(),
                detail: e.to_string(),
            });
        }
    };
    let out = jc.runner.run("tmutil", &["latestbackup"], jc.timeout)?;
    let answer = format!(
        "{}{}",
        out.stdout_text(),
        String::from_utf8_lossy(&out.stderr)
    );
    if refused_for_full_disk_access(&answer) {
        return Err(JobError::Unsupported(NEEDS_FULL_DISK_ACCESS.into()));
    }
    let latest = out
        .success()
        .then(|| parse_latestbackup(&out.stdout_text()))
        .flatten();
    let Some(prefs) = prefs else {
        return Err(JobError::Config(format!(
            "Time Machine is not set up on this Mac ({TIME_MACHINE_PLIST} does not exist)"
        )));
    };
    if prefs.destinations.is_empty() {
        return Err(JobError::Config(
            "Time Machine has no backup destination".into(),
        ));
    }
    let snapshots: Vec<i64> = prefs
        .destinations
        .iter()
        .flat_map(|d| d.snapshot_dates.iter().copied().map(plist::unix_seconds))
        .collect();
    // The preferences' dates are exact; the path's stamp is local time.
    let last_success_at = snapshots.iter().copied().max().or(latest);
    // RESULT is the last attempt's outcome on a destination; any failure counts.
    let results: Vec<i64> = prefs.destinations.iter().filter_map(|d| d.result).collect();
    let last_result = if results.iter().any(|r| *r != 0) {
        BackupResult::Failure
    } else if !results.is_empty() || last_success_at.is_some() {
        BackupResult::Success
    } else {
        BackupResult::Unknown
    };
    let mut facts = JobFacts {
        last_success_at,
        last_attempt_at: last_success_at,
        last_result,
        snapshot_count: Some(snapshots.len() as u64),
        ..JobFacts::default()
    };
    if prefs.auto_backup == Some(false) {
        facts.warning = Some("automatic Time Machine backups are switched off".into());
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latestbackup_paths_of_apfs_and_hfs_destinations() {
        assert_eq!(
            parse_latestbackup(
                "/Volumes/.timemachine/1A2B3C4D-0000-4000-8000-000000000001/2024-03-01-101500.backup/2024-03-01-101500.backup\n"
            ),
            Some(1_709_288_100)
        );
        assert_eq!(
            parse_latestbackup("/Volumes/TM/Backups.backupdb/mac/2019-01-02-030405\n"),
            Some(1_546_398_245)
        );
        assert_eq!(
            parse_latestbackup("No machine directory found for host.\n"),
            None
        );
        assert_eq!(stamp_to_unix("2024-13-01-000000"), None);
    }
}
