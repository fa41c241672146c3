//! Watches backup marker files so a finished backup is reported at once.
//! The parent directory is watched, not the file: backup scripts often
//! replace the marker (write temp + rename), which ends a watch on the file.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// A live watch; dropping it stops watching.
pub struct MarkerWatch {
    _watcher: notify::RecommendedWatcher,
    /// Receives one message per relevant change (coalesced by the caller).
    pub changes: mpsc::Receiver<PathBuf>,
}

/// Starts watching `markers` (absolute paths already resolved under the host
/// root). `None` when there is nothing to watch or the watcher cannot start.
pub fn watch_markers(markers: &[PathBuf]) -> Option<MarkerWatch> {
    // Directory (canonical) -> marker file names in it.
    let mut wanted: BTreeMap<PathBuf, BTreeSet<OsString>> = BTreeMap::new();
    for marker in markers {
        let (Some(parent), Some(name)) = (marker.parent(), marker.file_name()) else {
            continue;
        };
        match std::fs::canonicalize(parent) {
            Ok(dir) => {
                wanted.entry(dir).or_default().insert(name.to_os_string());
            }
            Err(e) => tracing::warn!(
                marker = %marker.display(),
                error = %e,
                "cannot watch backup marker: its directory is not accessible"
            ),
        }
    }
    if wanted.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel(16);
    let filter = wanted.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        for path in event.paths {
            if is_marker(&filter, &path) {
                // A full channel already holds a pending change: dropping is fine.
                let _ = tx.try_send(path);
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the backup marker watcher");
            return None;
        }
    };
    for dir in wanted.keys() {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch backup marker directory");
        }
    }
    Some(MarkerWatch {
        _watcher: watcher,
        changes: rx,
    })
}

/// When a report for a marker change seen at `changed` may start: after
/// the debounce (the backup script finishes writing), and no sooner than
/// `min_interval` after the previous report started, so a marker rewritten
/// in a loop costs one report per `min_interval`; every change until then
/// is coalesced into that one report.
pub fn marker_report_at(
    changed: Instant,
    previous_report: Instant,
    debounce: Duration,
    min_interval: Duration,
) -> Instant {
    (changed + debounce).max(previous_report + min_interval)
}

fn is_marker(wanted: &BTreeMap<PathBuf, BTreeSet<OsString>>, path: &Path) -> bool {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => wanted.get(dir).is_some_and(|names| names.contains(name)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_report_waits_for_the_debounce_and_the_minimum_interval() {
        let t0 = Instant::now();
        let (debounce, min) = (Duration::from_secs(1), Duration::from_secs(60));
        // Long after the last report: only the debounce.
        let late = t0 + Duration::from_secs(600);
        assert_eq!(marker_report_at(late, t0, debounce, min), late + debounce);
        // Right after a report: not before the minimum interval is over.
        let soon = t0 + Duration::from_secs(5);
        assert_eq!(marker_report_at(soon, t0, debounce, min), t0 + min);
        assert_eq!(
            marker_report_at(
                t0 + Duration::from_secs(59) + Duration::from_millis(500),
                t0,
                debounce,
                min
            ),
            t0 + Duration::from_secs(60) + Duration::from_millis(500)
        );
    }

    #[tokio::test]
    async fn a_replaced_marker_is_noticed_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = std::fs::canonicalize(dir.path()).unwrap();
        let marker = dir_path.join("backup.ok");
        let mut watch = watch_markers(std::slice::from_ref(&marker)).unwrap();
        std::fs::write(dir_path.join("unrelated"), "x").unwrap();
        // Replace the marker the way scripts do: temp file + rename.
        std::fs::write(dir_path.join("backup.ok.tmp"), "done").unwrap();
        std::fs::rename(dir_path.join("backup.ok.tmp"), &marker).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), watch.changes.recv())
            .await
            .expect("marker change noticed")
            .unwrap();
        assert_eq!(got, marker);
    }

    #[test]
    fn nothing_to_watch() {
        assert!(watch_markers(&[]).is_none());
        assert!(watch_markers(&[PathBuf::from("/nonexistent-dir-fw/x")]).is_none());
    }
}
