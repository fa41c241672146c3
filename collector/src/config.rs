//! Collector configuration: a raw TOML file, command-line overrides, then a
//! validated [`Config`] with every default filled in.
//!
//! Two stages on purpose: [`RawConfig`] is exactly what the file says (every
//! key optional, unknown keys refused with the key named), [`Config`] is what
//! the collector runs with (defaults applied, paths resolved, ranges checked).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alerts::{AlertsConfig, AlertsConfigError};
use crate::policy::{Policy, PolicyError};
use crate::time::RawDuration;

/// Default data directory (contract.md).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/fleetwatch-collector";
/// Default agent API listen address (contract.md).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Default metrics listen address (contract.md).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown keys included).
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message (names the offending key).
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid config value for `{key}`: {message}")]
    Invalid {
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The `[policy]` table is invalid (names the key, and its line when
    /// the config was read from text).
    #[error("invalid [policy]: {0}")]
    Policy(#[from] PolicyError),
    /// The `[alerts]` table is invalid (names the key).
    #[error("invalid [alerts]: {0}")]
    Alerts(#[from] AlertsConfigError),
}

/// TLS files from the config; configured files take precedence over the
/// certificate generated into the data dir.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
}

/// The config file as written: every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where the database, generated certificate and secrets live.
    pub data_dir: Option<PathBuf>,
    /// Agent API listen address (HTTPS).
    pub listen: Option<String>,
    /// Metrics listen address (plain HTTP).
    pub metrics_listen: Option<String>,
    /// TLS certificate and key files.
    pub tls: Option<RawTls>,
    /// File holding the fleet-wide enroll secret.
    pub enroll_secret_file: Option<PathBuf>,
    /// File holding the admin API bearer token.
    pub admin_token_file: Option<PathBuf>,
    /// File holding a bearer token required on `/metrics` (none: open).
    pub metrics_token_file: Option<PathBuf>,
    /// Interval the agents are told to report at.
    pub report_interval_secs: Option<u64>,
    /// Largest accepted report body, after gzip decoding too.
    pub max_report_bytes: Option<usize>,
    /// How long report history is kept.
    pub report_retention_days: Option<u64>,
    /// Newest report bodies kept per device (older ones are deleted).
    pub report_history_per_device: Option<u64>,
    /// Devices silent longer than this are dropped from metrics (kept in the DB).
    pub retire_after_days: Option<u64>,
    /// Capacity of the ingest queue in front of the database writer.
    pub ingest_queue: Option<usize>,
    /// Report bytes admitted and not yet acknowledged, at most.
    pub ingest_queue_bytes: Option<usize>,
    /// Enrollments per minute from one source address (0: no limit).
    pub enroll_rate_per_minute: Option<u64>,
    /// Most enrolled (not retired) devices; none by default.
    pub max_devices: Option<u64>,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Option<RawDuration>,
    /// `/metrics` renders running at once; more are answered 429.
    pub max_concurrent_scrapes: Option<usize>,
    /// Compliance exports (`/api/v1/compliance`, `.csv`) at once.
    pub max_concurrent_exports: Option<usize>,
    /// Compliance policy (validated by [`Policy`], which keeps line numbers
    /// when it reads the text itself: see [`Config::load`]).
    #[serde(default)]
    pub policy: Option<toml::Table>,
    /// Alert delivery (validated by [`AlertsConfig`]).
    #[serde(default)]
    pub alerts: Option<toml::Table>,
    /// Web console sessions and viewer tokens.
    pub console: Option<crate::console::config::RawConsole>,
    /// Software licences owned: title -> count.
    pub licences: Option<std::collections::BTreeMap<String, u64>>,
}

impl RawConfig {
    /// Parses config text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<String>,
}

/// The validated configuration the collector runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Agent API listen address.
    pub listen: SocketAddr,
    /// Metrics listen address.
    pub metrics_listen: SocketAddr,
    /// Configured certificate (else generated into the data dir).
    pub tls_cert_file: Option<PathBuf>,
    /// Configured key (else generated into the data dir).
    pub tls_key_file: Option<PathBuf>,
    /// Configured enroll secret file (else `<data_dir>/enroll-secret`).
    pub enroll_secret_file: Option<PathBuf>,
    /// Configured admin token file (else `<data_dir>/admin-token`).
    pub admin_token_file: Option<PathBuf>,
    /// Optional bearer token file for `/metrics`.
    pub metrics_token_file: Option<PathBuf>,
    /// Report interval told to agents.
    pub report_interval_secs: u64,
    /// Body size limit for reports (decoded).
    pub max_report_bytes: usize,
    /// Report history retention.
    pub report_retention_days: u64,
    /// Newest report bodies kept per device.
    pub report_history_per_device: u64,
    /// Silence after which a device leaves the metrics.
    pub retire_after_days: u64,
    /// Ingest queue capacity.
    pub ingest_queue: usize,
    /// Report bytes admitted and not yet acknowledged, at most.
    pub ingest_queue_bytes: usize,
    /// Enrollments per minute per source address (0: unlimited).
    pub enroll_rate_per_minute: u64,
    /// Most enrolled, not retired devices (`None`: no cap).
    pub max_devices: Option<u64>,
    /// Per-request time limit, seconds.
    pub request_timeout_secs: u64,
    /// Concurrent `/metrics` renders.
    pub max_concurrent_scrapes: usize,
    /// Concurrent compliance exports.
    pub max_concurrent_exports: usize,
    /// The compliance policy at start (hot-reloaded later from the file).
    /// Its `stale_after` is the one staleness threshold: `reporting` check,
    /// alerts and `fleetwatch_devices{state}`.
    pub policy: Policy,
    /// Alerting at start (reloaded together with the policy).
    pub alerts: AlertsConfig,
    /// Web console settings (sessions, viewer tokens, licences).
    pub console: crate::console::config::ConsoleConfig,
    /// The config file, when there is one (watched for policy changes).
    pub file: Option<PathBuf>,
    /// The file's text as read at start: the reload watcher compares the
    /// file with it, so an edit saved while the collector was starting is
    /// applied too.
    pub file_text: Option<String>,
    /// The command-line values, applied again to a reloaded file.
    pub overrides: Overrides,
}

