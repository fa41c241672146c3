//! The collector's own metrics, through the `prometheus` crate (a handful of
//! series, so its registry cost does not matter here).
//!
//! Every counter is incremented in exactly one method of [`SelfMetrics`];
//! callers say what happened, never which counter to bump. Policy reload and
//! alert delivery keep their own stats structs; [`SelfMetrics::watch`] reads
//! those at gather time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};

use crate::alerts::AlertStats;
use crate::policy::PolicyHandle;
use crate::store::writer::{QueueBudget, WriterHealth};

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Why a report was refused (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportErrorReason {
    /// Missing or unknown node key.
    Unauthorized,
    /// Body is not a valid report JSON.
    Malformed,
    /// Valid JSON but fails validation.
    Invalid,
    /// `device_id` differs from the node key's device.
    DeviceMismatch,
    /// Body over the size limit.
    TooLarge,
    /// Ingest queue full.
    QueueFull,
    /// Storage or other internal failure.
    Internal,
}

impl ReportErrorReason {
    const ALL: [ReportErrorReason; 7] = [
        ReportErrorReason::Unauthorized,
        ReportErrorReason::Malformed,
        ReportErrorReason::Invalid,
        ReportErrorReason::DeviceMismatch,
        ReportErrorReason::TooLarge,
        ReportErrorReason::QueueFull,
        ReportErrorReason::Internal,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportErrorReason::Unauthorized => "unauthorized",
            ReportErrorReason::Malformed => "malformed",
            ReportErrorReason::Invalid => "invalid",
            ReportErrorReason::DeviceMismatch => "device_mismatch",
            ReportErrorReason::TooLarge => "too_large",
            ReportErrorReason::QueueFull => "queue_full",
            ReportErrorReason::Internal => "internal",
        }
    }
}

/// How an enrollment ended (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollResult {
    /// A new device.
    New,
    /// Known hardware: its node key was replaced (the old one stopped working).
    Reenrolled,
    /// Wrong enroll secret.
    Denied,
    /// Too many enrollments from the source address.
    RateLimited,
    /// A new device would pass `max_devices`.
    LimitReached,
    /// Bad request or internal failure.
    Error,
}

impl EnrollResult {
    const ALL: [EnrollResult; 6] = [
        EnrollResult::New,
        EnrollResult::Reenrolled,
        EnrollResult::Denied,
        EnrollResult::RateLimited,
        EnrollResult::LimitReached,
        EnrollResult::Error,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollResult::New => "new",
            EnrollResult::Reenrolled => "reenrolled",
            EnrollResult::Denied => "denied",
            EnrollResult::RateLimited => "rate_limited",
            EnrollResult::LimitReached => "limit_reached",
            EnrollResult::Error => "error",
        }
    }
}

/// The collector's own metrics.
pub struct SelfMetrics {
    registry: Registry,
    reports_received: IntCounter,
    report_errors: IntCounterVec,
    ingest_duration: Histogram,
    enrollments: IntCounterVec,
    render_seconds: Gauge,
    clock_skewed_reports: IntCounter,
    scrapes_abandoned: IntCounter,
}

