//! HTTP delivery to Alertmanagers and the webhook.

use std::time::Duration;

use super::config::AlertsConfig;
use super::model::{AmAlert, WebhookPayload};

/// A failed delivery; names the destination.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connection, TLS or timeout failure.
    #[error("sending alerts to {url}: {source}")]
    Transport {
        /// Destination.
        url: String,
        /// Underlying error.
        source: reqwest::Error,
    },
    /// The receiver answered with a non-2xx status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// Destination.
        url: String,
        /// HTTP status.
        status: u16,
        /// First bytes of the answer.
        body: String,
    },
    /// The webhook token file could not be read.
    #[error("reading webhook token file {path}: {source}")]
    Token {
        /// Path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("building the alert HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Where alerts go.
#[derive(Debug, Clone)]
pub struct Sinks {
    client: reqwest::Client,
    /// `…/api/v2/alerts` URLs.
    pub alertmanagers: Vec<String>,
    /// Webhook URL.
    pub webhook: Option<String>,
    webhook_token: Option<String>,
}

impl Sinks {
    /// Builds the client and destinations from the config.
    pub fn new(config: &AlertsConfig) -> Result<Self, SendError> {
        // The binary installs the provider at start; tests and embedders may not have.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("fleetwatch-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SendError::Client)?;
        let webhook_token = match &config.webhook_bearer_token_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|source| SendError::Token {
                        path: p.display().to_string(),
                        source,
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        Ok(Sinks {
            client,
            alertmanagers: config
                .alertmanager_urls
                .iter()
                .map(|u| format!("{u}/api/v2/alerts"))
                .collect(),
            webhook: config.webhook_url.clone(),
            webhook_token,
        })
    }

    /// Posts the full alert list to one Alertmanager.
    pub async fn post_alertmanager(&self, url: &str, alerts: &[AmAlert]) -> Result<(), SendError> {
        let req = self.client.post(url).json(alerts);
        check(url, req.send().await).await
    }

    /// Posts a webhook payload.
    pub async fn post_webhook(&self, payload: &WebhookPayload) -> Result<(), SendError> {
        let Some(url) = &self.webhook else {
            return Ok(());
        };
        let mut req = self.client.post(url).json(payload);
        if let Some(t) = &self.webhook_token {
            req = req.bearer_auth(t);
        }
        check(url, req.send().await).await
    }
}

async fn check(url: &str, res: Result<reqwest::Response, reqwest::Error>) -> Result<(), SendError> {
    let res = res.map_err(|source| SendError::Transport {
        url: url.into(),
        source,
    })?;
    if res.status().is_success() {
        return Ok(());
    }
    let status = res.status().as_u16();
    let body: String = res
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(SendError::Status {
        url: url.into(),
        status,
        body,
    })
}
