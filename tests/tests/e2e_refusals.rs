//! Every refusal reaches the client: the real collector over TLS, the real
//! curl over HTTP/1.1 (with and without `Expect: 100-continue`) and
//! HTTP/2, and reqwest (what the agent uses), sending bodies the collector
//! refuses before reading them.

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetwatch_e2e::*;

/// What curl saw: the status (0: none) and the HTTP version, or its error.
fn curl(collector: &Collector, args: &[&str], path: &str, body: &Path) -> (u16, String, String) {
    let out = Command::new(require_tool("curl"))
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ])
        .arg("--cacert")
        .arg(collector.cert())
        .args(["-X", "POST", "-H", "content-type: application/json"])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .args(args)
        .arg(format!("{}{path}", collector.url()))
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, version) = stdout.split_once(' ').unwrap_or(("0", ""));
    (
        code.parse().unwrap_or(0),
        version.to_string(),
        format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn body_file(dir: &Path, name: &str, bytes: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![b'x'; bytes]).unwrap();
    path
}

#[test]
fn refusals_reach_curl_over_http1_and_http2_and_reqwest() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let (_, key) = collector.enroll(1);
    let auth = format!("authorization: Bearer {key}");
    let five_mb = body_file(tmp.path(), "5mb", 5 << 20);
    // Far past the limits and every socket buffer (the battery sends 30 MB).
    let eight_mb = body_file(tmp.path(), "8mb", 8 << 20);

    let cases: [(&str, Vec<&str>, &Path, u16); 5] = [
        // No node key: refused before the body is read.
        ("/api/v1/reports", vec![], &five_mb, 401),
        // Over the 1 MiB report limit.
        ("/api/v1/reports", vec!["-H", &auth], &eight_mb, 413),
        ("/api/v1/enroll", vec![], &eight_mb, 413),
        // No such route, or not this method.
        ("/api/v1/nope", vec![], &five_mb, 404),
        ("/api/v1/devices", vec![], &five_mb, 405),
    ];
    let clients: [(&str, &[&str]); 3] = [
        ("HTTP/1.1", &["--http1.1", "-H", "expect:"]),
        ("HTTP/1.1 + 100-continue", &["--http1.1"]),
        ("HTTP/2", &["--http2"]),
    ];
    let mut failures = Vec::new();
    for round in 0..3 {
        for (client, flags) in clients {
            for (path, extra, body, want) in &cases {
                let mut args: Vec<&str> = flags.to_vec();
                args.extend(extra.iter().copied());
                let (code, version, stderr) = curl(&collector, &args, path, body);
                let want_version = if client == "HTTP/2" { "2" } else { "1.1" };
                if code != *want || version != want_version {
                    failures.push(format!(
                        "round {round}, {client}, POST {path} ({} bytes): got {code} over {version:?}, want {want} over {want_version} ({stderr})",
                        std::fs::metadata(body).unwrap().len()
                    ));
                }
            }
        }
    }
    // reqwest, as the agent sends (HTTP/1.1, no Expect).
    let client = collector.api_client();
    for _ in 0..3 {
        for (path, with_key, bytes, want) in [
            ("/api/v1/reports", false, 5 << 20, 401),
            ("/api/v1/reports", true, 8 << 20, 413),
        ] {
            let mut request = client
                .post(format!("{}{path}", collector.url()))
                .header("content-type", "application/json")
                .body(vec![b'x'; bytes]);
            if with_key {
                request = request.bearer_auth(&key);
            }
            match request.send() {
                Ok(r) if r.status().as_u16() == want => {
                    let body: serde_json::Value = r.json().expect("a JSON error body");
                    assert!(body["error"].is_string(), "{body}");
                }
                Ok(r) => failures.push(format!("reqwest POST {path}: got {}", r.status())),
                Err(e) => failures.push(format!("reqwest POST {path}: {e:?}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} refusals never reached the client:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // And the collector is still fine.
    assert_eq!(
        http()
            .get(format!(
                "http://127.0.0.1:{}/readyz",
                collector.metrics_port
            ))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}
