//! The agent's modes: `collect`, `once`, `run`, `enroll`.

use std::future::Future;
use std::time::Duration;

use fleetwatch_protocol::Report;
use tokio::time::Instant;

use crate::checks::backup::marker_paths;
use crate::config::AgentConfig;
use crate::host::SysRoot;
use crate::report::ReportBuilder;
use crate::spool::Spool;
use crate::state::{DeviceState, StateDir, StateError};
use crate::upload::backoff::{Backoff, jittered, service_backoff};
use crate::upload::{Client, FlushSummary, UploadError, flush_spool};
use crate::watch::marker_report_at;

/// Report interval when neither the config nor the collector sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Shortest interval the agent accepts, whatever the collector says.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// How long a marker change is debounced before a report goes out.
pub const MARKER_DEBOUNCE: Duration = Duration::from_millis(1000);

/// Why `once` did not deliver its report.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// The report could not be delivered in time; it is spooled.
    #[error(
        "report {report_id} not delivered: {cause}; it is kept in {spool} ({waiting} report(s) waiting) and will be sent by the next `once` or `run`"
    )]
    Spooled {
        /// The new report.
        report_id: String,
        /// Why.
        cause: String,
        /// Spool directory.
        spool: String,
        /// Reports waiting.
        waiting: usize,
    },
    /// The collector rejected the new report; resending cannot help.
    #[error(transparent)]
    Rejected(UploadError),
    /// The state directory is not usable (the report could not even be spooled).
    #[error(transparent)]
    State(#[from] StateError),
}

/// What `once` achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OnceOutcome {
    /// The new report.
    pub report_id: String,
    /// The device it was sent for.
    pub device_id: String,
    /// Reports delivered in this run, older spooled ones included.
    pub delivered: usize,
    /// Report interval the collector asked for.
    pub report_interval_secs: Option<u64>,
}

/// Collects a report for printing (`collect`): nothing is sent or written.
pub async fn collect(cfg: &AgentConfig) -> Report {
    let device = StateDir::new(&cfg.state_dir).device().ok().flatten();
    build_report(cfg, device.as_ref()).await
}

async fn build_report(cfg: &AgentConfig, device: Option<&DeviceState>) -> Report {
    ReportBuilder::from_config(cfg)
        .collect_async(
            device.map(|d| d.device_id.clone()).unwrap_or_default(),
            device.and_then(|d| d.packages_hash.clone()),
        )
        .await
}

/// Enrolls (again) and returns the device state.
pub async fn enroll(cfg: &AgentConfig) -> Result<DeviceState, UploadError> {
    Client::new(cfg)?.enroll().await
}

