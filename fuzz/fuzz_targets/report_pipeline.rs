//! Report JSON → checks the route makes → report, inventory and compliance
//! facts → judged under the policy → live state → exposition text, the
//! compliance summary and CSV, and the state a restart would load.
//!
//! The input is one or two reports (split at a NUL byte) from the same
//! device, the second judged on top of the first. Beyond "no panic", each
//! stored JSON column must load back as what was stored, and the
//! exposition must be valid text format without a duplicate series.
#![no_main]

use std::sync::Arc;

use fleetwatch_collector::exposition::{self, RenderClock, Selection};
use fleetwatch_collector::http::extract::parse_json;
use fleetwatch_collector::http::reports::check_report;
use fleetwatch_collector::judge::{Judge, judge_device};
use fleetwatch_collector::policy::api::{DeviceRow, compliance_csv, compliance_summary};
use fleetwatch_collector::policy::{ComplianceFacts, FailingSince, Policy, PolicyHandle};
use fleetwatch_collector::report_facts::{InventoryFacts, ReportFacts};
use fleetwatch_collector::state::{FleetState, LiveState};
use fleetwatch_collector::store::{IngestOp, IngestOutcome, StoredDevice, WriteOp};
use fleetwatch_fuzz::check_exposition;
use fleetwatch_protocol::Report;
use libfuzzer_sys::fuzz_target;

const DEVICE: &str = "dev-0001";
const NOW: i64 = 1_750_000_000;

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let policy =
        Policy::from_collector_config_str("[policy]\npatch_cache_max_age = \"7d\"\n", "fuzz")
            .expect("the fuzz policy is valid");
    let judge = Judge::new(PolicyHandle::new(policy.clone()));
    let mut fleet = FleetState::default();
    let mut stored = StoredDevice {
        device_id: DEVICE.into(),
        hostname: "enrolled-host".into(),
        enrolled_at: NOW - 86_400,
        last_seen: 0,
        retired: false,
        node_key_hash: [7; 32],
        inventory: None,
        report: None,
        compliance: None,
        failing_since: FailingSince::default(),
    };
    fleet.insert_stored(&stored);
    let live = LiveState::new(fleet);

    let mut ingested = false;
    for (n, bytes) in std::iter::once(first).chain(second).enumerate() {
        let Some(op) = ingest(bytes, n as i64) else {
            continue;
        };
        let mut ops = [WriteOp::Ingest(Box::new(op))];
        judge.prepare_batch(&live, &mut ops, NOW);
        let [WriteOp::Ingest(op)] = ops else {
            unreachable!()
        };
        let update = op
            .compliance
            .as_ref()
            .expect("an enrolled device's report is judged");
        let facts: ComplianceFacts = load("compliance facts", &update.facts_json);
        assert_eq!(facts, *update.facts, "compliance facts change when stored");
        let since: FailingSince = load("failing since", &update.failing_since_json);
        assert_eq!(
            since, update.failing_since,
            "failing-since changes when stored"
        );
        let outcome = IngestOutcome {
            duplicate: false,
            applied: true,
            last_seen: op.received_at,
            packages_hash: op.packages.as_ref().map(|p| p.hash.clone()),
        };
        live.write().apply_report(&op, &outcome);
        // What the store holds for the device after this report.
        stored.last_seen = op.received_at;
        stored.report = Some(op.report_facts.clone());
        if let Some(inv) = &op.inventory {
            stored.hostname = inv.facts.hostname.clone();
            stored.inventory = Some(inv.facts.clone());
        }
        stored.compliance = Some((*update.facts).clone());
        stored.failing_since = update.failing_since;
        ingested = true;
    }
    if !ingested {
        return;
    }
    let clock = RenderClock {
        now: NOW,
        stale_after_secs: policy.stale_after_secs,
        retire_after_secs: 90 * 86_400,
    };
    let live_text = render_all(&live.read().snapshot(), clock);
    compliance_views(&live, &policy);

    // A restart loads the device from the store and judges it: the same
    // scrape as before.
    let mut restarted = FleetState::default();
    restarted.insert_stored(&stored);
    if let Some(d) = restarted.device(DEVICE) {
        judge.rejudge(d, &policy, NOW);
    }
    let restarted_text = render_all(&restarted.snapshot(), clock);
    assert!(
        live_text == restarted_text,
        "a restart changes the exposition:\n{}\n---\n{}",
        String::from_utf8_lossy(&live_text),
        String::from_utf8_lossy(&restarted_text)
    );
});

/// What the route and the writer make of a body; `None` when refused with
/// a 4xx (the expected answer to most fuzz inputs).
fn ingest(bytes: &[u8], n: i64) -> Option<IngestOp> {
    let mut report: Report = parse_json(bytes).ok()?;
    // The node key names the device; a report for another one is refused
    // (403) before anything else happens to it.
    if report.device_id != DEVICE {
        assert!(check_report(&report, DEVICE).is_err());
        report.device_id = DEVICE.into();
    }
    check_report(&report, DEVICE).ok()?;
    let op = IngestOp::prepare(report, NOW + n)
        .unwrap_or_else(|e| panic!("a valid report cannot be prepared (500): {e}"));
    let facts: ReportFacts = load("report facts", &op.report_facts_json);
    assert_eq!(facts, op.report_facts, "report facts change when stored");
    if let Some(inv) = &op.inventory {
        let facts: InventoryFacts = load("inventory facts", &inv.facts_json);
        assert_eq!(facts, inv.facts, "inventory facts change when stored");
        let _: serde_json::Value = load("inventory", &inv.full_json);
    }
    let _: serde_json::Value = load("report body", &op.body_json);
    Some(op)
}

/// Parses a stored JSON column as the start-up load does.
fn load<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> T {
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("stored {what} does not load back: {e}\n{json}"))
}

/// The full scrape, each shard of two and the aggregates-only scrape, all checked.
fn render_all(
    snapshot: &[Arc<fleetwatch_collector::state::DeviceMetrics>],
    clock: RenderClock,
) -> Vec<u8> {
    let full = exposition::render(snapshot, Selection::default(), clock, None);
    check_exposition(&full);
    for selection in [
        Selection {
            shard: Some((0, 2)),
            aggregates_only: false,
        },
        Selection {
            shard: Some((1, 2)),
            aggregates_only: false,
        },
        Selection {
            shard: None,
            aggregates_only: true,
        },
    ] {
        check_exposition(&exposition::render(snapshot, selection, clock, None));
    }
    full
}

/// `GET /api/v1/compliance` and its CSV for the device.
fn compliance_views(live: &LiveState, policy: &Policy) {
    let snapshot = live.read().snapshot();
    let judged: Vec<_> = snapshot
        .iter()
        .map(|d| (d, judge_device(d, policy, NOW)))
        .collect();
    let rows = || {
        judged.iter().map(|(d, j)| DeviceRow {
            device_id: &d.device_id,
            hostname: &d.hostname,
            os_family: d.compliance_facts().os_family().as_str(),
            findings: &j.findings,
            failing_since: &j.failing_since,
        })
    };
    let summary = compliance_summary(rows(), 100);
    serde_json::to_string(&summary).expect("the compliance summary serializes");
    let csv = compliance_csv(rows());
    assert_eq!(
        csv.lines().count(),
        2,
        "one header and one device row expected:\n{csv}"
    );
}
