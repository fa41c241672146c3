//! Helpers shared by the end-to-end tests and benchmark programs: locating
//! and starting the real binaries on free loopback ports, scraping, and
//! running the real Prometheus tools.

pub mod promstack;
pub mod wine;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

static BUILD: Once = Once::new();

/// Path of a workspace binary (debug profile), building the binaries once
/// per test process so `cargo test` alone works from a fresh clone.
pub fn binary(name: &str) -> PathBuf {
    BUILD.call_once(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            // The same selection as scripts/test.sh, so features unify the
            // same way and an already built tree is not rebuilt.
            .args(["build", "--workspace", "--bins"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
    });
    let path = target_dir().join("debug").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the test with a clear message when a required tool is missing:
/// the test command installs it, so absence is a broken setup, never a skip.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{tool} is not installed; run scripts/test.sh (it installs the test dependencies)");
}

/// The device id the agent stored in `state_dir/device.json` at enrollment.
pub fn enrolled_device_id(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join("device.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["device_id"].as_str().map(String::from)
}

/// Runs `promtool check metrics` on an exposition body; returns its output on failure.
pub fn promtool_check_metrics(body: &str) -> Result<(), String> {
    let promtool = require_tool("promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(body.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A running collector binary, killed on drop.
pub struct Collector {
    child: Option<Child>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The data directory as this process sees the collector's view of it
    /// (through `/proc/PID/root` when the collector runs in its own mount
    /// namespace).
    view_dir: PathBuf,
    /// Agent API port (HTTPS).
    pub api_port: u16,
    /// Metrics port (HTTP).
    pub metrics_port: u16,
    log: PathBuf,
}

impl Collector {
    /// Starts `fleetwatch-collector serve` on free ports with `data_dir` and waits until ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Collector {
        Self::start_on(data_dir, free_port(), free_port(), extra)
    }

    /// Starts the collector on the given ports.
    pub fn start_on(
        data_dir: &Path,
        api_port: u16,
        metrics_port: u16,
        extra: &[&str],
    ) -> Collector {
        let command = Command::new(binary("fleetwatch-collector"));
        Self::spawn(command, data_dir, api_port, metrics_port, extra, false)
    }

    /// Starts the collector with its data dir on a tmpfs of `size_mib` MiB
    /// that only it sees (a private mount namespace, `unshare -m`; as a
    /// user namespace's root when not root), so a test can fill the disk
    /// under it through [`Collector::view_dir`].
    pub fn start_on_tmpfs(data_dir: &Path, size_mib: u32, extra: &[&str]) -> Collector {
        let mut command = Command::new(require_tool("unshare"));
        // `id -u` rather than geteuid(): this crate has no unsafe code.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            command.arg("--map-root-user");
        }
        // unshare and sh exec: the collector keeps the child's PID.
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=\"$1\" fleetwatch-test \"$2\" && shift 2 && exec \"$@\"")
            .arg("sh")
            .arg(format!("{size_mib}m"))
            .arg(data_dir)
            .arg(binary("fleetwatch-collector"));
        Self::spawn(command, data_dir, free_port(), free_port(), extra, true)
    }

    fn spawn(
        mut command: Command,
        data_dir: &Path,
        api_port: u16,
        metrics_port: u16,
        extra: &[&str],
        own_namespace: bool,
    ) -> Collector {
        std::fs::create_dir_all(data_dir).unwrap();
        // Outside a tmpfs mounted over the data dir: the log stays readable here.
        let log = data_dir.join(format!("collector-{}.log", api_port));
        let logfile = std::fs::File::create(&log).unwrap();
        let child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{api_port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .spawn()
            .expect("start collector");
        let view_dir = if own_namespace {
            PathBuf::from(format!("/proc/{}/root", child.id()))
                .join(data_dir.strip_prefix("/").unwrap_or(data_dir))
        } else {
            data_dir.to_path_buf()
        };
        let mut c = Collector {
            child: Some(child),
            data_dir: data_dir.into(),
            view_dir,
            api_port,
            metrics_port,
            log,
        };
        c.wait_ready();
        c
    }

    /// The data directory as the collector sees it (see
    /// [`Collector::start_on_tmpfs`]).
    pub fn view_dir(&self) -> &Path {
        &self.view_dir
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector exited with {status}:\n{}", self.log_text());
            }
            if let Ok(r) = http().get(&url).send()
                && r.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("collector not ready after 30s:\n{}", self.log_text());
    }

    /// Everything the collector printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// Path of the generated certificate.
    pub fn cert(&self) -> PathBuf {
        self.view_dir.join("tls/cert.pem")
    }

    /// Path of the generated enroll secret.
    pub fn enroll_secret_file(&self) -> PathBuf {
        self.view_dir.join("enroll-secret")
    }

    /// The generated admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.view_dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Enrolls a simulated host `n` (its own machine-id, hardware UUID and
    /// serial) and returns `(device_id, node_key)`.
    pub fn enroll(&self, n: u32) -> (String, String) {
        let secret = std::fs::read_to_string(self.enroll_secret_file()).unwrap();
        let request = fleetwatch_protocol::EnrollRequest {
            enroll_secret: secret.trim().to_string(),
            identity: fleetwatch_protocol::HostIdentity {
                machine_id: Some(format!("e2e-machine-{n}")),
                hardware_uuid: Some(format!("e2e-uuid-{n}")),
                serial: Some(format!("E2E{n}")),
                hostname: format!("e2e-host-{n}"),
            },
            agent_version: "0.1.0".into(),
        };
        let r = self
            .api_client()
            .post(format!(
                "{}{}",
                self.url(),
                fleetwatch_protocol::ENROLL_PATH
            ))
            .json(&request)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "enroll: {}", r.status());
        let e: fleetwatch_protocol::EnrollResponse = r.json().unwrap();
        (e.device_id, e.node_key)
    }

    /// POSTs a report body (JSON bytes) with `node_key`.
    pub fn post_report(&self, node_key: &str, body: Vec<u8>) -> reqwest::blocking::Response {
        self.api_client()
            .post(format!(
                "{}{}",
                self.url(),
                fleetwatch_protocol::REPORTS_PATH
            ))
            .bearer_auth(node_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    }

    /// The certificate fingerprint (`sha256:<64 hex>`) the collector logs at
    /// start-up, as an operator copies it into an agent's `ca_fingerprint`.
    pub fn logged_fingerprint(&self) -> String {
        let log = self.log_text();
        let at = log
            .find("sha256:")
            .expect("fingerprint in the collector log");
        log[at..at + 7 + 64].to_string()
    }

    /// GET /metrics body.
    pub fn scrape(&self) -> String {
        self.scrape_query("")
    }

    /// GET /metrics with a query string (e.g. `?aggregates_only=1`).
    pub fn scrape_query(&self, query: &str) -> String {
        let r = http()
            .get(format!(
                "http://127.0.0.1:{}/metrics{query}",
                self.metrics_port
            ))
            .send()
            .expect("scrape");
        assert!(r.status().is_success(), "scrape status {}", r.status());
        r.text().unwrap()
    }

    /// An HTTPS client that trusts this collector's certificate.
    pub fn api_client(&self) -> reqwest::blocking::Client {
        install_crypto_provider();
        let pem = std::fs::read(self.cert()).unwrap();
        reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// GET an admin API path with the admin token, parsed as JSON.
    pub fn admin_get(&self, path: &str) -> serde_json::Value {
        let r = self
            .api_client()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(self.admin_token())
            .send()
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    /// Kills the collector with SIGKILL (no flush, no drain) and reaps it.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            // std's Child::kill is SIGKILL on Unix.
            child.kill().expect("SIGKILL the collector");
            child.wait().expect("reap the collector");
        }
    }

    /// The collector's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("collector did not stop within 15s after SIGTERM");
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The shipped full report fixture, addressed to `device_id` as `report_id`,
/// collected now.
pub fn full_report(device_id: &str, report_id: &str) -> fleetwatch_protocol::Report {
    let text = include_str!("../../protocol/fixtures/report-v1-0.1.0-full.json");
    let mut report: fleetwatch_protocol::Report = serde_json::from_str(text).unwrap();
    report.device_id = device_id.into();
    report.report_id = report_id.into();
    report.collected_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    report
}

/// A plain blocking HTTP client with a timeout.
pub fn http() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Installs the aws-lc-rs rustls provider for this process (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Runs the agent binary with `args` and returns its output.
pub fn run_agent(args: &[&str]) -> Output {
    run_agent_with(args, &[])
}

/// Runs the agent binary with `args` and extra environment.
pub fn run_agent_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("fleetwatch-agent"));
    cmd.args(args).env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run agent")
}

/// Agent arguments pointing at `collector` with `state_dir`, for `once`/`run`.
pub fn agent_args(collector: &Collector, state_dir: &Path) -> Vec<String> {
    vec![
        "--config".into(),
        "/dev/null".into(),
        "--collector".into(),
        collector.url(),
        "--ca".into(),
        collector.cert().display().to_string(),
        "--enroll-secret-file".into(),
        collector.enroll_secret_file().display().to_string(),
        "--state-dir".into(),
        state_dir.display().to_string(),
    ]
}

/// Runs `tool` (found by [`require_tool`]) with `args` and returns its
/// standard output; panics with the whole output when it fails.
pub fn tool_stdout<I, S>(tool: &str, args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = Command::new(require_tool(tool))
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        output_text(&out)
    );
    out.stdout
}

/// Text of an output's stdout and stderr, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of the first sample of `metric` whose line contains all `needles`.
pub fn sample_value(body: &str, metric: &str, needles: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(metric)
                && matches!(l.as_bytes().get(metric.len()), Some(b'{') | Some(b' '))
        })
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Reads a child's whole stdout (for helper processes).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
