//! HTTPS client for the collector's agent API: enrollment and one report
//! upload (gzip body, bearer node key, one re-enrollment on 401, a large
//! package list in parts, a 413 answered by resending without the list).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleetwatch_protocol::{
    ENROLL_PATH, EnrollRequest, EnrollResponse, ErrorBody, PACKAGES_PATH, Package,
    PackagesPartResponse, REPORTS_PATH, Report, ReportResponse,
};
use reqwest::StatusCode;

use super::parts::{
    FIRST_PART_BYTES, INLINE_PACKAGES_MAX_BYTES, MIN_PART_BYTES, PartBody, list_json_len, split,
};
use super::stats::UploadStats;
use super::tls::{TlsError, client_config};
use crate::checks::CheckContext;
use crate::config::AgentConfig;
use crate::host::{CommandRunner, SysRoot};
use crate::platform::{self, Platform};
use crate::report::AGENT_VERSION;
use crate::state::{DeviceState, StateDir, StateError};

/// Why talking to the collector failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No collector URL configured.
    #[error(
        "no collector configured: set --collector https://HOST:PORT (collector_url in the config)"
    )]
    NoCollector,
    /// TLS trust could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Enrollment needs a secret and none is configured.
    #[error(
        "not enrolled and no enroll secret: set --enroll-secret-file FILE (enroll_secret_file in the config)"
    )]
    NoSecret,
    /// The secret file could not be read.
    #[error("could not read enroll secret file {path}: {source}")]
    ReadSecret {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The collector refused to enroll this device (wrong secret...).
    #[error("collector refused enrollment ({status}): {message}")]
    EnrollRefused {
        /// HTTP status.
        status: u16,
        /// The collector's error message.
        message: String,
    },
    /// The collector rejected the report as malformed or too large; resending cannot help.
    #[error("collector rejected report {report_id} ({status}): {message}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Rejected {
        /// The report.
        report_id: String,
        /// HTTP status (400, 413, 422).
        status: u16,
        /// The collector's error message.
        message: String,
        /// The offending field, when the collector named it.
        field: Option<String>,
    },
    /// The node key is refused even after re-enrolling.
    #[error("collector refuses the node key even after re-enrolling")]
    Unauthorized,
    /// The collector could not be reached or the connection broke.
    #[error("could not reach the collector at {url}: {message}")]
    Transport {
        /// Request URL.
        url: String,
        /// The error and its causes.
        message: String,
    },
    /// The collector answered with a temporary failure (5xx, 429...).
    #[error("collector answered {status}: {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The collector's error message.
        message: String,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The collector's answer could not be understood.
    #[error("unexpected answer from the collector: {0}")]
    BadAnswer(String),
    /// The state directory could not be used.
    #[error(transparent)]
    State(#[from] StateError),
}

impl UploadError {
    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UploadError::Transport { .. }
                | UploadError::Unavailable { .. }
                | UploadError::BadAnswer(_)
                | UploadError::Unauthorized
        )
    }

    /// The delay the collector asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UploadError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One answer to a POST, before 401 handling.
enum Posted<T> {
    Accepted(T),
    Unauthorized,
    /// 404/405: this collector has no such route (an older version).
    NoRoute(u16),
}

/// What became of a package list sent in parts.
enum PartsOutcome {
    /// The collector stores the whole list (the report's answer then
    /// carries its hash).
    Stored,
    /// The collector has no parts route, refused the key, or refused the
    /// list; why (for the log).
    NotStored(String),
}

/// The longest one request may take, from the first SYN to the last byte
/// of the answer: connecting, the TLS handshake, sending, the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client every upload goes through: `tls` (from
/// [`client_config`]), the agent's user agent, and [`REQUEST_TIMEOUT`] as
/// the only bound.
///
/// There is deliberately no separate connect timeout: reqwest's covers the
/// TLS handshake as well as the TCP connect, and a collector under a
/// reconnect storm queues handshakes (first come, first served) while the
/// TCP connection is already established. A 10 s connect timeout turned
/// that queue into connection errors and retries that made it longer
/// (scripts/storm.sh); the request timeout still bounds an unreachable
/// collector. The load generator builds its client here too, so it models
/// the agent.
pub fn http_client_builder(tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("fleetwatch-agent/", env!("CARGO_PKG_VERSION")))
}

/// The collector client.
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    state: StateDir,
    enroll_secret_file: Option<PathBuf>,
    root: SysRoot,
    runner: Arc<dyn CommandRunner>,
    command_timeout: Duration,
}

