//! `[alerts]` section of the collector config: where alerts go and how.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::model::AlertName;
use crate::time::RawDuration;

/// A problem with the `[alerts]` section; names the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertsConfigError {
    /// The TOML did not fit the schema (unknown key, wrong type).
    #[error("alerts: {0}")]
    Invalid(String),
    /// A duration is not one, or out of range (names the value).
    #[error("alerts.{key}: {reason}")]
    Duration {
        /// Key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A URL is not http(s).
    #[error("alerts.{key}: {value:?} must be an http:// or https:// URL")]
    Url {
        /// Key.
        key: &'static str,
        /// Given value.
        value: String,
    },
    /// An alert name that does not exist.
    #[error("alerts.{key}: unknown alert {name:?} (known: {known})")]
    UnknownAlert {
        /// Key.
        key: &'static str,
        /// Given name.
        name: String,
        /// The valid names.
        known: String,
    },
    /// A value out of range.
    #[error("alerts.{key}: {reason}")]
    Range {
        /// Key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertsConfig {
    #[serde(default)]
    alertmanager_urls: Vec<String>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    webhook_bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    evaluation_interval: Option<RawDuration>,
    #[serde(default)]
    resend_interval: Option<RawDuration>,
    #[serde(default)]
    resolved_retention: Option<RawDuration>,
    #[serde(default)]
    webhook_repeat_interval: Option<RawDuration>,
    #[serde(default)]
    startup_grace: Option<RawDuration>,
    #[serde(default)]
    runbook_base_url: Option<String>,
    #[serde(default)]
    external_url: Option<String>,
    #[serde(default)]
    many_devices_not_reporting_fraction: Option<f64>,
    #[serde(default)]
    many_devices_min_devices: Option<usize>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
    #[serde(default)]
    disabled: Vec<String>,
}

/// Validated alerting configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// Alertmanager base URLs (`/api/v2/alerts` is appended).
    pub alertmanager_urls: Vec<String>,
    /// Generic webhook receiving the Alertmanager v4 payload.
    pub webhook_url: Option<String>,
    /// Bearer token file for the webhook.
    pub webhook_bearer_token_file: Option<PathBuf>,
    /// How often alerts are re-evaluated, seconds.
    pub evaluation_interval: i64,
    /// How often firing alerts are re-sent to Alertmanager, seconds.
    pub resend_interval: i64,
    /// How long resolved alerts keep being re-sent, seconds.
    pub resolved_retention: i64,
    /// How often an unchanged firing group is re-posted to the webhook, seconds.
    pub webhook_repeat_interval: i64,
    /// After a collector start, staleness is judged only after this, seconds.
    pub startup_grace: i64,
    /// Base of `runbook_url` (the alert's anchor is appended).
    pub runbook_base_url: String,
    /// The collector's own URL for `generatorURL`.
    pub external_url: String,
    /// Fraction of the fleet not reporting that raises the fleet alert.
    pub many_devices_not_reporting_fraction: f64,
    /// The fleet alert needs at least this many devices.
    pub many_devices_min_devices: usize,
    /// Severity per alert.
    pub severity: BTreeMap<AlertName, String>,
    /// Alerts switched off.
    pub disabled: Vec<AlertName>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig::from_table(toml::Table::new()).expect("defaults are valid")
    }
}

/// Durations of the alert loop: 1 s to a year (the policy's grammar).
fn duration(
    key: &'static str,
    value: Option<RawDuration>,
    default: &str,
) -> Result<i64, AlertsConfigError> {
    let value = value.unwrap_or_else(|| RawDuration::Text(default.to_string()));
    value
        .seconds_in(1, 365 * 86_400)
        .map_err(|reason| AlertsConfigError::Duration { key, reason })
}

fn url(key: &'static str, value: String) -> Result<String, AlertsConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(AlertsConfigError::Url { key, value })
    }
}

fn alert_name(key: &'static str, name: &str) -> Result<AlertName, AlertsConfigError> {
    AlertName::parse(name).ok_or_else(|| AlertsConfigError::UnknownAlert {
        key,
        name: name.into(),
        known: AlertName::ALL.map(AlertName::as_str).join(", "),
    })
}

