//! [`App`]: everything the handlers and background tasks share — settings,
//! secrets, live state, the writer, the policy judge, alerting — and the
//! tasks that keep verdicts and alerts current.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::alerts::{AlertDispatcher, AlertSpec, AlertsConfig, SavedAlert, fingerprint};
use crate::bootstrap::Bootstrapped;
use crate::config::Config;
use crate::exposition::self_metrics::SelfMetrics;
use crate::judge::Judge;
use crate::judge::alerts::AlertBuilder;
use crate::policy::reload::{CompanionApply, CompanionPrepare, DEFAULT_DEBOUNCE, WatchError};
use crate::policy::{PolicyHandle, PolicyWatcher};
use crate::rate_limit::RateLimiter;
use crate::state::{FleetState, LiveState};
use crate::store::writer::{WriterHandle, WriterOptions};
use crate::store::{DeviceQueries, SqliteQueries, SqliteStore, Store, StoreError, WriteOp};
use crate::unix_now;

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Told to agents.
    pub report_interval_secs: u64,
    /// Retirement threshold, seconds.
    pub retire_after_secs: u64,
    /// Report body limit (decoded).
    pub max_report_bytes: usize,
    /// Cap on enrolled, not retired devices.
    pub max_devices: Option<u64>,
    /// Per-request time limit, seconds.
    pub request_timeout_secs: u64,
}

