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
    let filter = SnapshotFilter {
        host: jc.snapshot_host(job)?.map(str::to_string),
        tags: job.tags.clone(),
        paths: job.paths.clone(),
    };
    let mut common: Vec<String> = ["--json", "--no-lock", "-r", repo]
        .map(String::from)
        .to_vec();
    if let Some(pw) = &job.password_file {
        let pw = pw
            .to_str()
            .ok_or_else(|| JobError::Config("password_file is not UTF-8".into()))?;
        common.extend(["--password-file".into(), pw.into()]);
    }
    if let Some(cache) = &job.cache_dir {
        let cache = cache.join("restic");
        let cache = cache
            .to_str()
            .ok_or_else(|| JobError::Config("cache_dir is not UTF-8".into()))?;
        common.extend(["--cache-dir".into(), cache.into()]);
    }
    common.extend(filter.args());
    let args = |command: &[&str]| -> Vec<String> {
        command
            .iter()
            .map(|s| s.to_string())
            .chain(common.iter().cloned())
            .collect()
    };
    let snapshots = args(&["snapshots"]);
    let snapshots: Vec<&str> = snapshots.iter().map(String::as_str).collect();
    let out = jc.run_ok("restic snapshots", "restic", &snapshots)?;
    let (count, latest) = parse_snapshots(&out.stdout_text(), &filter)?;
    let mut facts = JobFacts::from_snapshots(count, latest);
    if count > 0 {
        // `latest` under the same filter: this host's newest snapshot.
        let stats = args(&["stats", "latest"]);
        let stats: Vec<&str> = stats.iter().map(String::as_str).collect();
        match jc.run_ok("restic stats", "restic", &stats) {
            Ok(o) => facts.size_bytes = parse_stats_size(&o.stdout_text()),
            Err(e) => facts.warning = Some(format!("size unknown: {e}")),
        }
    }
    Ok(facts)
}

/// Which snapshots belong to the job: restic's own `--host`/`--tag`/`--path`
/// filter, applied again to its answer so another host's snapshot can never
/// count, whatever the restic version did with the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SnapshotFilter {
    /// Only this host's snapshots (`None`: every host's).
    pub(crate) host: Option<String>,
    /// Snapshots carrying all of these tags.
    pub(crate) tags: Vec<String>,
    /// Snapshots of all of these paths.
    pub(crate) paths: Vec<String>,
}

impl SnapshotFilter {
    /// restic's flags for this filter (`--tag a,b` requires both tags).
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(h) = &self.host {
            args.extend(["--host".to_string(), h.clone()]);
        }
        if !self.tags.is_empty() {
            args.extend(["--tag".to_string(), self.tags.join(",")]);
        }
        for p in &self.paths {
            args.extend(["--path".to_string(), p.clone()]);
        }
        args
    }

    fn matches(&self, s: &Snapshot) -> bool {
        self.host.as_ref().is_none_or(|h| s.hostname == *h)
            && self.tags.iter().all(|t| s.tags.contains(t))
            && self.paths.iter().all(|p| s.paths.contains(p))
    }
}

#[derive(Deserialize)]
struct Snapshot {
    time: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Number of the filter's snapshots and their newest `time` in
/// `restic snapshots --json`.
pub(crate) fn parse_snapshots(
    json: &str,
    filter: &SnapshotFilter,
) -> Result<(u64, Option<i64>), JobError> {
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
    let snapshots: Vec<Snapshot> = snapshots
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
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

    fn any() -> SnapshotFilter {
        SnapshotFilter::default()
    }

    #[test]
    fn snapshots_count_and_latest() {
        let json = r#"[{"time":"2024-06-01T12:00:00.123456789+02:00","tree":"ab","paths":["/etc"],"hostname":"h","username":"root","id":"1","short_id":"1"},
                      {"time":"2024-05-31T10:00:00Z","paths":["/etc"],"hostname":"h","id":"2","short_id":"2"}]"#;
        assert_eq!(
            parse_snapshots(json, &any()).unwrap(),
            (2, Some(1_717_236_000))
        );
        assert_eq!(parse_snapshots("[]\n", &any()).unwrap(), (0, None));
        assert!(parse_snapshots("{oops", &any()).is_err());
        assert_eq!(
            parse_stats_size(r#"{"total_size":4096,"total_file_count":3}"#),
            Some(4096)
        );
    }

    /// Hand-made in the shape of restic 0.14's `snapshots --json` (as the
    /// real recordings in `tests/hosts/*-compliant/commands/`): a repository
    /// two hosts back up to. The live tests run the real restic on one.
    const SHARED_REPO: &str = r#"[{"time":"2026-12-03T07:20:01.1Z","tree":"aa","paths":["/srv/data"],"hostname":"ws-1","username":"root","tags":["nightly"],"id":"01","short_id":"01"},
        {"time":"2026-12-03T07:25:09.2Z","tree":"bb","paths":["/srv/data"],"hostname":"other","username":"root","tags":["db"],"id":"02","short_id":"02"}]"#;

    #[test]
    fn another_hosts_fresher_snapshot_never_counts() {
        let mine = SnapshotFilter {
            host: Some("ws-1".into()),
            ..any()
        };
        // 2026-12-03T07:20:01Z, not the other host's 07:25:09.
        assert_eq!(
            parse_snapshots(SHARED_REPO, &mine).unwrap(),
            (1, Some(1_796_282_401))
        );
        let none = SnapshotFilter {
            host: Some("ws-2".into()),
            ..any()
        };
        assert_eq!(parse_snapshots(SHARED_REPO, &none).unwrap(), (0, None));
        assert_eq!(parse_snapshots(SHARED_REPO, &any()).unwrap().0, 2);
    }

    #[test]
    fn tags_and_paths_narrow_the_snapshots() {
        let tagged = SnapshotFilter {
            tags: vec!["db".into()],
            ..any()
        };
        assert_eq!(
            parse_snapshots(SHARED_REPO, &tagged).unwrap(),
            (1, Some(1_796_282_709))
        );
        let path = SnapshotFilter {
            host: Some("ws-1".into()),
            paths: vec!["/home".into()],
            ..any()
        };
        assert_eq!(parse_snapshots(SHARED_REPO, &path).unwrap(), (0, None));
        assert_eq!(
            SnapshotFilter {
                host: Some("ws-1".into()),
                tags: vec!["a".into(), "b".into()],
                paths: vec!["/etc".into()],
            }
            .args(),
            ["--host", "ws-1", "--tag", "a,b", "--path", "/etc"]
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_snapshots(&s, &any());
            let _ = parse_stats_size(&s);
        }
    }
}
