//! The console's page handlers: each builds a template struct from the live
//! state, the console index or the store; the templates under `templates/`
//! only format (auto-escaped; nothing from an agent is marked safe).

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::charts::{self, BarChart, LineChart};
use super::index::{heard_key, retirement_cutoff};
use super::software::{LicenceRow, licence_rows};
use super::trend::{self, OVERALL, TREND_DAYS, day_of};
use super::{Nav, csrf_ok, forbidden, html, may_change, require_session};
use crate::app::AppState;
use crate::judge::judge_device;
use crate::policy::api::{FailingDevice, compliance_summary, device_findings};
use crate::policy::{PolicyCheck, VerdictKind};
use crate::state::DeviceMetrics;
use crate::store::{WriteOp, WriteOutcome};
use crate::time::rfc3339;
use crate::unix_now;

/// Devices per page of the devices table.
pub const PAGE_SIZE: usize = 50;
/// Packages listed on a device page (the search narrows them).
pub const MAX_DEVICE_PACKAGES: usize = 500;
/// Devices listed per software title/version.
pub const MAX_TITLE_DEVICES: usize = 500;
/// Failing devices listed per check on the compliance page.
pub const MAX_COMPLIANCE_DEVICES: usize = 200;

/// Percent-encodes a value for a URL query or path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "3 min ago"-style age of a Unix time (`never` for 0).
pub fn ago(now: i64, ts: i64) -> String {
    if ts <= 0 {
        return "never".into();
    }
    let d = now - ts;
    match d {
        ..0 => "in the future".into(),
        0..60 => format!("{d} s ago"),
        60..3_600 => format!("{} min ago", d / 60),
        3_600..86_400 => format!("{} h ago", d / 3_600),
        _ => format!("{} d ago", d / 86_400),
    }
}

fn time_or(ts: Option<i64>, missing: &str) -> String {
    match ts {
        Some(t) if t > 0 => rfc3339(t),
        _ => missing.to_string(),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn visible(d: &DeviceMetrics, now: i64, retire_after: i64) -> bool {
    heard_key(d) >= retirement_cutoff(now, retire_after)
}

/// Whether a device whose last report was at `last_seen` (0: never) is stale.
fn is_stale(last_seen: i64, now: i64, stale_after: i64) -> bool {
    !(last_seen > 0 && now - last_seen <= stale_after)
}

fn compliance_word(c: Option<bool>) -> &'static str {
    match c {
        Some(true) => "compliant",
        Some(false) => "non_compliant",
        None => "unknown",
    }
}

// ---------------------------------------------------------------- overview

/// One check's fleet counts.
#[derive(Debug, Clone)]
pub struct CheckCounts {
    /// Check name.
    pub check: &'static str,
    /// Devices passing.
    pub passing: u64,
    /// Devices failing.
    pub failing: u64,
    /// Devices unknown.
    pub unknown: u64,
}

/// A firing or resolved alert.
#[derive(Debug, Clone)]
pub struct AlertRow {
    /// Alert name.
    pub name: String,
    /// Severity label.
    pub severity: String,
    /// Device id label (empty for fleet alerts).
    pub device_id: String,
    /// Host name label.
    pub hostname: String,
    /// Check label.
    pub check: String,
    /// Summary annotation.
    pub summary: String,
    /// Started, RFC 3339.
    pub since: String,
    /// Resolved, RFC 3339 (resolved alerts).
    pub resolved: String,
}

/// `GET /console/`.
#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    /// Navigation.
    pub nav: Nav,
    /// Visible devices.
    pub total: u64,
    /// Reporting within `stale_after`.
    pub reporting: u64,
    /// Not reporting.
    pub stale: u64,
    /// Devices compliant.
    pub compliant: u64,
    /// Devices not compliant.
    pub non_compliant: u64,
    /// Devices of unknown compliance.
    pub unknown: u64,
    /// `compliant / total` as text (`-` without devices).
    pub compliant_pct: String,
    /// Per check counts.
    pub checks: Vec<CheckCounts>,
    /// The same as a stacked chart.
    pub checks_chart: BarChart,
    /// OS and version distribution.
    pub os_chart: BarChart,
    /// Agent versions.
    pub agents_chart: BarChart,
    /// Alerts firing now.
    pub alerts: Vec<AlertRow>,
    /// The 30-day compliance trend (none before the first snapshot).
    pub trend: Option<LineChart>,
}

fn alert_row(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    starts_at: i64,
    resolved_at: Option<i64>,
) -> AlertRow {
    let l = |k: &str| labels.get(k).cloned().unwrap_or_default();
    AlertRow {
        name: l("alertname"),
        severity: l("severity"),
        device_id: l("device_id"),
        hostname: l("hostname"),
        check: l("check"),
        summary: annotations.get("summary").cloned().unwrap_or_default(),
        since: rfc3339(starts_at),
        resolved: resolved_at.map(rfc3339).unwrap_or_default(),
    }
}

