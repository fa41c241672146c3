//! Agent configuration: the TOML file (unknown keys are errors), then
//! command-line overrides, then validation into an [`AgentConfig`].
//!
//! ```
//! use fleetwatch_agent::config::{build, parse, Overrides};
//! let file = parse("collector_url = \"https://c.example:8443\"", "agent.toml".as_ref()).unwrap();
//! let cfg = build(file, &Overrides::default()).unwrap();
//! assert_eq!(cfg.once_deadline.as_secs(), 10);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::checks::backup::BackupJobConfig;
use crate::host::{CommandRunner, HostCommands, RecordedRunner, SystemRunner, runner_for_root};
use crate::upload::tls::{Fingerprint, FingerprintError, Trust};

/// Default config file; a missing default file is fine.
#[cfg(all(unix, not(target_os = "macos")))]
pub const DEFAULT_CONFIG_PATH: &str = "/etc/fleetwatch/agent.toml";
/// Default state directory.
#[cfg(all(unix, not(target_os = "macos")))]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/fleetwatch-agent";
/// Default config file on Windows when `%ProgramData%` is unset (see
/// [`default_config_path`]).
#[cfg(windows)]
pub const DEFAULT_CONFIG_PATH: &str = r"C:\ProgramData\fleetwatch\agent.toml";
/// Default state directory on Windows when `%ProgramData%` is unset.
#[cfg(windows)]
pub const DEFAULT_STATE_DIR: &str = r"C:\ProgramData\fleetwatch\state";
/// Default config file on macOS (deploy/macos installs it there).
#[cfg(target_os = "macos")]
pub const DEFAULT_CONFIG_PATH: &str = "/Library/Application Support/fleetwatch/agent.toml";
/// Default state directory on macOS.
#[cfg(target_os = "macos")]
pub const DEFAULT_STATE_DIR: &str = "/Library/Application Support/fleetwatch/state";

/// Default of `marker_min_interval_secs`: a finished backup is reported at
/// once, a marker rewritten in a loop costs one report a minute.
pub const DEFAULT_MARKER_MIN_INTERVAL_SECS: u64 = 60;

/// The default config file: [`DEFAULT_CONFIG_PATH`], or on Windows
/// `%ProgramData%\fleetwatch\agent.toml` (ProgramData is not always on C:).
pub fn default_config_path() -> PathBuf {
    program_data_path("agent.toml").unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// The default state directory: [`DEFAULT_STATE_DIR`], or on Windows
/// `%ProgramData%\fleetwatch\state`.
pub fn default_state_dir() -> PathBuf {
    program_data_path("state").unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// Where the Windows service writes its rotated log files:
/// `%ProgramData%\fleetwatch\logs` (`C:\ProgramData\...` when unset).
#[cfg(windows)]
pub fn default_log_dir() -> PathBuf {
    program_data_path("logs").unwrap_or_else(|| PathBuf::from(r"C:\ProgramData\fleetwatch\logs"))
}

/// Where the Windows installers put `agent.toml` and the enroll secret:
/// `%ProgramData%\fleetwatch`.
#[cfg(windows)]
pub fn default_config_dir() -> PathBuf {
    default_config_path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData\fleetwatch"))
}

#[cfg(windows)]
fn program_data_path(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("ProgramData").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(base).join("fleetwatch").join(name))
}

#[cfg(not(windows))]
fn program_data_path(_name: &str) -> Option<PathBuf> {
    None
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly given config file could not be read.
    #[error("could not read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown/mistyped key.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key).
        message: String,
    },
    /// The file configures commands but others than root could change it.
    #[error(
        "refusing to run the backup commands of {path}: {reason}; only root may be able to change a config that makes the agent run commands (chown root {path}; chmod go-w {path})"
    )]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Who else could write it.
        reason: String,
    },
    /// A value is not acceptable.
    #[error("invalid setting `{key}`: {message}")]
    Invalid {
        /// The config key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The config file as written (every key optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Base URL of the collector (`https://collector.example:8443`).
    pub collector_url: Option<String>,
    /// PEM file with the CA (or the collector's own certificate) to trust.
    pub ca_file: Option<PathBuf>,
    /// Pinned SHA-256 fingerprint of the collector's certificate.
    pub ca_fingerprint: Option<String>,
    /// File holding the enroll secret.
    pub enroll_secret_file: Option<PathBuf>,
    /// Where node key, device.json and the spool live.
    pub state_dir: Option<PathBuf>,
    /// Host root (for containers mounting the host at /host).
    pub root: Option<PathBuf>,
    /// Report interval; overrides the collector's when set.
    pub interval_secs: Option<u64>,
    /// Limit for each external command.
    pub command_timeout_secs: Option<u64>,
    /// How long `once` tries to deliver before spooling.
    pub once_deadline_secs: Option<u64>,
    /// Most undelivered reports kept on disk.
    pub spool_max_reports: Option<usize>,
    /// Shortest time between two reports that backup marker changes
    /// trigger (changes in between are coalesced into the second).
    pub marker_min_interval_secs: Option<u64>,
    /// Which checks run.
    #[serde(default)]
    pub checks: ChecksConfig,
    /// Backup jobs to watch.
    #[serde(default)]
    pub backup: Vec<BackupJobConfig>,
    /// macOS-only settings.
    #[serde(default)]
    pub macos: MacosConfig,
}

