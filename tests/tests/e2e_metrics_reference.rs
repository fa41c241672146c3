//! The metric names that dashboards, alert rules and docs/operations.md rely
//! on, checked against a real scrape of the real collector carrying a
//! device with every section.

mod support;

use std::collections::BTreeSet;

use fleetwatch_e2e::*;
use fleetwatch_protocol as proto;
use support::dashboards::{
    dashboard_metric_names, exported_metric_families, load_rules, metric_names_in,
};

const ALERT_RULES: &str = "deploy/prometheus/fleetwatch-alerts.rules.yml";
const RECORDING_RULES: &str = "deploy/prometheus/fleetwatch-recording.rules.yml";

/// Sample names (labels stripped) of a scrape.
fn scraped_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// Family names: samples with histogram suffixes folded into their family.
fn families(samples: &BTreeSet<String>) -> BTreeSet<String> {
    samples
        .iter()
        .map(|s| {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = s.strip_suffix(suffix)
                    && samples.contains(&format!("{base}_bucket"))
                {
                    return base.to_string();
                }
            }
            s.clone()
        })
        .collect()
}

fn scrape_with_a_full_device() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let client = collector.api_client();
    let secret = std::fs::read_to_string(collector.enroll_secret_file()).unwrap();
    let enroll = proto::EnrollRequest {
        enroll_secret: secret.trim().into(),
        identity: proto::HostIdentity {
            machine_id: Some("reference".into()),
            ..Default::default()
        },
        agent_version: "0.1.0".into(),
    };
    let e: proto::EnrollResponse = client
        .post(format!("{}{}", collector.url(), proto::ENROLL_PATH))
        .json(&enroll)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let text = std::fs::read_to_string(
        workspace_root().join("protocol/fixtures/report-v1-0.1.0-full.json"),
    )
    .unwrap();
    let mut report: proto::Report = serde_json::from_str(&text).unwrap();
    report.device_id = e.device_id;
    // The 0.1.0 shape has no data-protection section: add one with every
    // fact, so each data-protection family is in the scrape.
    report.checks.data_protection = Some(proto::CheckResult::ok(
        0.3,
        proto::DataProtection {
            volumes: vec![proto::VolumeEncryption {
                mount_point: "/".into(),
                method: Some("luks2".into()),
                state: proto::EncryptionState::Encrypted,
                protection_on: Some(true),
                system_volume: true,
                ..Default::default()
            }],
            firewall: Some(proto::Firewall {
                product: "nftables".into(),
                enabled: Some(true),
                profiles: Vec::new(),
            }),
            antivirus: Some(proto::Antivirus {
                product: "clamav".into(),
                real_time_protection: Some(false),
                signatures_updated_at: Some(1_700_000_000),
                signature_version: Some("27480".into()),
            }),
            ..Default::default()
        },
    ));
    report.collected_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let r = client
        .post(format!("{}{}", collector.url(), proto::REPORTS_PATH))
        .bearer_auth(&e.node_key)
        .json(&report)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let body = collector.scrape();
    promtool_check_metrics(&body).unwrap();
    body
}

#[test]
fn dashboards_rules_and_the_reference_name_only_metrics_the_collector_exports() {
    let body = scrape_with_a_full_device();
    let samples = scraped_names(&body);
    let exported = families(&samples);

    let dashboards = dashboard_metric_names();
    let missing: Vec<_> = dashboards
        .iter()
        .filter(|m| !samples.contains(*m) && !exported.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards use metrics the collector does not export: {missing:?}"
    );

    let mut rule_metrics = BTreeSet::new();
    let mut recorded = BTreeSet::new();
    for file in [RECORDING_RULES, ALERT_RULES] {
        for rule in load_rules(file) {
            rule_metrics.extend(metric_names_in(&rule.expr).unwrap());
            recorded.insert(rule.name);
        }
    }
    let missing: Vec<_> = rule_metrics
        .iter()
        .filter(|m| {
            !samples.contains(*m)
                && !exported.contains(*m)
                && !recorded.contains(*m)
                && m.as_str() != "up"
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules use metrics the collector does not export: {missing:?}"
    );

    // The reference in docs/operations.md is exactly what a scrape holds.
    let documented: BTreeSet<String> = exported_metric_families()
        .into_iter()
        .map(|f| f.name)
        .collect();
    let undocumented: Vec<_> = exported.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&exported).collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in docs/operations.md: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "in docs/operations.md but not exported: {phantom:?}"
    );
}
