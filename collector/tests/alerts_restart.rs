//! What the webhook was told survives a restart: an alert that clears while
//! (or because) the collector restarts is sent as resolved.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use tokio::sync::Mutex;

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// A webhook receiver on a free loopback port.
async fn webhook() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |Json(v): Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().await.push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Alert statuses the webhook received for `check`, in order.
async fn statuses(got: &Received, check: &str) -> Vec<String> {
    got.lock()
        .await
        .iter()
        .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["check"] == check)
        .map(|a| a["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn wait_for_status(got: &Received, check: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = statuses(got, check).await;
        if seen == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{check}: got {seen:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn config(url: &str, min_length: u32) -> String {
    format!(
        "[policy]\npassword_min_length = {min_length}\n[alerts]\nwebhook_url = \"{url}\"\n\
         evaluation_interval = \"1s\"\nstartup_grace = \"1s\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_clears_across_a_restart_is_sent_as_resolved() {
    let (url, got) = webhook().await;
    let c = TestCollector::start_with(&config(&url, 14));
    let dev = enroll(&c.api, identity(1)).await;
    let mut report = full_report(&dev.device_id, "r1");
    report.collected_at = fleetwatch_collector::unix_now();
    let answer = post_report(&c.api, &dev.node_key, &report).await;
    assert_eq!(answer.status, StatusCode::OK);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(c.app.clone().run_alerts(async {
        let _ = stopped.await;
    }));
    // The fixture's minimum length (12) is below the policy's 14.
    wait_for_status(&got, "password_length", &["firing"]).await;
    // Give the loop a couple of rounds to record what it sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let dir = c.stop();

    // The policy is relaxed while the collector is down: the alert clears.
    let c = TestCollector::open(dir, &config(&url, 12), None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(c.app.clone().run_alerts(async {
        let _ = stopped.await;
    }));
    wait_for_status(&got, "password_length", &["firing", "resolved"]).await;
    let _ = stop.send(());
    task.await.unwrap();
}