/// Collects one report, spools it, and delivers the spool within
/// `cfg.once_deadline`; on failure the report stays spooled.
pub async fn once(cfg: &AgentConfig) -> Result<OnceOutcome, OnceError> {
    let state = StateDir::new(&cfg.state_dir);
    let spool = Spool::new(state.spool_dir(), cfg.spool_max_reports);
    let report = build_report(cfg, state.device()?.as_ref()).await;
    let report_id = report.report_id.clone();
    let entry = spool.push(&report)?;
    drop(report);
    let deadline = Instant::now() + cfg.once_deadline;
    let spooled = |cause: String| -> OnceError {
        OnceError::Spooled {
            report_id: report_id.clone(),
            cause,
            spool: spool.dir().display().to_string(),
            waiting: spool.len().unwrap_or(0),
        }
    };
    let client = Client::new(cfg).map_err(|e| spooled(e.to_string()))?;
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(3));
    let mut delivered = 0;
    loop {
        let attempt = tokio::time::timeout_at(deadline, flush_spool(&client, &spool)).await;
        let error = match attempt {
            Ok(Ok(summary)) => {
                delivered += summary.delivered.len();
                if let Some((_, e)) = summary.rejected.into_iter().find(|(p, _)| *p == entry.path) {
                    return Err(OnceError::Rejected(e));
                }
                let device = state.device()?.unwrap_or_default();
                return Ok(OnceOutcome {
                    report_id,
                    device_id: device.device_id,
                    delivered,
                    report_interval_secs: summary
                        .last_response
                        .map(|r| r.report_interval_secs)
                        .or(device.report_interval_secs),
                });
            }
            Ok(Err(e)) if e.is_retryable() => e,
            Ok(Err(e)) => return Err(spooled(e.to_string())),
            Err(_) => {
                return Err(spooled(format!(
                    "the collector did not answer within {}s",
                    cfg.once_deadline.as_secs()
                )));
            }
        };
        let delay = backoff.delay_after(error.retry_after());
        if Instant::now() + delay >= deadline {
            return Err(spooled(format!(
                "gave up after {}s: {error}",
                cfg.once_deadline.as_secs()
            )));
        }
        tracing::warn!(error = %error, retry_in = ?delay, "delivery failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The service loop: a report every interval (±10 %), at once after a
/// backup marker changes, retrying failed deliveries with backoff until
/// `shutdown` completes.
pub async fn run(cfg: &AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), UploadError> {
    let state = StateDir::new(&cfg.state_dir);
    let spool = Spool::new(state.spool_dir(), cfg.spool_max_reports);
    let client = Client::new(cfg)?;
    let root = SysRoot::new(&cfg.root);
    let markers: Vec<_> = if cfg.checks.backup {
        marker_paths(&cfg.backup)
            .iter()
            .map(|p| root.path(&p.to_string_lossy()))
            .collect()
    } else {
        Vec::new()
    };
    let mut watch = crate::watch::watch_markers(&markers);
    tokio::pin!(shutdown);
    let mut backoff = service_backoff();
    tracing::info!(markers = markers.len(), "agent running");
    // When the last marker-triggered report started: the next one waits
    // `marker_min_interval` from there.
    let mut last_marker_report: Option<Instant> = None;
    loop {
        let device = state.device().ok().flatten();
        let report = build_report(cfg, device.as_ref()).await;
        if let Err(e) = spool.push(&report) {
            tracing::error!(error = %e, "could not spool the report; it is lost");
        }
        drop(report);
        let due = Instant::now() + jittered(interval(cfg, &state), 0.1);
        // Deliver, retrying until it works or the next report is due.
        let mut marker_changed = false;
        loop {
            let error = match flush_spool(&client, &spool).await {
                Ok(summary) => {
                    log_summary(&summary);
                    backoff.reset();
                    break;
                }
                Err(e) if e.is_retryable() => e,
                Err(e) => {
                    tracing::error!(error = %e, "cannot deliver reports; will try again at the next interval");
                    break;
                }
            };
            let delay = backoff.delay_after(error.retry_after());
            tracing::warn!(error = %error, retry_in = ?delay, "delivery failed; retrying");
            let wake = (Instant::now() + delay).min(due);
            tokio::select! {
                _ = &mut shutdown => { stopping(); return Ok(()); }
                _ = tokio::time::sleep_until(wake) => {}
                Some(_) = next_change(&mut watch) => { marker_changed = true; break; }
            }
            if Instant::now() >= due {
                break;
            }
        }
        if !marker_changed {
            crate::self_usage::release_free_memory();
            let due = due.max(Instant::now());
            tokio::select! {
                _ = &mut shutdown => { stopping(); return Ok(()); }
                _ = tokio::time::sleep_until(due) => continue,
                Some(_) = next_change(&mut watch) => {}
            }
        }
        // A marker changed: let the backup script finish writing, and keep
        // to the minimum interval (a marker rewritten in a loop must not
        // flood the collector); later changes join this report. The
        // regular report, when due first, carries the change as well.
        let now = Instant::now();
        let start = match last_marker_report {
            Some(previous) => {
                marker_report_at(now, previous, MARKER_DEBOUNCE, cfg.marker_min_interval)
            }
            None => now + MARKER_DEBOUNCE,
        }
        .min(due.max(now + MARKER_DEBOUNCE));
        if start > now + MARKER_DEBOUNCE {
            tracing::info!(
                wait = ?start - now,
                "backup marker changed; reporting once the minimum interval since the last marker report is over"
            );
        }
        tokio::select! {
            _ = &mut shutdown => { stopping(); return Ok(()); }
            _ = tokio::time::sleep_until(start) => {}
        }
        if let Some(w) = watch.as_mut() {
            while w.changes.try_recv().is_ok() {}
        }
        last_marker_report = Some(Instant::now());
        tracing::info!("backup marker changed; reporting now");
    }
}

fn stopping() {
    tracing::info!("stopping");
}

async fn next_change(watch: &mut Option<crate::watch::MarkerWatch>) -> Option<std::path::PathBuf> {
    match watch {
        Some(w) => w.changes.recv().await,
        None => std::future::pending().await,
    }
}

fn log_summary(summary: &FlushSummary) {
    if summary.delivered.len() > 1 {
        tracing::info!(count = summary.delivered.len(), "delivered spooled reports");
    }
}

/// The configured interval, else the collector's, else the default; never below the minimum.
pub fn interval(cfg: &AgentConfig, state: &StateDir) -> Duration {
    cfg.interval
        .or_else(|| {
            state
                .device()
                .ok()
                .flatten()
                .and_then(|d| d.report_interval_secs)
                .map(Duration::from_secs)
        })
        .unwrap_or(DEFAULT_INTERVAL)
        .max(MIN_INTERVAL)
}
