//! The alert loop: evaluate → track → deliver, with resend, resolve and backoff.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::AlertsConfig;
use super::model::{AlertSpec, AmAlert, WebhookPayload};
use super::sink::Sinks;
use super::tracker::{AlertState, AlertTracker, Changes, fingerprint};
use crate::unix_now;

/// Counters for the collector's self-metrics (read at scrape time).
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Alerts firing now.
    pub firing: AtomicU64,
    /// Successful deliveries (one per destination per send).
    pub sent_total: AtomicU64,
    /// Failed deliveries.
    pub errors_total: AtomicU64,
}

/// Per-destination delivery state.
#[derive(Debug, Default, Clone)]
struct Delivery {
    last_success: Option<i64>,
    failures: u32,
    next_attempt: i64,
}

impl Delivery {
    fn due(&self, now: i64, changed: bool, every: i64) -> bool {
        now >= self.next_attempt
            && (changed || self.failures > 0 || self.last_success.is_none_or(|t| now - t >= every))
    }

    fn succeeded(&mut self, now: i64) {
        self.last_success = Some(now);
        self.failures = 0;
        self.next_attempt = now;
    }

    /// Exponential backoff: 5 s, 10 s, 20 s ... capped at `cap`.
    fn failed(&mut self, now: i64, cap: i64) {
        self.failures = self.failures.saturating_add(1);
        let backoff = 5i64
            .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
            .min(cap.max(5));
        self.next_attempt = now + backoff;
    }
}

/// Turns the desired alert set into deliveries; one per collector (the
/// alert-sending replica).
pub struct AlertDispatcher {
    tracker: Mutex<AlertTracker>,
    stats: Arc<AlertStats>,
    started_at: i64,
    am: Mutex<HashMap<String, Delivery>>,
    webhook: Mutex<(Delivery, HashMap<String, &'static str>)>,
}

impl AlertDispatcher {
    /// A dispatcher for a collector that started at `started_at` (Unix seconds).
    pub fn new(started_at: i64, resolved_retention: i64) -> Arc<Self> {
        Arc::new(AlertDispatcher {
            tracker: Mutex::new(AlertTracker::new(resolved_retention)),
            stats: Arc::new(AlertStats::default()),
            started_at,
            am: Mutex::new(HashMap::new()),
            webhook: Mutex::new((Delivery::default(), HashMap::new())),
        })
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<AlertStats> {
        self.stats.clone()
    }

    /// When the collector started (for the staleness grace period).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Alerts firing now (for `GET /api/v1/alerts`).
    pub fn firing(&self) -> Vec<AlertState> {
        self.tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .firing()
            .into_iter()
            .cloned()
            .collect()
    }

    /// One evaluation at `now`: updates the tracker from `desired` and
    /// delivers whatever is due. Returns after all deliveries were tried.
    pub async fn tick(
        &self,
        config: &AlertsConfig,
        sinks: &Sinks,
        desired: Vec<AlertSpec>,
        now: i64,
    ) {
        let generator = format!("{}/api/v1/alerts", config.external_url);
        let (changes, am_body, webhook_state) = self.track(config, desired, now, &generator);

        for url in &sinks.alertmanagers {
            let due = {
                let mut am = self.am.lock().unwrap_or_else(|e| e.into_inner());
                am.entry(url.clone())
                    .or_default()
                    .due(now, changes.any(), config.resend_interval)
            };
            if !due || (am_body.is_empty() && !changes.any()) {
                continue;
            }
            let result = sinks.post_alertmanager(url, &am_body).await;
            let mut am = self.am.lock().unwrap_or_else(|e| e.into_inner());
            let d = am.entry(url.clone()).or_default();
            match result {
                Ok(()) => {
                    d.succeeded(now);
                    self.stats.sent_total.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    d.failed(now, config.resend_interval);
                    self.stats.errors_total.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in = d.next_attempt - now, "alert delivery failed");
                }
            }
        }

        if sinks.webhook.is_some() {
            self.deliver_webhook(config, sinks, &webhook_state, now, &generator)
                .await;
        }
    }