fn firing_alerts(app: &AppState) -> Vec<AlertRow> {
    let mut rows: Vec<AlertRow> = app
        .dispatcher
        .firing()
        .into_iter()
        .map(|a| alert_row(&a.labels, &a.annotations, a.starts_at, None))
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.hostname).cmp(&(&b.name, &b.hostname)));
    rows
}

fn top(mut counts: Vec<(String, u64)>, n: usize) -> Vec<(String, u64)> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if counts.len() > n {
        let rest: u64 = counts[n..].iter().map(|(_, c)| c).sum();
        counts.truncate(n);
        counts.push(("(others)".into(), rest));
    }
    counts
}

/// The overview's figures (also what the browser test checks).
pub async fn overview(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = unix_now();
    let queries = app.queries.clone();
    let trend_rows = tokio::task::spawn_blocking(move || {
        queries.daily_compliance(day_of(now) - (TREND_DAYS - 1))
    })
    .await
    .ok()
    .and_then(|r| {
        r.map_err(|e| tracing::warn!(error = %e, "compliance trend not readable"))
            .ok()
    })
    .unwrap_or_default();
    let stale_after = app.judge.policy().current().stale_after_secs;
    let retire_after = app.settings.retire_after_secs as i64;
    let snapshot = app.live.read().snapshot();
    let (mut total, mut reporting, mut counts) = (0u64, 0u64, [0u64; 3]);
    let mut per_check = [[0u64; 3]; PolicyCheck::COUNT];
    let mut seen = [false; PolicyCheck::COUNT];
    let mut os: HashMap<(&str, &str), u64> = HashMap::new();
    let mut agents: HashMap<&str, u64> = HashMap::new();
    for d in snapshot.iter().filter(|d| visible(d, now, retire_after)) {
        total += 1;
        if !is_stale(d.last_seen, now, stale_after) {
            reporting += 1;
        }
        let o = d.verdicts.outcomes();
        counts[match o.compliant() {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        }] += 1;
        for (check, v) in o.iter() {
            let i = match v {
                VerdictKind::Passing => 0,
                VerdictKind::Failing => 1,
                VerdictKind::Unknown => 2,
                VerdictKind::NotApplicable => continue,
            };
            seen[check.index()] = true;
            per_check[check.index()][i] += 1;
        }
        *os.entry((&d.os, &d.os_version)).or_default() += 1;
        *agents.entry(&d.agent_version).or_default() += 1;
    }
    let checks: Vec<CheckCounts> = PolicyCheck::ALL
        .into_iter()
        .filter(|c| seen[c.index()])
        .map(|c| {
            let [passing, failing, unknown] = per_check[c.index()];
            CheckCounts {
                check: c.as_str(),
                passing,
                failing,
                unknown,
            }
        })
        .collect();
    let checks_chart = charts::stacked(
        &checks
            .iter()
            .map(|c| {
                (
                    c.check.to_string(),
                    vec![
                        (c.passing, "pass"),
                        (c.failing, "fail"),
                        (c.unknown, "unknown"),
                    ],
                )
            })
            .collect::<Vec<_>>(),
    );
    let os_rows = top(
        os.into_iter()
            .map(|((o, v), n)| {
                let label = match (o.is_empty(), v.is_empty()) {
                    (true, _) => "(not reported)".to_string(),
                    (false, true) => o.to_string(),
                    (false, false) => format!("{o} {v}"),
                };
                (label, n)
            })
            .collect(),
        12,
    );
    let agent_rows = top(
        agents
            .into_iter()
            .map(|(v, n)| {
                let label = if v.is_empty() { "(none yet)" } else { v };
                (label.to_string(), n)
            })
            .collect(),
        12,
    );
    let first_day = day_of(now) - (TREND_DAYS - 1);
    let points: Vec<(u32, f64, String)> = trend_rows
        .iter()
        .filter(|r| r.check == OVERALL)
        .filter_map(|r| {
            let pct = trend::percent(r)?;
            let slot = (r.day - first_day) as u32;
            Some((
                slot,
                pct,
                format!("{}: {pct:.1} % compliant", &rfc3339(r.day * 86_400)[..10]),
            ))
        })
        .collect();
    let trend = (!points.is_empty()).then(|| {
        charts::percent_line(
            TREND_DAYS as u32,
            &points,
            rfc3339(first_day * 86_400)[..10].to_string(),
            rfc3339(now)[..10].to_string(),
        )
    });
    html(&OverviewPage {
        nav: Nav::new("overview", &session, &app),
        total,
        reporting,
        stale: total - reporting,
        compliant: counts[0],
        non_compliant: counts[1],
        unknown: counts[2],
        compliant_pct: if total == 0 {
            "-".into()
        } else {
            format!("{:.1} %", counts[0] as f64 * 100.0 / total as f64)
        },
        checks,
        checks_chart,
        os_chart: charts::bars(&os_rows),
        agents_chart: charts::bars(&agent_rows),
        alerts: firing_alerts(&app),
        trend,
    })
}

// ----------------------------------------------------------------- devices