impl Config {
    /// Reads a config file and validates it; policy errors name the key and
    /// its line in the file.
    pub fn load(path: &Path, overrides: Overrides) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_file_text(&text, path, overrides)
    }

    /// Validates the text of the config file at `path` (what
    /// [`Config::load`] and a reload both do: every key of the file).
    pub fn from_file_text(
        text: &str,
        path: &Path,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let raw = RawConfig::parse(text, path)?;
        let policy = Policy::from_collector_config_str(text, &path.display().to_string())?;
        let mut config = Config::build(
            RawConfig {
                policy: None,
                ..raw
            },
            overrides,
        )?;
        config.policy = policy;
        config.file = Some(path.to_path_buf());
        config.file_text = Some(text.to_string());
        Ok(config)
    }

    /// The keys whose new value in `new` takes effect only after a restart
    /// (everything but `[policy]` and `[alerts]`).
    pub fn restart_needed_for(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut differs = |key: &'static str, changed: bool| {
            if changed {
                keys.push(key);
            }
        };
        differs("data_dir", self.data_dir != new.data_dir);
        differs("listen", self.listen != new.listen);
        differs("metrics_listen", self.metrics_listen != new.metrics_listen);
        differs(
            "tls",
            self.tls_cert_file != new.tls_cert_file || self.tls_key_file != new.tls_key_file,
        );
        differs(
            "enroll_secret_file",
            self.enroll_secret_file != new.enroll_secret_file,
        );
        differs(
            "admin_token_file",
            self.admin_token_file != new.admin_token_file,
        );
        differs(
            "metrics_token_file",
            self.metrics_token_file != new.metrics_token_file,
        );
        differs(
            "report_interval_secs",
            self.report_interval_secs != new.report_interval_secs,
        );
        differs(
            "max_report_bytes",
            self.max_report_bytes != new.max_report_bytes,
        );
        differs(
            "report_retention_days",
            self.report_retention_days != new.report_retention_days,
        );
        differs(
            "report_history_per_device",
            self.report_history_per_device != new.report_history_per_device,
        );
        differs(
            "retire_after_days",
            self.retire_after_days != new.retire_after_days,
        );
        differs("ingest_queue", self.ingest_queue != new.ingest_queue);
        differs(
            "ingest_queue_bytes",
            self.ingest_queue_bytes != new.ingest_queue_bytes,
        );
        differs(
            "enroll_rate_per_minute",
            self.enroll_rate_per_minute != new.enroll_rate_per_minute,
        );
        differs("max_devices", self.max_devices != new.max_devices);
        differs(
            "request_timeout",
            self.request_timeout_secs != new.request_timeout_secs,
        );
        differs(
            "max_concurrent_scrapes",
            self.max_concurrent_scrapes != new.max_concurrent_scrapes,
        );
        differs(
            "max_concurrent_exports",
            self.max_concurrent_exports != new.max_concurrent_exports,
        );
        differs("console", self.console != new.console);
        keys
    }

    /// Applies overrides and defaults to a raw config and checks the values.
    pub fn build(raw: RawConfig, overrides: Overrides) -> Result<Self, ConfigError> {
        let given = overrides.clone();
        let listen = parse_addr(
            "listen",
            overrides.listen.or(raw.listen).as_deref(),
            DEFAULT_LISTEN,
        )?;
        let metrics_listen = parse_addr(
            "metrics_listen",
            overrides.metrics_listen.or(raw.metrics_listen).as_deref(),
            DEFAULT_METRICS_LISTEN,
        )?;
        let tls = raw.tls.unwrap_or_default();
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "tls",
                message: "set both cert_file and key_file, or neither".into(),
            });
        }
        let config = Config {
            data_dir: overrides
                .data_dir
                .or(raw.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen,
            metrics_listen,
            tls_cert_file: tls.cert_file,
            tls_key_file: tls.key_file,
            enroll_secret_file: raw.enroll_secret_file,
            admin_token_file: raw.admin_token_file,
            metrics_token_file: raw.metrics_token_file,
            report_interval_secs: positive("report_interval_secs", raw.report_interval_secs, 60)?,
            max_report_bytes: positive_usize("max_report_bytes", raw.max_report_bytes, 1 << 20)?,
            report_retention_days: positive(
                "report_retention_days",
                raw.report_retention_days,
                30,
            )?,
            report_history_per_device: positive(
                "report_history_per_device",
                raw.report_history_per_device,
                24,
            )?,
            retire_after_days: positive("retire_after_days", raw.retire_after_days, 90)?,
            ingest_queue: positive_usize("ingest_queue", raw.ingest_queue, 4096)?,
            ingest_queue_bytes: positive_usize(
                "ingest_queue_bytes",
                raw.ingest_queue_bytes,
                256 << 20,
            )?,
            enroll_rate_per_minute: raw.enroll_rate_per_minute.unwrap_or(60),
            max_devices: match raw.max_devices {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        key: "max_devices",
                        message: "must be greater than 0 (leave it out for no cap)".into(),
                    });
                }
                other => other,
            },
            request_timeout_secs: match raw.request_timeout {
                Some(d) => d
                    .seconds_in(1, 3_600)
                    .map_err(|message| ConfigError::Invalid {
                        key: "request_timeout",
                        message,
                    })? as u64,
                None => 30,
            },
            max_concurrent_scrapes: positive_usize(
                "max_concurrent_scrapes",
                raw.max_concurrent_scrapes,
                2,
            )?,
            max_concurrent_exports: positive_usize(
                "max_concurrent_exports",
                raw.max_concurrent_exports,
                2,
            )?,
            policy: match &raw.policy {
                Some(table) => Policy::from_table(table, "[policy]")?,
                None => Policy::default(),
            },
            alerts: AlertsConfig::from_table(raw.alerts.unwrap_or_default())?,
            console: crate::console::config::ConsoleConfig::build(raw.console, raw.licences)?,
            file: None,
            file_text: None,
            overrides: given,
        };
        Ok(config)
    }

    /// Path of the SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("fleetwatch.db")
    }
}

