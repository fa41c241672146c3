//! Collector-native alerting: policy findings become alerts that are sent
//! to Alertmanager (API v2) and/or a webhook (Alertmanager webhook payload v4).
//!
//! The lifecycle mirrors Prometheus: firing alerts are re-sent every
//! `resend_interval` with `endsAt` a few intervals ahead (so Alertmanager
//! resolves them by itself if the collector dies), resolved alerts are sent
//! with `endsAt` = resolve time and re-sent for `resolved_retention`.

mod config;
mod dispatcher;
mod model;
mod sink;
mod tracker;

pub use config::{AlertsConfig, AlertsConfigError};
pub use dispatcher::{AlertDispatcher, AlertStats};
pub use model::{AlertName, AlertSpec, AmAlert, WebhookPayload};
pub use sink::{SendError, Sinks};
pub use tracker::{AlertState, AlertTracker, Changes};
