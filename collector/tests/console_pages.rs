//! The web console through the real router over HTTP on a loopback port:
//! sign-in, redirects without a session, security headers, CSRF refusal,
//! escaping of a hostile host name, retire, software and licences, and the
//! daily compliance snapshot surviving a restart.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use reqwest::header;

const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const CONFIG: &str = r#"
[console]
viewer_tokens = ["viewer-token-0123456789abcdef"]
session_minutes = 30

[licences]
bash = 1
"Some Office" = 250
"#;

struct Console {
    base: String,
    client: reqwest::Client,
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn serve(c: &TestCollector) -> Console {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = c.api.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Console {
        base,
        client: client(),
    }
}

impl Console {
    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        r.send().await.unwrap()
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> reqwest::Response {
        let mut r = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.to_string());
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        r.send().await.unwrap()
    }

    /// Signs in; returns the `Cookie` header value and the CSRF token.
    async fn sign_in(&self, token: &str) -> (String, String) {
        let r = self
            .post("/console/sign-in", None, &format!("token={token}"))
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let set = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        let page = self
            .get("/console/", Some(&cookie))
            .await
            .text()
            .await
            .unwrap();
        (cookie, csrf_of(&page))
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 64].to_string()
}

/// Two devices: a normal one and one whose host name is hostile HTML.
async fn fleet(c: &TestCollector) -> (String, String) {
    let mut ids = Vec::new();
    for (n, host) in [(1, "laptop-042"), (2, HOSTILE)] {
        let e = enroll(&c.api, identity(n)).await;
        let mut report = full_report(&e.device_id, &format!("r-{n}"));
        let inv = report.inventory.data.as_mut().unwrap();
        inv.hostname = host.into();
        inv.users[0].name = format!("user{n}");
        if n == 2 {
            // An agent that could not list the accounts says why.
            inv.users.clear();
            inv.users_error = Some("NetUserEnum(level 20) failed with 5".into());
        }
        let a = post_report(&c.api, &e.node_key, &report).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        ids.push(e.device_id);
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_every_page_redirects_to_sign_in_and_shows_no_fleet_data() {
    let c = TestCollector::start_with(CONFIG);
    let (good, _) = fleet(&c).await;
    let s = serve(&c).await;
    for path in [
        "/console/".to_string(),
        "/console/devices".into(),
        "/console/devices?q=laptop".into(),
        format!("/console/devices/{good}"),
        "/console/software".into(),
        "/console/software?title=bash".into(),
        "/console/compliance".into(),
        "/console/alerts".into(),
    ] {
        let r = s.get(&path, Some("fleetwatch_session=forged")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()[header::LOCATION], "/console/sign-in", "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("laptop-042") && !body.contains("bash"),
            "{path}: {body}"
        );
    }
    let r = s
        .post(&format!("/console/devices/{good}/retire"), None, "")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = s.get("/api/v1/software", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_strict_expiring_cookie_and_pages_carry_strict_headers() {
    let c = TestCollector::start_with(CONFIG);
    fleet(&c).await;
    let s = serve(&c).await;
    let r = s.get("/console/sign-in", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.post("/console/sign-in", None, "token=wrong-token").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("not valid"));

    let r = s
        .post("/console/sign-in", None, &format!("token={ADMIN_TOKEN}"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Max-Age=1800",
        "Path=/console",
    ] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    for path in [
        "/console/",
        "/console/devices",
        "/console/software",
        "/console/compliance",
        "/console/alerts",
    ] {
        let r = s.get(path, Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = r.text().await.unwrap();
        // No inline script: every <script> has a src.
        assert!(
            !body.contains("<script>") && !body.contains("onclick="),
            "{path}"
        );
    }
    let css = s.get("/console/static/console.css", None).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_hostname_is_escaped_everywhere() {
    let c = TestCollector::start_with(CONFIG);
    let (_, hostile) = fleet(&c).await;
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(ADMIN_TOKEN).await;
    let escaped = "&#60;img src=x onerror=alert(1)&#62;";
    for path in [
        "/console/devices".to_string(),
        "/console/devices?q=%3Cimg".into(),
        format!("/console/devices/{hostile}"),
        "/console/software?title=bash".into(),
    ] {
        let body = s.get(&path, Some(&cookie)).await.text().await.unwrap();
        assert!(!body.contains(HOSTILE), "{path} carries the raw tag");
        assert!(
            body.contains(escaped) || body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path} does not show the name as text: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_devices_search_and_device_page_show_the_fleet() {
    let c = TestCollector::start_with(CONFIG);
    let (good, other) = fleet(&c).await;
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(VIEWER_TOKEN).await;
    let overview = s
        .get("/console/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        overview.contains(r#"data-testid="total-devices">2<"#),
        "{overview}"
    );
    assert!(overview.contains("debian 12"), "OS distribution");
    assert!(overview.contains("<svg"), "charts are inline SVG");

    let search = |q: &str| {
        let (s, cookie) = (&s, &cookie);
        let q = q.to_string();
        async move {
            s.get(&format!("/console/devices?q={q}"), Some(cookie))
                .await
                .text()
                .await
                .unwrap()
        }
    };
    for q in ["laptop", "7abcd42", "192.0.2.44", "8c:8c:aa", "user1"] {
        let page = search(q).await;
        assert!(page.contains(&format!("data-device-id=\"{good}\"")), "{q}");
    }
    let page = search("user1").await;
    assert!(page.contains("1 devices match"), "only the one with user1");
    let page = search("nobody-has-this").await;
    assert!(page.contains("0 devices match"));
    let page = s
        .get(
            "/console/devices?state=unknown&sort=last_seen&dir=desc&page=9",
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);

    let device = s
        .get(&format!("/console/devices/{good}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "laptop-042",
        "7ABCD42",
        "192.0.2.44/24",
        "openssl",
        "3.0.11-1~deb12u2",
        "Minimum length",
        "Recent reports",
        "r-1",
    ] {
        assert!(device.contains(needle), "device page lacks {needle}");
    }
    assert!(!device.contains("retire-form"), "a viewer cannot retire");
    assert!(
        !device.contains("users-unknown"),
        "device 1 listed its users"
    );
    let hostile = s
        .get(&format!("/console/devices/{other}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        hostile.contains(r#"data-testid="users-unknown""#)
            && hostile.contains("NetUserEnum(level 20) failed with 5"),
        "unknown users are said to be unknown, with the agent's reason"
    );
    let filtered = s
        .get(&format!("/console/devices/{good}?sw=open"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(filtered.contains("openssl") && !filtered.contains("5.2.15-2+b2"));
    let missing = s.get("/console/devices/dev-nope", Some(&cookie)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn software_page_api_and_metric_show_installs_against_licences() {
    let c = TestCollector::start_with(CONFIG);
    fleet(&c).await;
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(VIEWER_TOKEN).await;
    let page = s
        .get("/console/software?title=bash", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"data-testid="title-device-count">2 devices<"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<tr class="over" data-title="bash">"#),
        "bash: 2 installs, 1 licence"
    );
    let one = s
        .get("/console/software?title=bash&version=nope", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(one.contains(">0 devices<"));

    let api = get(&c.api, "/api/v1/software?title=bash", Some(ADMIN_TOKEN)).await;
    assert_eq!(api.status, StatusCode::OK);
    let v = api.json();
    assert_eq!(v["titles"][0]["installs"], 2);
    assert_eq!(v["titles"][0]["licences"], 1);
    assert_eq!(v["devices"].as_array().unwrap().len(), 2);
    let office = v["licences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["title"] == "Some Office")
        .unwrap()
        .clone();
    assert_eq!(office["installs"], 0);
    assert_eq!(office["available"], 250);

    let scrape = get(&c.metrics, "/metrics", None).await.text();
    assert!(
        scrape.contains(r#"fleetwatch_software_installs{title="bash"} 2"#),
        "{scrape}"
    );
    assert!(scrape.contains(r#"fleetwatch_software_licences{title="Some Office"} 250"#));
    assert!(
        !scrape.contains(r#"title="openssl""#),
        "unlicensed titles stay out of the metrics"
    );
    // The real linter, when installed (scripts/deps.sh installs it).
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            let lines: String = scrape
                .lines()
                .filter(|l| l.contains("fleetwatch_software_"))
                .map(|l| format!("{l}\n"))
                .collect();
            child.stdin.take().unwrap().write_all(lines.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retire_needs_the_csrf_token_and_the_admin_role_and_sign_out_ends_the_session() {
    let c = TestCollector::start_with(CONFIG);
    let (good, _) = fleet(&c).await;
    let s = serve(&c).await;
    let retire = format!("/console/devices/{good}/retire");
    let retired = |c: &TestCollector| {
        let api = c.api.clone();
        let id = good.clone();
        async move { device_detail(&api, &id).await["retired"] == true }
    };

    let (viewer, viewer_csrf) = s.sign_in(VIEWER_TOKEN).await;
    let r = s
        .post(&retire, Some(&viewer), &format!("csrf={viewer_csrf}"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "viewer");
    assert!(!retired(&c).await);

    let (admin, csrf) = s.sign_in(ADMIN_TOKEN).await;
    // A forged request: the session cookie but no token, or another's token.
    for form in [
        "".to_string(),
        "csrf=".into(),
        format!("csrf={viewer_csrf}"),
    ] {
        let r = s.post(&retire, Some(&admin), &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form:?}");
    }
    assert!(!retired(&c).await, "refused requests changed nothing");
    let page = s
        .get(&format!("/console/devices/{good}"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"data-testid="retire-form""#));
    let r = s.post(&retire, Some(&admin), &format!("csrf={csrf}")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(retired(&c).await);

    let r = s.post("/console/sign-out", Some(&admin), "").await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "sign-out needs the token too"
    );
    let r = s
        .post("/console/sign-out", Some(&admin), &format!("csrf={csrf}"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = s.get("/console/", Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie is void");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_compliance_snapshot_survives_a_restart() {
    let c = TestCollector::start_with(CONFIG);
    fleet(&c).await;
    let now = fleetwatch_collector::unix_now();
    c.app.evaluate(now, &c.app.alerts_config());
    let dir = c.stop();
    let c = TestCollector::open(dir, CONFIG, None);
    // The device index loads from the store beside the server.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !c.app.live.console().is_loaded() {
        assert!(std::time::Instant::now() < deadline, "index never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.app.live.console().read().len(),
        2,
        "the stored devices are back in the index"
    );
    let rows = c.app.queries.daily_compliance(0).unwrap();
    let overall = rows
        .iter()
        .find(|r| r.check == "compliant")
        .expect("overall row");
    assert_eq!(overall.day, now / 86_400);
    assert_eq!(overall.passing + overall.failing + overall.unknown, 2);
    assert!(rows.iter().any(|r| r.check == "reporting"));
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(ADMIN_TOKEN).await;
    let overview = s
        .get("/console/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        overview.contains(r#"<polyline class="trend""#),
        "{overview}"
    );
    assert!(overview.contains("% compliant</title>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_string_answers_400_as_html_on_pages_and_json_on_the_api() {
    let c = TestCollector::start_with(CONFIG);
    let (good, _) = fleet(&c).await;
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(ADMIN_TOKEN).await;
    for path in [
        "/console/devices?page=abc".to_string(),
        "/console/devices?page=-1".into(),
        format!("/console/devices/{good}?sw=a&sw=b"),
        "/console/software?title=a&title=b".into(),
    ] {
        let r = s.get(&path, Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert!(
            r.headers().contains_key(header::CONTENT_SECURITY_POLICY),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(
            body.contains("data-testid=\"error-message\""),
            "{path}: {body}"
        );
        assert!(
            !body.contains("laptop-042"),
            "{path}: fleet data on an error page"
        );
    }
    // Without a session a bad query still only redirects to sign-in.
    let r = s.get("/console/devices?page=abc", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let r = s
        .client
        .get(format!("{}/api/v1/software?title=a&title=b", s.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let ct = r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_per_source_address() {
    let c = TestCollector::start_with(&format!(
        "{}\n",
        CONFIG.replace(
            "session_minutes = 30",
            "session_minutes = 30\nsign_in_per_minute = 3"
        )
    ));
    // Served with the peer address recorded, as the real server does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = c
        .api
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let s = Console {
        base,
        client: client(),
    };
    for _ in 0..3 {
        let r = s.post("/console/sign-in", None, "token=wrong-token").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the rate: refused before the token is looked at, even the right one.
    let r = s
        .post("/console/sign-in", None, &format!("token={ADMIN_TOKEN}"))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    let wait: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many sign-in attempts")
    );
}

/// The `data-device-id`s of a devices page's rows, in order.
fn row_hosts(page: &str) -> Vec<String> {
    page.split("class=\"device-link\" href=\"")
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_table_pages_in_host_name_order_and_clamps_past_the_end() {
    let c = TestCollector::start_with(CONFIG);
    // 120 devices, reported in a shuffled order.
    for i in 0..120u32 {
        let n = (i * 7) % 120;
        let e = enroll(&c.api, identity(100 + n)).await;
        let mut report = full_report(&e.device_id, &format!("p-{n}"));
        report.inventory.data.as_mut().unwrap().hostname = format!("host-{n:03}");
        let a = post_report(&c.api, &e.node_key, &report).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    }
    let s = serve(&c).await;
    let (cookie, _) = s.sign_in(ADMIN_TOKEN).await;
    let get = |path: String| {
        let (s, cookie) = (&s, &cookie);
        async move { s.get(&path, Some(cookie)).await.text().await.unwrap() }
    };
    let hosts = |range: std::ops::Range<u32>| -> Vec<String> {
        range.map(|n| format!("host-{n:03}")).collect()
    };
    let first = get("/console/devices".into()).await;
    assert!(first.contains("120 devices match · page 1 of 3"), "{first}");
    assert_eq!(row_hosts(&first), hosts(0..50));
    let third = get("/console/devices?page=3".into()).await;
    assert_eq!(row_hosts(&third), hosts(100..120));
    // Past the end: the last page.
    let past = get("/console/devices?page=9".into()).await;
    assert!(past.contains("page 3 of 3"), "{past}");
    assert_eq!(row_hosts(&past), hosts(100..120));
    // Descending: from the end.
    let desc = get("/console/devices?sort=hostname&dir=desc".into()).await;
    let mut expected = hosts(70..120);
    expected.reverse();
    assert_eq!(row_hosts(&desc), expected);
    // A filter that keeps everything pages the same way; OS options listed.
    let os = get("/console/devices?os=debian&page=2".into()).await;
    assert_eq!(row_hosts(&os), hosts(50..100));
    assert!(os.contains("<option value=\"debian\" selected>"), "{os}");
}

/// The devices page for `query` (`?...` or empty).
async fn devices_table(s: &Console, cookie: &str, query: &str) -> String {
    let page = s
        .get(&format!("/console/devices{query}"), Some(cookie))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

/// A console server for `c` and an admin session on it.
async fn signed_in(c: &TestCollector) -> (Console, String) {
    let s = serve(c).await;
    let (cookie, _) = s.sign_in(ADMIN_TOKEN).await;
    (s, cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devices_table_follows_retire_a_new_report_and_a_restart() {
    let c = TestCollector::start_with(CONFIG);
    // Three reporting devices and one only enrolled (no OS yet).
    let mut keys = Vec::new();
    for n in 0..3u32 {
        let e = enroll(&c.api, identity(200 + n)).await;
        let mut report = full_report(&e.device_id, &format!("f-{n}"));
        report.inventory.data.as_mut().unwrap().hostname = format!("follow-{n}");
        let a = post_report(&c.api, &e.node_key, &report).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        keys.push((e.device_id, e.node_key));
    }
    enroll(&c.api, identity(299)).await;
    let (mut s, mut cookie) = signed_in(&c).await;
    let retire = |c: &TestCollector, id: &str| {
        let (api, id) = (c.api.clone(), id.to_string());
        async move {
            let r = call(
                &api,
                axum::http::Request::delete(format!("/api/v1/devices/{id}"))
                    .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
            assert!(r.status.is_success(), "{}", r.text());
        }
    };
    let first = devices_table(&s, &cookie, "").await;
    assert!(first.contains("4 devices match"), "{first}");
    let debian = devices_table(&s, &cookie, "?os=debian").await;
    assert!(debian.contains("3 devices match"), "{debian}");

    retire(&c, &keys[1].0).await;
    let after = devices_table(&s, &cookie, "").await;
    assert!(after.contains("3 devices match"), "{after}");
    assert_eq!(row_hosts(&after)[..2], ["follow-0", "follow-2"]);
    assert!(
        devices_table(&s, &cookie, "?os=debian")
            .await
            .contains("2 devices match")
    );
    assert!(
        devices_table(&s, &cookie, "?sort=hostname&dir=desc")
            .await
            .contains("3 devices match")
    );

    // Reporting again brings a retired device back.
    let mut report = full_report(&keys[1].0, "f-1-again");
    report.inventory.data.as_mut().unwrap().hostname = "follow-1".into();
    let a = post_report(&c.api, &keys[1].1, &report).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let back = devices_table(&s, &cookie, "").await;
    assert!(back.contains("4 devices match"), "{back}");
    assert_eq!(row_hosts(&back)[..3], ["follow-0", "follow-1", "follow-2"]);

    // After a restart the start-up load takes each device's retirement
    // from the stored state.
    retire(&c, &keys[2].0).await;
    let dir = c.stop();
    let c = TestCollector::open(dir, CONFIG, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !c.app.live.console().is_loaded() {
        assert!(std::time::Instant::now() < deadline, "index never loaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (s, cookie) = signed_in(&c).await;
    let restarted = devices_table(&s, &cookie, "").await;
    assert!(restarted.contains("3 devices match"), "{restarted}");
    assert_eq!(row_hosts(&restarted)[..2], ["follow-0", "follow-1"]);
    assert!(
        devices_table(&s, &cookie, "?os=debian")
            .await
            .contains("2 devices match")
    );
}