impl AlertsConfig {
    /// Parses and validates an `[alerts]` table.
    pub fn from_table(table: toml::Table) -> Result<Self, AlertsConfigError> {
        let raw: RawAlertsConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| AlertsConfigError::Invalid(e.message().to_string()))?;
        let alertmanager_urls = raw
            .alertmanager_urls
            .into_iter()
            .map(|u| url("alertmanager_urls", u))
            .collect::<Result<_, _>>()?;
        let webhook_url = raw.webhook_url.map(|u| url("webhook_url", u)).transpose()?;
        let fraction = raw.many_devices_not_reporting_fraction.unwrap_or(0.2);
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(AlertsConfigError::Range {
                key: "many_devices_not_reporting_fraction",
                reason: format!("must be in (0, 1], got {fraction}"),
            });
        }
        let mut severity: BTreeMap<AlertName, String> = AlertName::ALL
            .into_iter()
            .map(|a| (a, a.default_severity().to_string()))
            .collect();
        for (name, sev) in raw.severity {
            let a = alert_name("severity", &name)?;
            if sev.is_empty() || sev.len() > 32 {
                return Err(AlertsConfigError::Range {
                    key: "severity",
                    reason: format!("{name}: severity must be 1-32 characters"),
                });
            }
            severity.insert(a, sev);
        }
        let disabled = raw
            .disabled
            .iter()
            .map(|n| alert_name("disabled", n))
            .collect::<Result<_, _>>()?;
        Ok(AlertsConfig {
            alertmanager_urls,
            webhook_url,
            webhook_bearer_token_file: raw.webhook_bearer_token_file,
            evaluation_interval: duration("evaluation_interval", raw.evaluation_interval, "15s")?,
            resend_interval: duration("resend_interval", raw.resend_interval, "1m")?,
            resolved_retention: duration("resolved_retention", raw.resolved_retention, "15m")?,
            webhook_repeat_interval: duration(
                "webhook_repeat_interval",
                raw.webhook_repeat_interval,
                "4h",
            )?,
            startup_grace: duration("startup_grace", raw.startup_grace, "10m")?,
            runbook_base_url: raw.runbook_base_url.unwrap_or_else(|| {
                "https://example.invalid/fleetwatch/blob/main/docs/operations.md#".into()
            }),
            external_url: raw.external_url.unwrap_or_default(),
            many_devices_not_reporting_fraction: fraction,
            many_devices_min_devices: raw.many_devices_min_devices.unwrap_or(10),
            severity,
            disabled,
        })
    }

    /// True when any destination is configured.
    pub fn enabled(&self) -> bool {
        !self.alertmanager_urls.is_empty() || self.webhook_url.is_some()
    }

    /// Severity label for an alert.
    pub fn severity_of(&self, name: AlertName) -> String {
        self.severity
            .get(&name)
            .cloned()
            .unwrap_or_else(|| name.default_severity().into())
    }

    /// `runbook_url` for an alert.
    pub fn runbook_url(&self, name: AlertName) -> String {
        format!("{}{}", self.runbook_base_url, name.runbook_anchor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, AlertsConfigError> {
        AlertsConfig::from_table(toml::from_str(text).unwrap())
    }

    #[test]
    fn defaults_send_nowhere() {
        let c = AlertsConfig::default();
        assert!(!c.enabled());
        assert_eq!(c.resend_interval, 60);
        assert_eq!(c.resolved_retention, 900);
        assert_eq!(c.severity_of(AlertName::BackupOverdue), "warning");
    }

    #[test]
    fn full_section_parses() {
        let c = parse(
            r#"
            alertmanager_urls = ["http://127.0.0.1:9093/"]
            webhook_url = "https://hooks.example/x"
            resend_interval = "30s"
            startup_grace = 300
            severity = { FleetwatchBackupOverdue = "critical" }
            disabled = ["FleetwatchCheckFailing"]
            "#,
        )
        .unwrap();
        assert_eq!(c.alertmanager_urls, vec!["http://127.0.0.1:9093"]);
        assert_eq!(c.resend_interval, 30);
        assert_eq!(c.startup_grace, 300);
        assert_eq!(c.severity_of(AlertName::BackupOverdue), "critical");
        assert_eq!(c.disabled, vec![AlertName::CheckFailing]);
        assert!(
            c.runbook_url(AlertName::RebootRequired)
                .ends_with("#fleetwatchrebootrequired")
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("resend_interval = \"soon\"").unwrap_err();
        assert!(e.to_string().starts_with("alerts.resend_interval:"), "{e}");
        let e = parse("startup_grace = 0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "alerts.startup_grace: must be between 1s and 365d, got 0s"
        );
        let e = parse("webhook_url = \"ftp://x\"").unwrap_err();
        assert!(e.to_string().contains("alerts.webhook_url"), "{e}");
        let e = parse("severity = { FleetwatchNope = \"x\" }").unwrap_err();
        assert!(e.to_string().contains("FleetwatchNope"), "{e}");
        let e = parse("alertmanager_url = \"http://x\"").unwrap_err();
        assert!(e.to_string().contains("alertmanager_url"), "{e}");
        let e = parse("many_devices_not_reporting_fraction = 1.5").unwrap_err();
        assert!(
            e.to_string()
                .contains("many_devices_not_reporting_fraction"),
            "{e}"
        );
    }
}
