//! borg: `list --json` for the archive count and latest time, `info --json
//! --last 1` for its size; the passphrase comes through `BORG_PASSCOMMAND`.

use serde::Deserialize;

use super::{BackupJobConfig, JobContext, JobError, JobFacts};
use crate::checks::patches::timestamp::parse_datetime;

/// Environment borg needs to run unattended.
pub(super) fn env(job: &BackupJobConfig) -> Vec<(String, String)> {
    let mut env = vec![
        // The agent is not the user who made the repository: answer borg's
        // interactive "are you sure" questions, never prompt.
        (
            "BORG_RELOCATED_REPO_ACCESS_IS_OK".to_string(),
            "yes".to_string(),
        ),
        (
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".to_string(),
            "yes".to_string(),
        ),
        // borg 1.x prints archive times in local time without an offset.
        ("TZ".to_string(), "UTC".to_string()),
    ];
    if let Some(pw) = job.password_file.as_ref().and_then(|p| p.to_str()) {
        // borg splits the command shell-style; quote the path.
        let quoted = format!("'{}'", pw.replace('\'', r"'\''"));
        env.push(("BORG_PASSCOMMAND".to_string(), format!("cat {quoted}")));
    }
    env
}

pub(super) fn collect(job: &BackupJobConfig, jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let repo = job
        .repository
        .as_deref()
        .ok_or_else(|| JobError::Config("borg job needs `repository`".into()))?;
    // --bypass-lock: a backup running right now holds the lock; reading the
    // manifest without it is safe and does not make the check wait.
    let out = jc.run_ok(
        "borg list",
        "borg",
        &["list", "--json", "--bypass-lock", repo],
    )?;
    let (count, latest) = parse_list(&out.stdout_text())?;
    let mut facts = JobFacts::from_snapshots(count, latest);
    if count > 0 {
        let args = ["info", "--json", "--bypass-lock", "--last", "1", repo];
        match jc.run_ok("borg info", "borg", &args) {
            Ok(o) => facts.size_bytes = parse_info_size(&o.stdout_text()),
            Err(e) => facts.warning = Some(format!("size unknown: {e}")),
        }
    }
    Ok(facts)
}

#[derive(Deserialize)]
struct Archive {
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    start: Option<String>,
}

/// Number of archives and the newest `time` in `borg list --json`.
pub(crate) fn parse_list(json: &str) -> Result<(u64, Option<i64>), JobError> {
    #[derive(Deserialize)]
    struct List {
        archives: Vec<Archive>,
    }
    let list: List = serde_json::from_str(json.trim()).map_err(|e| JobError::Parse {
        command: "borg list".into(),
        detail: e.to_string(),
    })?;
    let latest = list
        .archives
        .iter()
        .filter_map(|a| a.time.as_deref().or(a.start.as_deref()))
        .filter_map(parse_datetime)
        .max();
    Ok((list.archives.len() as u64, latest))
}

/// `original_size` of the archive in `borg info --json --last 1`.
pub(crate) fn parse_info_size(json: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Info {
        archives: Vec<InfoArchive>,
    }
    #[derive(Deserialize)]
    struct InfoArchive {
        stats: Stats,
    }
    #[derive(Deserialize)]
    struct Stats {
        original_size: u64,
    }
    let info: Info = serde_json::from_str(json.trim()).ok()?;
    info.archives.last().map(|a| a.stats.original_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn list_and_info() {
        let list = r#"{"archives":[{"archive":"h-2024-06-01","barchive":"h-2024-06-01","id":"ab","name":"h-2024-06-01","start":"2024-06-01T09:59:50.000000","time":"2024-06-01T10:00:00.000000"},
            {"archive":"h-2024-05-31","id":"cd","name":"h-2024-05-31","start":"2024-05-31T10:00:00.000000","time":"2024-05-31T10:00:00.000000"}],
            "encryption":{"mode":"repokey"},"repository":{"id":"x","last_modified":"2024-06-01T10:00:01.000000","location":"/srv/borg"}}"#;
        assert_eq!(parse_list(list).unwrap(), (2, Some(1_717_236_000)));
        assert_eq!(parse_list(r#"{"archives":[]}"#).unwrap(), (0, None));
        let info = r#"{"archives":[{"name":"a","stats":{"compressed_size":10,"deduplicated_size":5,"nfiles":3,"original_size":2048}}]}"#;
        assert_eq!(parse_info_size(info), Some(2048));
    }

    #[test]
    fn passcommand_quotes_the_path() {
        let job = BackupJobConfig {
            name: "b".into(),
            kind: super::super::BackupKind::Borg,
            repository: Some("/r".into()),
            password_file: Some("/etc/it's/pw".into()),
            env: Default::default(),
            path: None,
            command: None,
            timeout_secs: None,
        };
        let env = env(&job);
        assert!(env.contains(&("BORG_PASSCOMMAND".into(), r"cat '/etc/it'\''s/pw'".into())));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_list(&s);
            let _ = parse_info_size(&s);
        }
    }
}