fn parse_addr(
    key: &'static str,
    value: Option<&str>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or(default);
    text.parse().map_err(|e| ConfigError::Invalid {
        key,
        message: format!("{text:?} is not an address like 0.0.0.0:8443 ({e})"),
    })
}

fn positive(key: &'static str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value {
        Some(0) => Err(ConfigError::Invalid {
            key,
            message: "must be greater than 0".into(),
        }),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn positive_usize(
    key: &'static str,
    value: Option<usize>,
    default: usize,
) -> Result<usize, ConfigError> {
    positive(key, value.map(|v| v as u64), default as u64).map(|v| v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/collector.example.toml"
        ));
        let config = Config::load(path, Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.report_interval_secs, 60);
        assert_eq!(config.max_report_bytes, 1 << 20);
        // The example documents the defaults.
        assert_eq!(config.policy, Policy::default());
        assert_eq!(config.alerts, AlertsConfig::default());
        assert_eq!(
            config.console,
            crate::console::config::ConsoleConfig::default()
        );
        assert_eq!(config.file.as_deref(), Some(path));
        // Its commented-out [policy] and [alerts] keys are valid too.
        let text = std::fs::read_to_string(path).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|k| k.contains(" = ") || k.starts_with('['))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let policy_and_alerts = &uncommented[uncommented.find("\n[policy]\n").unwrap()..];
        let raw = RawConfig::parse(policy_and_alerts, path).unwrap();
        let config = Config::build(raw, Overrides::default()).unwrap();
        assert!(config.alerts.enabled());
        assert_eq!(config.policy.patch_cache_max_age_secs, Some(7 * 86_400));
    }

    #[test]
    fn empty_config_gets_defaults() {
        let config = Config::build(RawConfig::default(), Overrides::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(config.metrics_listen.to_string(), DEFAULT_METRICS_LISTEN);
        assert_eq!(config.policy, Policy::default());
        assert!(!config.alerts.enabled());
        assert_eq!(config.report_retention_days, 30);
        assert_eq!(config.report_history_per_device, 24);
        assert_eq!(config.retire_after_days, 90);
    }

    #[test]
    fn a_bad_policy_in_the_file_names_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\n\n[policy]\npassword_min_length = 0\n",
        )
        .unwrap();
        let err = Config::load(&path, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.password_min_length (line 4)"), "{err}");
        assert!(err.contains("collector.toml"), "{err}");
    }

    #[test]
    fn every_duration_key_has_the_same_grammar() {
        for value in ["7200", "\"2h\"", "\"1h60m\""] {
            let raw = RawConfig::parse(
                &format!(
                    "[policy]\nstale_after = {value}\n[alerts]\nresend_interval = {value}\nstartup_grace = {value}\n"
                ),
                Path::new("c.toml"),
            )
            .unwrap();
            let config = Config::build(raw, Overrides::default()).unwrap();
            assert_eq!(config.policy.stale_after_secs, 7200, "{value}");
            assert_eq!(config.alerts.resend_interval, 7200, "{value}");
            assert_eq!(config.alerts.startup_grace, 7200, "{value}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let err = RawConfig::parse("lisen = \"0.0.0.0:1\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = RawConfig::parse("[tls]\ncert = \"x\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("cert"), "{err}");
    }

    #[test]
    fn flags_override_file() {
        let raw = RawConfig::parse(
            "data_dir = \"/from/file\"\nlisten = \"127.0.0.1:1\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let config = Config::build(
            raw,
            Overrides {
                data_dir: Some("/from/flag".into()),
                listen: None,
                metrics_listen: Some("127.0.0.1:2".into()),
            },
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:1");
        assert_eq!(config.metrics_listen.to_string(), "127.0.0.1:2");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let raw = RawConfig::parse("report_interval_secs = 0\n", Path::new("c.toml")).unwrap();
        let err = Config::build(raw, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("report_interval_secs"), "{err}");
        // Staleness is the policy's stale_after now.
        assert!(RawConfig::parse("stale_after_secs = 900\n", Path::new("c.toml")).is_err());
        let raw =
            RawConfig::parse("[alerts]\nresend_interval = \"x\"\n", Path::new("c.toml")).unwrap();
        let err = Config::build(raw, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("alerts.resend_interval"), "{err}");
        let raw = RawConfig::parse("[tls]\ncert_file = \"/c.pem\"\n", Path::new("c.toml")).unwrap();
        assert!(Config::build(raw, Overrides::default()).is_err());
        let raw = RawConfig::parse("listen = \"nope\"\n", Path::new("c.toml")).unwrap();
        let err = Config::build(raw, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }
}
