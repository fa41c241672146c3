//! The backup check: state of each configured backup job.

mod config;

use std::path::PathBuf;

use fleetwatch_protocol::BackupStatus;

pub use config::{BackupJobConfig, BackupKind};

use super::{Check, CheckContext, CheckError, Collected};

/// Reports every configured backup job (placeholder until the backends land).
#[derive(Debug, Clone, Default)]
pub struct BackupCheck {
    jobs: Vec<BackupJobConfig>,
}

impl BackupCheck {
    /// A check over these jobs.
    pub fn new(jobs: Vec<BackupJobConfig>) -> Self {
        BackupCheck { jobs }
    }
}

/// Marker files to watch so a finished backup is reported at once.
pub fn marker_paths(jobs: &[BackupJobConfig]) -> Vec<PathBuf> {
    jobs.iter()
        .filter(|j| j.kind == BackupKind::Marker)
        .filter_map(|j| j.path.clone())
        .collect()
}

impl Check for BackupCheck {
    type Output = BackupStatus;
    const NAME: &'static str = "backup";
    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<BackupStatus>, CheckError> {
        if self.jobs.is_empty() {
            return Ok(Collected::Unsupported("no backup jobs configured".into()));
        }
        Ok(Collected::Unsupported(
            "backup check not implemented yet".into(),
        ))
    }
}