/// Query of `GET /console/devices`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DevicesQuery {
    /// Search words (host name, serial, IP, MAC, user; prefixes).
    pub q: Option<String>,
    /// OS id.
    pub os: Option<String>,
    /// `compliant`, `non_compliant` or `unknown`.
    pub state: Option<String>,
    /// A failing check's name.
    pub check: Option<String>,
    /// `1`: only stale devices; `0`: only reporting ones.
    pub stale: Option<String>,
    /// `hostname` (default), `last_seen`, `os`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub dir: Option<String>,
    /// 1-based page.
    pub page: Option<usize>,
}

/// One row of the devices table.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// Device id.
    pub device_id: String,
    /// Link to the device page.
    pub href: String,
    /// Host name.
    pub hostname: String,
    /// OS and version.
    pub os: String,
    /// Agent version.
    pub agent_version: String,
    /// Last report, as an age.
    pub last_seen: String,
    /// `compliant`, `non_compliant` or `unknown`.
    pub state: &'static str,
    /// Failing checks.
    pub failing: String,
    /// Not reporting.
    pub stale: bool,
}

/// `GET /console/devices`.
#[derive(Template)]
#[template(path = "devices.html")]
pub struct DevicesPage {
    /// Navigation.
    pub nav: Nav,
    /// The query as given (for the form).
    pub q: String,
    /// Selected OS.
    pub os: String,
    /// Selected state.
    pub state: String,
    /// Selected check.
    pub check: String,
    /// Selected staleness.
    pub stale: String,
    /// Sort key.
    pub sort: String,
    /// Sort direction.
    pub dir: String,
    /// OS ids to filter on.
    pub os_options: Vec<String>,
    /// Check names to filter on.
    pub check_options: Vec<&'static str>,
    /// This page's rows.
    pub rows: Vec<DeviceRow>,
    /// Devices matching.
    pub matching: usize,
    /// Page shown (1-based).
    pub page: usize,
    /// Pages.
    pub pages: usize,
    /// Link to the previous page (empty on the first).
    pub prev_href: String,
    /// Link to the next page (empty on the last).
    pub next_href: String,
    /// Server time spent, ms (shown in the footer).
    pub took_ms: String,
}

fn devices_href(q: &DevicesQuery, page: usize) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("q", &q.q),
        ("os", &q.os),
        ("state", &q.state),
        ("check", &q.check),
        ("stale", &q.stale),
        ("sort", &q.sort),
        ("dir", &q.dir),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    parts.push(format!("page={page}"));
    format!("/console/devices?{}", parts.join("&"))
}

