//! A file-system root that all host reads go through.

use std::path::{Path, PathBuf};

/// A failed read of a host file; carries the host path (as seen inside the root).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The file does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// Host path.
        path: String,
    },
    /// The file exists but this process may not read it.
    #[error("{path} is not readable: permission denied")]
    PermissionDenied {
        /// Host path.
        path: String,
    },
    /// Any other I/O failure.
    #[error("could not read {path}: {source}")]
    Io {
        /// Host path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl HostError {
    fn from_io(path: &str, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => HostError::NotFound { path: path.into() },
            std::io::ErrorKind::PermissionDenied => {
                HostError::PermissionDenied { path: path.into() }
            }
            _ => HostError::Io {
                path: path.into(),
                source,
            },
        }
    }

    /// True when the file simply is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HostError::NotFound { .. })
    }
}

/// The root under which host paths such as `/etc/os-release` are resolved.
///
/// `SysRoot::live()` is `/`; tests use `SysRoot::new("tests/hosts/debian12")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysRoot {
    root: PathBuf,
}

impl Default for SysRoot {
    fn default() -> Self {
        Self::live()
    }
}

impl SysRoot {
    /// The real machine.
    pub fn live() -> Self {
        SysRoot {
            root: PathBuf::from("/"),
        }
    }

    /// A fixture tree (or a chroot) at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SysRoot { root: root.into() }
    }

    /// True when this root is the real machine's `/`; checks only use
    /// system calls (statvfs, getifaddrs...) that cannot be redirected when live.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The root directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where host path `path` (absolute, e.g. `/etc/passwd`) lives under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Reads a host file as UTF-8 (lossily: host files are not always clean).
    pub fn read_to_string(&self, path: &str) -> Result<String, HostError> {
        let bytes = self.read_bytes(path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Reads a host file's bytes (binary property lists, say).
    pub fn read_bytes(&self, path: &str) -> Result<Vec<u8>, HostError> {
        std::fs::read(self.path(path)).map_err(|e| HostError::from_io(path, e))
    }

    /// Reads a host file, `Ok(None)` when it does not exist.
    pub fn read_optional(&self, path: &str) -> Result<Option<String>, HostError> {
        match self.read_to_string(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a one-line sysfs-style value, trimmed; `None` if absent, unreadable or empty.
    pub fn read_value(&self, path: &str) -> Option<String> {
        let text = self.read_to_string(path).ok()?;
        let value = text.trim();
        (!value.is_empty()).then(|| value.to_string())
    }

    /// Metadata of a host path.
    pub fn metadata(&self, path: &str) -> Result<std::fs::Metadata, HostError> {
        std::fs::metadata(self.path(path)).map_err(|e| HostError::from_io(path, e))
    }

    /// Reads at most `max` bytes from the start of a host file (a header of
    /// a large binary file, say).
    pub fn read_prefix(&self, path: &str, max: usize) -> Result<Vec<u8>, HostError> {
        use std::io::Read;
        let file = std::fs::File::open(self.path(path)).map_err(|e| HostError::from_io(path, e))?;
        let mut buf = Vec::with_capacity(max);
        file.take(max as u64)
            .read_to_end(&mut buf)
            .map_err(|e| HostError::from_io(path, e))?;
        Ok(buf)
    }

    /// Modification time of a host path in Unix seconds.
    pub fn mtime(&self, path: &str) -> Result<i64, HostError> {
        let meta = self.metadata(path)?;
        let modified = meta.modified().map_err(|e| HostError::from_io(path, e))?;
        Ok(unix_seconds(modified))
    }

    /// True when the host path exists.
    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    /// Names of the entries of a host directory, sorted; empty if it does not exist.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, HostError> {
        let entries = match std::fs::read_dir(self.path(path)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(HostError::from_io(path, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| HostError::from_io(path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
}

/// Converts a `SystemTime` to Unix seconds (negative before 1970).
pub fn unix_seconds(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "box\n").unwrap();
        let root = SysRoot::new(dir.path());
        assert!(!root.is_live());
        assert_eq!(root.read_value("/etc/hostname").as_deref(), Some("box"));
        assert!(root.read_optional("/etc/missing").unwrap().is_none());
        let err = root.read_to_string("/etc/missing").unwrap_err();
        assert_eq!(err.to_string(), "/etc/missing does not exist");
        assert_eq!(root.list_dir("/etc").unwrap(), vec!["hostname"]);
        assert!(root.list_dir("/nope").unwrap().is_empty());
    }
}
