//! Router tests of issue 8's defects: wrong clocks, enrollment takeover,
//! overload, locks, reload and wire compatibility (no sockets).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::*;
use fleetwatch_collector::policy::ComplianceFacts;
use fleetwatch_collector::report_facts::InventoryFacts;
use fleetwatch_collector::store::StoredDevice;
use fleetwatch_collector::unix_now;
use fleetwatch_protocol::{HostIdentity, ReportResponse};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(c: &TestCollector) -> String {
    let answer = get(&c.metrics, "/metrics", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.text()
}

fn from(addr: [u8; 4]) -> MockConnectInfo<SocketAddr> {
    MockConnectInfo(SocketAddr::from((addr, 40_000)))
}

#[tokio::test]
async fn a_report_from_a_wrong_clock_does_not_freeze_the_device() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let now = unix_now();
    let id = format!("device_id=\"{}\"", e.device_id);

    // A laptop whose clock is ten years ahead.
    let mut future = full_report(&e.device_id, "from-the-future");
    future.collected_at = now + 10 * 365 * 86_400;
    future.agent_version = "0.0.9".into();
    future.inventory.data.as_mut().unwrap().hostname = "wrong-clock".into();
    let a = post_report(&c.api, &e.node_key, &future).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let text = scrape(&c).await;
    let skew = metric(
        &text,
        &format!("fleetwatch_device_clock_skew_seconds{{{id}}}"),
    )
    .expect("the skew is exposed");
    assert!(skew > 9.0 * 365.0 * 86_400.0, "{skew}");
    assert_eq!(
        metric(&text, "fleetwatch_collector_clock_skewed_reports_total"),
        Some(1.0)
    );

    // The clock is fixed: the next report is newer although it is "older".
    let mut fixed = full_report(&e.device_id, "fixed-clock");
    fixed.collected_at = now;
    fixed.agent_version = "0.2.0".into();
    let inv = fixed.inventory.data.as_mut().unwrap();
    inv.hostname = "right-clock".into();
    inv.packages.as_mut().unwrap().hash = "new-list".into();
    let a = post_report(&c.api, &e.node_key, &fixed).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let response: ReportResponse = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        response.packages_hash.as_deref(),
        Some("new-list"),
        "the package list was taken: the agent stops resending it"
    );
    let detail = device_detail(&c.api, &e.device_id).await;
    assert_eq!(detail["hostname"], "right-clock");
    assert_eq!(detail["agent_version"], "0.2.0");
    let text = scrape(&c).await;
    assert!(
        text.contains(&format!(
            "fleetwatch_agent_info{{{id},version=\"0.2.0\"}} 1\n"
        )),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("fleetwatch_device_clock_skew_seconds{{{id}}}")
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_stolen_machine_id_enrolls_a_new_device_and_takes_nothing_over() {
    let c = TestCollector::start();
    let victim = enroll(&c.api, identity(1)).await;
    let report = full_report(&victim.device_id, "v1");
    assert_eq!(
        post_report(&c.api, &victim.node_key, &report).await.status,
        StatusCode::OK
    );

    // Any local user can read /etc/machine-id; the hardware UUID and serial
    // are root-only.
    for stolen in [
        HostIdentity {
            machine_id: Some("machine-0001".into()),
            hardware_uuid: None,
            serial: None,
            hostname: "evil".into(),
        },
        HostIdentity {
            machine_id: Some("machine-0001".into()),
            hardware_uuid: None,
            serial: Some("SER0001".into()),
            hostname: "evil".into(),
        },
    ] {
        let attacker = enroll(&c.api, stolen).await;
        assert_ne!(attacker.device_id, victim.device_id);
    }
    let again = post_report(
        &c.api,
        &victim.node_key,
        &full_report(&victim.device_id, "v2"),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the real device keeps its key"
    );

    // A host that never sent a UUID is recognised by machine-id + serial,
    // never by its machine-id alone.
    let no_uuid = HostIdentity {
        machine_id: Some("machine-0009".into()),
        hardware_uuid: None,
        serial: Some("SER0009".into()),
        hostname: "vm".into(),
    };
    let first = enroll(&c.api, no_uuid.clone()).await;
    let same = enroll(&c.api, no_uuid.clone()).await;
    assert_eq!(same.device_id, first.device_id);
    let weaker = enroll(
        &c.api,
        HostIdentity {
            serial: None,
            ..no_uuid
        },
    )
    .await;
    assert_ne!(weaker.device_id, first.device_id);
    // The real hardware re-enrolling still gets its device back.
    let reinstalled = enroll(
        &c.api,
        HostIdentity {
            machine_id: Some("reinstalled".into()),
            ..identity(1)
        },
    )
    .await;
    assert_eq!(reinstalled.device_id, victim.device_id);

    let text = scrape(&c).await;
    assert_eq!(
        metric(
            &text,
            "fleetwatch_collector_enrollments_total{result=\"new\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(
            &text,
            "fleetwatch_collector_enrollments_total{result=\"reenrolled\"}"
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn enrollment_is_rate_limited_per_source_address() {
    let c = TestCollector::start_with("enroll_rate_per_minute = 3\n");
    let office: Router = c.api.clone().layer(from([10, 0, 0, 1]));
    for n in 0..3 {
        enroll(&office, identity(n)).await;
    }
    let refused = enroll_raw(&office, ENROLL_SECRET, identity(3)).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many enrollments"),
        "{}",
        refused.text()
    );
    // A wrong secret is limited too (no guessing at full speed).
    assert_eq!(
        enroll_raw(&office, "guess", identity(4)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another address has its own budget.
    let home: Router = c.api.clone().layer(from([10, 0, 0, 2]));
    enroll(&home, identity(5)).await;
    let text = scrape(&c).await;
    assert_eq!(
        metric(
            &text,
            "fleetwatch_collector_enrollments_total{result=\"rate_limited\"}"
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn the_device_cap_refuses_new_devices_but_not_known_ones() {
    let c = TestCollector::start_with("max_devices = 2\n");
    let a = enroll(&c.api, identity(1)).await;
    enroll(&c.api, identity(2)).await;
    let third = enroll_raw(&c.api, ENROLL_SECRET, identity(3)).await;
    assert_eq!(third.status, StatusCode::FORBIDDEN, "{}", third.text());
    assert!(
        third.json()["error"]
            .as_str()
            .unwrap()
            .contains("max_devices"),
        "{}",
        third.text()
    );
    let again = enroll(&c.api, identity(1)).await;
    assert_eq!(again.device_id, a.device_id);
    let list = get(&c.api, "/api/v1/devices", Some(ADMIN_TOKEN)).await;
    assert_eq!(list.json().as_array().unwrap().len(), 2);
    assert_eq!(
        metric(
            &scrape(&c).await,
            "fleetwatch_collector_enrollments_total{result=\"limit_reached\"}"
        ),
        Some(1.0)
    );
}

/// Holds SQLite's write lock from another connection, so the writer's next
/// transaction waits (up to its busy timeout) and no report is acknowledged.
fn stall_database(c: &TestCollector) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(c.dir.path().join("fleetwatch.db")).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

#[tokio::test]
async fn a_request_that_times_out_gets_503_json_and_retry_after() {
    let c = TestCollector::start_with("request_timeout = \"1s\"\n");
    let e = enroll(&c.api, identity(1)).await;
    let lock = stall_database(&c);
    let started = Instant::now();
    let a = post_report(&c.api, &e.node_key, &full_report(&e.device_id, "slow")).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the timeout cut it"
    );
    assert!(a.headers.contains_key(header::RETRY_AFTER));
    assert!(
        a.json()["error"].as_str().unwrap().contains("timed out"),
        "{}",
        a.text()
    );
    drop(lock);
}

#[tokio::test]
async fn reports_are_admitted_by_queued_bytes_before_their_body_is_read() {
    // Room for one report, not two.
    let c = TestCollector::start_with("ingest_queue_bytes = 4000\n");
    let e = enroll(&c.api, identity(1)).await;
    let size = serde_json::to_vec(&full_report(&e.device_id, "first"))
        .unwrap()
        .len();
    assert!((2001..4000).contains(&size), "{size}");
    let lock = stall_database(&c);
    let api = c.api.clone();
    let (key, report) = (e.node_key.clone(), full_report(&e.device_id, "first"));
    let first = tokio::spawn(async move { post_report(&api, &key, &report).await });
    // Wait until the first report is admitted and waits for its commit.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(&c).await;
        if metric(&text, "fleetwatch_collector_ingest_queue_reports") == Some(1.0)
            && metric(&text, "fleetwatch_collector_ingest_queue_bytes") == Some(size as f64)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never admitted:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = post_report(&c.api, &e.node_key, &full_report(&e.device_id, "second")).await;
    assert_too_many(&second);
    // Not even parsed: broken JSON of the same size is refused the same way.
    let broken = post_report_bytes(&c.api, Some(&e.node_key), vec![b'{'; size], false).await;
    assert_eq!(
        broken.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        broken.text()
    );
    drop(lock);
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let text = scrape(&c).await;
    assert_eq!(
        metric(
            &text,
            "fleetwatch_collector_report_errors_total{reason=\"queue_full\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "fleetwatch_collector_ingest_queue_bytes"),
        Some(0.0)
    );
}

/// Puts `n` reporting devices with every section into the live state
/// directly (no database: only the in-memory views are exercised).
fn big_fleet(c: &TestCollector, n: usize) {
    let now = unix_now();
    let report = full_report("x", "x");
    let compliance = ComplianceFacts::from_report(&report, now);
    let inventory = InventoryFacts::from_inventory(report.inventory.data.as_ref().unwrap());
    let mut fleet = c.app.live.write();
    for i in 0..n {
        fleet.insert_stored(&StoredDevice {
            device_id: format!("dev-{i:08}"),
            hostname: format!("host-{i}"),
            enrolled_at: now - 86_400,
            last_seen: now,
            retired: false,
            node_key_hash: (i as u64).to_le_bytes().repeat(4).try_into().unwrap(),
            inventory: Some(inventory.clone()),
            report: None,
            compliance: Some(compliance.clone()),
            failing_since: Default::default(),
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_compliance_export_does_not_hold_the_fleet_lock_while_judging() {
    let c = TestCollector::start();
    big_fleet(&c, 20_000);
    let done = Arc::new(AtomicBool::new(false));
    // Stands in for the database writer, which needs the write lock to
    // publish every commit (and so to acknowledge reports).
    let writer = {
        let (live, done) = (c.app.live.clone(), done.clone());
        std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(2));
                let asked = Instant::now();
                drop(live.write());
                longest = longest.max(asked.elapsed());
            }
            longest
        })
    };
    let started = Instant::now();
    let csv = get(&c.api, "/api/v1/compliance.csv", Some(ADMIN_TOKEN)).await;
    let total = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let longest = writer.join().unwrap();
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.text().lines().count(), 20_001);
    assert!(
        longest < total / 4,
        "the writer waited {longest:?} of the export's {total:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scrapes_are_limited_and_an_abandoned_one_stops() {
    let c = TestCollector::start_with("max_concurrent_scrapes = 1\n");
    big_fleet(&c, 5_000);
    // A scraper that reads nothing: the render stalls on the full stream
    // and keeps its slot.
    let stuck = c
        .metrics
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(stuck.status(), StatusCode::OK);
    let second = get(&c.metrics, "/metrics", None).await;
    assert_too_many(&second);
    // It reads one chunk and goes away: rendering stops, the slot is free.
    let mut body = stuck.into_body();
    let chunk = body.frame().await.unwrap().unwrap();
    assert!(!chunk.data_ref().unwrap().is_empty());
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(&c.metrics, "/metrics?aggregates_only=1", None).await;
        if answer.status == StatusCode::OK
            && metric(
                &answer.text(),
                "fleetwatch_collector_scrapes_abandoned_total",
            ) == Some(1.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", answer.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn newer_check_statuses_and_backup_results_are_accepted_as_unknown() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let mut report = serde_json::to_value(full_report(&e.device_id, "newer")).unwrap();
    report["checks"]["patches"]["status"] = "skipped".into();
    report["checks"]["backup"]["data"]["jobs"][0]["last_result"] = "partial".into();
    let a = post_report(&c.api, &e.node_key, &report).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let text = scrape(&c).await;
    let id = format!("device_id=\"{}\"", e.device_id);
    // Unknown is never shown as "not failed" or "last run failed".
    assert!(!text.contains(&format!(
        "fleetwatch_agent_check_failed{{{id},check=\"patches\"}}"
    )));
    assert!(
        !text.contains("fleetwatch_backup_last_run_success{"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "fleetwatch_agent_check_failed{{{id},check=\"backup\"}} 0\n"
    )));
}

#[tokio::test]
async fn backup_names_that_render_alike_give_one_series() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let mut report = serde_json::to_value(full_report(&e.device_id, "twins")).unwrap();
    let job = report["checks"]["backup"]["data"]["jobs"][0].clone();
    let mut jobs = Vec::new();
    for name in ["a\tb", "a b", "a\nb"] {
        let mut j = job.clone();
        j["name"] = name.into();
        jobs.push(j);
    }
    report["checks"]["backup"]["data"]["jobs"] = jobs.into();
    let a = post_report(&c.api, &e.node_key, &report).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let text = scrape(&c).await;
    let tab_or_space = lines_with(&text, "fleetwatch_backup_size_bytes{");
    assert_eq!(tab_or_space.len(), 2, "{tab_or_space:?}");
    assert_eq!(
        lines_with(&text, "backup=\"a b\"").len(),
        3,
        "one series per backup family"
    );
    assert_eq!(lines_with(&text, "backup=\"a\\nb\"").len(), 3);
}
