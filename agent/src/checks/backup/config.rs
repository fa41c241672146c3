//! Backup job configuration (`[[backup]]` tables in the agent config).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Kind of backup job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// A restic repository (`restic snapshots --json --no-lock`).
    Restic,
    /// A borg repository (`borg list --json --last 1`).
    Borg,
    /// A file a backup script touches on success; its mtime is the last success.
    Marker,
    /// Any command printing a small JSON status.
    Command,
    /// macOS Time Machine (`tmutil latestbackup` and its preferences).
    TimeMachine,
    /// Windows Server Backup (`wbadmin get versions`).
    Wbadmin,
}

impl BackupKind {
    /// Name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Restic => "restic",
            BackupKind::Borg => "borg",
            BackupKind::Marker => "marker",
            BackupKind::Command => "command",
            BackupKind::TimeMachine => "time_machine",
            BackupKind::Wbadmin => "wbadmin",
        }
    }
}

/// One backup job to watch.
///
/// Its `Debug` output never shows env values, command arguments or URL
/// credentials of the repository: configs end up in logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJobConfig {
    /// Name, unique on this device; becomes the `backup` label.
    pub name: String,
    /// What kind of job this is.
    pub kind: BackupKind,
    /// restic/borg repository location.
    #[serde(default)]
    pub repository: Option<String>,
    /// File holding the repository password (restic `--password-file`,
    /// borg `BORG_PASSCOMMAND=cat FILE`). Never read into the report.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Extra environment for the tool (e.g. cloud credentials); never reported.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Marker file path (kind = "marker").
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Command and arguments (kind = "command").
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Command timeout in seconds (default: the agent's command timeout).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// restic/borg: only snapshots/archives made on this host count
    /// (default: this machine's host name; `"*"`: every host's).
    #[serde(default)]
    pub host: Option<String>,
    /// restic: only snapshots carrying all these tags count.
    #[serde(default)]
    pub tags: Vec<String>,
    /// restic: only snapshots of all these paths count.
    #[serde(default)]
    pub paths: Vec<String>,
    /// borg: only archives whose name matches this glob count
    /// (`--glob-archives`; `{hostname}` stands for the host name), e.g. `"{hostname}-*"`.
    #[serde(default)]
    pub archive_glob: Option<String>,
    /// Where restic and borg keep their caches (`restic/`, `borg/`,
    /// `borg-security/` below it). Default: the agent's `XDG_CACHE_HOME`
    /// (the unit's CacheDirectory), else `<state_dir>/cache`.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

/// `host` value meaning "snapshots of every host count".
pub const ANY_HOST: &str = "*";

impl BackupJobConfig {
    /// A job with only its name and kind set.
    pub fn new(name: &str, kind: BackupKind) -> Self {
        BackupJobConfig {
            name: name.into(),
            kind,
            repository: None,
            password_file: None,
            env: BTreeMap::new(),
            path: None,
            command: None,
            timeout_secs: None,
            host: None,
            tags: Vec::new(),
            paths: Vec::new(),
            archive_glob: None,
            cache_dir: None,
        }
    }

    /// The host whose snapshots count: the configured one, else `this_host`;
    /// `None` when every host's count ([`ANY_HOST`]).
    pub fn snapshot_host<'a>(&'a self, this_host: &'a str) -> Option<&'a str> {
        match self.host.as_deref() {
            Some(ANY_HOST) => None,
            Some(h) => Some(h),
            None => Some(this_host),
        }
    }
}

impl std::fmt::Debug for BackupJobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&String> = self.env.keys().collect();
        let program = self
            .command
            .as_ref()
            .map(|c| (c.first(), c.len().saturating_sub(1)));
        f.debug_struct("BackupJobConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field(
                "repository",
                &self
                    .repository
                    .as_deref()
                    .map(super::secrets::redact_url_userinfo),
            )
            .field("password_file", &self.password_file)
            .field("env_keys", &env_keys)
            .field("path", &self.path)
            .field(
                "command",
                &program
                    .map(|(p, n)| format!("{} (+{n} arguments, not shown)", p.map_or("", |s| s))),
            )
            .field("timeout_secs", &self.timeout_secs)
            .field("host", &self.host)
            .field("tags", &self.tags)
            .field("paths", &self.paths)
            .field("archive_glob", &self.archive_glob)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_env_values_arguments_or_url_credentials() {
        let mut job = BackupJobConfig::new("offsite", BackupKind::Command);
        job.repository = Some("rest:https://bob:HUNTER2-PASS@backup.example/r".into());
        job.env
            .insert("AWS_SECRET_ACCESS_KEY".into(), "AKIA-ENV-VALUE".into());
        job.command = Some(vec![
            "/usr/local/bin/status".into(),
            "--token".into(),
            "TOKEN-IN-ARGS".into(),
        ]);
        let text = format!("{job:?} {:#?}", job);
        for secret in ["HUNTER2-PASS", "AKIA-ENV-VALUE", "TOKEN-IN-ARGS"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
        assert!(
            text.contains("/usr/local/bin/status (+2 arguments"),
            "{text}"
        );
        assert!(text.contains("backup.example"), "{text}");
    }

    #[test]
    fn snapshot_host_defaults_to_this_host() {
        let mut job = BackupJobConfig::new("r", BackupKind::Restic);
        assert_eq!(job.snapshot_host("ws-1"), Some("ws-1"));
        job.host = Some("fileserver".into());
        assert_eq!(job.snapshot_host("ws-1"), Some("fileserver"));
        job.host = Some(ANY_HOST.into());
        assert_eq!(job.snapshot_host("ws-1"), None);
    }
}