    /// Makes `desired` the firing set at `now` (without delivering); returns
    /// what changed, the Alertmanager body and every tracked alert.
    fn track(
        &self,
        config: &AlertsConfig,
        desired: Vec<AlertSpec>,
        now: i64,
        generator: &str,
    ) -> (Changes, Vec<AmAlert>, Vec<AlertState>) {
        let desired = desired
            .into_iter()
            .filter(|s| !config.disabled.contains(&s.name))
            .map(|mut s| {
                s.annotations
                    .insert("runbook_url".into(), config.runbook_url(s.name));
                s
            });
        let mut t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        let changes = t.update(desired, |n| config.severity_of(n), now);
        self.stats
            .firing
            .store(t.firing().len() as u64, Ordering::Relaxed);
        // Firing alerts stay valid for four resend intervals, as Prometheus does.
        let body = t.alertmanager_body(now, 4 * config.resend_interval, generator);
        let all: Vec<AlertState> = t
            .firing()
            .into_iter()
            .chain(t.resolved())
            .cloned()
            .collect();
        (changes, body, all)
    }

    async fn deliver_webhook(
        &self,
        config: &AlertsConfig,
        sinks: &Sinks,
        all: &[AlertState],
        now: i64,
        generator: &str,
    ) {
        let (payload, pending) = {
            let w = self.webhook.lock().unwrap_or_else(|e| e.into_inner());
            let (delivery, notified) = &*w;
            // An alert is pending when its status differs from what the webhook last got.
            let pending: Vec<(String, &'static str)> = all
                .iter()
                .map(|s| {
                    (
                        fingerprint(&s.labels),
                        if s.resolved_at.is_some() {
                            "resolved"
                        } else {
                            "firing"
                        },
                    )
                })
                .filter(|(fp, status)| match notified.get(fp) {
                    Some(last) => last != status,
                    None => *status == "firing",
                })
                .collect();
            let any_firing = all.iter().any(|s| s.resolved_at.is_none());
            let repeat = any_firing
                && delivery
                    .last_success
                    .is_none_or(|t| now - t >= config.webhook_repeat_interval);
            // Undelivered changes stay pending, so a failed post is retried after its backoff.
            if now < delivery.next_attempt || (pending.is_empty() && !repeat) {
                return;
            }
            let pending_fps: std::collections::HashSet<&str> =
                pending.iter().map(|(f, _)| f.as_str()).collect();
            let alerts: Vec<_> = all
                .iter()
                .filter(|s| {
                    s.resolved_at.is_none() || pending_fps.contains(fingerprint(&s.labels).as_str())
                })
                .map(|s| AlertTracker::webhook_alert(s, generator))
                .collect();
            (webhook_payload(alerts, config), pending)
        };
        let result = sinks.post_webhook(&payload).await;
        let mut w = self.webhook.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                w.0.succeeded(now);
                for (fp, status) in pending {
                    w.1.insert(fp, status);
                }
                // Forget alerts the tracker no longer holds.
                let live: std::collections::HashSet<String> =
                    all.iter().map(|s| fingerprint(&s.labels)).collect();
                w.1.retain(|fp, _| live.contains(fp));
                self.stats.sent_total.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                w.0.failed(now, config.resend_interval);
                self.stats.errors_total.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "webhook delivery failed");
            }
        }
    }

    /// Runs until `shutdown` completes: every `evaluation_interval` (or at
    /// once when `wake` is notified, e.g. after a policy reload), reads the
    /// current config, asks `evaluate` for the desired alerts, tracks them
    /// and delivers. Without a destination the tracker still runs (so
    /// [`AlertDispatcher::firing`] shows what would fire); nothing is sent.
    pub async fn run<C, E, F>(
        self: Arc<Self>,
        config: C,
        evaluate: E,
        wake: Arc<tokio::sync::Notify>,
        shutdown: impl Future<Output = ()>,
    ) where
        C: Fn() -> Arc<AlertsConfig>,
        E: Fn(i64, Arc<AlertsConfig>) -> F,
        F: Future<Output = Vec<AlertSpec>>,
    {
        tokio::pin!(shutdown);
        let mut sinks: Option<(Arc<AlertsConfig>, Sinks)> = None;
        loop {
            let cfg = config();
            let rebuild = cfg.enabled()
                && sinks.as_ref().is_none_or(|(c, _)| {
                    c.alertmanager_urls != cfg.alertmanager_urls
                        || c.webhook_url != cfg.webhook_url
                        || c.webhook_bearer_token_file != cfg.webhook_bearer_token_file
                });
            if rebuild {
                match Sinks::new(&cfg) {
                    Ok(s) => sinks = Some((cfg.clone(), s)),
                    Err(e) => {
                        tracing::error!(error = %e, "alert destinations unusable; keeping the previous ones")
                    }
                }
            }
            let now = unix_now();
            let desired = evaluate(now, cfg.clone()).await;
            match &sinks {
                Some((_, s)) if cfg.enabled() => self.tick(&cfg, s, desired, now).await,
                _ => {
                    let generator = format!("{}/api/v1/alerts", cfg.external_url);
                    self.track(&cfg, desired, now, &generator);
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(cfg.evaluation_interval.max(1) as u64)) => {}
            }
        }
    }
}

