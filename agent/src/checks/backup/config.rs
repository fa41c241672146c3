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
        }
    }
}

/// One backup job to watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
