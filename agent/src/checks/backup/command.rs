//! Status commands: any program that prints
//! `{"last_success_at":…,"last_attempt_at":…,"result":…,"size_bytes":…,"snapshot_count":…}`.

use serde::Deserialize;

use super::{BackupJobConfig, JobContext, JobError, JobFacts, TimeValue, parse_result};
use fleetwatch_protocol::BackupResult;

#[derive(Debug, Deserialize)]
struct CommandStatus {
    #[serde(default)]
    last_success_at: Option<TimeValue>,
    #[serde(default)]
    last_attempt_at: Option<TimeValue>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    snapshot_count: Option<u64>,
}

pub(super) fn collect(job: &BackupJobConfig, jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let argv = job
        .command
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| JobError::Config("command job needs a non-empty `command`".into()))?;
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    // Name the program only: arguments may carry tokens.
    let out = jc.run_ok(&format!("status command {}", argv[0]), &argv[0], &args)?;
    parse_status(&out.stdout_text())
}

/// Parses the status JSON a command printed.
pub(crate) fn parse_status(text: &str) -> Result<JobFacts, JobError> {
    let s: CommandStatus = serde_json::from_str(text.trim()).map_err(|e| JobError::Parse {
        command: "the status command".into(),
        detail: e.to_string(),
    })?;
    Ok(JobFacts {
        last_success_at: s.last_success_at.as_ref().and_then(TimeValue::to_unix),
        last_attempt_at: s.last_attempt_at.as_ref().and_then(TimeValue::to_unix),
        last_result: s
            .result
            .as_deref()
            .map_or(BackupResult::Unknown, parse_result),
        size_bytes: s.size_bytes,
        snapshot_count: s.snapshot_count,
        warning: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_json() {
        let f = parse_status(
            r#"{"last_success_at":"2024-06-01T10:00:00Z","last_attempt_at":1717236100,"result":"failure","size_bytes":10,"snapshot_count":4,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(f.last_success_at, Some(1_717_236_000));
        assert_eq!(f.last_attempt_at, Some(1_717_236_100));
        assert_eq!(f.last_result, BackupResult::Failure);
        assert_eq!(f.snapshot_count, Some(4));
        assert!(parse_status("not json").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_status(&s);
        }
    }
}
