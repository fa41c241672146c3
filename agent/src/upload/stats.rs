//! The agent's own upload counters, kept in `upload-stats.json` in the
//! state directory (the agent has no metrics endpoint): how often the
//! collector refused a report as too large and the package list was left
//! out so the device kept reporting.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state::{StateDir, StateError, write_atomic};

/// File name under the state directory.
pub const UPLOAD_STATS_FILE: &str = "upload-stats.json";

/// Counters since the state directory was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadStats {
    /// Reports the collector answered 413 (too large).
    pub reports_too_large: u64,
    /// Reports sent without their package list after a 413 or a refused
    /// package upload (the list itself was not delivered with them).
    pub packages_withheld: u64,
    /// Package lists delivered in parts over `POST /api/v1/packages`.
    pub package_lists_sent_in_parts: u64,
    /// Package parts the collector refused as too large (the part size is
    /// halved and the list sent again).
    pub package_parts_too_large: u64,
}

impl UploadStats {
    /// Where the counters live.
    pub fn path(state: &StateDir) -> PathBuf {
        state.dir().join(UPLOAD_STATS_FILE)
    }

    /// The stored counters; zero when the file is missing or unreadable.
    pub fn load(state: &StateDir) -> UploadStats {
        std::fs::read(Self::path(state))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Applies `change` to the stored counters and writes them back.
    pub fn update(
        state: &StateDir,
        change: impl FnOnce(&mut UploadStats),
    ) -> Result<(), StateError> {
        let mut stats = Self::load(state);
        change(&mut stats);
        let json = serde_json::to_vec_pretty(&stats).expect("UploadStats serializes");
        write_atomic(&Self::path(state), &json, 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_in_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(UploadStats::load(&state), UploadStats::default());
        UploadStats::update(&state, |s| s.reports_too_large += 1).unwrap();
        UploadStats::update(&state, |s| {
            s.reports_too_large += 1;
            s.packages_withheld += 1;
        })
        .unwrap();
        let stats = UploadStats::load(&state);
        assert_eq!((stats.reports_too_large, stats.packages_withheld), (2, 1));
        std::fs::write(UploadStats::path(&state), "garbage").unwrap();
        assert_eq!(UploadStats::load(&state), UploadStats::default());
    }
}
