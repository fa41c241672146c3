//! The sharded scrape setup of `deploy/prometheus/prometheus.example.yml`
//! (shards 0..n-1 plus the aggregates-only job) with a real Prometheus:
//! every series comes from exactly one target, so sums do not double.

use std::time::Duration;

use fleetwatch_e2e::promstack::{Prometheus, eventually, prometheus_example};
use fleetwatch_e2e::*;

const DEVICES: u32 = 25;

/// The example's sharded jobs, pointed at `target` and sped up for a test.
fn sharded_config(token: &std::path::Path, target: &str) -> String {
    let text = prometheus_example(token, true);
    let mut config: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let map = config.as_mapping_mut().unwrap();
    // Rules and Alertmanager are not what this test is about.
    map.remove("rule_files");
    map.remove("alerting");
    map.insert(
        "global".into(),
        serde_norway::from_str("{scrape_interval: 1s, evaluation_interval: 1s}").unwrap(),
    );
    let jobs = map
        .get_mut("scrape_configs")
        .and_then(|j| j.as_sequence_mut())
        .unwrap();
    assert_eq!(jobs.len(), 2, "the shards job and the aggregates job");
    for job in jobs.iter_mut() {
        let job = job.as_mapping_mut().unwrap();
        job.insert("scrape_interval".into(), "1s".into());
        job.insert("scrape_timeout".into(), "1s".into());
        let statics = job
            .get_mut("static_configs")
            .and_then(|s| s.as_sequence_mut());
        for sc in statics.unwrap() {
            let targets = sc.get_mut("targets").and_then(|t| t.as_sequence_mut());
            for t in targets.unwrap() {
                assert_eq!(t.as_str(), Some("collector.example.internal:9464"));
                *t = target.into();
            }
        }
    }
    serde_norway::to_string(&config).unwrap()
}

fn value(result: &[serde_json::Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn each_series_comes_from_one_target_and_sums_count_each_device_once() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("metrics-token");
    std::fs::write(&token, "e2e-metrics-token-0123456789\n").unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!("metrics_token_file = {:?}\n", token.display().to_string()),
    )
    .unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    for n in 0..DEVICES {
        let (id, key) = collector.enroll(n);
        let body = serde_json::to_vec(&full_report(&id, &format!("r-{n}"))).unwrap();
        assert_eq!(collector.post_report(&key, body).status().as_u16(), 200);
    }

    let target = format!("127.0.0.1:{}", collector.metrics_port);
    let prom = Prometheus::start_with_config(
        &tmp.path().join("prometheus"),
        &sharded_config(&token, &target),
    );
    // Four shards and the aggregates target, all up.
    let up = eventually(Duration::from_secs(60), || {
        let up = prom.query("sum(up)");
        (value(&up) == Some(5.0) && value(&prom.query("count(fleetwatch_device_info)")).is_some())
            .then_some(())
    });
    assert!(
        up.is_some(),
        "targets: {:?}\n{}",
        prom.query("up"),
        prom.log_text()
    );
    // Let every target be scraped a few times.
    std::thread::sleep(Duration::from_secs(3));

    let n = f64::from(DEVICES);
    assert_eq!(value(&prom.query("sum(fleetwatch_devices)")), Some(n));
    assert_eq!(value(&prom.query("count(fleetwatch_device_info)")), Some(n));
    assert_eq!(
        value(&prom.query("sum(fleetwatch_fleet_checks{check=\"reporting\"})")),
        Some(n)
    );
    assert_eq!(
        value(&prom.query("sum(fleetwatch_collector_reports_received_total)")),
        Some(n)
    );
    // No series (name and labels, instance and job aside) from two targets.
    let twice = prom.query(
        "count without (instance, job) (label_replace({__name__=~\"fleetwatch_.+\"}, \"name\", \"$1\", \"__name__\", \"(.+)\")) > 1",
    );
    assert!(
        twice.is_empty(),
        "series scraped from more than one target: {:?}",
        twice.iter().map(|s| &s["metric"]).collect::<Vec<_>>()
    );
}