/// The devices table for `q` (the page handler's work, without HTTP).
pub fn devices_page(app: &AppState, q: &DevicesQuery, nav: Nav) -> DevicesPage {
    let started = std::time::Instant::now();
    let now = unix_now();
    let stale_after = app.judge.policy().current().stale_after_secs;
    let retire_after = app.settings.retire_after_secs as i64;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let (os_f, state_f, stale_f) = (nonempty(&q.os), nonempty(&q.state), nonempty(&q.stale));
    let check_f = nonempty(&q.check).and_then(|c| PolicyCheck::from_name(&c));
    let sort = q.sort.clone().unwrap_or_else(|| "hostname".into());
    let desc = q.dir.as_deref() == Some("desc");
    // Lock order: the fleet, then the index (the writer's order).
    let fleet = app.live.read();
    let index = app.live.console().read();
    let cutoff = retirement_cutoff(now, retire_after);
    let searched = index.search(q.q.as_deref().unwrap_or(""));
    let wanted_page = q.page.unwrap_or(1).max(1);
    let need_outcomes = state_f.is_some() || check_f.is_some();
    let by_hostname = !matches!(sort.as_str(), "last_seen" | "os");
    let os_wanted = os_f.as_deref();
    type Row<'a> = (&'a super::index::IndexedDevice, &'a DeviceMetrics);
    let (matching, page, page_rows): (usize, usize, Vec<Row>) =
        if searched.is_none() && by_hostname && !need_outcomes && stale_f.is_none() {
            // The default table (and the OS filter): the count is kept by the
            // index, the host-name order is the index's own, so the walk stops
            // after the requested page.
            let matching = index.listed_count(os_wanted, cutoff);
            let page = wanted_page.clamp(1, matching.div_ceil(PAGE_SIZE).max(1));
            let in_order: Box<dyn Iterator<Item = &super::index::IndexedDevice>> = if desc {
                Box::new(index.in_hostname_order().rev())
            } else {
                Box::new(index.in_hostname_order())
            };
            let rows = in_order
                .filter(|d| index.is_listed(d, os_wanted, cutoff))
                .skip((page - 1) * PAGE_SIZE)
                .filter_map(|d| Some((d, fleet.device(&d.device_id)?.as_ref())))
                .take(PAGE_SIZE)
                .collect();
            (matching, page, rows)
        } else {
            // Search results, or filters and sorts the index keeps no order
            // for: one pass over the candidates' compact facts, reading the
            // live state only for the compliance filters.
            let candidates: Box<dyn Iterator<Item = &super::index::IndexedDevice>> = match &searched
            {
                Some(found) => Box::new(found.iter().copied()),
                None => Box::new(index.in_hostname_order()),
            };
            let mut matches: Vec<&super::index::IndexedDevice> = candidates
                .filter(|d| index.is_listed(d, os_wanted, cutoff))
                .filter(|d| match stale_f.as_deref() {
                    Some("1") => is_stale(index.last_seen(d), now, stale_after),
                    Some("0") => !is_stale(index.last_seen(d), now, stale_after),
                    _ => true,
                })
                .filter(|d| {
                    if !need_outcomes {
                        return true;
                    }
                    let Some(m) = fleet.device(&d.device_id) else {
                        return false;
                    };
                    let outcomes = m.verdicts.outcomes();
                    state_f
                        .as_deref()
                        .is_none_or(|s| s == compliance_word(outcomes.compliant()))
                        && check_f.is_none_or(|c| outcomes.is_failing(c))
                })
                .collect();
            // Stable sorts: ties stay in host-name order.
            match sort.as_str() {
                "last_seen" => matches.sort_by_key(|d| index.last_seen(d)),
                "os" => matches.sort_by(|a, b| (&a.os, &a.os_version).cmp(&(&b.os, &b.os_version))),
                _ => {}
            }
            if desc {
                matches.reverse();
            }
            let matching = matches.len();
            let page = wanted_page.clamp(1, matching.div_ceil(PAGE_SIZE).max(1));
            let rows = matches
                .into_iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .filter_map(|d| Some((d, fleet.device(&d.device_id)?.as_ref())))
                .collect();
            (matching, page, rows)
        };
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let rows = page_rows
        .iter()
        .map(|(d, m)| {
            let outcomes = m.verdicts.outcomes();
            DeviceRow {
                device_id: d.device_id.to_string(),
                href: format!("/console/devices/{}", enc(&d.device_id)),
                hostname: d.hostname.to_string(),
                os: format!("{} {}", d.os, d.os_version).trim().to_string(),
                agent_version: m.agent_version.to_string(),
                last_seen: ago(now, m.last_seen),
                state: compliance_word(outcomes.compliant()),
                failing: outcomes
                    .iter()
                    .filter(|(_, v)| *v == VerdictKind::Failing)
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                stale: is_stale(m.last_seen, now, stale_after),
            }
        })
        .collect();
    let os_options: Vec<String> = index.os_names().into_iter().map(str::to_string).collect();
    drop(index);
    drop(fleet);
    DevicesPage {
        nav,
        q: q.q.clone().unwrap_or_default(),
        os: os_f.unwrap_or_default(),
        state: state_f.unwrap_or_default(),
        check: check_f.map(|c| c.as_str().to_string()).unwrap_or_default(),
        stale: stale_f.unwrap_or_default(),
        sort,
        dir: if desc { "desc".into() } else { "asc".into() },
        os_options,
        check_options: PolicyCheck::ALL.iter().map(|c| c.as_str()).collect(),
        rows,
        matching,
        page,
        pages,
        prev_href: if page > 1 {
            devices_href(q, page - 1)
        } else {
            String::new()
        },
        next_href: if page < pages {
            devices_href(q, page + 1)
        } else {
            String::new()
        },
        took_ms: format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
    }
}

/// `GET /console/devices`.
pub async fn devices(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DevicesQuery>, QueryRejection>,
) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return super::bad_query(&e, "/console/devices"),
    };
    let nav = Nav::new("devices", &session, &app);
    let page = tokio::task::spawn_blocking(move || devices_page(&app, &q, nav)).await;
    match page {
        Ok(p) => html(&p),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page failed").into_response(),
    }
}

// ------------------------------------------------------------- device page

/// A label and a value.
#[derive(Debug, Clone)]
pub struct Field {
    /// Label.
    pub name: String,
    /// Value.
    pub value: String,
}

fn field(name: &str, value: impl Into<String>) -> Field {
    Field {
        name: name.into(),
        value: value.into(),
    }
}

/// A password setting next to the policy.
#[derive(Debug, Clone)]
pub struct PasswordRow {
    /// Setting.
    pub setting: &'static str,
    /// The device's effective value.
    pub device: String,
    /// What the policy requires.
    pub required: String,
    /// `passing`, `failing`, `unknown`, `not_applicable`, `disabled`.
    pub result: &'static str,
}

/// One check's verdict on the device.
#[derive(Debug, Clone)]
pub struct CheckView {
    /// Check name.
    pub check: &'static str,
    /// `passing`, `failing`, `unknown`, `not_applicable`.
    pub result: &'static str,
    /// Why (failing, unknown, not applicable).
    pub reason: String,
    /// Failing since, RFC 3339.
    pub since: String,
}

/// A row of a plain table.
#[derive(Debug, Clone)]
pub struct Cells {
    /// The cells.
    pub cells: Vec<String>,
}

