//! The web console in a real browser: Debian's chromium, headless, driven
//! through the real chromedriver (WebDriver, the `fantoccini` client)
//! against the real collector binary on loopback, with the real agent's
//! own device and a few simulated ones (one with a hostile host name).
//!
//! Covers: no session -> sign-in page without fleet data; a wrong token is
//! refused with a message; sign-in; the overview's numbers are what was
//! sent; device search; the device page; the software page's title query;
//! retire with its confirm dialog (dismissed, then accepted); a forged
//! retire without the CSRF token refused; sign-out. The hostile host name
//! renders as text and no script from it runs (no dialog, no `<img>`).
//! Screenshots of every page land in `target/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use fleetwatch_e2e::*;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const VIEWER_TOKEN: &str = "viewer-token-browser-0123456789";
/// Simulated devices: (n, host name, user).
const SIMULATED: [(u32, &str, &str); 3] = [
    (1, "laptop-browser-1", "alice"),
    (2, "desk-browser-2", "bob"),
    (3, HOSTILE, "mallory"),
];

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(log: &Path) -> Driver {
        let exe = require_tool("chromedriver");
        let port = free_port();
        let logfile = std::fs::File::create(log).unwrap();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .stdin(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut d = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("http://127.0.0.1:{port}/status");
        loop {
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!(
                    "chromedriver exited with {status}:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if http()
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return d;
            }
            assert!(Instant::now() < deadline, "chromedriver not ready in 20s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let chromium = require_tool("chromium");
    let caps = serde_json::json!({
        "browserName": "chrome",
        // The collector's certificate is self-signed for this test run.
        "acceptInsecureCerts": true,
        // Leave dialogs open so the test sees every one (a script that ran).
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1400",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url())
        .await
        .expect("WebDriver session with chromium")
}

fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn path(b: &Client) -> String {
    b.current_url().await.unwrap().path().to_string()
}

/// Clicks what `locator` finds and waits until the page that click loads
/// has replaced the current one: a click on a link or a submit button can
/// return before the navigation it starts has replaced the page, and what
/// is read at once is then the old page (stale elements, old rows; seen on
/// a loaded machine).
async fn click_to_navigate(b: &Client, locator: Locator<'_>) {
    let old = b.find(Locator::Css("html")).await.unwrap();
    b.find(locator)
        .await
        .unwrap_or_else(|e| panic!("{locator:?}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match old.tag_name().await {
            Err(e) if e.is_stale_element_reference() => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the click on {locator:?} loaded no new page in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser is at `expected`: a click that submits a form
/// returns before the navigation it starts has finished (seen on a loaded
/// machine: the sign-out click, then the old page's path).
async fn wait_for_path(b: &Client, expected: impl AsRef<str>) {
    let expected = expected.as_ref();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = path(b).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still at {now} after 10 s, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// No dialog is open: nothing the page ran called alert/confirm.
async fn assert_no_dialog(b: &Client, context: &str) {
    match b.get_alert_text().await {
        Err(e) if e.is_no_such_alert() => {}
        Ok(t) => panic!("{context}: a dialog is open: {t:?} (a script ran)"),
        Err(e) => panic!("{context}: {e}"),
    }
}

/// The devices whose rows the current page lists, by device id.
async fn listed_ids(b: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for row in b
        .find_all(Locator::Css("[data-testid=device-row]"))
        .await
        .unwrap()
    {
        ids.push(row.attr("data-device-id").await.unwrap().unwrap());
    }
    ids
}

/// The real agent's `once` against the collector: the local machine's device.
fn local_agent(collector: &Collector, state: &Path) -> String {
    let mut args: Vec<String> = vec!["once".into()];
    args.extend(agent_args(collector, state));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_agent(&args);
    assert!(out.status.success(), "agent once:\n{}", output_text(&out));
    enrolled_device_id(state).expect("the agent's device id")
}

/// Simulated devices (full fixture report, own host name and user).
fn simulated(collector: &Collector) -> Vec<String> {
    let mut ids = Vec::new();
    for (n, host, user) in SIMULATED {
        let (id, key) = collector.enroll(n);
        let mut report = full_report(&id, &format!("browser-{n}"));
        let inv = report.inventory.data.as_mut().unwrap();
        inv.hostname = host.into();
        inv.users[0].name = user.into();
        let r = collector.post_report(&key, serde_json::to_vec(&report).unwrap());
        assert!(r.status().is_success(), "report {n}: {}", r.status());
        ids.push(id);
    }
    ids
}

#[test]
fn the_console_works_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[console]\nviewer_tokens = [\"{VIEWER_TOKEN}\"]\nsession_minutes = 30\n\n\
             [licences]\nbash = 2\n\n\
             [alerts]\nevaluation_interval = \"1s\"\nstartup_grace = \"1s\"\n"
        ),
    )
    .unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    let local = local_agent(&collector, &tmp.path().join("agent"));
    let sims = simulated(&collector);
    let metrics = collector.scrape();
    let driver = Driver::start(&tmp.path().join("chromedriver.log"));
    let fleet = Fleet {
        base: collector.url(),
        admin: collector.admin_token(),
        local,
        sims: sims.clone(),
        metrics,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(browse(
        &driver,
        &tmp.path().join("chromium-profile"),
        &fleet,
    ));
    drop(driver);

    // The retire done in the browser reached the store.
    let devices = collector.admin_get("/api/v1/devices");
    let devices = devices.as_array().expect("devices array");
    let retired_of = |id: &str| {
        devices
            .iter()
            .find(|d| d["device_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the API's list"))["retired"]
            .clone()
    };
    assert_eq!(retired_of(&sims[1]), serde_json::json!(true), "{devices:?}");
    assert_eq!(
        retired_of(&sims[0]),
        serde_json::json!(false),
        "{devices:?}"
    );
}

/// What the browser part needs to know about the fleet it was sent.
struct Fleet {
    base: String,
    admin: String,
    local: String,
    sims: Vec<String>,
    metrics: String,
}

async fn browse(driver: &Driver, profile: &Path, fleet: &Fleet) {
    let b = browser(driver, profile).await;
    let Fleet {
        base,
        admin,
        local,
        sims,
        metrics,
    } = fleet;
    let (base, admin, local) = (base.as_str(), admin.as_str(), local.as_str());
    let hostile_id = sims[2].clone();
    let total = sims.len() + 1;

    // Without a session: the sign-in page, no fleet data.
    for page in ["/console/", "/console/devices", "/console/software"] {
        b.goto(&format!("{base}{page}")).await.unwrap();
        assert_eq!(path(&b).await, "/console/sign-in", "{page}");
        let source = b.source().await.unwrap();
        for (_, host, _) in SIMULATED {
            assert!(!source.contains(host), "{page} shows {host}");
        }
        assert!(!source.contains(local), "{page} shows a device id");
    }
    assert_no_dialog(&b, "sign-in page").await;
    screenshot(&b, "sign-in").await;

    // A wrong token: refused, message shown, still signed out.
    b.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys("not-the-token")
        .await
        .unwrap();
    click_to_navigate(&b, Locator::Id("sign-in")).await;
    assert_eq!(
        text(&b, "[data-testid=sign-in-error]").await,
        "That token is not valid."
    );
    b.goto(&format!("{base}/console/")).await.unwrap();
    wait_for_path(&b, "/console/sign-in").await;

    // The admin token: the overview.
    b.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(admin)
        .await
        .unwrap();
    click_to_navigate(&b, Locator::Id("sign-in")).await;
    wait_for_path(&b, "/console/").await;
    assert_eq!(text(&b, "[data-testid=role]").await, "admin");
    assert_eq!(
        text(&b, "[data-testid=total-devices]").await,
        total.to_string()
    );
    assert_eq!(
        text(&b, "[data-testid=reporting-devices]").await,
        total.to_string()
    );
    assert_eq!(text(&b, "[data-testid=stale-devices]").await, "0");
    // Compliant devices: as many as the metrics say (1 per compliant device).
    let compliant = metrics
        .lines()
        .filter(|l| l.starts_with("fleetwatch_device_compliant{") && l.ends_with(" 1"))
        .count();
    let tile = b
        .find(Locator::Css("[data-testid=compliant-percent]"))
        .await
        .unwrap();
    let tile_text = tile
        .find(Locator::XPath(".."))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        tile_text.contains(&format!("({compliant} yes,")),
        "compliance tile {tile_text:?}, metrics say {compliant} compliant"
    );
    // The trend (from the daily snapshot the first evaluation stores) and
    // the distribution charts are inline SVG.
    let deadline = Instant::now() + Duration::from_secs(15);
    while b
        .find_all(Locator::Css("[data-testid=trend] svg"))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no trend chart after 15s");
        tokio::time::sleep(Duration::from_millis(250)).await;
        b.refresh().await.unwrap();
    }
    for chart in ["trend", "os-distribution", "agent-versions"] {
        let svgs = b
            .find_all(Locator::Css(&format!("[data-testid={chart}] svg")))
            .await
            .unwrap();
        assert!(!svgs.is_empty(), "{chart} has no SVG chart");
    }
    assert_no_dialog(&b, "overview").await;
    screenshot(&b, "overview").await;

    // Devices: all listed; the hostile host name is text, no <img> from it.
    click_to_navigate(&b, Locator::Id("nav-devices")).await;
    wait_for_path(&b, "/console/devices").await;
    let mut ids = listed_ids(&b).await;
    ids.sort();
    let mut expected: Vec<String> = sims.iter().cloned().chain([local.to_string()]).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let hostile_link = b
        .find(Locator::Css(&format!(
            "[data-device-id=\"{hostile_id}\"] a.device-link"
        )))
        .await
        .unwrap();
    assert_eq!(hostile_link.text().await.unwrap(), HOSTILE);
    assert!(
        b.find_all(Locator::Css("#main img"))
            .await
            .unwrap()
            .is_empty(),
        "an <img> element came from a host name"
    );
    assert_no_dialog(&b, "devices page").await;
    screenshot(&b, "devices").await;

    // Search by user name: only bob's device.
    let search = b.find(Locator::Id("device-search")).await.unwrap();
    search.send_keys("bob").await.unwrap();
    click_to_navigate(&b, Locator::Id("device-search-submit")).await;
    assert_eq!(listed_ids(&b).await, vec![sims[1].clone()]);
    assert!(
        text(&b, "[data-testid=device-count]")
            .await
            .starts_with("1 devices match"),
    );

    // The device page of the hostile device: host name as text.
    hostile_link_page(&b, base, &hostile_id).await;

    // The device page of the first simulated device, through the search.
    b.goto(&format!("{base}/console/devices?q=laptop-browser-1"))
        .await
        .unwrap();
    click_to_navigate(&b, Locator::Css("[data-testid=device-row] a.device-link")).await;
    wait_for_path(&b, format!("/console/devices/{}", sims[0])).await;
    assert_eq!(
        text(&b, "[data-testid=device-hostname]").await,
        "laptop-browser-1"
    );
    for section in [
        "identity",
        "os",
        "disks",
        "network",
        "users",
        "patches",
        "backups",
        "password-policy",
        "device-checks",
        "device-software",
        "history",
    ] {
        b.find(Locator::Css(&format!("[data-testid={section}]")))
            .await
            .unwrap_or_else(|e| panic!("device page section {section}: {e}"));
    }
    assert!(text(&b, "[data-testid=users]").await.contains("alice"));
    assert!(
        text(&b, "[data-testid=software-table]")
            .await
            .contains("bash")
    );
    assert!(
        text(&b, "[data-testid=history]")
            .await
            .contains("browser-1")
    );
    screenshot(&b, "device").await;

    // Software: find bash; its devices are the three simulated ones.
    click_to_navigate(&b, Locator::Id("nav-software")).await;
    b.find(Locator::Id("software-query"))
        .await
        .unwrap()
        .send_keys("bash")
        .await
        .unwrap();
    click_to_navigate(&b, Locator::Id("software-query-submit")).await;
    click_to_navigate(&b, Locator::Css("[data-title=bash] a.title-link")).await;
    let count = text(&b, "[data-testid=title-device-count]").await;
    let n: usize = count.split(' ').next().unwrap().parse().unwrap();
    assert!(n >= sims.len(), "bash on {count:?}, sent on {}", sims.len());
    let devices_text = text(&b, "[data-testid=title-devices]").await;
    assert!(devices_text.contains("laptop-browser-1"), "{devices_text}");
    assert!(devices_text.contains(HOSTILE), "{devices_text}");
    // Licences: 2 for bash, fewer than the installs.
    let licences = text(&b, "[data-testid=licences-table]").await;
    assert!(licences.contains("bash"), "{licences}");
    assert_no_dialog(&b, "software page").await;
    screenshot(&b, "software").await;

    for (nav, name) in [("nav-compliance", "compliance"), ("nav-alerts", "alerts")] {
        click_to_navigate(&b, Locator::Id(nav)).await;
        wait_for_path(&b, format!("/console/{name}")).await;
        assert_no_dialog(&b, name).await;
        screenshot(&b, name).await;
    }

    // A forged retire from the signed-in browser without the CSRF token: refused.
    b.goto(&format!("{base}/console/devices/{}", sims[1]))
        .await
        .unwrap();
    // (The page's CSP forbids fetch(); the forgery is the retire form with
    // its CSRF field removed, sent without the confirm handler.)
    b.execute(
        "const form = document.getElementById('retire-form');
         form.querySelector('input[name=csrf]').remove();
         form.submit();",
        vec![],
    )
    .await
    .unwrap();
    wait_for_text(&b, "CSRF").await;
    b.goto(&format!("{base}/console/devices/{}", sims[1]))
        .await
        .unwrap();
    assert!(
        b.find_all(Locator::Css("[data-testid=device-retired]"))
            .await
            .unwrap()
            .is_empty(),
        "the forged request retired the device"
    );

    // Retire with the button: the confirm dialog; dismissed, nothing happens.
    b.find(Locator::Id("retire"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = b.get_alert_text().await.expect("a confirm dialog");
    assert!(question.starts_with("Retire this device?"), "{question}");
    b.dismiss_alert().await.unwrap();
    wait_for_path(&b, format!("/console/devices/{}", sims[1])).await;
    assert!(
        b.find_all(Locator::Css("[data-testid=device-retired]"))
            .await
            .unwrap()
            .is_empty()
    );
    // Accepted: the device is retired.
    b.find(Locator::Id("retire"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.get_alert_text().await.expect("a confirm dialog");
    b.accept_alert().await.unwrap();
    wait_for(&b, "[data-testid=device-retired]").await;
    // Sign out: back to sign-in; the overview needs a session again.
    click_to_navigate(&b, Locator::Id("sign-out")).await;
    wait_for_path(&b, "/console/sign-in").await;
    b.goto(&format!("{base}/console/")).await.unwrap();
    wait_for_path(&b, "/console/sign-in").await;

    // A viewer token signs in read-only: no retire button.
    b.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(VIEWER_TOKEN)
        .await
        .unwrap();
    click_to_navigate(&b, Locator::Id("sign-in")).await;
    assert_eq!(text(&b, "[data-testid=role]").await, "viewer");
    b.goto(&format!("{base}/console/devices/{}", sims[0]))
        .await
        .unwrap();
    assert!(
        b.find_all(Locator::Id("retire")).await.unwrap().is_empty(),
        "a viewer sees the retire button"
    );

    b.close().await.unwrap();
}

async fn hostile_link_page(b: &Client, base: &str, id: &str) {
    b.goto(&format!("{base}/console/devices/{id}"))
        .await
        .unwrap();
    assert_eq!(text(b, "[data-testid=device-hostname]").await, HOSTILE);
    assert!(b.title().await.unwrap().contains(HOSTILE));
    assert!(
        b.find_all(Locator::Css("#main img"))
            .await
            .unwrap()
            .is_empty(),
        "an <img> element came from the host name"
    );
    assert_no_dialog(b, "hostile device page").await;
}

async fn wait_for(b: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if !b.find_all(Locator::Css(css)).await.unwrap().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{css} did not appear in 10s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page's text contains `needle` (after a script-started navigation).
async fn wait_for_text(b: &Client, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = match b.find(Locator::Css("body")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if body.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} not on the page in 10s: {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