/// `[macos]` settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MacosConfig {
    /// Run `softwareupdate --list` for pending updates. It contacts Apple's
    /// update servers, so it is off by default and the cached result of the
    /// Mac's own background check is reported instead.
    pub softwareupdate_scan: bool,
}

/// `[checks]` enable switches; all on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Device inventory.
    pub inventory: bool,
    /// Patch levels.
    pub patches: bool,
    /// Backup jobs.
    pub backup: bool,
    /// Password policy.
    pub password_policy: bool,
    /// Disk encryption, firewall, antivirus.
    pub data_protection: bool,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            inventory: true,
            patches: true,
            backup: true,
            password_policy: true,
            data_protection: true,
        }
    }
}

/// Command-line values that take precedence over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--collector`.
    pub collector_url: Option<String>,
    /// `--ca`.
    pub ca_file: Option<PathBuf>,
    /// `--ca-fingerprint`.
    pub ca_fingerprint: Option<String>,
    /// `--enroll-secret-file`.
    pub enroll_secret_file: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--root`.
    pub root: Option<PathBuf>,
    /// `--recorded-commands` (tests only): replay recorded command outputs
    /// from this directory instead of running commands.
    pub recorded_commands: Option<PathBuf>,
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Collector base URL without a trailing slash, if configured.
    pub collector_url: Option<String>,
    /// How the collector's certificate is trusted.
    pub trust: Trust,
    /// File holding the enroll secret.
    pub enroll_secret_file: Option<PathBuf>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Host root.
    pub root: PathBuf,
    /// Locally configured report interval (wins over the collector's).
    pub interval: Option<Duration>,
    /// Limit for each external command.
    pub command_timeout: Duration,
    /// How long `once` tries before spooling.
    pub once_deadline: Duration,
    /// Most undelivered reports kept on disk.
    pub spool_max_reports: usize,
    /// Shortest time between two marker-triggered reports.
    pub marker_min_interval: Duration,
    /// Which checks run.
    pub checks: ChecksConfig,
    /// Backup jobs.
    pub backup: Vec<BackupJobConfig>,
    /// macOS-only settings.
    pub macos: MacosConfig,
    /// Recorded command outputs replacing real commands (tests only).
    pub recorded_commands: Option<RecordedRunner>,
}

impl AgentConfig {
    /// The runner every check and the enrollment use: the recordings when
    /// configured, else the real commands of the host (run inside the host
    /// root when it is not `/`).
    pub fn command_runner(&self) -> Arc<dyn CommandRunner> {
        self.command_runners().0
    }

    /// [`command_runner`](Self::command_runner), and under a host root
    /// other than `/` (container mode) the [`HostCommands`] it runs
    /// through: the host's own tools, never the container's.
    pub fn command_runners(&self) -> (Arc<dyn CommandRunner>, Option<Arc<HostCommands>>) {
        match &self.recorded_commands {
            Some(recorded) => (Arc::new(recorded.clone()), None),
            None => runner_for_root(&self.root, Arc::new(SystemRunner::new())),
        }
    }
}

/// Parses config text; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Loads the config: `path` (explicit, must exist) or the default file (may
/// be missing), then applies `overrides` and validates.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<AgentConfig, ConfigError> {
    let (file_path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (default_config_path(), false),
    };
    let file = match std::fs::read_to_string(&file_path) {
        Ok(text) => {
            let file = parse(&text, &file_path)?;
            if file.backup.iter().any(runs_commands) {
                check_only_root_can_write(&file_path)?;
            }
            file
        }
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: file_path,
                source,
            });
        }
    };
    build(file, overrides)
}

/// True for jobs that make the agent run a program (restic, borg, a status
/// command): their `command`, `env` (LD_PRELOAD, PATH tricks) and
/// repository would run as root.
fn runs_commands(job: &BackupJobConfig) -> bool {
    use crate::checks::backup::BackupKind;
    matches!(
        job.kind,
        BackupKind::Command | BackupKind::Restic | BackupKind::Borg
    )
}

/// Refuses a config file that someone but root could change: owned by
/// another user, writable by group or others, or in a directory one of those
/// could replace it in.
#[cfg(unix)]
pub fn check_only_root_can_write(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let insecure = |reason: String| ConfigError::Insecure {
        path: path.to_path_buf(),
        reason,
    };
    let read = |p: &Path| {
        std::fs::metadata(p).map_err(|source| ConfigError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let meta = read(path)?;
    if meta.uid() != 0 {
        return Err(insecure(format!(
            "it is owned by uid {}, not root",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(insecure(format!(
            "it is writable by {} (mode {:o})",
            if meta.mode() & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            meta.mode() & 0o7777
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dmeta = read(&dir)?;
    // The sticky bit keeps others from replacing a root-owned file.
    let sticky = dmeta.mode() & 0o1000 != 0;
    if dmeta.uid() != 0 || (dmeta.mode() & 0o022 != 0 && !sticky) {
        return Err(insecure(format!(
            "its directory {} can be changed by others than root (owner uid {}, mode {:o})",
            dir.display(),
            dmeta.uid(),
            dmeta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Windows has no Unix modes; the installer's ACLs protect the file.
#[cfg(not(unix))]
pub fn check_only_root_can_write(_path: &Path) -> Result<(), ConfigError> {
    Ok(())
}

/// Where a job's tools keep their caches when the job does not say: the
/// unit's CacheDirectory (`XDG_CACHE_HOME`), else below the state directory.
fn default_cache_dir(state_dir: &Path) -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("cache"))
}

/// Applies overrides to a parsed file and validates the result.
pub fn build(file: FileConfig, o: &Overrides) -> Result<AgentConfig, ConfigError> {
    // A trust flag replaces the file's trust settings as a whole, so a
    // `--ca-fingerprint` on the command line wins over a `ca_file` in the file.
    let (ca_file, ca_fingerprint) = if o.ca_file.is_some() || o.ca_fingerprint.is_some() {
        (o.ca_file.clone(), o.ca_fingerprint.clone())
    } else {
        (file.ca_file, file.ca_fingerprint)
    };
    let trust = match (ca_file, ca_fingerprint) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "ca_file",
                message: "set either ca_file (--ca) or ca_fingerprint (--ca-fingerprint), not both"
                    .into(),
            });
        }
        (Some(file), None) => Trust::CaFile(file),
        (None, Some(fp)) => {
            Trust::Fingerprint(Fingerprint::parse(&fp).map_err(|e: FingerprintError| {
                ConfigError::Invalid {
                    key: "ca_fingerprint",
                    message: e.to_string(),
                }
            })?)
        }
        (None, None) => Trust::Unconfigured,
    };
    let collector_url = o.collector_url.clone().or(file.collector_url);
    if let Some(url) = collector_url
        .as_ref()
        .filter(|u| !u.starts_with("https://"))
    {
        return Err(ConfigError::Invalid {
            key: "collector_url",
            message: format!("{url:?} must start with https:// (the agent only speaks TLS)"),
        });
    }
    let positive = |key: &'static str, v: Option<u64>, default: u64| match v {
        Some(0) => Err(ConfigError::Invalid {
            key,
            message: "must be greater than 0".into(),
        }),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let interval = match file.interval_secs {
        Some(v) => Some(Duration::from_secs(positive("interval_secs", Some(v), 0)?)),
        None => None,
    };
    let spool_max_reports = file.spool_max_reports.unwrap_or(100);
    if spool_max_reports == 0 {
        return Err(ConfigError::Invalid {
            key: "spool_max_reports",
            message: "must be greater than 0".into(),
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for job in &file.backup {
        if !names.insert(job.name.as_str()) {
            return Err(ConfigError::Invalid {
                key: "backup",
                message: format!("two backup jobs are named {:?}", job.name),
            });
        }
    }
    let state_dir = o
        .state_dir
        .clone()
        .or(file.state_dir)
        .unwrap_or_else(default_state_dir);
    let mut backup = file.backup;
    for job in &mut backup {
        if job.cache_dir.is_none() {
            job.cache_dir = Some(default_cache_dir(&state_dir));
        }
    }
    Ok(AgentConfig {
        collector_url: collector_url.map(|u| u.trim_end_matches('/').to_string()),
        trust,
        enroll_secret_file: o.enroll_secret_file.clone().or(file.enroll_secret_file),
        state_dir,
        root: o
            .root
            .clone()
            .or(file.root)
            .unwrap_or_else(|| PathBuf::from("/")),
        interval,
        command_timeout: Duration::from_secs(positive(
            "command_timeout_secs",
            file.command_timeout_secs,
            30,
        )?),
        once_deadline: Duration::from_secs(positive(
            "once_deadline_secs",
            file.once_deadline_secs,
            10,
        )?),
        spool_max_reports,
        marker_min_interval: Duration::from_secs(positive(
            "marker_min_interval_secs",
            file.marker_min_interval_secs,
            DEFAULT_MARKER_MIN_INTERVAL_SECS,
        )?),
        checks: file.checks,
        backup,
        macos: file.macos,
        recorded_commands: match &o.recorded_commands {
            Some(dir) => Some(
                RecordedRunner::from_dir(dir).map_err(|e| ConfigError::Invalid {
                    key: "recorded_commands",
                    message: format!("{}: {e}", dir.display()),
                })?,
            ),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../agent.example.toml");

    #[test]
    fn the_example_config_parses_and_builds() {
        let file = parse(EXAMPLE, Path::new("agent.example.toml")).unwrap();
        assert_eq!(
            file.collector_url.as_deref(),
            Some("https://collector.example.com:8443")
        );
        assert!(!file.backup.is_empty());
        let cfg = build(file, &Overrides::default()).unwrap();
        assert!(matches!(cfg.trust, Trust::Fingerprint(_)));
        assert_eq!(cfg.once_deadline, Duration::from_secs(10));
    }

    #[test]
    fn every_toml_example_in_the_repository_parses() {
        let dirs = [
            concat!(env!("CARGO_MANIFEST_DIR")),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/macos"),
        ];
        let mut n = 0;
        for dir in dirs {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("agent") && name.ends_with(".toml") {
                    let text = std::fs::read_to_string(entry.path()).unwrap();
                    let file = parse(&text, &entry.path())
                        .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
                    build(file, &Overrides::default()).unwrap();
                    n += 1;
                }
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let err = parse(
            "collector_url = \"https://x\"\ncolector_timeout = 3\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("colector_timeout"), "{msg}");
        assert!(msg.contains("a.toml"), "{msg}");
        let err = parse("[checks]\ninventori = false\n", Path::new("a.toml")).unwrap_err();
        assert!(err.to_string().contains("inventori"), "{err}");
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let cfg = build(FileConfig::default(), &Overrides::default()).unwrap();
        assert_eq!(cfg.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(cfg.root, PathBuf::from("/"));
        assert_eq!(cfg.command_timeout, Duration::from_secs(30));
        assert_eq!(cfg.spool_max_reports, 100);
        assert_eq!(cfg.marker_min_interval, Duration::from_secs(60));
        assert_eq!(cfg.interval, None);
        assert!(cfg.checks.inventory && cfg.checks.password_policy);
        assert!(matches!(cfg.trust, Trust::Unconfigured));
    }

    #[test]
    fn flags_override_file_values() {
        let file = parse(
            "collector_url = \"https://file:8443/\"\nca_file = \"/etc/ca.pem\"\nstate_dir = \"/file\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let o = Overrides {
            collector_url: Some("https://flag:8443".into()),
            ca_fingerprint: Some(format!("sha256:{}", "ab".repeat(32))),
            state_dir: Some("/flag".into()),
            ..Overrides::default()
        };
        let cfg = build(file.clone(), &o).unwrap();
        assert_eq!(cfg.collector_url.as_deref(), Some("https://flag:8443"));
        assert_eq!(cfg.state_dir, PathBuf::from("/flag"));
        assert!(matches!(cfg.trust, Trust::Fingerprint(_)));
        let cfg = build(file, &Overrides::default()).unwrap();
        assert_eq!(cfg.collector_url.as_deref(), Some("https://file:8443"));
        assert!(matches!(cfg.trust, Trust::CaFile(_)));
    }

    #[test]
    fn invalid_values_are_refused() {
        let cases = [
            ("collector_url = \"http://plain\"", "collector_url"),
            ("ca_fingerprint = \"abc\"", "ca_fingerprint"),
            (
                "ca_file = \"/a\"\nca_fingerprint = \"sha256:00\"",
                "ca_file",
            ),
            ("once_deadline_secs = 0", "once_deadline_secs"),
            ("spool_max_reports = 0", "spool_max_reports"),
            ("interval_secs = \"soon\"", "interval_secs"),
        ];
        for (text, key) in cases {
            let err = parse(text, Path::new("a.toml"))
                .and_then(|f| build(f, &Overrides::default()))
                .unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_config_with_commands_writable_by_others_than_root_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        let commands = "[[backup]]\nname = \"s\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\n";
        std::fs::write(&path, commands).unwrap();
        let chmod =
            |mode| std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
        chmod(0o600);
        load(Some(&path), &Overrides::default()).unwrap();
        for mode in [0o620, 0o602, 0o666] {
            chmod(mode);
            let err = load(Some(&path), &Overrides::default()).unwrap_err();
            assert!(
                matches!(err, ConfigError::Insecure { .. }),
                "{mode:o}: {err}"
            );
            assert!(err.to_string().contains("refusing to run"), "{err}");
        }
        // Not owned by root (the tests run as root, so chown works).
        chmod(0o600);
        std::os::unix::fs::chown(&path, Some(1000), None).unwrap();
        let err = load(Some(&path), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("uid 1000"), "{err}");
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        // A directory others may write: they could swap the file.
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o777)).unwrap();
        let err = load(Some(&path), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("its directory"), "{err}");
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o1777)).unwrap();
        load(Some(&path), &Overrides::default()).unwrap();
        // A world-writable config without commands is not this check's business.
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o700)).unwrap();
        std::fs::write(
            &path,
            "[[backup]]\nname = \"m\"\nkind = \"marker\"\npath = \"/x\"\n",
        )
        .unwrap();
        chmod(0o666);
        load(Some(&path), &Overrides::default()).unwrap();
    }

    #[test]
    fn backup_jobs_get_a_cache_dir() {
        let file = parse(
            "state_dir = \"/var/lib/fw\"\n[[backup]]\nname = \"r\"\nkind = \"restic\"\nrepository = \"/r\"\n[[backup]]\nname = \"b\"\nkind = \"borg\"\nrepository = \"/b\"\ncache_dir = \"/c\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let cfg = build(file, &Overrides::default()).unwrap();
        let expected = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("/var/lib/fw/cache"), PathBuf::from);
        assert_eq!(cfg.backup[0].cache_dir.as_deref(), Some(expected.as_path()));
        assert_eq!(cfg.backup[1].cache_dir.as_deref(), Some(Path::new("/c")));
    }

    #[test]
    fn missing_default_file_is_fine_but_missing_explicit_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = load(Some(&missing), &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("nope.toml"));
        if !Path::new(DEFAULT_CONFIG_PATH).exists() {
            load(None, &Overrides::default()).unwrap();
        }
    }
}