/// `GET /console/devices/{id}`.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePage {
    /// Navigation.
    pub nav: Nav,
    /// Device id.
    pub device_id: String,
    /// Retire form target.
    pub retire_href: String,
    /// Host name.
    pub hostname: String,
    /// The session may retire.
    pub can_retire: bool,
    /// Retired already.
    pub retired: bool,
    /// `compliant`, `non_compliant`, `unknown`.
    pub compliant: &'static str,
    /// Identity and hardware.
    pub identity: Vec<Field>,
    /// OS and kernel.
    pub os: Vec<Field>,
    /// Disks.
    pub disks: Vec<Cells>,
    /// Network interfaces.
    pub network: Vec<Cells>,
    /// Local users.
    pub users: Vec<Cells>,
    /// Why the agent could not list the local users (unknown, not "none").
    pub users_error: Option<String>,
    /// Software search text.
    pub sw: String,
    /// Software rows shown.
    pub software: Vec<Cells>,
    /// Packages matching the search.
    pub software_matching: usize,
    /// Packages installed.
    pub software_total: usize,
    /// Patch state.
    pub patches: Vec<Field>,
    /// Backup jobs.
    pub backups: Vec<Cells>,
    /// Password settings against the policy.
    pub password: Vec<PasswordRow>,
    /// Every check's verdict.
    pub checks: Vec<CheckView>,
    /// Failing checks only.
    pub failing: Vec<CheckView>,
    /// Recent reports.
    pub history: Vec<Cells>,
}

/// Query of the device page.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceQuery {
    /// Software search (substring of title, case-insensitive).
    pub sw: Option<String>,
}

fn cells<const N: usize>(v: [String; N]) -> Cells {
    Cells { cells: v.to_vec() }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "unknown".into(), |v| v.to_string())
}

