//! `fleetwatch-agent.exe service configure`: writes the agent's config
//! (`%ProgramData%\fleetwatch\agent.toml`) and the enroll secret next to it
//! from what the MSI (its properties `COLLECTOR_URL`, `CA_FINGERPRINT`,
//! `ENROLL_SECRET`) or `install.ps1` passes. The secret never goes into
//! `agent.toml` itself: it is a file of its own, and both are written with
//! [`crate::state::write_atomic`], which on Windows gives their directory
//! the private ACL (SYSTEM and Administrators only) before the file is
//! created. Rendering and validation are pure and tested on Linux.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{self, ConfigError, Overrides};
use crate::state::{StateError, write_atomic};

/// Name of the file holding the enroll secret, next to the config.
pub const ENROLL_SECRET_FILE_NAME: &str = "enroll-secret";
/// Name of the state directory (node key, device, spool), next to the config.
pub const STATE_DIR_NAME: &str = "state";

/// What an installer provides. Empty strings count as not given (an MSI
/// property that was not set expands to "").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// `COLLECTOR_URL`: `https://collector.example:8443`.
    pub collector_url: String,
    /// `CA_FINGERPRINT`: `sha256:<64 hex>` of the collector's certificate.
    pub ca_fingerprint: String,
    /// `CA_FILE`: a PEM file to trust instead of a pinned fingerprint.
    pub ca_file: String,
    /// `ENROLL_SECRET`.
    pub enroll_secret: String,
}

/// Why the config was not written.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The values do not make a valid agent config.
    #[error("the installer's settings are not a valid agent config: {0}")]
    Invalid(#[from] ConfigError),
    /// A required value is missing.
    #[error("{0} is required (msiexec ... {0}=...)")]
    Missing(&'static str),
    /// The config could not be rendered.
    #[error("could not render the agent config: {0}")]
    Render(#[from] toml::ser::Error),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] StateError),
}

/// `agent.toml` as written by an installer (only the keys it sets).
#[derive(Debug, Serialize)]
struct InstalledConfig<'a> {
    collector_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_fingerprint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enroll_secret_file: Option<PathBuf>,
    state_dir: PathBuf,
}

fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// The `agent.toml` text for `settings`, the secret referenced as a file in
/// `dir`; validated by the agent's own config loader.
pub fn render_config(settings: &Provisioning, dir: &Path) -> Result<String, ProvisionError> {
    let collector_url =
        given(&settings.collector_url).ok_or(ProvisionError::Missing("COLLECTOR_URL"))?;
    let config = InstalledConfig {
        collector_url,
        ca_fingerprint: given(&settings.ca_fingerprint),
        ca_file: given(&settings.ca_file),
        enroll_secret_file: given(&settings.enroll_secret)
            .map(|_| dir.join(ENROLL_SECRET_FILE_NAME)),
        // Next to the config, whatever the service's environment says.
        state_dir: dir.join(STATE_DIR_NAME),
    };
    let header = "# Written by the fleetwatch installer (fleetwatch-agent service configure).\n\
                  # The enroll secret is in enroll_secret_file, readable by SYSTEM and\n\
                  # Administrators only. Other keys: agent/agent.example.toml.\n";
    let text = format!("{header}{}", toml::to_string(&config)?);
    let path = dir.join("agent.toml");
    config::build(config::parse(&text, &path)?, &Overrides::default())?;
    Ok(text)
}

/// Writes `dir\agent.toml` (and `dir\enroll-secret` when a secret is
/// given) for `settings`; returns the config path.
pub fn write_config(settings: &Provisioning, dir: &Path) -> Result<PathBuf, ProvisionError> {
    let text = render_config(settings, dir)?;
    if let Some(secret) = given(&settings.enroll_secret) {
        // 0600 where modes exist; the directory's private ACL on Windows.
        write_atomic(&dir.join(ENROLL_SECRET_FILE_NAME), secret.as_bytes(), 0o600)?;
    }
    let path = dir.join("agent.toml");
    write_atomic(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Provisioning {
        Provisioning {
            collector_url: "https://collector.example:8443".into(),
            ca_fingerprint: format!("sha256:{}", "ab".repeat(32)),
            ca_file: String::new(),
            enroll_secret: "s3cret \"quoted\"".into(),
        }
    }

    #[test]
    fn the_config_names_the_secret_file_and_never_holds_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(&settings(), dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let cfg =
            config::build(config::parse(&text, &path).unwrap(), &Overrides::default()).unwrap();
        assert_eq!(
            cfg.collector_url.as_deref(),
            Some("https://collector.example:8443")
        );
        assert_eq!(cfg.state_dir, dir.path().join(STATE_DIR_NAME));
        let secret_file = cfg.enroll_secret_file.unwrap();
        assert_eq!(secret_file, dir.path().join(ENROLL_SECRET_FILE_NAME));
        assert_eq!(
            std::fs::read_to_string(secret_file).unwrap(),
            "s3cret \"quoted\""
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ENROLL_SECRET_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn unset_msi_properties_are_absent_and_a_missing_url_or_bad_pin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = render_config(
            &Provisioning {
                collector_url: "https://c:8443".into(),
                ..Default::default()
            },
            dir.path(),
        )
        .unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(" = ").next())
            .collect();
        assert_eq!(keys, ["collector_url", "state_dir"], "{text}");
        assert!(matches!(
            render_config(&Provisioning::default(), dir.path()),
            Err(ProvisionError::Missing("COLLECTOR_URL"))
        ));
        let bad = Provisioning {
            ca_fingerprint: "sha256:nothex".into(),
            ..settings()
        };
        assert!(matches!(
            render_config(&bad, dir.path()),
            Err(ProvisionError::Invalid(_))
        ));
        let http = Provisioning {
            collector_url: "http://c:8443".into(),
            ..settings()
        };
        assert!(render_config(&http, dir.path()).is_err());
        // Nothing was written by the refused attempts.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