impl SelfMetrics {
    /// Registers every metric (label sets pre-created, so they show 0).
    pub fn new() -> Self {
        let registry = Registry::new();
        let reports_received = IntCounter::new(
            "fleetwatch_collector_reports_received_total",
            "Reports accepted and committed (duplicates included).",
        )
        .expect("valid metric");
        let report_errors = IntCounterVec::new(
            Opts::new(
                "fleetwatch_collector_report_errors_total",
                "Reports refused, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let ingest_duration = Histogram::with_opts(
            HistogramOpts::new(
                "fleetwatch_collector_ingest_duration_seconds",
                "Time from receiving a report to acknowledging it (parse, queue, durable commit).",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        let enrollments = IntCounterVec::new(
            Opts::new(
                "fleetwatch_collector_enrollments_total",
                "Enrollment attempts, by result.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "fleetwatch_collector_build_info",
                "Collector version; always 1.",
            ),
            &["version"],
        )
        .expect("valid metric");
        let clock_skewed_reports = IntCounter::new(
            "fleetwatch_collector_clock_skewed_reports_total",
            "Reports collected by an agent whose clock ran more than a minute ahead of the collector's (ordered by arrival instead).",
        )
        .expect("valid metric");
        let scrapes_abandoned = IntCounter::new(
            "fleetwatch_collector_scrapes_abandoned_total",
            "/metrics renders stopped because the scraper went away.",
        )
        .expect("valid metric");
        let render_seconds = Gauge::new(
            "fleetwatch_collector_metrics_render_seconds",
            "Time the previous /metrics render took.",
        )
        .expect("valid metric");
        for r in ReportErrorReason::ALL {
            report_errors.with_label_values(&[r.as_str()]);
        }
        for r in EnrollResult::ALL {
            enrollments.with_label_values(&[r.as_str()]);
        }
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for c in [
            Box::new(reports_received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(report_errors.clone()),
            Box::new(ingest_duration.clone()),
            Box::new(enrollments.clone()),
            Box::new(build_info),
            Box::new(render_seconds.clone()),
            Box::new(clock_skewed_reports.clone()),
            Box::new(scrapes_abandoned.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        SelfMetrics {
            registry,
            reports_received,
            report_errors,
            ingest_duration,
            enrollments,
            render_seconds,
            clock_skewed_reports,
            scrapes_abandoned,
        }
    }

    /// A report was committed (new or duplicate) after `seconds`.
    pub fn report_accepted(&self, seconds: f64) {
        self.reports_received.inc();
        self.ingest_duration.observe(seconds);
    }

    /// A `/metrics` render stopped: the scraper went away.
    pub fn scrape_abandoned(&self) {
        self.scrapes_abandoned.inc();
    }

    /// A committed report came from a clock running ahead.
    pub fn report_clock_skewed(&self) {
        self.clock_skewed_reports.inc();
    }

    /// A report was refused.
    pub fn report_refused(&self, reason: ReportErrorReason) {
        self.report_errors
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// An enrollment ended.
    pub fn enrollment(&self, result: EnrollResult) {
        self.enrollments.with_label_values(&[result.as_str()]).inc();
    }

    /// A `/metrics` render took `seconds`.
    pub fn rendered(&self, seconds: f64) {
        self.render_seconds.set(seconds);
    }

    /// Exposes the ingest queue and the database's health, read at
    /// gather time.
    pub fn watch_writer(&self, health: Arc<WriterHealth>, queue: Arc<QueueBudget>) {
        let (healthy, errors, last) = (health.clone(), health.clone(), health);
        let (reports, bytes) = (queue.clone(), queue);
        let pulled = [
            Pulled::gauge(
                "fleetwatch_collector_db_healthy",
                "1 while the database commits, 0 since a commit failed (full disk, I/O error) until one succeeds; /readyz answers 503 meanwhile.",
                move || f64::from(u8::from(healthy.healthy())),
            ),
            Pulled::counter(
                "fleetwatch_collector_db_commit_errors_total",
                "Database commits that failed (their writes were answered 503, nothing acknowledged).",
                move || errors.commit_errors_total() as f64,
            ),
            Pulled::gauge(
                "fleetwatch_collector_db_last_commit_success_timestamp_seconds",
                "Time of the last successful database commit.",
                move || last.last_success_timestamp() as f64,
            ),
            Pulled::gauge(
                "fleetwatch_collector_ingest_queue_reports",
                "Reports admitted and not yet acknowledged (queued or being committed).",
                move || reports.used().0 as f64,
            ),
            Pulled::gauge(
                "fleetwatch_collector_ingest_queue_bytes",
                "Body bytes of the reports admitted and not yet acknowledged; bounded by ingest_queue_bytes.",
                move || bytes.used().1 as f64,
            ),
        ];
        self.register_pulled(pulled);
    }

    fn register_pulled(&self, pulled: impl IntoIterator<Item = Option<Pulled>>) {
        for p in pulled.into_iter().flatten() {
            if let Err(e) = self.registry.register(Box::new(p)) {
                tracing::error!(error = %e, "registering a self metric failed");
            }
        }
    }

    /// Exposes the policy reload and alert delivery stats, read at gather time.
    pub fn watch(&self, policy: &PolicyHandle, alerts: Arc<AlertStats>) {
        let reloads = policy.clone();
        let errors = policy.clone();
        let last = policy.clone();
        let (firing, sent, failed) = (alerts.clone(), alerts.clone(), alerts);
        let pulled = [
            Pulled::counter(
                "fleetwatch_collector_policy_reloads_total",
                "Policy (and alerts) config changes applied since start.",
                move || reloads.stats().reloads_total() as f64,
            ),
            Pulled::counter(
                "fleetwatch_collector_policy_reload_errors_total",
                "Policy (and alerts) config changes refused since start; the last good config stays in force.",
                move || errors.stats().reload_errors_total() as f64,
            ),
            Pulled::gauge(
                "fleetwatch_collector_policy_last_reload_success_timestamp_seconds",
                "Time the last config change was applied (0: none since start).",
                move || last.stats().last_success_timestamp() as f64,
            ),
            Pulled::gauge(
                "fleetwatch_collector_alerts_firing",
                "Alerts firing now (also without a destination configured).",
                move || firing.firing.load(Ordering::Relaxed) as f64,
            ),
            Pulled::counter(
                "fleetwatch_collector_alert_notifications_sent_total",
                "Alert deliveries that succeeded (one per destination and send).",
                move || sent.sent_total.load(Ordering::Relaxed) as f64,
            ),
            Pulled::counter(
                "fleetwatch_collector_alert_notification_errors_total",
                "Alert deliveries that failed (retried with backoff).",
                move || failed.errors_total.load(Ordering::Relaxed) as f64,
            ),
        ];
        self.register_pulled(pulled);
    }

    /// Adds a collector read at gather time (the console's licence gauges).
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Err(e) = self.registry.register(collector) {
            tracing::error!(error = %e, "registering a self metric failed");
        }
    }

    /// Appends the collector's metrics in text format 0.0.4.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), out) {
            tracing::error!(error = %e, "encoding self metrics failed");
        }
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

type ReadValue = Box<dyn Fn() -> f64 + Send + Sync>;

/// A counter or gauge whose value is read from elsewhere at gather time.
struct Pulled {
    desc: Desc,
    kind: MetricType,
    value: ReadValue,
}

impl Pulled {
    fn new(name: &str, help: &str, kind: MetricType, value: ReadValue) -> Option<Self> {
        match Desc::new(name.into(), help.into(), Vec::new(), Default::default()) {
            Ok(desc) => Some(Pulled { desc, kind, value }),
            Err(e) => {
                tracing::error!(error = %e, name, "invalid self metric");
                None
            }
        }
    }

    fn counter(
        name: &str,
        help: &str,
        value: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Option<Self> {
        Self::new(name, help, MetricType::COUNTER, Box::new(value))
    }

    fn gauge(
        name: &str,
        help: &str,
        value: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Option<Self> {
        Self::new(name, help, MetricType::GAUGE, Box::new(value))
    }
}

impl Collector for Pulled {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let v = (self.value)();
        let mut metric = proto::Metric::default();
        if self.kind == MetricType::COUNTER {
            let mut c = proto::Counter::default();
            c.set_value(v);
            metric.set_counter(c);
        } else {
            let mut g = proto::Gauge::default();
            g.set_value(v);
            metric.set_gauge(g);
        }
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(self.kind);
        family.set_metric(vec![metric]);
        vec![family]
    }
}
