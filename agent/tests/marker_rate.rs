//! `run` against a fake collector: a backup marker rewritten in a loop
//! triggers at most one report per `marker_min_interval_secs`, and the
//! changes are coalesced, not lost (the last report carries the last
//! rewrite).
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{FakeCollector, Request, Response};
use fleetwatch_agent::config::{Overrides, build, parse};
use fleetwatch_agent::modes::run;

fn answer(req: &Request) -> Response {
    if req.path == "/api/v1/enroll" {
        return Response::json(
            200,
            serde_json::json!({"device_id": "dev-1", "node_key": "key", "report_interval_secs": 3600}),
        );
    }
    Response::json(
        200,
        serde_json::json!({"accepted": true, "report_interval_secs": 3600}),
    )
}

fn marker_success(report: &serde_json::Value) -> Option<i64> {
    report["checks"]["backup"]["data"]["jobs"][0]["last_success_at"].as_i64()
}

fn mtime(path: &Path) -> i64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_rewritten_in_a_loop_is_reported_at_most_once_per_min_interval() {
    let collector = FakeCollector::start(Box::new(answer)).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host");
    let marker_dir = root.join("var/lib/backup");
    std::fs::create_dir_all(&marker_dir).unwrap();
    let marker = marker_dir.join("nightly.ok");
    std::fs::write(&marker, "0").unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s").unwrap();
    let file = parse(
        "interval_secs = 3600\nmarker_min_interval_secs = 5\n\
         [checks]\ninventory = false\npatches = false\npassword_policy = false\ndata_protection = false\n\
         [[backup]]\nname = \"nightly\"\nkind = \"marker\"\npath = \"/var/lib/backup/nightly.ok\"\n",
        Path::new("agent.toml"),
    )
    .unwrap();
    let cfg = build(
        file,
        &Overrides {
            collector_url: Some(collector.url.clone()),
            ca_fingerprint: Some(collector.fingerprint()),
            enroll_secret_file: Some(secret),
            state_dir: Some(dir.path().join("state")),
            root: Some(root.clone()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(async move {
        run(&cfg, async {
            let _ = stopped.await;
        })
        .await
    });
    let reports = || -> Vec<(Instant, serde_json::Value)> {
        collector
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/reports")
            .map(|r| (Instant::now(), r.json()))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while reports().is_empty() {
        assert!(Instant::now() < deadline, "no first report");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Rewrite the marker every 100 ms for 6 s, as a broken backup loop would.
    let mut arrivals = Vec::new();
    let mut seen = 1;
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(6) {
        n += 1;
        std::fs::write(marker_dir.join("nightly.ok.tmp"), n.to_string()).unwrap();
        std::fs::rename(marker_dir.join("nightly.ok.tmp"), &marker).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = reports().len();
        if now > seen {
            arrivals.push(Instant::now());
            seen = now;
        }
    }
    let last_mtime = mtime(&marker);
    // The rewrites after the last report are coalesced into one more report.
    let settle = Instant::now() + Duration::from_secs(12);
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = reports().len();
        if now > seen {
            arrivals.push(Instant::now());
            seen = now;
        }
        if reports()
            .last()
            .is_some_and(|(_, r)| marker_success(r) == Some(last_mtime))
            && started.elapsed() > Duration::from_secs(12)
        {
            break;
        }
    }
    let _ = stop.send(());
    agent.await.unwrap().unwrap();
    let all = reports();
    // The first report, then marker reports at most one per 5 s over ~6 s
    // of rewrites (at ~1 s and ~6 s), and at most one more for rewrites
    // that raced the second: at most 4 (without the limit, one per
    // debounce second: 7 or more).
    assert!(
        (2..=4).contains(&all.len()),
        "{} reports for 60 marker rewrites in 6 s",
        all.len()
    );
    for pair in arrivals.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(4500),
            "marker reports {:?} apart",
            pair[1] - pair[0]
        );
    }
    assert_eq!(
        marker_success(&all.last().unwrap().1),
        Some(last_mtime),
        "the last rewrite is reported"
    );
}