/// Secrets the handlers compare against.
#[derive(Clone)]
pub struct Secrets {
    /// Fleet-wide enroll secret.
    pub enroll_secret: String,
    /// Admin API token.
    pub admin_token: String,
    /// Optional `/metrics` token.
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Everything the handlers share.
pub struct App {
    /// Settings.
    pub settings: AppSettings,
    /// Secrets.
    pub secrets: Secrets,
    /// Live device state (metrics, node keys, verdicts).
    pub live: Arc<LiveState>,
    /// The group-commit writer.
    pub writer: WriterHandle,
    /// Package lists arriving in parts (`POST /api/v1/packages`).
    pub package_parts: crate::http::packages::PackageParts,
    /// Read side of the store.
    pub queries: Arc<dyn DeviceQueries>,
    /// The collector's own metrics.
    pub metrics: SelfMetrics,
    /// The policy in force and the judging passes.
    pub judge: Judge,
    /// Alerting config in force (reloaded with the policy).
    alerts_config: RwLock<Arc<AlertsConfig>>,
    /// Tracks firing alerts and delivers them.
    pub dispatcher: Arc<AlertDispatcher>,
    /// Wakes the evaluation loop (after a config reload).
    reevaluate: Arc<tokio::sync::Notify>,
    /// Failing-since rows a full queue kept from being saved; retried.
    unsaved: Mutex<Vec<(String, String)>>,
    /// Enrollments per source address.
    pub enroll_limiter: RateLimiter,
    /// Concurrent heavy reads.
    pub limits: Limits,
    /// The alerts as last saved (fingerprint to JSON), to save only changes.
    saved_alerts: tokio::sync::Mutex<HashMap<String, String>>,
    /// The configuration the collector started with (reloads are checked
    /// against it).
    started_with: Config,
    /// The web console's settings and sessions.
    pub console: crate::console::ConsoleState,
}

/// Shared handler state.
pub type AppState = Arc<App>;

/// How many of the heavy reads may run at once; more are answered 429.
#[derive(Debug)]
pub struct Limits {
    /// `/metrics` renders.
    pub scrapes: Arc<Semaphore>,
    /// Compliance summaries and CSV exports.
    pub exports: Arc<Semaphore>,
}

impl App {
    /// Opens the SQLite store in the data dir, loads the live state, starts
    /// the writer and judges every device once.
    pub fn open(config: &Config, files: &Bootstrapped) -> Result<AppState, StoreError> {
        let path = config.database_path();
        let mut store =
            SqliteStore::open(&path)?.with_history_per_device(config.report_history_per_device);
        let started = Instant::now();
        let mut fleet = FleetState::default();
        store.load_devices(&mut |d| {
            fleet.insert_stored(&d);
            Ok(())
        })?;
        tracing::info!(
            devices = fleet.len(),
            seconds = started.elapsed().as_secs_f64(),
            "device state loaded"
        );
        let live = Arc::new(LiveState::new(fleet));
        let queries = Arc::new(SqliteQueries::open(&path)?);
        crate::console::spawn_index_load(live.clone(), queries.clone());
        let judge = Judge::new(PolicyHandle::new(config.policy.clone()));
        let writer = WriterHandle::spawn(
            store,
            live.clone(),
            judge.clone(),
            WriterOptions {
                queue_capacity: config.ingest_queue,
                queue_bytes: config.ingest_queue_bytes,
                retention_secs: (config.report_retention_days * 86_400) as i64,
                ..WriterOptions::default()
            },
        );
        let now = unix_now();
        let dispatcher = AlertDispatcher::new(now, config.alerts.resolved_retention);
        // What fired (and what the webhook was told) before the restart.
        let saved_alerts: HashMap<String, String> = queries.saved_alerts()?.into_iter().collect();
        dispatcher.restore(
            saved_alerts
                .values()
                .filter_map(|json| match serde_json::from_str::<SavedAlert>(json) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        tracing::warn!(error = %e, "a saved alert could not be read; dropped");
                        None
                    }
                })
                .collect(),
        );
        let metrics = SelfMetrics::new();
        metrics.watch(judge.policy(), dispatcher.stats());
        metrics.watch_writer(writer.health(), writer.budget());
        if let Some(g) = crate::console::software::LicenceGauges::new(
            live.clone(),
            config.console.licences.clone(),
        ) {
            metrics.register(Box::new(g));
        }
        let app = Arc::new(App {
            settings: AppSettings {
                report_interval_secs: config.report_interval_secs,
                retire_after_secs: config.retire_after_days * 86_400,
                max_report_bytes: config.max_report_bytes,
                max_devices: config.max_devices,
                request_timeout_secs: config.request_timeout_secs,
            },
            secrets: Secrets {
                enroll_secret: files.enroll_secret.clone(),
                admin_token: files.admin_token.clone(),
                metrics_token: files.metrics_token.clone(),
            },
            live,
            writer,
            package_parts: Default::default(),
            queries,
            metrics,
            judge,
            alerts_config: RwLock::new(Arc::new(config.alerts.clone())),
            dispatcher,
            reevaluate: Arc::default(),
            unsaved: Mutex::default(),
            enroll_limiter: RateLimiter::new(config.enroll_rate_per_minute),
            limits: Limits {
                scrapes: Arc::new(Semaphore::new(config.max_concurrent_scrapes)),
                exports: Arc::new(Semaphore::new(config.max_concurrent_exports)),
            },
            saved_alerts: tokio::sync::Mutex::new(saved_alerts),
            started_with: config.clone(),
            console: crate::console::ConsoleState::new(config.console.clone()),
        });
        // Verdicts for the first scrape; alerts wait for the alert loop.
        let started = Instant::now();
        app.evaluate(now, &config.alerts);
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "every device judged"
        );
        Ok(app)
    }

    /// The alerting config in force.
    pub fn alerts_config(&self) -> Arc<AlertsConfig> {
        match self.alerts_config.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Judges every device at `now` (verdict cells updated, changed
    /// failing-since persisted) and returns the alerts that should fire.
    /// CPU-bound (~0.1 s per 100,000 devices): call it off the async threads.
    pub fn evaluate(&self, now: i64, alerts: &AlertsConfig) -> Vec<AlertSpec> {
        let policy = self.judge.policy().current();
        let mut builder = AlertBuilder::new(
            alerts,
            &policy,
            now,
            self.dispatcher.started_at(),
            self.settings.retire_after_secs as i64,
            self.dispatcher.fleet_alert_firing(),
        );
        let changed = self
            .judge
            .judge_fleet(&self.live, now, |d, j| builder.add(d, j));
        self.persist_failing_since(changed);
        self.save_daily_compliance(now);
        builder.finish()
    }

    /// Queues today's fleet compliance counts (the console's trend) when
    /// they differ from the last ones queued.
    fn save_daily_compliance(&self, now: i64) {
        let rows = crate::console::trend::fleet_counts(
            &self.live.read(),
            now,
            self.settings.retire_after_secs as i64,
        );
        let mut last = self
            .console
            .last_daily
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *last == rows {
            return;
        }
        match self
            .writer
            .try_submit(WriteOp::SaveDailyCompliance(rows.clone()))
        {
            Ok(_reply) => *last = rows,
            Err(e) => {
                tracing::warn!(error = %e, "daily compliance not saved; retrying on the next evaluation")
            }
        }
    }

    /// Queues failing-since rows for the writer (it stores the newest value
    /// of each device); rows a full queue refuses are retried next time.
    fn persist_failing_since(&self, changed: Vec<(String, String)>) {
        let mut rows = std::mem::take(&mut *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()));
        rows.extend(changed);
        if rows.is_empty() {
            return;
        }
        let retry = rows.clone();
        match self.writer.try_submit(WriteOp::SaveFailingSince(rows)) {
            // The reply is not awaited: the next pass does not depend on it.
            Ok(_reply) => {}
            Err(e) => {
                tracing::warn!(error = %e, devices = retry.len(), "failing-since not saved yet; retrying on the next evaluation");
                *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()) = retry;
            }
        }
    }

    /// Runs the evaluation loop until `shutdown`: every alerts
    /// `evaluation_interval` and right after a config reload, every device
    /// is judged again and the alerts are updated (delivered when a
    /// destination is configured).
    pub async fn run_alerts(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let config_app = self.clone();
        let eval_app = self.clone();
        let save_app = self.clone();
        self.dispatcher
            .clone()
            .run(
                move || config_app.alerts_config(),
                move |now, config| {
                    let app = eval_app.clone();
                    async move {
                        tokio::task::spawn_blocking(move || app.evaluate(now, &config))
                            .await
                            .unwrap_or_else(|e| {
                                tracing::error!(error = %e, "evaluation task failed");
                                Vec::new()
                            })
                    }
                },
                move || {
                    let app = save_app.clone();
                    async move { app.save_alerts().await }
                },
                self.reevaluate.clone(),
                shutdown,
            )
            .await;
    }

    /// Saves the tracked alerts that changed since the last save (after each
    /// evaluation); kept for the next round when the database refuses.
    async fn save_alerts(&self) {
        let current: HashMap<String, String> = self
            .dispatcher
            .saved()
            .into_iter()
            .filter_map(|a| Some((fingerprint(&a.labels), serde_json::to_string(&a).ok()?)))
            .collect();
        let mut saved = self.saved_alerts.lock().await;
        let upsert: Vec<(String, String)> = current
            .iter()
            .filter(|(fp, json)| saved.get(*fp) != Some(*json))
            .map(|(fp, json)| (fp.clone(), json.clone()))
            .collect();
        let delete: Vec<String> = saved
            .keys()
            .filter(|fp| !current.contains_key(*fp))
            .cloned()
            .collect();
        if upsert.is_empty() && delete.is_empty() {
            return;
        }
        match self
            .writer
            .submit(WriteOp::SaveAlerts { upsert, delete })
            .await
        {
            Ok(_) => *saved = current,
            Err(e) => {
                tracing::warn!(error = %e, "alert state not saved; retrying after the next evaluation")
            }
        }
    }

    /// Watches the config file. A change is validated whole (every key,
    /// as at start: a typo anywhere is refused, naming the key, and the last
    /// good config stays in force); a valid one applies `[policy]` and
    /// `[alerts]` at once (and triggers an evaluation) and says which other
    /// changed keys wait for a restart.
    pub fn watch_config(self: &Arc<Self>, path: &Path) -> Result<PolicyWatcher, WatchError> {
        let app = Arc::downgrade(self);
        let file = path.to_path_buf();
        let overrides = self.started_with.overrides.clone();
        let prepare: CompanionPrepare = Box::new(move |text: &str| {
            let new = Config::from_file_text(text, &file, overrides.clone())
                .map_err(|e| e.to_string())?;
            let app = app.clone();
            Ok(Box::new(move || {
                let Some(app) = app.upgrade() else {
                    return false;
                };
                let waiting = app.started_with.restart_needed_for(&new);
                if !waiting.is_empty() {
                    tracing::warn!(keys = ?waiting, "config changes that take effect after a restart");
                }
                let alerts = new.alerts;
                let changed = *app.alerts_config() != alerts;
                match app.alerts_config.write() {
                    Ok(mut g) => *g = Arc::new(alerts),
                    Err(p) => *p.into_inner() = Arc::new(alerts),
                }
                // The policy may have changed too: judge the fleet again now.
                app.reevaluate.notify_one();
                changed
            }) as CompanionApply)
        });
        let loaded = match &self.started_with.file {
            Some(started) if started == path => {
                self.started_with.file_text.clone().map(String::into_bytes)
            }
            _ => None,
        };
        PolicyWatcher::start(
            path.to_path_buf(),
            self.judge.policy().clone(),
            DEFAULT_DEBOUNCE,
            prepare,
            loaded,
        )
    }
}