/// The device page for `id` (`None`: no such device).
pub fn device_page(
    app: &AppState,
    id: &str,
    sw: &str,
    nav: Nav,
    can_retire: bool,
) -> Result<Option<DevicePage>, crate::store::StoreError> {
    let Some(detail) = app.queries.device(id)? else {
        return Ok(None);
    };
    let history = app.queries.report_history(id, 20)?;
    let now = unix_now();
    let policy = app.judge.policy().current();
    let entry = app.live.read().device(id).cloned();
    let inv: Option<fleetwatch_protocol::Inventory> = detail
        .inventory
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let mut identity = vec![
        field("Device id", id),
        field("Host name", detail.summary.hostname.clone()),
        field("Enrolled", rfc3339(detail.summary.enrolled_at)),
        field(
            "Last report",
            format!(
                "{} ({})",
                time_or(Some(detail.summary.last_seen), "never"),
                ago(now, detail.summary.last_seen)
            ),
        ),
        field("Agent version", detail.summary.agent_version.clone()),
    ];
    let mut os = Vec::new();
    let (mut disks, mut network, mut users) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(inv) = &inv {
        let h = &inv.hardware;
        identity.extend([
            field("FQDN", opt(&inv.fqdn)),
            field("Vendor", opt(&h.vendor)),
            field("Model", opt(&h.model)),
            field("Serial", opt(&h.serial)),
            field("Hardware UUID", opt(&h.uuid)),
            field(
                "BIOS",
                format!(
                    "{} {} {}",
                    opt(&h.bios_vendor),
                    opt(&h.bios_version),
                    opt(&h.bios_date)
                ),
            ),
            field(
                "CPU",
                format!("{} ({} logical)", opt(&inv.cpu.model), inv.cpu.logical_cpus),
            ),
            field("Memory", bytes(inv.memory.total_bytes)),
        ]);
        os.extend([
            field(
                "OS",
                inv.os
                    .pretty_name
                    .clone()
                    .unwrap_or_else(|| inv.os.id.clone()),
            ),
            field(
                "OS id / version",
                format!("{} {}", inv.os.id, opt(&inv.os.version_id)),
            ),
            field("Support ends", opt(&inv.os.support_end)),
            field("Kernel", opt(&inv.kernel_version)),
            field("Architecture", inv.arch.clone()),
            field("Boot time", time_or(inv.boot_time, "unknown")),
        ]);
        for d in &inv.disks {
            disks.push(cells([
                d.mount_point.clone(),
                d.device.clone(),
                d.filesystem.clone(),
                bytes(d.total_bytes),
                bytes(d.available_bytes),
                match d.encrypted {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "unknown".into(),
                },
            ]));
        }
        for n in &inv.network {
            network.push(cells([n.name.clone(), opt(&n.mac), n.addresses.join(", ")]));
        }
        for u in &inv.users {
            users.push(cells([
                u.name.clone(),
                u.uid.to_string(),
                u.home.clone(),
                u.shell.clone(),
                if u.interactive { "yes" } else { "no" }.into(),
            ]));
        }
    }
    // Software from the index (interned, in memory), searched by title.
    let needle = sw.trim().to_lowercase();
    let (mut software, mut software_matching, mut software_total) = (Vec::new(), 0, 0);
    {
        let index = app.live.console().read();
        if let Some(d) = index.device(id) {
            let all = index.packages_of(d);
            software_total = all.len();
            for (t, v) in all {
                if needle.is_empty() || t.to_lowercase().contains(&needle) {
                    software_matching += 1;
                    if software.len() < MAX_DEVICE_PACKAGES {
                        software.push(cells([t.to_string(), v.to_string()]));
                    }
                }
            }
        }
    }
    let (mut patches, mut backups, mut password) = (Vec::new(), Vec::new(), Vec::new());
    let (mut checks, mut compliant) = (Vec::new(), "unknown");
    if let Some(d) = &entry {
        let facts = d.compliance_facts();
        match &facts.patches.data {
            Some(p) => patches.extend([
                field("Pending updates", p.pending_total.to_string()),
                field("Pending security updates", opt(&p.pending_security)),
                field(
                    "Security pending since",
                    time_or(p.security_pending_since, "-"),
                ),
                field(
                    "Package cache refreshed",
                    time_or(p.cache_updated_at, "unknown"),
                ),
                field("Last install", time_or(p.last_install_at, "unknown")),
                field(
                    "Reboot required",
                    if p.reboot_unknown {
                        "unknown".into()
                    } else if p.reboot_required {
                        format!("yes, since {}", time_or(p.reboot_required_since, "unknown"))
                    } else {
                        "no".into()
                    },
                ),
            ]),
            None => patches.push(field(
                "Patch state",
                facts
                    .patches
                    .error
                    .as_deref()
                    .map_or("not reported".to_string(), |e| {
                        format!("not collected: {e}")
                    }),
            )),
        }
        if let Some(b) = &facts.backup.data {
            for j in &b.jobs {
                backups.push(cells([
                    j.name.to_string(),
                    time_or(j.last_success_at, "never"),
                    format!("{:?}", j.last_result).to_lowercase(),
                    j.size_bytes.map_or_else(|| "unknown".into(), bytes),
                ]));
            }
        }
        let j = judge_device(d, &policy, now);
        let findings = device_findings(&j.findings, &j.failing_since);
        compliant = compliance_word(findings.compliant);
        let result_of = |c: PolicyCheck| {
            findings
                .checks
                .iter()
                .find(|x| x.check == c.as_str())
                .map_or("disabled", |x| x.result)
        };
        let pw = facts.password.data.as_ref();
        let v = |x: Option<String>| x.unwrap_or_else(|| "unknown".into());
        password.extend([
            PasswordRow {
                setting: "Minimum length",
                device: v(pw.and_then(|p| p.min_length).map(|n| n.to_string())),
                required: format!(">= {}", policy.password_min_length),
                result: result_of(PolicyCheck::PasswordLength),
            },
            PasswordRow {
                setting: "Character classes",
                device: v(pw.and_then(|p| p.min_classes).map(|n| n.to_string())),
                required: format!(">= {}", policy.password_min_classes),
                result: result_of(PolicyCheck::PasswordComplexity),
            },
            PasswordRow {
                setting: "History",
                device: v(pw.and_then(|p| p.history).map(|n| n.to_string())),
                required: format!(">= {}", policy.password_history),
                result: result_of(PolicyCheck::PasswordHistory),
            },
            PasswordRow {
                setting: "Lockout after failed logins",
                device: v(pw.and_then(|p| p.lockout_threshold).map(|n| n.to_string())),
                required: format!("<= {}", policy.password_lockout_max_attempts),
                result: result_of(PolicyCheck::PasswordLockout),
            },
            PasswordRow {
                setting: "Maximum age (days)",
                device: v(pw.and_then(|p| p.max_days).map(|n| n.to_string())),
                required: format!("<= {}", policy.password_max_age_days),
                result: result_of(PolicyCheck::PasswordMaxAge),
            },
            PasswordRow {
                setting: "Accounts with an empty password",
                device: v(pw
                    .and_then(|p| p.accounts.as_ref())
                    .map(|a| a.empty.to_string())),
                required: if policy.forbid_empty_passwords {
                    "0"
                } else {
                    "any"
                }
                .into(),
                result: result_of(PolicyCheck::EmptyPasswords),
            },
            PasswordRow {
                setting: "Accounts with an expired password",
                device: v(pw
                    .and_then(|p| p.accounts.as_ref())
                    .map(|a| a.expired.to_string())),
                required: if policy.forbid_expired_passwords {
                    "0"
                } else {
                    "any"
                }
                .into(),
                result: result_of(PolicyCheck::ExpiredPasswords),
            },
        ]);
        checks = findings
            .checks
            .iter()
            .map(|c| CheckView {
                check: c.check,
                result: c.result,
                reason: c.reason.clone().unwrap_or_default(),
                since: c.failing_since_iso.clone().unwrap_or_default(),
            })
            .collect();
    }
    let failing = checks
        .iter()
        .filter(|c| c.result == "failing")
        .cloned()
        .collect();
    let history = history
        .into_iter()
        .map(|r| cells([rfc3339(r.received_at), rfc3339(r.collected_at), r.report_id]))
        .collect();
    Ok(Some(DevicePage {
        nav,
        device_id: id.to_string(),
        retire_href: format!("/console/devices/{}/retire", enc(id)),
        hostname: entry
            .as_ref()
            .map_or(detail.summary.hostname.clone(), |d| d.hostname.to_string()),
        can_retire,
        retired: detail.summary.retired,
        compliant,
        identity,
        os,
        disks,
        network,
        users,
        users_error: inv.as_ref().and_then(|i| i.users_error.clone()),
        sw: sw.to_string(),
        software,
        software_matching,
        software_total,
        patches,
        backups,
        password,
        checks,
        failing,
        history,
    }))
}