impl Client {
    /// Builds a client from the configuration (TLS trust, URL, state dir).
    pub fn new(cfg: &AgentConfig) -> Result<Self, UploadError> {
        let base_url = cfg.collector_url.clone().ok_or(UploadError::NoCollector)?;
        let tls = client_config(&cfg.trust)?;
        let http = http_client_builder(tls)
            .build()
            .map_err(|e| UploadError::Transport {
                url: base_url.clone(),
                message: error_chain(&e),
            })?;
        Ok(Client {
            http,
            base_url,
            state: StateDir::new(&cfg.state_dir),
            enroll_secret_file: cfg.enroll_secret_file.clone(),
            root: SysRoot::new(&cfg.root),
            runner: cfg.command_runner(),
            command_timeout: cfg.command_timeout,
        })
    }

    /// The state directory this client keeps its key in.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Enrolls (again): stores the node key (0600) and device.json.
    pub async fn enroll(&self) -> Result<DeviceState, UploadError> {
        let path = self
            .enroll_secret_file
            .as_ref()
            .ok_or(UploadError::NoSecret)?;
        let secret = std::fs::read_to_string(path).map_err(|source| UploadError::ReadSecret {
            path: path.clone(),
            source,
        })?;
        let (root, runner, timeout) =
            (self.root.clone(), self.runner.clone(), self.command_timeout);
        // Reading the identity may run commands (system_profiler on a Mac).
        let identity = tokio::task::spawn_blocking(move || {
            let ctx = CheckContext {
                root: &root,
                runner: runner.as_ref(),
                now: 0,
                command_timeout: timeout,
            };
            platform::host_identity(Platform::detect(&root), &ctx)
        })
        .await
        .unwrap_or_default();
        let request = EnrollRequest {
            enroll_secret: secret.trim().to_string(),
            identity,
            agent_version: AGENT_VERSION.to_string(),
        };
        let url = format!("{}{ENROLL_PATH}", self.base_url);
        let response = self
            .http
            .post(&url)
            .json(&request)
            .send()
            .await
            .map_err(|e| transport(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(&response);
            let message = error_message(response).await;
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => {
                    UploadError::EnrollRefused {
                        status: status.as_u16(),
                        message,
                    }
                }
                _ => UploadError::Unavailable {
                    status: status.as_u16(),
                    message,
                    retry_after,
                },
            });
        }
        let answer: EnrollResponse = response
            .json()
            .await
            .map_err(|e| UploadError::BadAnswer(error_chain(&e)))?;
        self.state.set_node_key(&answer.node_key)?;
        let device = DeviceState {
            device_id: answer.device_id,
            packages_hash: None,
            report_interval_secs: Some(answer.report_interval_secs),
        };
        self.state.set_device(&device)?;
        tracing::info!(device_id = %device.device_id, "enrolled with the collector");
        Ok(device)
    }

    /// The stored enrollment, enrolling first when there is none.
    pub async fn ensure_enrolled(&self) -> Result<(String, DeviceState), UploadError> {
        if let (Some(key), Some(device)) = (self.state.node_key()?, self.state.device()?) {
            return Ok((key, device));
        }
        let device = self.enroll().await?;
        let key = self.state.node_key()?.ok_or_else(|| {
            UploadError::BadAnswer("node key missing right after enrollment".into())
        })?;
        Ok((key, device))
    }

    /// Sends one report (device id filled in from the enrollment); on 401
    /// re-enrolls once and resends. Remembers the collector's answer.
    ///
    /// A package list too large to ride along goes first in parts
    /// ([`PACKAGES_PATH`]); a report refused as too large (413) is sent
    /// again without its list (counted in [`UploadStats`] and logged), so
    /// the device keeps reporting whatever its list weighs.
    pub async fn send(&self, report: &mut Report) -> Result<ReportResponse, UploadError> {
        let (mut key, mut device) = self.ensure_enrolled().await?;
        report.device_id = device.device_id.clone();
        let mut parts_tried = false;
        if package_items(report).is_some_and(|i| list_json_len(i) > INLINE_PACKAGES_MAX_BYTES) {
            parts_tried = true;
            match self.send_packages_in_parts(report, &key).await? {
                PartsOutcome::Stored => take_package_items(report),
                PartsOutcome::NotStored(why) => {
                    tracing::info!(reason = %why, "package list not sent in parts; it rides in the report");
                }
            }
        }
        let mut reenrolled = false;
        let response = loop {
            match self.post_report(report, &key).await {
                Ok(Posted::Accepted(r)) => break r,
                Ok(Posted::Unauthorized) if !reenrolled => {
                    tracing::warn!("collector does not know our node key; enrolling again");
                    reenrolled = true;
                    device = self.enroll().await?;
                    key = self.state.node_key()?.unwrap_or_default();
                    report.device_id = device.device_id.clone();
                }
                Ok(Posted::Unauthorized) => return Err(UploadError::Unauthorized),
                Ok(Posted::NoRoute(status)) => {
                    return Err(UploadError::Unavailable {
                        status,
                        message: format!("the collector has no {REPORTS_PATH}"),
                        retry_after: None,
                    });
                }
                Err(UploadError::Rejected { status: 413, .. })
                    if package_items(report).is_some() =>
                {
                    self.count(|s| s.reports_too_large += 1);
                    let outcome = if parts_tried {
                        PartsOutcome::NotStored("parts were tried before the report".into())
                    } else {
                        parts_tried = true;
                        self.send_packages_in_parts(report, &key).await?
                    };
                    take_package_items(report);
                    match outcome {
                        PartsOutcome::Stored => tracing::warn!(
                            report_id = %report.report_id,
                            "collector refused the report as too large; package list sent in parts, report sent without it"
                        ),
                        PartsOutcome::NotStored(why) => {
                            self.count(|s| s.packages_withheld += 1);
                            tracing::warn!(
                                report_id = %report.report_id,
                                package_list = %why,
                                "collector refused the report as too large; sending it without the package list"
                            );
                        }
                    }
                }
                Err(e @ UploadError::Rejected { status: 413, .. }) => {
                    self.count(|s| s.reports_too_large += 1);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        };
        device.packages_hash = response.packages_hash.clone();
        device.report_interval_secs = Some(response.report_interval_secs);
        self.state.set_device(&device)?;
        Ok(response)
    }

    /// Bumps an upload counter; a state dir that cannot be written only
    /// costs the count (the report itself matters more).
    fn count(&self, change: impl FnOnce(&mut UploadStats)) {
        if let Err(e) = UploadStats::update(&self.state, change) {
            tracing::warn!(error = %e, "could not update the upload counters");
        }
    }

    /// Sends the report's package list in parts, halving the part size on
    /// 413 and starting over when the collector lost earlier parts.
    async fn send_packages_in_parts(
        &self,
        report: &Report,
        key: &str,
    ) -> Result<PartsOutcome, UploadError> {
        let Some(packages) = report
            .inventory
            .data
            .as_ref()
            .and_then(|i| i.packages.as_ref())
        else {
            return Ok(PartsOutcome::NotStored("no package list".into()));
        };
        let Some(items) = packages.items.as_deref() else {
            return Ok(PartsOutcome::NotStored("no package list".into()));
        };
        let url = format!("{}{PACKAGES_PATH}", self.base_url);
        let mut budget = FIRST_PART_BYTES;
        let mut restarts = 0;
        'list: loop {
            let parts = split(items, budget);
            let total = parts.len() as u32;
            for (index, chunk) in parts.iter().enumerate() {
                let body = PartBody {
                    hash: &packages.hash,
                    count: packages.count,
                    part: index as u32,
                    parts: total,
                    items: chunk,
                };
                let answer: Result<Posted<PackagesPartResponse>, _> = self
                    .post_gzip(&url, &gzip(&body), key, &report.report_id)
                    .await;
                match answer {
                    Ok(Posted::Accepted(a)) if a.complete => {
                        self.count(|s| s.package_lists_sent_in_parts += 1);
                        tracing::info!(
                            packages = packages.count,
                            parts = total,
                            "package list delivered in parts"
                        );
                        return Ok(PartsOutcome::Stored);
                    }
                    Ok(Posted::Accepted(a)) if a.received == index as u32 + 1 => {}
                    Ok(Posted::Accepted(a)) => {
                        return Err(UploadError::BadAnswer(format!(
                            "collector holds {} parts of the package list after part {index}",
                            a.received
                        )));
                    }
                    Err(UploadError::Rejected { status: 413, .. })
                        if budget / 2 >= MIN_PART_BYTES =>
                    {
                        self.count(|s| s.package_parts_too_large += 1);
                        budget /= 2;
                        tracing::info!(budget, "package part too large; halving the part size");
                        continue 'list;
                    }
                    Err(UploadError::Rejected {
                        field: Some(field), ..
                    }) if field == "part" && restarts < 2 => {
                        // The collector lost the earlier parts (a restart,
                        // a stale list): start over.
                        restarts += 1;
                        continue 'list;
                    }
                    Err(e @ UploadError::Rejected { .. }) => {
                        return Ok(PartsOutcome::NotStored(e.to_string()));
                    }
                    Err(e) => return Err(e),
                    Ok(Posted::NoRoute(status)) => {
                        return Ok(PartsOutcome::NotStored(format!(
                            "the collector has no {PACKAGES_PATH} ({status}): an older version"
                        )));
                    }
                    Ok(Posted::Unauthorized) => {
                        return Ok(PartsOutcome::NotStored("node key refused".into()));
                    }
                }
            }
            return Err(UploadError::BadAnswer(
                "collector never reported the package list complete".into(),
            ));
        }
    }

    async fn post_report(
        &self,
        report: &Report,
        key: &str,
    ) -> Result<Posted<ReportResponse>, UploadError> {
        let url = format!("{}{REPORTS_PATH}", self.base_url);
        self.post_gzip(&url, &gzip_json(report), key, &report.report_id)
            .await
    }

    /// POSTs a gzip JSON body with the node key and reads the answer.
    async fn post_gzip<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        body: &[u8],
        key: &str,
        report_id: &str,
    ) -> Result<Posted<T>, UploadError> {
        let response = self
            .http
            .post(url)
            .bearer_auth(key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| transport(url, &e))?;
        let status = response.status();
        if status.is_success() {
            let answer = response
                .json()
                .await
                .map_err(|e| UploadError::BadAnswer(error_chain(&e)))?;
            return Ok(Posted::Accepted(answer));
        }
        match status {
            StatusCode::UNAUTHORIZED => return Ok(Posted::Unauthorized),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                return Ok(Posted::NoRoute(status.as_u16()));
            }
            _ => {}
        }
        let retry_after = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let message = parsed
            .as_ref()
            .map(|b| b.error.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        Err(match status {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNPROCESSABLE_ENTITY => UploadError::Rejected {
                report_id: report_id.to_string(),
                status: status.as_u16(),
                message,
                field: parsed.and_then(|b| b.field),
            },
            _ => UploadError::Unavailable {
                status: status.as_u16(),
                message,
                retry_after,
            },
        })
    }
}