fn webhook_payload(
    alerts: Vec<super::model::WebhookAlert>,
    config: &AlertsConfig,
) -> WebhookPayload {
    let status = if alerts.iter().any(|a| a.status == "firing") {
        "firing"
    } else {
        "resolved"
    };
    // Labels and annotations every alert shares.
    let common =
        |get: fn(&super::model::WebhookAlert) -> &std::collections::BTreeMap<String, String>| {
            let mut it = alerts.iter();
            let mut common = it.next().map(|a| get(a).clone()).unwrap_or_default();
            for a in it {
                common.retain(|k, v| get(a).get(k) == Some(v));
            }
            common
        };
    WebhookPayload {
        version: "4",
        group_key: "{}:{}".into(),
        truncated_alerts: 0,
        status,
        receiver: "fleetwatch".into(),
        group_labels: Default::default(),
        common_labels: common(|a| &a.labels),
        common_annotations: common(|a| &a.annotations),
        external_url: config.external_url.clone(),
        alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertName;
    use axum::{Json, Router, extract::State, routing::post};
    use tokio::sync::Mutex as AsyncMutex;

    type Received = Arc<AsyncMutex<Vec<serde_json::Value>>>;

    async fn receiver(fail: Arc<std::sync::atomic::AtomicBool>) -> (String, Received) {
        let got: Received = Arc::default();
        let app = Router::new()
            .route(
                "/{*path}",
                post(
                    |State((got, fail)): State<(Received, Arc<std::sync::atomic::AtomicBool>)>,
                     Json(v): Json<serde_json::Value>| async move {
                        if fail.load(Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        got.lock().await.push(v);
                        axum::http::StatusCode::OK
                    },
                ),
            )
            .with_state((got.clone(), fail));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, got)
    }

    fn stale(device: &str) -> AlertSpec {
        AlertSpec {
            name: AlertName::DeviceNotReporting,
            labels: [
                ("device_id".to_string(), device.to_string()),
                ("hostname".to_string(), format!("h\"{device}")),
            ]
            .into(),
            annotations: [("summary".to_string(), "silent".to_string())].into(),
            starts_at: 1000,
        }
    }

    fn config(table: &str) -> AlertsConfig {
        AlertsConfig::from_table(toml::from_str(table).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn webhook_gets_v4_payloads_for_firing_and_resolved() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, got) = receiver(fail.clone()).await;
        let cfg = config(&format!(
            "webhook_url = \"{url}/hook\"\nexternal_url = \"https://collector:8443\""
        ));
        let sinks = Sinks::new(&cfg).unwrap();
        let d = AlertDispatcher::new(0, cfg.resolved_retention);

        d.tick(&cfg, &sinks, vec![stale("a")], 2000).await;
        d.tick(&cfg, &sinks, vec![stale("a")], 2015).await; // unchanged: no new post
        d.tick(&cfg, &sinks, vec![], 2030).await; // resolved
        let got = got.lock().await;
        assert_eq!(got.len(), 2, "{got:?}");
        let first = &got[0];
        assert_eq!(first["version"], "4");
        assert_eq!(first["status"], "firing");
        assert_eq!(first["receiver"], "fleetwatch");
        assert_eq!(first["externalURL"], "https://collector:8443");
        let alert = &first["alerts"][0];
        assert_eq!(alert["labels"]["alertname"], "FleetwatchDeviceNotReporting");
        assert_eq!(alert["labels"]["hostname"], "h\"a");
        assert_eq!(alert["labels"]["severity"], "warning");
        assert!(
            alert["annotations"]["runbook_url"]
                .as_str()
                .unwrap()
                .ends_with("#fleetwatchdevicenotreporting")
        );
        assert_eq!(alert["startsAt"], "1970-01-01T00:16:40Z");
        assert_eq!(alert["status"], "firing");
        assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
        assert_eq!(got[1]["status"], "resolved");
        assert_eq!(got[1]["alerts"][0]["endsAt"], "1970-01-01T00:33:50Z");
        assert_eq!(d.stats().sent_total.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn alertmanager_gets_resends_and_catches_up_after_an_outage() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (url, got) = receiver(fail.clone()).await;
        let cfg = config(&format!(
            "alertmanager_urls = [\"{url}\"]\nresend_interval = \"60s\""
        ));
        let sinks = Sinks::new(&cfg).unwrap();
        let d = AlertDispatcher::new(0, cfg.resolved_retention);

        // Alertmanager is down while the alert starts firing.
        d.tick(&cfg, &sinks, vec![stale("a")], 1000).await;
        assert_eq!(d.stats().errors_total.load(Ordering::Relaxed), 1);
        assert!(got.lock().await.is_empty());
        // Back up: the next due attempt delivers the alert.
        fail.store(false, Ordering::SeqCst);
        d.tick(&cfg, &sinks, vec![stale("a")], 1010).await;
        {
            let got = got.lock().await;
            assert_eq!(got.len(), 1);
            assert_eq!(got[0][0]["labels"]["device_id"], "a");
            assert_eq!(got[0][0]["endsAt"], crate::time::rfc3339(1010 + 240));
        }
        // Not re-sent before the resend interval, re-sent after it.
        d.tick(&cfg, &sinks, vec![stale("a")], 1030).await;
        assert_eq!(got.lock().await.len(), 1);
        d.tick(&cfg, &sinks, vec![stale("a")], 1071).await;
        assert_eq!(got.lock().await.len(), 2);
        // Resolution is sent at once with endsAt = resolve time.
        d.tick(&cfg, &sinks, vec![], 1080).await;
        let got = got.lock().await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[2][0]["endsAt"], crate::time::rfc3339(1080));
        assert!(d.firing().is_empty());
    }

    #[tokio::test]
    async fn disabled_alerts_are_not_sent() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, got) = receiver(fail).await;
        let cfg = config(&format!(
            "alertmanager_urls = [\"{url}\"]\ndisabled = [\"FleetwatchDeviceNotReporting\"]"
        ));
        let sinks = Sinks::new(&cfg).unwrap();
        let d = AlertDispatcher::new(0, cfg.resolved_retention);
        d.tick(&cfg, &sinks, vec![stale("a")], 1000).await;
        assert!(d.firing().is_empty());
        assert!(got.lock().await.is_empty());
    }
}
