//! The bad-input battery: the real collector over TLS gets malformed and
//! hostile requests on every route. Each is answered with a clear 4xx (a
//! 400 names the problem in its JSON body), none just drops the connection,
//! the collector stays ready, and another device's stored state does not
//! change.

use std::io::Write as _;

use fleetwatch_e2e::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Listener {
    Api,
    Metrics,
}

struct Case {
    name: &'static str,
    listener: Listener,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    want: u16,
    /// Said in a 400's error (or its `field`).
    mentions: &'static str,
}

fn case(name: &'static str, method: &'static str, path: &str, want: u16) -> Case {
    Case {
        name,
        listener: Listener::Api,
        method,
        path: path.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        want,
        mentions: "",
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("content-type", "application/json")
    }
    fn mentions(mut self, what: &'static str) -> Self {
        self.mentions = what;
        self
    }
    fn metrics(mut self) -> Self {
        self.listener = Listener::Metrics;
        self
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The report as JSON text with `edit` applied to its JSON value.
fn report_with(
    device_id: &str,
    report_id: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut v = serde_json::to_value(full_report(device_id, report_id)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// `json` with the number after the first `"key":` replaced by `value`.
fn with_number(json: Vec<u8>, key: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8(json).unwrap();
    let pattern = format!("\"{key}\":");
    let start = text.find(&pattern).unwrap() + pattern.len();
    let len = text[start..]
        .find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))
        .unwrap();
    format!("{}{value}{}", &text[..start], &text[start + len..]).into_bytes()
}

/// The victim's stored state: its device detail and its series.
fn victim_state(c: &Collector, id: &str) -> (serde_json::Value, Vec<String>) {
    let detail = c.admin_get(&format!("/api/v1/devices/{id}"));
    let needle = format!("device_id=\"{id}\"");
    let series = c
        .scrape()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_owned)
        .collect();
    (detail, series)
}

#[test]
fn hostile_requests_on_every_route_get_clear_4xx_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(&tmp.path().join("collector"), &[]);
    let (victim, victim_key) = c.enroll(1);
    let victim_report = serde_json::to_vec(&full_report(&victim, "victim-1")).unwrap();
    assert_eq!(
        c.post_report(&victim_key, victim_report).status().as_u16(),
        200
    );
    let (attacker, key) = c.enroll(2);
    let before = victim_state(&c, &victim);
    let admin = c.admin_token();
    let secret = std::fs::read_to_string(c.enroll_secret_file())
        .unwrap()
        .trim()
        .to_string();
    let good = serde_json::to_vec(&full_report(&attacker, "a-1")).unwrap();
    let enroll_body = |secret: &str, hostname: &str| {
        serde_json::to_vec(&serde_json::json!({
            "enroll_secret": secret,
            "identity": {"machine_id": "m-bad", "hardware_uuid": "u-bad", "hostname": hostname},
            "agent_version": "0.1.0",
        }))
        .unwrap()
    };
    // `levels` deep: `open` repeated, then `inner`, then `close` repeated.
    let deep = |prefix: &str, levels: usize, open: &str, inner: &str, close: &str| {
        format!(
            "{prefix}{}{inner}{}",
            open.repeat(levels),
            close.repeat(levels)
        )
        .into_bytes()
    };
    let mut invalid_utf8 = good.clone();
    let at = invalid_utf8
        .windows(10)
        .position(|w| w == b"laptop-042")
        .unwrap();
    invalid_utf8[at] = 0xff;
    invalid_utf8[at + 1] = 0xfe;
    let big_id = "x".repeat(10 * 1024);
    let reports = "/api/v1/reports";
    let enroll = "/api/v1/enroll";

    let cases = vec![
        // --- reports: the body
        case("truncated JSON", "POST", reports, 400)
            .bearer(&key)
            .body(good[..good.len() / 2].to_vec())
            .mentions("invalid JSON"),
        case("not JSON at all", "POST", reports, 400)
            .bearer(&key)
            .body("{\"schema_version\": 1,,}")
            .mentions("invalid JSON"),
        case("empty body", "POST", reports, 400)
            .bearer(&key)
            .body("")
            .mentions("invalid JSON"),
        case("JSON null", "POST", reports, 400)
            .bearer(&key)
            .body("null")
            .mentions("invalid JSON"),
        case("JSON array", "POST", reports, 400)
            .bearer(&key)
            .body("[1,2,3]")
            .mentions("invalid JSON"),
        case("invalid UTF-8", "POST", reports, 400)
            .bearer(&key)
            .body(invalid_utf8)
            .mentions("invalid JSON"),
        case("deep nesting: 100,000 arrays", "POST", reports, 400)
            .bearer(&key)
            .body(deep("", 100_000, "[", "", "]"))
            .mentions("invalid JSON"),
        case("deep nesting: 100,000 objects", "POST", reports, 400)
            .bearer(&key)
            .body(deep("", 100_000, "{\"a\":", "1", "}"))
            .mentions("missing field"),
        case("deep nesting in a field", "POST", reports, 400)
            .bearer(&key)
            .body(deep(
                "{\"schema_version\":1,\"inventory\":",
                100_000,
                "[",
                "",
                "]",
            ))
            .mentions("inventory"),
        case("deep nesting, never closed", "POST", reports, 400)
            .bearer(&key)
            .body(deep("{\"x\":", 200_000, "[", "", ""))
            .mentions("EOF"),
        case("wrong type: schema_version", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-2", |v| {
                v["schema_version"] = "one".into()
            }))
            .mentions("schema_version"),
        case("wrong type: inventory is a string", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-3", |v| {
                v["inventory"] = "x".into()
            }))
            .mentions("inventory"),
        case("wrong type: memory is negative", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-4", |v| {
                v["inventory"]["data"]["memory"]["total_bytes"] = (-1).into()
            }))
            .mentions("inventory.data.memory.total_bytes"),
        case("missing field: report_id", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-5", |v| {
                v.as_object_mut().unwrap().remove("report_id");
            }))
            .mentions("report_id"),
        case("missing field: inventory status", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-6", |v| {
                v["inventory"].as_object_mut().unwrap().remove("status");
            }))
            .mentions("status"),
        case("NaN", "POST", reports, 400)
            .bearer(&key)
            .body(with_number(
                report_with(&attacker, "a-7", |_| {}),
                "duration_seconds",
                "NaN",
            ))
            .mentions("invalid JSON"),
        case("huge number", "POST", reports, 400)
            .bearer(&key)
            .body(with_number(
                report_with(&attacker, "a-8", |_| {}),
                "total_bytes",
                "1e999999",
            ))
            .mentions("total_bytes"),
        case("number past u64", "POST", reports, 400)
            .bearer(&key)
            .body(with_number(
                report_with(&attacker, "a-9", |_| {}),
                "total_bytes",
                "184467440737095516160000",
            ))
            .mentions("total_bytes"),
        case("unsupported schema_version", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-10", |v| {
                v["schema_version"] = 99.into()
            }))
            .mentions("schema_version"),
        case("10 KB report_id", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, &big_id, |_| {}))
            .mentions("report_id"),
        case("empty report_id", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "", |_| {}))
            .mentions("report_id"),
        case("control characters in report_id", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a\u{0}\n\u{1b}[31m", |_| {}))
            .mentions("report_id"),
        case("status ok without data", "POST", reports, 400)
            .bearer(&key)
            .body(report_with(&attacker, "a-11", |v| {
                v["checks"]["patches"]
                    .as_object_mut()
                    .unwrap()
                    .remove("data");
            }))
            .mentions("checks.patches.data"),
        case("report for another device", "POST", reports, 403)
            .bearer(&key)
            .body(report_with(&victim, "a-12", |_| {})),
        case("10 KB device_id", "POST", reports, 403)
            .bearer(&key)
            .body(report_with(&big_id, "a-13", |_| {})),
        case("path traversal in device_id", "POST", reports, 403)
            .bearer(&key)
            .body(report_with(&format!("../../{victim}"), "a-14", |_| {})),
        // --- reports: credentials
        case("no credentials", "POST", reports, 401).body(good.clone()),
        case("empty bearer token", "POST", reports, 401)
            .header("authorization", "Bearer ")
            .body(good.clone()),
        case("wrong node key", "POST", reports, 401)
            .bearer(&"0".repeat(64))
            .body(good.clone()),
        case("10 KB node key", "POST", reports, 401)
            .bearer(&"k".repeat(10 * 1024))
            .body(good.clone()),
        case("wrong scheme", "POST", reports, 401)
            .header("authorization", format!("Basic {key}"))
            .body(good.clone()),
        case("the victim's device id as the key", "POST", reports, 401)
            .bearer(&victim)
            .body(good.clone()),
        // --- reports: encodings and sizes
        case("gzip bomb (10 MB of zeros)", "POST", reports, 413)
            .bearer(&key)
            .header("content-encoding", "gzip")
            .body(gzip(&vec![b'0'; 10 << 20])),
        case("truncated gzip", "POST", reports, 400)
            .bearer(&key)
            .header("content-encoding", "gzip")
            .body({
                let z = gzip(&good);
                z[..z.len() / 2].to_vec()
            }),
        case("gzip header, plain body", "POST", reports, 400)
            .bearer(&key)
            .header("content-encoding", "gzip")
            .body(good.clone()),
        case("unknown encoding", "POST", reports, 415)
            .bearer(&key)
            .header("content-encoding", "br")
            .body(good.clone()),
        case("made-up encoding", "POST", reports, 415)
            .bearer(&key)
            .header("content-encoding", "x-evil")
            .body(good.clone()),
        case("30 MB body", "POST", reports, 413)
            .bearer(&key)
            .body(vec![b' '; 30 << 20]),
        case("30 MB body, no key", "POST", reports, 401).body(vec![b' '; 30 << 20]),
        case("GET on reports", "GET", reports, 405),
        // --- enrollment
        case("enroll: wrong secret", "POST", enroll, 401).body(enroll_body("wrong", "h")),
        case("enroll: empty secret", "POST", enroll, 401).body(enroll_body("", "h")),
        case("enroll: 10 KB secret", "POST", enroll, 401).body(enroll_body(&big_id, "h")),
        case("enroll: 10 KB hostname", "POST", enroll, 400)
            .body(enroll_body(&secret, &big_id))
            .mentions("identity.hostname"),
        case("enroll: truncated JSON", "POST", enroll, 400)
            .body(enroll_body(&secret, "h")[..20].to_vec())
            .mentions("invalid JSON"),
        case("enroll: missing identity", "POST", enroll, 400)
            .body(format!(
                "{{\"enroll_secret\":\"{secret}\",\"agent_version\":\"1\"}}"
            ))
            .mentions("identity"),
        case("enroll: wrong type", "POST", enroll, 400)
            .body(format!(
                "{{\"enroll_secret\":\"{secret}\",\"identity\":7,\"agent_version\":\"1\"}}"
            ))
            .mentions("identity"),
        case("enroll: deep nesting", "POST", enroll, 400)
            .body(deep("{\"identity\":", 20_000, "[", "", "]"))
            .mentions("identity"),
        case("enroll: 30 MB body", "POST", enroll, 413).body(vec![b'{'; 30 << 20]),
        // --- the admin API
        case("devices: no token", "GET", "/api/v1/devices", 401),
        case("devices: wrong token", "GET", "/api/v1/devices", 401).bearer("wrong"),
        case(
            "devices: a node key is no admin token",
            "GET",
            "/api/v1/devices",
            401,
        )
        .bearer(&key),
        case("devices: 10 KB token", "GET", "/api/v1/devices", 401).bearer(&big_id),
        case(
            "device: path traversal",
            "GET",
            "/api/v1/devices/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            404,
        )
        .bearer(&admin),
        case(
            "device: dot segments",
            "GET",
            "/api/v1/devices/../../etc/passwd",
            404,
        )
        .bearer(&admin),
        case("device: NUL", "GET", "/api/v1/devices/%00", 404).bearer(&admin),
        case(
            "device: 10 KB id",
            "GET",
            &format!("/api/v1/devices/{big_id}"),
            404,
        )
        .bearer(&admin),
        case(
            "retire: traversal to the victim",
            "DELETE",
            &format!("/api/v1/devices/%2e%2e%2f{victim}"),
            404,
        )
        .bearer(&admin),
        case(
            "retire: the victim without a token",
            "DELETE",
            &format!("/api/v1/devices/{victim}"),
            401,
        ),
        case(
            "retire: the victim with its node key",
            "DELETE",
            &format!("/api/v1/devices/{victim}"),
            401,
        )
        .bearer(&victim_key),
        case("devices: POST", "POST", "/api/v1/devices", 405)
            .bearer(&admin)
            .body(vec![b'x'; 5 << 20]),
        case("compliance: no token", "GET", "/api/v1/compliance", 401),
        case(
            "compliance CSV: wrong token",
            "GET",
            "/api/v1/compliance.csv",
            401,
        )
        .bearer("wrong"),
        case("alerts: empty token", "GET", "/api/v1/alerts", 401)
            .header("authorization", "Bearer "),
        case("no such route", "GET", "/api/v2/everything", 404),
        case("no such route, 5 MB body", "POST", "/api/v1/nope", 404).body(vec![b'x'; 5 << 20]),
        // --- the metrics listener
        case(
            "metrics: shard past shards",
            "GET",
            "/metrics?shard=5&shards=2",
            400,
        )
        .metrics()
        .mentions("shard"),
        case(
            "metrics: shard not a number",
            "GET",
            "/metrics?shard=x&shards=2",
            400,
        )
        .metrics()
        .mentions("shard"),
        case(
            "metrics: zero shards",
            "GET",
            "/metrics?shard=0&shards=0",
            400,
        )
        .metrics()
        .mentions("shard"),
        case(
            "metrics: shard past u64",
            "GET",
            "/metrics?shard=99999999999999999999999&shards=1",
            400,
        )
        .metrics()
        .mentions("shard"),
        case("metrics: shard alone", "GET", "/metrics?shard=1", 400)
            .metrics()
            .mentions("shard"),
        case("metrics: POST", "POST", "/metrics", 405)
            .metrics()
            .body(vec![b'x'; 5 << 20]),
        case("metrics: no such route", "GET", "/api/v1/devices", 404).metrics(),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let api = c.api_client();
    let plain = http();
    let mut failures = Vec::new();
    for case in &cases {
        let (client, base) = match case.listener {
            Listener::Api => (&api, c.url()),
            Listener::Metrics => (&plain, format!("http://127.0.0.1:{}", c.metrics_port)),
        };
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut request = client
            .request(method, format!("{base}{}", case.path))
            .body(case.body.clone());
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let response = match request.send() {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no answer: {e:?}", case.name));
                continue;
            }
        };
        let status = response.status().as_u16();
        let body = response.text().unwrap_or_default();
        if status != case.want {
            failures.push(format!(
                "{}: got {status}, want {}: {body}",
                case.name, case.want
            ));
            continue;
        }
        if status == 400 {
            match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) if v["error"].as_str().is_some_and(|e| !e.is_empty()) => {
                    let said = format!("{} {}", v["error"], v["field"]);
                    if !said.contains(case.mentions) {
                        failures.push(format!(
                            "{}: the 400 does not name {:?}: {said}",
                            case.name, case.mentions
                        ));
                    }
                }
                _ => failures.push(format!("{}: a 400 without a JSON error: {body}", case.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Still healthy and ready, on both listeners.
    for url in [
        format!("http://127.0.0.1:{}/readyz", c.metrics_port),
        format!("{}/readyz", c.url()),
    ] {
        let client = if url.starts_with("https") {
            &api
        } else {
            &plain
        };
        assert_eq!(
            client.get(&url).send().unwrap().status().as_u16(),
            200,
            "{url}"
        );
    }
    promtool_check_metrics(&c.scrape()).unwrap();
    // The victim is untouched, and the attacker's own device still works.
    assert_eq!(victim_state(&c, &victim), before);
    assert_eq!(c.post_report(&key, good).status().as_u16(), 200);
    let log = c.log_text();
    assert!(!log.contains("panicked"), "{log}");
}
