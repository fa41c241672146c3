//! A size-capped, rotated log file: what the agent logs to when it runs as
//! a Windows service (no terminal, and the Event Log needs a registered
//! message DLL to be readable). `agent.log` grows to a cap, then becomes
//! `agent.log.1` (the older ones move up, the oldest past the kept count is
//! deleted) and a new `agent.log` starts; a line is never split across two
//! files.
//!
//! ```
//! use std::io::Write;
//! let dir = tempfile::tempdir().unwrap();
//! let mut log = fleetwatch_agent::logging::RotatingFile::open(dir.path(), 64, 2).unwrap();
//! writeln!(log, "started").unwrap();
//! assert!(dir.path().join("agent.log").is_file());
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the current log file.
pub const LOG_FILE_NAME: &str = "agent.log";
/// Default size cap of one log file.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of files kept, the current one included.
pub const DEFAULT_KEEP: usize = 5;

/// An append-only log file under a directory, rotated by size.
#[derive(Debug)]
pub struct RotatingFile {
    dir: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    written: u64,
}

impl RotatingFile {
    /// Opens (creating `dir` and appending to an existing `agent.log`) a
    /// log that keeps at most `keep` files (at least 1) of about
    /// `max_bytes` each.
    pub fn open(dir: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        std::fs::create_dir_all(dir)?;
        let file = open_append(&dir.join(LOG_FILE_NAME))?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            file,
            written,
        })
    }

    /// The path of the `n`th file: 0 is the current one, 1 the previous.
    pub fn path(&self, n: usize) -> PathBuf {
        numbered(&self.dir, n)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        // The oldest kept file is dropped, every other one moves up by one.
        let _ = std::fs::remove_file(numbered(&self.dir, self.keep - 1));
        for n in (0..self.keep - 1).rev() {
            let from = numbered(&self.dir, n);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.dir, n + 1))?;
            }
        }
        self.file = open_append(&numbered(&self.dir, 0))?;
        self.written = 0;
        Ok(())
    }
}

fn numbered(dir: &Path, n: usize) -> PathBuf {
    if n == 0 {
        dir.join(LOG_FILE_NAME)
    } else {
        dir.join(format!("{LOG_FILE_NAME}.{n}"))
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for RotatingFile {
    /// Writes one formatted event (tracing writes each event in one call):
    /// rotates first if it would take the file past the cap, so a line is
    /// never split; with one file kept, the file is truncated instead.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_at_the_cap_keeps_n_files_and_never_splits_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RotatingFile::open(dir.path(), 20, 3).unwrap();
        for i in 0..10 {
            // 10 bytes a line: two lines per file.
            log.write_all(format!("line {i:04}\n").as_bytes()).unwrap();
        }
        log.flush().unwrap();
        assert_eq!(read(&log.path(0)), "line 0008\nline 0009\n");
        assert_eq!(read(&log.path(1)), "line 0006\nline 0007\n");
        assert_eq!(read(&log.path(2)), "line 0004\nline 0005\n");
        // Only three files are kept.
        assert!(!log.path(3).exists());
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 3);
    }

    #[test]
    fn reopening_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = RotatingFile::open(dir.path(), 25, 2).unwrap();
            log.write_all(b"first run 1\n").unwrap();
        }
        let mut log = RotatingFile::open(dir.path(), 25, 2).unwrap();
        log.write_all(b"second run 1\n").unwrap();
        assert_eq!(read(&log.path(0)), "first run 1\nsecond run 1\n");
        // 25 bytes are there: the next line goes to a new file.
        log.write_all(b"second run 2\n").unwrap();
        assert_eq!(read(&log.path(0)), "second run 2\n");
        assert_eq!(read(&log.path(1)), "first run 1\nsecond run 1\n");
    }

    #[test]
    fn a_line_longer_than_the_cap_is_written_whole_and_one_file_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RotatingFile::open(dir.path(), 4, 1).unwrap();
        log.write_all(b"a long line\n").unwrap();
        log.write_all(b"next\n").unwrap();
        assert_eq!(read(&log.path(0)), "next\n");
        assert!(!log.path(1).exists());
    }
}
