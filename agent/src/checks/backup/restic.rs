//! restic: `snapshots --json --no-lock` for the count and the latest time,
//! `stats latest --json` for its size.

use serde::Deserialize;

use super::{BackupJobConfig, JobContext, JobError, JobFacts};
use crate::checks::patches::timestamp::parse_datetime;

pub(super) fn collect(job: &BackupJobConfig, jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let repo = job
        .repository
        .as_deref()
        .ok_or_else(|| JobError::Config("restic job needs `repository`".into()))?;
    let mut common = vec!["--json", "--no-lock", "-r", repo];
    if let Some(pw) = &job.password_file {
        let pw = pw
            .to_str()
            .ok_or_else(|| JobError::Config("password_file is not UTF-8".into()))?;
        common.extend(["--password-file", pw]);
    }
    let args: Vec<&str> = ["snapshots"]
        .iter()
        .copied()
        .chain(common.iter().copied())
        .collect();
    let out = jc.run_ok("restic snapshots", "restic", &args)?;
    let (count, latest) = parse_snapshots(&out.stdout_text())?;
    let mut facts = JobFacts::from_snapshots(count, latest);
    if count > 0 {
        let args: Vec<&str> = ["stats", "latest"]
            .iter()
            .copied()
            .chain(common.iter().copied())
            .collect();
        match jc.run_ok("restic stats", "restic", &args) {
            Ok(o) => facts.size_bytes = parse_stats_size(&o.stdout_text()),
            Err(e) => facts.warning = Some(format!("size unknown: {e}")),
        }
    }
    Ok(facts)
}

#[derive(Deserialize)]
struct Snapshot {
    time: String,
}

/// Number of snapshots and the newest `time` in `restic snapshots --json`.
pub(crate) fn parse_snapshots(json: &str) -> Result<(u64, Option<i64>), JobError> {
    let parse_err = |detail: String| JobError::Parse {
        command: "restic snapshots".into(),
        detail,
    };
    // restic may print nothing at all for an empty repository.
    let json = json.trim();
    let snapshots: Vec<Snapshot> = if json.is_empty() || json == "null" {
        Vec::new()
    } else {
        serde_json::from_str(json).map_err(|e| parse_err(e.to_string()))?
    };
    let latest = snapshots
        .iter()
        .filter_map(|s| parse_datetime(&s.time))
        .max();
    if latest.is_none() && !snapshots.is_empty() {
        return Err(parse_err(format!(
            "unreadable snapshot time {:?}",
            snapshots[0].time
        )));
    }
    Ok((snapshots.len() as u64, latest))
}

/// `total_size` of `restic stats --json` (restore size of the snapshot).
pub(crate) fn parse_stats_size(json: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Stats {
        total_size: u64,
    }
    serde_json::from_str::<Stats>(json.trim())
        .ok()
        .map(|s| s.total_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn snapshots_count_and_latest() {
        let json = r#"[{"time":"2024-06-01T12:00:00.123456789+02:00","tree":"ab","paths":["/etc"],"hostname":"h","username":"root","id":"1","short_id":"1"},
                      {"time":"2024-05-31T10:00:00Z","paths":["/etc"],"hostname":"h","id":"2","short_id":"2"}]"#;
        assert_eq!(parse_snapshots(json).unwrap(), (2, Some(1_717_236_000)));
        assert_eq!(parse_snapshots("[]\n").unwrap(), (0, None));
        assert!(parse_snapshots("{oops").is_err());
        assert_eq!(
            parse_stats_size(r#"{"total_size":4096,"total_file_count":3}"#),
            Some(4096)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_snapshots(&s);
            let _ = parse_stats_size(&s);
        }
    }
}
