//! The backup parsers by name, each on arbitrary text: the entry point of
//! the fuzz targets in `fuzz/` (the check reaches them through the jobs'
//! commands and marker files).

use super::{borg, command, marker, restic, time_machine};

/// Which tool output or file a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `restic snapshots --json`.
    ResticSnapshots,
    /// `restic stats latest --json`.
    ResticStats,
    /// `borg list --json`.
    BorgList,
    /// `borg info --json --last 1`.
    BorgInfo,
    /// A status command's JSON.
    StatusCommand,
    /// A marker file's body (its mtime fixed).
    Marker,
    /// `tmutil latestbackup`.
    TimeMachineLatest,
}

impl OutputKind {
    /// Every kind, in declaration order.
    pub const ALL: [OutputKind; 7] = [
        OutputKind::ResticSnapshots,
        OutputKind::ResticStats,
        OutputKind::BorgList,
        OutputKind::BorgInfo,
        OutputKind::StatusCommand,
        OutputKind::Marker,
        OutputKind::TimeMachineLatest,
    ];
}

/// Mtime given to a fuzzed marker file.
const MARKER_MTIME: i64 = 1_700_000_000;

/// Runs the parser for `kind` on `text`; what it found, in `Debug` form.
pub fn parse(kind: OutputKind, text: &str) -> String {
    match kind {
        OutputKind::ResticSnapshots => format!("{:?}", restic::parse_snapshots(text, &restic::SnapshotFilter::default())),
        OutputKind::ResticStats => format!("{:?}", restic::parse_stats_size(text)),
        OutputKind::BorgList => format!("{:?}", borg::parse_list(text, &borg::ArchiveFilter::default())),
        OutputKind::BorgInfo => format!("{:?}", borg::parse_info_size(text)),
        OutputKind::StatusCommand => format!("{:?}", command::parse_status(text)),
        OutputKind::Marker => format!("{:?}", marker::facts_from(MARKER_MTIME, text)),
        OutputKind::TimeMachineLatest => format!("{:?}", time_machine::parse_latestbackup(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reaches_its_parser() {
        assert_eq!(
            parse(
                OutputKind::ResticSnapshots,
                r#"[{"time":"2024-03-01T10:00:00Z"}]"#
            ),
            "Ok((1, Some(1709287200)))"
        );
        assert_eq!(
            parse(
                OutputKind::BorgInfo,
                r#"{"archives":[{"stats":{"original_size":7}}]}"#
            ),
            "Some(7)"
        );
        assert!(parse(OutputKind::BorgList, "not json").starts_with("Err("));
        assert!(parse(OutputKind::Marker, "").contains("1700000000"));
    }
}
