//! Real Prometheus and Alertmanager (Debian packages) started on loopback
//! ports in a temp dir, for the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, http, require_tool, workspace_root};

/// A child process killed on drop, with its log file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc { child, log }
    }

    fn wait_ready(&mut self, url: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{what} exited with {status}:\n{}", self.log_text());
            }
            if let Ok(r) = http().get(url).send()
                && r.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} not ready after 60s:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running Alertmanager.
pub struct Alertmanager {
    proc: Option<Proc>,
    dir: PathBuf,
    /// Listen port.
    pub port: u16,
}

impl Alertmanager {
    /// Starts Alertmanager with a config that routes everything to a null receiver.
    pub fn start(dir: &Path) -> Alertmanager {
        Self::start_on(dir, free_port())
    }

    /// Starts it on a given port (to restart "the same" Alertmanager).
    pub fn start_on(dir: &Path, port: u16) -> Alertmanager {
        let bin = require_tool("prometheus-alertmanager");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: 'null'\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: 'null'\n",
        )
        .unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let mut proc = Proc::spawn(&mut cmd, dir.join(format!("alertmanager-{port}.log")));
        proc.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"), "alertmanager");
        Alertmanager {
            proc: Some(proc),
            dir: dir.into(),
            port,
        }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Active alerts (`GET /api/v2/alerts?active=true&silenced=false&inhibited=false`).
    pub fn active_alerts(&self) -> Vec<serde_json::Value> {
        let r = http()
            .get(format!(
                "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
                self.url()
            ))
            .send()
            .unwrap();
        r.json().unwrap()
    }

    /// Stops it (simulating an outage).
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Directory it runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A running Prometheus.
pub struct Prometheus {
    proc: Proc,
    /// Listen port.
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus scraping `metrics_target` (`host:port`) every second
    /// and evaluating `rule_files` every second.
    pub fn start(dir: &Path, metrics_target: &str, rule_files: &[PathBuf]) -> Prometheus {
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {}", p.display()))
            .collect();
        Self::start_with_config(
            dir,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\nscrape_configs:\n  - job_name: fleetwatch\n    static_configs:\n      - targets: ['{metrics_target}']\n",
                if rules.is_empty() {
                    "  []".to_string()
                } else {
                    rules.join("\n")
                }
            ),
        )
    }

    /// Starts Prometheus with the configuration `config` (YAML text).
    pub fn start_with_config(dir: &Path, config: &str) -> Prometheus {
        let bin = require_tool("prometheus");
        let port = free_port();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let config = config_path;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut proc = Proc::spawn(&mut cmd, dir.join("prometheus.log"));
        proc.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"), "prometheus");
        Prometheus { proc, port }
    }

    /// Instant query; returns the `data.result` array.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let r = http()
            .get(format!(
                "http://127.0.0.1:{}/api/v1/query?query={}",
                self.port,
                url_encode(promql)
            ))
            .send()
            .unwrap();
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["status"], "success", "query {promql}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /api/v1/alerts` → the alerts array.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = http()
            .get(format!("http://127.0.0.1:{}/api/v1/alerts", self.port))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /api/v1/rules` → the rule groups array (to check they loaded and evaluate).
    pub fn rule_groups(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = http()
            .get(format!("http://127.0.0.1:{}/api/v1/rules", self.port))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["data"]["groups"].as_array().cloned().unwrap_or_default()
    }

    /// The Prometheus log so far.
    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }
}

/// The shipped Prometheus example (`deploy/prometheus/prometheus.example.yml`)
/// with its metrics token file at `token`; `sharded` swaps the plain job for
/// the commented sharded jobs (shards plus the aggregates-only target).
pub fn prometheus_example(token: &Path, sharded: bool) -> String {
    let path = workspace_root().join("deploy/prometheus/prometheus.example.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace(
            "/etc/prometheus/fleetwatch-metrics-token",
            token.to_str().unwrap(),
        );
    if !sharded {
        return text;
    }
    let lines: Vec<&str> = text.lines().collect();
    let find = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("prometheus.example.yml: no line `{prefix}`"))
    };
    let plain = find("  - job_name: fleetwatch-collector");
    let prose = find("  # Large fleets");
    let commented = find("  # - job_name: fleetwatch-collector");
    let mut out: Vec<String> = lines[..plain].iter().map(|l| l.to_string()).collect();
    out.extend(lines[prose..commented].iter().map(|l| l.to_string()));
    out.extend(
        lines[commented..]
            .iter()
            .map(|l| l.strip_prefix("  # ").unwrap_or(l).to_string()),
    );
    out.join("\n")
}

/// Polls `f` every 250 ms until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
