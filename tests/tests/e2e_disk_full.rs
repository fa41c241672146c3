//! A failing database is visible and recovers: the real collector with its
//! data dir on a small tmpfs of its own (a private mount namespace), which
//! the test fills and empties.

use std::io::Write as _;
use std::time::{Duration, Instant};

use fleetwatch_e2e::promstack::eventually;
use fleetwatch_e2e::*;
use fleetwatch_protocol as proto;

/// A report with ~300 KiB of local accounts: its body is kept in the
/// report history, so every report makes the database grow.
fn big_report(device_id: &str, n: u32) -> Vec<u8> {
    let mut report = full_report(device_id, &format!("disk-{n}"));
    report.inventory.data.as_mut().unwrap().users = (0..3000)
        .map(|i| proto::LocalUser {
            name: format!("user-{n}-{i}"),
            uid: 10_000 + i,
            gid: 10_000 + i,
            home: format!("/home/user-{n}-{i}/{}", "x".repeat(40)),
            ..proto::LocalUser::default()
        })
        .collect();
    serde_json::to_vec(&report).unwrap()
}

fn ready(c: &Collector) -> u16 {
    http()
        .get(format!("http://127.0.0.1:{}/readyz", c.metrics_port))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_full_disk_is_503_and_not_ready_with_metrics_and_recovers_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(&config, "report_history_per_device = 200\n").unwrap();
    let collector = Collector::start_on_tmpfs(
        &tmp.path().join("collector"),
        24,
        &["--config", config.to_str().unwrap()],
    );
    let (id, key) = collector.enroll(1);
    let mut acknowledged = 0;
    let mut n = 0;
    let mut send = |c: &Collector| {
        n += 1;
        let r = c.post_report(&key, big_report(&id, n));
        if r.status().is_success() {
            acknowledged += 1;
        }
        r
    };
    assert_eq!(send(&collector).status().as_u16(), 200);

    // Fill the disk under the database.
    let filler_path = collector.view_dir().join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    loop {
        match filler.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    let _ = filler.write_all(&chunk[..4096]);
    drop(filler);

    // Reports until a commit fails: agents get 503 + Retry-After (and keep
    // the report), never a 500.
    let mut refused = None;
    for _ in 0..40 {
        let r = send(&collector);
        match r.status().as_u16() {
            200 => continue,
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!(
                "got {other}: {}\n{}",
                r.text().unwrap_or_default(),
                collector.log_text()
            ),
        }
    }
    let refused = refused.expect("a full disk fails a commit");
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("database"),
        "{body}"
    );
    assert_eq!(ready(&collector), 503, "not ready while the database fails");
    let scrape = collector.scrape();
    assert!(
        sample_value(&scrape, "fleetwatch_collector_db_commit_errors_total", &[]).unwrap() >= 1.0,
        "{scrape}"
    );
    let last_ok = sample_value(
        &scrape,
        "fleetwatch_collector_db_last_commit_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(last_ok > 1.7e9, "{last_ok}");
    assert!(sample_value(&scrape, "fleetwatch_collector_ingest_queue_reports", &[]).is_some());
    assert_eq!(
        sample_value(&scrape, "fleetwatch_collector_db_healthy", &[]),
        Some(0.0)
    );

    // Space returns: the collector recovers by itself, without traffic.
    std::fs::remove_file(&filler_path).unwrap();
    let started = Instant::now();
    let recovered = eventually(Duration::from_secs(30), || {
        (ready(&collector) == 200).then_some(())
    });
    assert!(
        recovered.is_some(),
        "still not ready {:?} after space returned:\n{}",
        started.elapsed(),
        collector.log_text()
    );
    for _ in 0..3 {
        let r = send(&collector);
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
    let scrape = collector.scrape();
    assert_eq!(
        sample_value(&scrape, "fleetwatch_collector_db_healthy", &[]),
        Some(1.0)
    );
    // Every acknowledged report is stored, nothing else.
    let detail = collector.admin_get(&format!("/api/v1/devices/{id}"));
    assert_eq!(detail["reports_stored"], acknowledged, "{detail}");
}
