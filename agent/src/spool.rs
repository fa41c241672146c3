//! Undelivered reports on disk, delivered oldest first.
//!
//! Each report is one file `<20-digit sequence>-<report_id>.json`, written
//! atomically, so lexical order is delivery order. The spool holds at most
//! `max_reports`; when full, the oldest reports are dropped (and logged).

use std::path::{Path, PathBuf};

use fleetwatch_protocol::Report;

use crate::state::{StateError, write_atomic};

/// One spooled report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Sequence number (delivery order).
    pub seq: u64,
    /// The file.
    pub path: PathBuf,
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    max_reports: usize,
}

impl Spool {
    /// A spool in `dir` keeping at most `max_reports` (≥ 1).
    pub fn new(dir: impl Into<PathBuf>, max_reports: usize) -> Self {
        Spool {
            dir: dir.into(),
            max_reports: max_reports.max(1),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Spooled reports, oldest first.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, StateError> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError {
                    action: "could not list",
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut entries: Vec<SpoolEntry> = read
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.strip_suffix(".json")?;
                let seq = stem.split('-').next()?.parse().ok()?;
                Some(SpoolEntry {
                    seq,
                    path: e.path(),
                })
            })
            .collect();
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// Number of spooled reports.
    pub fn len(&self) -> Result<usize, StateError> {
        Ok(self.entries()?.len())
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> Result<bool, StateError> {
        Ok(self.entries()?.is_empty())
    }

    /// Appends a report; drops the oldest while over the bound. Returns the new entry.
    pub fn push(&self, report: &Report) -> Result<SpoolEntry, StateError> {
        let entries = self.entries()?;
        let seq = entries.last().map_or(1, |e| e.seq + 1);
        let id: String = report
            .report_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(64)
            .collect();
        let path = self.dir.join(format!("{seq:020}-{id}.json"));
        let json = serde_json::to_vec(report).expect("a Report serializes");
        write_atomic(&path, &json, 0o600)?;
        let mut count = entries.len() + 1;
        for old in &entries {
            if count <= self.max_reports {
                break;
            }
            tracing::warn!(
                path = %old.path.display(),
                max = self.max_reports,
                "spool full: dropping the oldest undelivered report"
            );
            self.remove(old)?;
            count -= 1;
        }
        Ok(SpoolEntry { seq, path })
    }

    /// Reads a spooled report; `Ok(None)` (after removing it) when it is corrupt.
    pub fn load(&self, entry: &SpoolEntry) -> Result<Option<Report>, StateError> {
        let bytes = std::fs::read(&entry.path).map_err(|source| StateError {
            action: "could not read",
            path: entry.path.clone(),
            source,
        })?;
        match serde_json::from_slice(&bytes) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                tracing::warn!(path = %entry.path.display(), error = %e, "dropping corrupt spooled report");
                self.remove(entry)?;
                Ok(None)
            }
        }
    }

    /// Removes a delivered (or dropped) report.
    pub fn remove(&self, entry: &SpoolEntry) -> Result<(), StateError> {
        match std::fs::remove_file(&entry.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError {
                action: "could not remove",
                path: entry.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetwatch_protocol::{CheckResult, SCHEMA_VERSION};

    fn report(id: &str) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            report_id: id.into(),
            device_id: "d".into(),
            agent_version: "0".into(),
            collected_at: 1,
            inventory: CheckResult::failed(0.0, "x"),
            checks: Default::default(),
        }
    }

    fn ids(spool: &Spool) -> Vec<String> {
        spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| spool.load(e).unwrap().unwrap().report_id)
            .collect()
    }

    #[test]
    fn reports_come_back_in_the_order_they_were_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"), 100);
        assert!(spool.is_empty().unwrap());
        // Sequence numbers beyond 9 must still sort after 1..9.
        for i in 0..12 {
            spool.push(&report(&format!("r{i}"))).unwrap();
        }
        let expected: Vec<String> = (0..12).map(|i| format!("r{i}")).collect();
        assert_eq!(ids(&spool), expected);
        let first = spool.entries().unwrap()[0].clone();
        spool.remove(&first).unwrap();
        spool.push(&report("r12")).unwrap();
        assert_eq!(ids(&spool).first().unwrap(), "r1");
        assert_eq!(ids(&spool).last().unwrap(), "r12");
    }

    #[test]
    fn the_spool_is_bounded_by_dropping_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 3);
        for i in 0..5 {
            spool.push(&report(&format!("r{i}"))).unwrap();
        }
        assert_eq!(ids(&spool), ["r2", "r3", "r4"]);
        assert_eq!(spool.len().unwrap(), 3);
    }

    #[test]
    fn corrupt_and_foreign_files_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 10);
        spool.push(&report("good")).unwrap();
        std::fs::write(dir.path().join("00000000000000000000-bad.json"), "{").unwrap();
        std::fs::write(dir.path().join("README"), "not a report").unwrap();
        std::fs::write(dir.path().join(".00000000000000000009-x.json.tmp-1"), "{").unwrap();
        let entries = spool.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(spool.load(&entries[0]).unwrap(), None);
        assert_eq!(ids(&spool), ["good"]);
    }
}
