//! The software inventory across the fleet: titles with installs and
//! versions (from the console index), licences owned against installs
//! (`[licences]`), as `GET /api/v1/software` and as two gauges for the
//! licensed titles only (bounded cardinality: the config lists them).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use serde::{Deserialize, Serialize};

use super::index::IndexInner;
use crate::app::AppState;
use crate::http::devices::require_admin;
use crate::http::error::ApiError;
use crate::state::LiveState;

/// Most devices listed per title in the API answer.
pub const MAX_API_DEVICES: usize = 1000;

/// One licensed title: licences owned against installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceRow {
    /// Title as configured (matched exactly against inventoried names).
    pub title: String,
    /// Licences owned.
    pub licences: u64,
    /// Devices with the title installed (any version).
    pub installs: u64,
    /// `licences - installs` (negative: under-licensed).
    pub available: i64,
    /// More installs than licences.
    pub over_licensed: bool,
}

/// Licence rows for `licences`, in title order.
pub fn licence_rows(index: &IndexInner, licences: &BTreeMap<String, u64>) -> Vec<LicenceRow> {
    licences
        .iter()
        .map(|(title, owned)| {
            let installs = index.title(title).map_or(0, |t| t.installs);
            LicenceRow {
                title: title.clone(),
                licences: *owned,
                installs,
                available: *owned as i64 - installs as i64,
                over_licensed: installs > *owned,
            }
        })
        .collect()
}

/// One version of a title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionJson {
    /// Version string.
    pub version: String,
    /// Devices with it.
    pub installs: u64,
}

/// One title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TitleJson {
    /// Title.
    pub title: String,
    /// Devices with it (any version).
    pub installs: u64,
    /// Licences owned, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licences: Option<u64>,
    /// Versions, most installed first.
    pub versions: Vec<VersionJson>,
}

/// A device having the asked-for title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceJson {
    /// Device id.
    pub device_id: String,
    /// Host name.
    pub hostname: String,
}

/// Body of `GET /api/v1/software`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoftwareJson {
    /// Every title (or only `title` when asked).
    pub titles: Vec<TitleJson>,
    /// Licensed titles.
    pub licences: Vec<LicenceRow>,
    /// With `?title=`: the devices having it (and `version`, when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceJson>>,
    /// True when `devices` was cut at [`MAX_API_DEVICES`].
    pub devices_truncated: bool,
}

/// Query of `GET /api/v1/software`.
#[derive(Debug, Default, Deserialize)]
pub struct SoftwareQuery {
    /// Exact title.
    pub title: Option<String>,
    /// Exact version (with `title`).
    pub version: Option<String>,
}

/// The software API router.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/software", get(api))
}

async fn api(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SoftwareQuery>, QueryRejection>,
) -> Result<Json<SoftwareJson>, ApiError> {
    require_admin(&app, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest {
        message: e.body_text(),
        field: None,
    })?;
    let index = app.live.console().read();
    let licences = &app.console.config.licences;
    let summaries = match &q.title {
        Some(t) => index.title(t).into_iter().collect(),
        None => index.titles(),
    };
    let titles = summaries
        .into_iter()
        .map(|t| TitleJson {
            licences: licences.get(&t.title).copied(),
            title: t.title,
            installs: t.installs,
            versions: t
                .versions
                .into_iter()
                .map(|(version, installs)| VersionJson { version, installs })
                .collect(),
        })
        .collect();
    let mut truncated = false;
    let devices = q.title.as_ref().map(|t| {
        let (found, first) = index.devices_with(t, q.version.as_deref(), MAX_API_DEVICES);
        truncated = found > MAX_API_DEVICES;
        first
            .into_iter()
            .map(|d| DeviceJson {
                device_id: d.device_id.to_string(),
                hostname: d.hostname.to_string(),
            })
            .collect()
    });
    Ok(Json(SoftwareJson {
        titles,
        licences: licence_rows(&index, licences),
        devices,
        devices_truncated: truncated,
    }))
}

/// `fleetwatch_software_installs{title}` and `fleetwatch_software_licences{title}`
/// for the titles in `[licences]`, read from the index at gather time.
pub struct LicenceGauges {
    live: Arc<LiveState>,
    licences: BTreeMap<String, u64>,
    descs: Vec<Desc>,
}

const INSTALLS: &str = "fleetwatch_software_installs";
const LICENCES: &str = "fleetwatch_software_licences";

impl LicenceGauges {
    /// Gauges over `live`'s index for the configured titles (`None` when
    /// the descriptors cannot be built, which the names rule out).
    pub fn new(live: Arc<LiveState>, licences: BTreeMap<String, u64>) -> Option<Self> {
        let desc = |name: &str, help: &str| {
            Desc::new(
                name.into(),
                help.into(),
                vec!["title".into()],
                Default::default(),
            )
            .ok()
        };
        Some(LicenceGauges {
            descs: vec![
                desc(
                    INSTALLS,
                    "Devices with a licensed software title installed (titles listed in [licences] only).",
                )?,
                desc(
                    LICENCES,
                    "Licences owned per software title ([licences] in the collector config).",
                )?,
            ],
            live,
            licences,
        })
    }
}

fn family(name: &str, help: &str, rows: &[(String, f64)]) -> MetricFamily {
    let metrics = rows
        .iter()
        .map(|(title, v)| {
            let mut label = proto::LabelPair::default();
            label.set_name("title".into());
            label.set_value(title.clone());
            let mut g = proto::Gauge::default();
            g.set_value(*v);
            let mut m = proto::Metric::default();
            m.set_label(vec![label]);
            m.set_gauge(g);
            m
        })
        .collect();
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(MetricType::GAUGE);
    f.set_metric(metrics);
    f
}

impl Collector for LicenceGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if self.licences.is_empty() {
            return Vec::new();
        }
        let index = self.live.console().read();
        let rows = licence_rows(&index, &self.licences);
        drop(index);
        let installs: Vec<(String, f64)> = rows
            .iter()
            .map(|r| (r.title.clone(), r.installs as f64))
            .collect();
        let owned: Vec<(String, f64)> = rows
            .iter()
            .map(|r| (r.title.clone(), r.licences as f64))
            .collect();
        vec![
            family(INSTALLS, &self.descs[0].help, &installs),
            family(LICENCES, &self.descs[1].help, &owned),
        ]
    }
}
