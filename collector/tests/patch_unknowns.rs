//! What the agent could not tell about patches reaches the collector as
//! unknown, never as passing. The patch sections come straight from the
//! agent's fixture runs on recorded real-tool outputs
//! (`agent/tests/snapshots/compliance_fixtures__<host>-patches.snap`, kept
//! true by `agent/tests/compliance_fixtures.rs`).

mod common;

use common::*;
use fleetwatch_collector::unix_now;
use fleetwatch_protocol::{CheckResult, Patches};

/// The agent's patch section for a fixture host, as its snapshot holds it.
fn agent_patches(host: &str) -> CheckResult<Patches> {
    let path = format!(
        "{}/../agent/tests/snapshots/compliance_fixtures__{host}-patches.snap",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // An insta snapshot: a `---` header block, then the JSON.
    let json = text.splitn(3, "---\n").nth(2).expect("snapshot body");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Posts a fresh full report carrying `host`'s patch section; returns the
/// device's verdict per patch check and its metrics scrape.
async fn verdicts(host: &str) -> (Vec<(String, String)>, String, String) {
    let c = TestCollector::start();
    let dev = enroll(&c.api, identity(1)).await;
    let mut report = full_report(&dev.device_id, "r1");
    report.collected_at = unix_now();
    report.checks.patches = Some(agent_patches(host));
    let answer = post_report(&c.api, &dev.node_key, &report).await;
    assert_eq!(
        answer.status,
        axum::http::StatusCode::OK,
        "{}",
        answer.text()
    );
    let uri = format!("/api/v1/devices/{}", dev.device_id);
    let detail = get(&c.api, &uri, Some(ADMIN_TOKEN)).await.json();
    let results = detail["findings"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| ["security_updates", "reboot"].contains(&c["check"].as_str().unwrap()))
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let scrape = get(&c.metrics, "/metrics", None).await.text();
    (results, scrape, dev.device_id)
}

fn result<'a>(results: &'a [(String, String)], check: &str) -> &'a str {
    &results.iter().find(|(c, _)| c == check).unwrap().1
}

fn value(scrape: &str, needle: &str) -> Option<f64> {
    lines_with(scrape, needle)
        .first()
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn a_reposync_mirror_without_updateinfo_and_no_needs_restarting_are_unknown() {
    let section = agent_patches("centos9-reposync");
    let p = section.data.as_ref().unwrap();
    assert_eq!((p.pending_total, p.pending_security), (1, None));
    assert_eq!(p.reboot_required_state(), None);

    let (results, scrape, id) = verdicts("centos9-reposync").await;
    assert_eq!(result(&results, "security_updates"), "unknown");
    assert_eq!(result(&results, "reboot"), "unknown");
    // Unknown is an absent sample, never 0.
    let id = format!("device_id=\"{id}\"");
    assert_eq!(
        value(
            &scrape,
            &format!("fleetwatch_patches_pending{{{id},category=\"security\"}}")
        ),
        None,
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &format!("fleetwatch_reboot_required{{{id}}}")),
        None
    );
    // Never passing (the collector leaves an unknown verdict's sample out).
    assert_ne!(
        value(
            &scrape,
            &format!("fleetwatch_check_passing{{{id},check=\"reboot\"}}")
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_apt_mirror_whose_release_does_not_say_security_is_unknown() {
    let p = agent_patches("debian12-mirror").data.unwrap();
    assert_eq!((p.pending_total, p.pending_security), (2, None));
    let (results, _, _) = verdicts("debian12-mirror").await;
    assert_eq!(result(&results, "security_updates"), "unknown");
    // apt's reboot flag is known (the file's absence is the answer).
    assert_eq!(result(&results, "reboot"), "passing");
}

#[tokio::test]
async fn an_uncached_dnf_repository_and_an_interrupted_zypper_are_unknown() {
    for host in ["centos9-uncached", "opensuse-interrupted"] {
        let section = agent_patches(host);
        assert_eq!(
            section.status,
            fleetwatch_protocol::CheckStatus::Failed,
            "{host}"
        );
        let (results, _, _) = verdicts(host).await;
        for check in ["security_updates", "reboot"] {
            assert_eq!(result(&results, check), "unknown", "{host} {check}");
        }
    }
}

#[tokio::test]
async fn known_answers_still_pass_and_fail() {
    let (results, _, _) = verdicts("rocky9-compliant").await;
    assert_eq!(result(&results, "security_updates"), "passing");
    assert_eq!(result(&results, "reboot"), "passing");
    let (results, _, _) = verdicts("opensuse-noncompliant").await;
    // Pending security updates and a required reboot, both known.
    assert_ne!(result(&results, "security_updates"), "unknown");
    assert_ne!(result(&results, "reboot"), "unknown");
}