/// `GET /console/devices/{id}`.
pub async fn device(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<DeviceQuery>, QueryRejection>,
) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return super::bad_query(&e, &format!("/console/devices/{id}")),
    };
    let nav = Nav::new("devices", &session, &app);
    let can_retire = may_change(session.role);
    let sw = q.sw.unwrap_or_default();
    let page =
        tokio::task::spawn_blocking(move || device_page(&app, &id, &sw, nav, can_retire)).await;
    match page {
        Ok(Ok(Some(p))) => html(&p),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such device").into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "device page: store read failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be read right now",
            )
                .into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page failed").into_response(),
    }
}

/// `POST /console/devices/{id}/retire`: admin session and CSRF token required.
pub async fn retire(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form: super::CsrfForm =
        serde_urlencoded::from_bytes(&body).unwrap_or(super::CsrfForm { csrf: None });
    if !csrf_ok(&session, form.csrf.as_deref()) {
        tracing::warn!("console: retire refused, missing or wrong CSRF token");
        return forbidden("missing or wrong CSRF token");
    }
    if !may_change(session.role) {
        return forbidden("viewer sessions cannot retire devices");
    }
    match app.writer.submit(WriteOp::Retire(id.clone())).await {
        Ok(WriteOutcome::Retired(true)) => {
            tracing::info!(device_id = %id, "device retired from the console");
            Redirect::to(&format!("/console/devices/{}", enc(&id))).into_response()
        }
        Ok(WriteOutcome::Retired(false)) => {
            (StatusCode::NOT_FOUND, "no such device").into_response()
        }
        Ok(_) | Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the device could not be retired now; try again",
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------- software

/// A title row of the software page.
#[derive(Debug, Clone)]
pub struct TitleRow {
    /// Title.
    pub title: String,
    /// Link to its devices.
    pub href: String,
    /// Devices with it.
    pub installs: u64,
    /// Distinct versions.
    pub versions: usize,
    /// Licences owned (`-` when not configured).
    pub licences: String,
}

/// A version row of one title.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// Version.
    pub version: String,
    /// Link to its devices.
    pub href: String,
    /// Devices with it.
    pub installs: u64,
}

/// A device having the selected title.
#[derive(Debug, Clone)]
pub struct TitleDevice {
    /// Host name.
    pub hostname: String,
    /// Device page link.
    pub href: String,
}

/// `GET /console/software`.
#[derive(Template)]
#[template(path = "software.html")]
pub struct SoftwarePage {
    /// Navigation.
    pub nav: Nav,
    /// Title filter (substring).
    pub q: String,
    /// Titles shown.
    pub titles: Vec<TitleRow>,
    /// Titles matching.
    pub titles_matching: usize,
    /// Licensed titles.
    pub licences: Vec<LicenceRow>,
    /// The selected title (empty: none).
    pub title: String,
    /// The selected version (empty: all).
    pub version: String,
    /// Its versions.
    pub versions: Vec<VersionRow>,
    /// Devices with the selection.
    pub devices: Vec<TitleDevice>,
    /// Devices matching the selection.
    pub devices_matching: usize,
}

/// Query of the software page.
#[derive(Debug, Default, Deserialize)]
pub struct SoftwareQuery {
    /// Title substring.
    pub q: Option<String>,
    /// Exact title.
    pub title: Option<String>,
    /// Exact version.
    pub version: Option<String>,
}

/// Titles listed on the software page (the filter narrows them).
pub const MAX_TITLES: usize = 500;

/// The software page for `q`.
pub fn software_page(app: &AppState, q: &SoftwareQuery, nav: Nav) -> SoftwarePage {
    let index = app.live.console().read();
    let licences = &app.console.config.licences;
    let needle = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let (titles_matching, first) = index.titles_matching(&needle, MAX_TITLES);
    let titles = first
        .into_iter()
        .map(|t| TitleRow {
            href: format!("/console/software?title={}", enc(&t.title)),
            licences: licences
                .get(&t.title)
                .map_or_else(|| "-".into(), |n| n.to_string()),
            versions: t.versions.len(),
            installs: t.installs,
            title: t.title,
        })
        .collect();
    let title = q.title.clone().unwrap_or_default();
    let version = q.version.clone().unwrap_or_default();
    let (mut versions, mut devices, mut devices_matching) = (Vec::new(), Vec::new(), 0);
    if !title.is_empty() {
        if let Some(t) = index.title(&title) {
            versions = t
                .versions
                .iter()
                .map(|(v, n)| VersionRow {
                    href: format!("/console/software?title={}&version={}", enc(&title), enc(v)),
                    version: v.clone(),
                    installs: *n,
                })
                .collect();
        }
        let (found, first) = index.devices_with(
            &title,
            (!version.is_empty()).then_some(version.as_str()),
            MAX_TITLE_DEVICES,
        );
        devices_matching = found;
        devices = first
            .into_iter()
            .map(|d| TitleDevice {
                hostname: d.hostname.to_string(),
                href: format!("/console/devices/{}", enc(&d.device_id)),
            })
            .collect();
    }
    SoftwarePage {
        nav,
        q: q.q.clone().unwrap_or_default(),
        titles,
        titles_matching,
        licences: licence_rows(&index, licences),
        title,
        version,
        versions,
        devices,
        devices_matching,
    }
}

/// `GET /console/software`.
pub async fn software(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SoftwareQuery>, QueryRejection>,
) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return super::bad_query(&e, "/console/software"),
    };
    let nav = Nav::new("software", &session, &app);
    match tokio::task::spawn_blocking(move || software_page(&app, &q, nav)).await {
        Ok(p) => html(&p),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page failed").into_response(),
    }
}

