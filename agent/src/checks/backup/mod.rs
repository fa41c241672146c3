//! The backup check: state of each configured backup job.

mod config;

pub use config::{BackupJobConfig, BackupKind};