/// The report's package items, when it carries them.
fn package_items(report: &Report) -> Option<&[Package]> {
    report
        .inventory
        .data
        .as_ref()?
        .packages
        .as_ref()?
        .items
        .as_deref()
}

/// Drops the package items (count and hash stay).
fn take_package_items(report: &mut Report) {
    if let Some(p) = report
        .inventory
        .data
        .as_mut()
        .and_then(|i| i.packages.as_mut())
    {
        p.items = None;
    }
}

/// Any value as gzip-compressed JSON.
fn gzip(value: &impl serde::Serialize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut encoder, value).expect("wire types serialize");
    encoder.flush().expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// The report as gzip-compressed JSON.
pub fn gzip_json(report: &Report) -> Vec<u8> {
    gzip(report)
}

/// `Retry-After` in seconds (the HTTP-date form falls back to our own backoff).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    parse_retry_after(value.to_str().ok()?)
}

/// Parses a delta-seconds `Retry-After`, capped at an hour.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

async fn error_message(response: reqwest::Response) -> String {
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) => b.error,
        Err(_) => String::from_utf8_lossy(&body).chars().take(300).collect(),
    }
}

fn transport(url: &str, e: &reqwest::Error) -> UploadError {
    UploadError::Transport {
        url: url.to_string(),
        message: error_chain(e),
    }
}

/// An error with its causes ("a: b: c"); reqwest hides the useful part (TLS
/// verification, connection refused) in the source chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 99999 "),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn gzip_body_round_trips() {
        let report = Report {
            schema_version: 1,
            report_id: "r".into(),
            device_id: "d".into(),
            agent_version: "v".into(),
            collected_at: 5,
            inventory: fleetwatch_protocol::CheckResult::failed(0.0, "x"),
            checks: Default::default(),
        };
        let gz = gzip_json(&report);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn only_temporary_failures_are_retried() {
        assert!(
            UploadError::Unavailable {
                status: 503,
                message: String::new(),
                retry_after: None
            }
            .is_retryable()
        );
        assert!(
            !UploadError::Rejected {
                report_id: "r".into(),
                status: 400,
                message: String::new(),
                field: None
            }
            .is_retryable()
        );
        assert!(!UploadError::NoSecret.is_retryable());
    }
}