// -------------------------------------------------------------- compliance

/// One check on the compliance page.
#[derive(Debug, Clone)]
pub struct ComplianceCheck {
    /// Check name.
    pub check: &'static str,
    /// Devices passing.
    pub passing: u64,
    /// Devices failing.
    pub failing: u64,
    /// Devices unknown.
    pub unknown: u64,
    /// Devices not applicable.
    pub not_applicable: u64,
    /// Failing devices (oldest failure first).
    pub devices: Vec<FailingRow>,
    /// More failing devices than listed.
    pub truncated: bool,
}

/// A failing device on the compliance page.
#[derive(Debug, Clone)]
pub struct FailingRow {
    /// Host name.
    pub hostname: String,
    /// Device page link.
    pub href: String,
    /// Failing since.
    pub since: String,
    /// Why.
    pub reason: String,
}

/// `GET /console/compliance`.
#[derive(Template)]
#[template(path = "compliance.html")]
pub struct CompliancePage {
    /// Navigation.
    pub nav: Nav,
    /// Devices judged.
    pub devices: u64,
    /// Compliant devices.
    pub compliant: u64,
    /// Per check.
    pub checks: Vec<ComplianceCheck>,
}

fn failing_row(d: FailingDevice) -> FailingRow {
    FailingRow {
        href: format!("/console/devices/{}", enc(&d.device_id)),
        hostname: d.hostname,
        since: d.since_iso.unwrap_or_else(|| "unknown".into()),
        reason: d.reason,
    }
}

/// `GET /console/compliance`: every device judged now (as the API does).
pub async fn compliance(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let nav = Nav::new("compliance", &session, &app);
    let page = tokio::task::spawn_blocking(move || {
        let judged = crate::http::compliance::judged(&app);
        let s = compliance_summary(
            crate::http::compliance::rows(&judged),
            MAX_COMPLIANCE_DEVICES,
        );
        CompliancePage {
            nav,
            devices: s.devices,
            compliant: s.compliant.compliant,
            checks: s
                .checks
                .into_iter()
                .map(|c| ComplianceCheck {
                    check: c.check,
                    passing: c.passing,
                    failing: c.failing,
                    unknown: c.unknown,
                    not_applicable: c.not_applicable,
                    truncated: c.failing_devices_truncated,
                    devices: c.failing_devices.into_iter().map(failing_row).collect(),
                })
                .collect(),
        }
    })
    .await;
    match page {
        Ok(p) => html(&p),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "page failed").into_response(),
    }
}

// ------------------------------------------------------------------ alerts

/// `GET /console/alerts`.
#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    /// Navigation.
    pub nav: Nav,
    /// Firing now.
    pub firing: Vec<AlertRow>,
    /// Resolved recently (newest first).
    pub resolved: Vec<AlertRow>,
}

/// `GET /console/alerts`.
pub async fn alerts(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_session(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut resolved: Vec<_> = app
        .dispatcher
        .saved()
        .into_iter()
        .filter(|a| a.resolved_at.is_some())
        .collect();
    resolved.sort_by_key(|a| std::cmp::Reverse(a.resolved_at));
    html(&AlertsPage {
        nav: Nav::new("alerts", &session, &app),
        firing: firing_alerts(&app),
        resolved: resolved
            .iter()
            .map(|a| alert_row(&a.labels, &a.annotations, a.starts_at, a.resolved_at))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(enc("a b&c=d/\"<"), "a%20b%26c%3Dd%2F%22%3C");
        assert_eq!(enc("dev-01_x.y~"), "dev-01_x.y~");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(100, 0), "never");
        assert_eq!(ago(100, 70), "30 s ago");
        assert_eq!(ago(10_000, 10_000 - 7_200), "2 h ago");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
