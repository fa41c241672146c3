//! The agent's state directory: `node_key` (0600), `device.json`, `spool/`.
//! Every file is written atomically (temp file + rename) so a crash never
//! leaves half a key behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A failed state-directory operation; carries the path.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct StateError {
    /// What was attempted ("could not write").
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// Underlying error.
    pub source: std::io::Error,
}

/// What the agent remembers about its enrollment and the collector's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// Device id given at enrollment.
    pub device_id: String,
    /// `packages_hash` of the last accepted report's answer.
    #[serde(default)]
    pub packages_hash: Option<String>,
    /// Report interval the collector asked for.
    #[serde(default)]
    pub report_interval_secs: Option<u64>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// State kept in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the node key file.
    pub fn node_key_path(&self) -> PathBuf {
        self.dir.join("node_key")
    }

    /// Path of device.json.
    pub fn device_path(&self) -> PathBuf {
        self.dir.join("device.json")
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("spool")
    }

    /// The node key, `None` when not enrolled.
    pub fn node_key(&self) -> Result<Option<String>, StateError> {
        let path = self.node_key_path();
        match std::fs::read_to_string(&path) {
            Ok(k) if !k.trim().is_empty() => Ok(Some(k.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError {
                action: "could not read",
                path,
                source,
            }),
        }
    }

    /// Stores the node key, readable by the owner only.
    pub fn set_node_key(&self, key: &str) -> Result<(), StateError> {
        write_atomic(&self.node_key_path(), key.as_bytes(), 0o600)
    }

    /// device.json, `None` when not enrolled (or unreadable garbage).
    pub fn device(&self) -> Result<Option<DeviceState>, StateError> {
        let path = self.device_path();
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => Ok(Some(state)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring corrupt device.json");
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError {
                action: "could not read",
                path,
                source,
            }),
        }
    }

    /// Writes device.json.
    pub fn set_device(&self, state: &DeviceState) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(state).expect("DeviceState serializes");
        write_atomic(&self.device_path(), &json, 0o644)
    }
}

/// Writes `bytes` to `path` atomically: a temp file created with `mode` in
/// the same directory, synced, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| StateError {
            action,
            path,
            source,
        }
    };
    create_private_dir(dir).map_err(fail("could not create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Created with the final mode: a secret is never briefly world-readable.
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("could not write", path)(e)
    })
}

/// Creates a directory (and parents) readable by the owner only; on
/// Windows, by SYSTEM and Administrators only (a protected DACL, applied
/// each time: ProgramData would otherwise let Users read the node key).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(windows)]
    crate::platform::windows::secure_dir::protect(dir).map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_key_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        assert_eq!(state.node_key().unwrap(), None);
        state.set_node_key("abc123").unwrap();
        assert_eq!(state.node_key().unwrap().as_deref(), Some("abc123"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(state.node_key_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        state.set_node_key("def456").unwrap();
        assert_eq!(state.node_key().unwrap().as_deref(), Some("def456"));
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(state.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["node_key"]);
    }

    #[test]
    fn device_state_round_trips_and_corruption_is_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.device().unwrap(), None);
        let d = DeviceState {
            device_id: "dev-1".into(),
            packages_hash: Some("ab".into()),
            report_interval_secs: Some(60),
        };
        state.set_device(&d).unwrap();
        assert_eq!(state.device().unwrap(), Some(d));
        std::fs::write(state.device_path(), "{garbage").unwrap();
        assert_eq!(state.device().unwrap(), None);
    }
}
