//! Marker files: a backup script touches the file on success, so its mtime
//! is the last success; an optional small JSON body says more.

use serde::Deserialize;

use super::{BackupJobConfig, JobContext, JobError, JobFacts, TimeValue, parse_result};
use fleetwatch_protocol::BackupResult;

/// The optional body: `{"status":"success"|"failure","size_bytes":N,"finished_at":…}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MarkerBody {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    finished_at: Option<TimeValue>,
    #[serde(default)]
    last_success_at: Option<TimeValue>,
    #[serde(default)]
    snapshot_count: Option<u64>,
}

pub(super) fn collect(job: &BackupJobConfig, jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let path = job
        .path
        .as_ref()
        .ok_or_else(|| JobError::Config("marker job needs `path`".into()))?;
    let path = path
        .to_str()
        .ok_or_else(|| JobError::Config("marker path is not UTF-8".into()))?;
    let root = jc.ctx.root;
    let mtime = root.mtime(path)?;
    let body = root.read_to_string(path)?;
    Ok(facts_from(mtime, &body))
}

/// Combines the marker's mtime with its body (the body wins where it speaks).
pub(crate) fn facts_from(mtime: i64, body: &str) -> JobFacts {
    let trimmed = body.trim();
    let (parsed, warning) = if trimmed.starts_with('{') {
        match serde_json::from_str::<MarkerBody>(trimmed) {
            Ok(b) => (b, None),
            Err(e) => (
                MarkerBody::default(),
                Some(format!(
                    "marker body is not valid JSON ({e}); using its mtime"
                )),
            ),
        }
    } else {
        // A plain `touch` (or any text): only the mtime speaks.
        (MarkerBody::default(), None)
    };
    let finished = parsed
        .finished_at
        .as_ref()
        .and_then(TimeValue::to_unix)
        .unwrap_or(mtime);
    let result = parsed
        .status
        .as_deref()
        .map_or(BackupResult::Success, parse_result);
    let last_success_at = match result {
        BackupResult::Success => Some(finished),
        _ => parsed.last_success_at.as_ref().and_then(TimeValue::to_unix),
    };
    JobFacts {
        last_success_at,
        last_attempt_at: Some(finished),
        last_result: result,
        size_bytes: parsed.size_bytes,
        snapshot_count: parsed.snapshot_count,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_marker_is_a_success_at_its_mtime() {
        let f = facts_from(1000, "");
        assert_eq!(f.last_success_at, Some(1000));
        assert_eq!(f.last_result, BackupResult::Success);
    }

    #[test]
    fn body_overrides() {
        let f = facts_from(
            1000,
            r#"{"status":"failure","size_bytes":5,"finished_at":"2024-06-01T10:00:00Z","last_success_at":900}"#,
        );
        assert_eq!(f.last_result, BackupResult::Failure);
        assert_eq!(f.last_attempt_at, Some(1_717_236_000));
        assert_eq!(f.last_success_at, Some(900));
        assert_eq!(f.size_bytes, Some(5));
        let f = facts_from(1000, r#"{"status":"success","finished_at":1200}"#);
        assert_eq!(f.last_success_at, Some(1200));
        let f = facts_from(1000, "{broken");
        assert_eq!(f.last_success_at, Some(1000));
        assert!(f.warning.is_some());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = facts_from(0, &s);
            let _ = facts_from(0, &format!("{{{s}"));
        }
    }
}
