//! Router tests of the agent API and the devices API (no sockets).

mod common;

use axum::http::StatusCode;
use common::*;
use fleetwatch_protocol::{CheckResult, HostIdentity, ReportResponse};

#[tokio::test]
async fn enroll_with_good_secret_returns_device_and_256_bit_key() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    assert!(e.device_id.starts_with("dev-"));
    assert_eq!(e.node_key.len(), 64);
    assert!(e.node_key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(e.report_interval_secs, 60);
}

#[tokio::test]
async fn enroll_with_bad_secret_is_401_and_creates_nothing() {
    let c = TestCollector::start();
    let answer = enroll_raw(&c.api, "wrong", identity(1)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "wrong enroll secret");
    let list = get(&c.api, "/api/v1/devices", Some(ADMIN_TOKEN)).await;
    assert_eq!(list.json().as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn re_enrolling_same_hardware_reuses_device_and_revokes_old_key() {
    let c = TestCollector::start();
    let first = enroll(&c.api, identity(7)).await;
    let ok = post_report(
        &c.api,
        &first.node_key,
        &full_report(&first.device_id, "r1"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());

    // Same hardware UUID, OS reinstalled (new machine-id).
    let mut again = identity(7);
    again.machine_id = Some("reinstalled".into());
    let second = enroll(&c.api, again).await;
    assert_eq!(second.device_id, first.device_id);
    assert_ne!(second.node_key, first.node_key);

    let old = post_report(
        &c.api,
        &first.node_key,
        &full_report(&first.device_id, "r2"),
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = post_report(
        &c.api,
        &second.node_key,
        &full_report(&first.device_id, "r3"),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);

    // Without a hardware UUID, machine-id + serial identify the host.
    let by_machine = HostIdentity {
        hardware_uuid: None,
        ..identity(8)
    };
    let a = enroll(&c.api, by_machine.clone()).await;
    let b = enroll(&c.api, by_machine).await;
    assert_eq!(a.device_id, b.device_id);
    // Other hardware is another device.
    let other = enroll(&c.api, identity(9)).await;
    assert_ne!(other.device_id, first.device_id);
    let list = get(&c.api, "/api/v1/devices", Some(ADMIN_TOKEN)).await;
    assert_eq!(list.json().as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn report_is_accepted_after_commit_and_visible_in_metrics() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let answer = post_report(&c.api, &e.node_key, &full_report(&e.device_id, "r-1")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let response: ReportResponse = serde_json::from_slice(&answer.body).unwrap();
    assert!(response.accepted);
    assert!(!response.duplicate);
    assert_eq!(response.packages_hash.as_deref(), Some("9f2c"));
    assert_eq!(response.report_interval_secs, 60);

    let scrape = get(&c.metrics, "/metrics", None).await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert!(
        scrape.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("version=0.0.4")
    );
    let text = scrape.text();
    let id = format!("device_id=\"{}\"", e.device_id);
    let info = lines_with(&text, "fleetwatch_device_info{");
    assert_eq!(info.len(), 1);
    assert!(
        info[0].contains(&id) && info[0].contains("hostname=\"laptop-042\""),
        "{}",
        info[0]
    );
    assert!(text.contains(&format!(
        "fleetwatch_device_memory_bytes{{{id}}} 16624230400\n"
    )));
    assert!(text.contains(&format!(
        "fleetwatch_device_disk_size_bytes{{{id},mountpoint=\"/\"}} 502391062528\n"
    )));
    assert!(text.contains(&format!(
        "fleetwatch_agent_check_failed{{{id},check=\"inventory\"}} 0\n"
    )));
    assert!(text.contains(&format!("fleetwatch_device_packages_installed{{{id}}} 2\n")));
    assert!(text.contains("fleetwatch_devices{state=\"reporting\"} 1\n"));
    assert!(text.contains("fleetwatch_collector_reports_received_total 1\n"));
}

#[tokio::test]
async fn unknown_or_missing_key_is_401() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let report = full_report(&e.device_id, "r-1");
    let body = serde_json::to_vec(&report).unwrap();
    let unknown = post_report_bytes(&c.api, Some(&"0".repeat(64)), body.clone(), false).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.json()["error"].as_str().unwrap().contains("enroll"));
    let missing = post_report_bytes(&c.api, None, body, false).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    assert!(
        scrape.contains("fleetwatch_collector_report_errors_total{reason=\"unauthorized\"} 2\n")
    );
}

#[tokio::test]
async fn malformed_json_is_400_naming_the_field() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let mut value = serde_json::to_value(full_report(&e.device_id, "r-1")).unwrap();
    value["inventory"]["data"]["memory"]["total_bytes"] = "sixteen gigs".into();
    let answer = post_report_bytes(
        &c.api,
        Some(&e.node_key),
        serde_json::to_vec(&value).unwrap(),
        false,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    assert_eq!(body["field"], "inventory.data.memory.total_bytes");
    assert!(
        body["error"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );

    let garbage = post_report_bytes(&c.api, Some(&e.node_key), b"{not json".to_vec(), false).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(
        garbage.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
}

#[tokio::test]
async fn invalid_reports_are_refused_with_the_field() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let other = enroll(&c.api, identity(2)).await;

    let mut r = full_report(&e.device_id, "r-1");
    r.schema_version = 2;
    let a = post_report(&c.api, &e.node_key, &r).await;
    assert_eq!(
        (a.status, a.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, "schema_version".into())
    );

    let r = full_report(&e.device_id, "");
    let a = post_report(&c.api, &e.node_key, &r).await;
    assert_eq!(
        (a.status, a.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, "report_id".into())
    );
    let r = full_report(&e.device_id, &"x".repeat(129));
    assert_eq!(
        post_report(&c.api, &e.node_key, &r).await.status,
        StatusCode::BAD_REQUEST
    );

    let r = full_report(&other.device_id, "r-2");
    let a = post_report(&c.api, &e.node_key, &r).await;
    assert_eq!(
        (a.status, a.json()["field"].clone()),
        (StatusCode::FORBIDDEN, "device_id".into())
    );

    let mut r = full_report(&e.device_id, "r-3");
    r.inventory.data = None;
    let a = post_report(&c.api, &e.node_key, &r).await;
    assert_eq!(a.json()["field"], "inventory.data");
}

#[tokio::test]
async fn oversized_report_is_413_json_even_when_gzipped() {
    let c = TestCollector::start_with("max_report_bytes = 4096\n");
    let e = enroll(&c.api, identity(1)).await;
    let mut r = full_report(&e.device_id, "r-big");
    r.inventory.data.as_mut().unwrap().hostname = "h".repeat(10_000);
    let body = serde_json::to_vec(&r).unwrap();
    let plain = post_report_bytes(&c.api, Some(&e.node_key), body.clone(), false).await;
    assert_eq!(plain.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(plain.json()["error"].as_str().unwrap().contains("4096"));
    // Compresses far below the limit, but the decoded body is over it.
    let zipped = gzip(&body);
    assert!(zipped.len() < 4096);
    let gz = post_report_bytes(&c.api, Some(&e.node_key), zipped, true).await;
    assert_eq!(gz.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn gzip_body_is_accepted() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let body = serde_json::to_vec(&full_report(&e.device_id, "r-gz")).unwrap();
    let answer = post_report_bytes(&c.api, Some(&e.node_key), gzip(&body), true).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let broken = post_report_bytes(&c.api, Some(&e.node_key), b"not gzip".to_vec(), true).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn duplicate_report_id_is_idempotent() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    let first = full_report(&e.device_id, "r-dup");
    assert_eq!(
        post_report(&c.api, &e.node_key, &first).await.status,
        StatusCode::OK
    );
    let before = device_detail(&c.api, &e.device_id).await;

    // Same id, different content: accepted as a duplicate, nothing changes.
    let mut resent = full_report(&e.device_id, "r-dup");
    resent.inventory.data.as_mut().unwrap().hostname = "changed".into();
    resent.collected_at += 100;
    let answer = post_report(&c.api, &e.node_key, &resent).await;
    assert_eq!(answer.status, StatusCode::OK);
    let response: ReportResponse = serde_json::from_slice(&answer.body).unwrap();
    assert!(response.accepted && response.duplicate);
    assert_eq!(response.packages_hash.as_deref(), Some("9f2c"));

    let after = device_detail(&c.api, &e.device_id).await;
    assert_eq!(before, after);
    assert_eq!(after["reports_stored"], 1);
    assert_eq!(after["hostname"], "laptop-042");
}

#[tokio::test]
async fn failed_inventory_keeps_previous_facts_and_older_reports_do_not_roll_back() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    assert_eq!(
        post_report(&c.api, &e.node_key, &full_report(&e.device_id, "r1"))
            .await
            .status,
        StatusCode::OK
    );
    let mut failed = full_report(&e.device_id, "r2");
    failed.collected_at += 60;
    failed.inventory = CheckResult::failed(0.1, "os-release unreadable");
    assert_eq!(
        post_report(&c.api, &e.node_key, &failed).await.status,
        StatusCode::OK
    );
    let mut old = full_report(&e.device_id, "r0");
    old.collected_at -= 3600;
    old.inventory.data.as_mut().unwrap().hostname = "old-name".into();
    assert_eq!(
        post_report(&c.api, &e.node_key, &old).await.status,
        StatusCode::OK
    );

    let text = get(&c.metrics, "/metrics", None).await.text();
    let id = format!("device_id=\"{}\"", e.device_id);
    assert!(lines_with(&text, "fleetwatch_device_info{")[0].contains("hostname=\"laptop-042\""));
    assert!(text.contains(&format!(
        "fleetwatch_device_memory_bytes{{{id}}} 16624230400\n"
    )));
    assert!(text.contains(&format!(
        "fleetwatch_agent_check_failed{{{id},check=\"inventory\"}} 1\n"
    )));
    let detail = device_detail(&c.api, &e.device_id).await;
    assert_eq!(detail["inventory"]["hostname"], "laptop-042");
    assert_eq!(detail["reports_stored"], 3);
}

#[tokio::test]
async fn devices_api_requires_the_admin_token() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    post_report(&c.api, &e.node_key, &full_report(&e.device_id, "r1")).await;
    for token in [None, Some("wrong"), Some(e.node_key.as_str())] {
        let list = get(&c.api, "/api/v1/devices", token).await;
        assert_eq!(list.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(list.headers.contains_key("www-authenticate"));
        let one = get(&c.api, &format!("/api/v1/devices/{}", e.device_id), token).await;
        assert_eq!(one.status, StatusCode::UNAUTHORIZED);
    }
    let list = get(&c.api, "/api/v1/devices", Some(ADMIN_TOKEN)).await;
    assert_eq!(list.status, StatusCode::OK);
    let devices = list.json();
    assert_eq!(devices[0]["device_id"], e.device_id.as_str());
    assert_eq!(devices[0]["hostname"], "laptop-042");
    let one = get(
        &c.api,
        &format!("/api/v1/devices/{}", e.device_id),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    let detail = one.json();
    assert_eq!(detail["inventory"]["hardware"]["model"], "Latitude 7420");
    assert_eq!(detail["packages"][0]["name"], "bash");
    assert_eq!(detail["packages_hash"], "9f2c");
    let missing = get(&c.api, "/api/v1/devices/dev-nope", Some(ADMIN_TOKEN)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_endpoints_answer_on_both_routers() {
    let c = TestCollector::start();
    for router in [&c.api, &c.metrics] {
        assert_eq!(get(router, "/healthz", None).await.status, StatusCode::OK);
        assert_eq!(get(router, "/readyz", None).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn metrics_token_is_enforced_when_configured() {
    let c = TestCollector::open(tempfile::tempdir().unwrap(), "", Some("scrape-token"));
    assert_eq!(
        get(&c.metrics, "/metrics", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&c.metrics, "/metrics", Some("nope")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&c.metrics, "/metrics", Some("scrape-token"))
            .await
            .status,
        StatusCode::OK
    );
    let bad = get(
        &c.metrics,
        "/metrics?shard=3&shards=2",
        Some("scrape-token"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn restart_keeps_devices_last_seen_and_keys() {
    let c = TestCollector::start();
    let e = enroll(&c.api, identity(1)).await;
    assert_eq!(
        post_report(&c.api, &e.node_key, &full_report(&e.device_id, "r1"))
            .await
            .status,
        StatusCode::OK
    );
    let before = get(&c.metrics, "/metrics", None).await.text();
    let last_seen_before = lines_with(&before, "fleetwatch_device_last_seen_timestamp_seconds{");
    assert_eq!(last_seen_before.len(), 1);
    assert!(!last_seen_before[0].ends_with(" 0"));
    let dir = c.stop();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("fleetwatch.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the database holds key hashes: owner only"
    );

    let c = TestCollector::open(dir, "", None);
    let after = get(&c.metrics, "/metrics", None).await.text();
    assert_eq!(
        lines_with(&after, "fleetwatch_device_last_seen_timestamp_seconds{"),
        last_seen_before
    );
    assert_eq!(
        lines_with(&after, "fleetwatch_device_info{"),
        lines_with(&before, "fleetwatch_device_info{")
    );
    // The node key still works, and the report id is still known.
    let dup = post_report(&c.api, &e.node_key, &full_report(&e.device_id, "r1")).await;
    assert_eq!(dup.status, StatusCode::OK);
    assert_eq!(dup.json()["duplicate"], true);
}

#[tokio::test]
async fn a_retired_device_leaves_metrics_until_it_reports_again_and_survives_a_restart() {
    let c = TestCollector::start();
    let keep = enroll(&c.api, identity(1)).await;
    let gone = enroll(&c.api, identity(2)).await;
    for (e, r) in [(&keep, "k1"), (&gone, "g1")] {
        let answer = post_report(&c.api, &e.node_key, &full_report(&e.device_id, r)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let gone_id = format!("device_id=\"{}\"", gone.device_id);
    let keep_id = format!("device_id=\"{}\"", keep.device_id);
    let uri = format!("/api/v1/devices/{}", gone.device_id);
    let delete = |token: Option<&'static str>, uri: String| {
        let api = c.api.clone();
        async move {
            let mut req = axum::http::Request::delete(uri);
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            call(&api, req.body(axum::body::Body::empty()).unwrap()).await
        }
    };
    assert_eq!(
        delete(None, uri.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        delete(Some(ADMIN_TOKEN), "/api/v1/devices/dev-nope".into())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(Some(ADMIN_TOKEN), uri.clone()).await.status,
        StatusCode::NO_CONTENT
    );

    let text = get(&c.metrics, "/metrics", None).await.text();
    assert!(!text.contains(&gone_id), "retired device still exported");
    assert!(text.contains(&keep_id));
    assert!(text.contains("fleetwatch_devices{state=\"reporting\"} 1\n"));
    let detail = get(&c.api, &uri, Some(ADMIN_TOKEN)).await;
    assert_eq!(detail.status, StatusCode::OK, "kept in the database");
    assert_eq!(detail.json()["retired"], true);

    // Retirement survives a restart.
    let dir = c.stop();
    let c = TestCollector::open(dir, "", None);
    let text = get(&c.metrics, "/metrics", None).await.text();
    assert!(!text.contains(&gone_id));
    // A device that reports again is back.
    let answer = post_report(&c.api, &gone.node_key, &full_report(&gone.device_id, "g2")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = get(&c.metrics, "/metrics", None).await.text();
    assert!(text.contains(&gone_id));
}

#[tokio::test]
async fn over_capacity_is_429_and_a_failing_database_503_both_with_retry_after() {
    use axum::response::IntoResponse;
    use fleetwatch_collector::http::error::ApiError;
    // (tests/hardening.rs fills the queue for real; this is the mapping.)
    let response = ApiError::TooManyRequests {
        message: "ingest queue is full",
        retry_after: 7,
    }
    .into_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let response =
        ApiError::Unavailable("the database cannot store this right now").into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reports_are_all_committed_and_duplicates_in_one_batch_count_once() {
    let c = TestCollector::start();
    let mut keys = Vec::new();
    for n in 0..20 {
        keys.push(enroll(&c.api, identity(n)).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, e) in keys.iter().enumerate() {
        for k in 0..10 {
            let api = c.api.clone();
            let key = e.node_key.clone();
            // Every report is sent twice at once: exactly one copy is new.
            let report = full_report(&e.device_id, &format!("r-{i}-{k}"));
            for _ in 0..2 {
                let (api, key, report) = (api.clone(), key.clone(), report.clone());
                tasks.spawn(async move {
                    let a = post_report(&api, &key, &report).await;
                    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
                    a.json()["duplicate"].as_bool().unwrap()
                });
            }
        }
    }
    let mut duplicates = 0;
    let mut total = 0;
    while let Some(result) = tasks.join_next().await {
        total += 1;
        duplicates += usize::from(result.unwrap());
    }
    assert_eq!((total, duplicates), (400, 200));
    let list = get(&c.api, "/api/v1/devices", Some(ADMIN_TOKEN))
        .await
        .json();
    let detail = device_detail(&c.api, &keys[3].device_id).await;
    assert_eq!(list.as_array().unwrap().len(), 20);
    assert_eq!(detail["reports_stored"], 10);
}
