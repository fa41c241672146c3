//! Ingest load generator: enrolls N simulated devices against a running
//! collector and sends realistic (~4 KiB) reports over TLS keep-alive
//! connections for a fixed time, then prints throughput and latency.
//!
//! ```text
//! fleetwatch-loadgen --url https://127.0.0.1:8443 --cert DATA/tls/cert.pem \
//!     --secret-file DATA/enroll-secret --devices 2000 --connections 32 --seconds 20
//! ```
//!
//! Reconnect storm (`--storm`): every device opens its own connection at
//! the same instant and sends one report, retrying like the agent's service
//! loop (the agent's own HTTP client, timeout and backoff code: a 429/503
//! after its `Retry-After` plus up to 50 %, a connection error after a
//! full-jitter exponential delay), and the answers are counted. With
//! `--keys FILE` the enrolled devices are written to FILE (or read from it
//! when it exists), so a storm can hit a collector restarted on the same
//! data dir without enrolling again; `--enroll-only` stops after enrolling.
//!
//! ```text
//! fleetwatch-loadgen ... --devices 10000 --keys keys.txt --enroll-only
//! # restart the collector
//! fleetwatch-loadgen ... --devices 10000 --keys keys.txt --storm
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fleetwatch_agent::upload::backoff::service_backoff;
use fleetwatch_agent::upload::client::{REQUEST_TIMEOUT, http_client_builder, parse_retry_after};
use fleetwatch_agent::upload::tls::{Trust, client_config};
use fleetwatch_protocol as proto;

struct Args {
    url: String,
    cert: String,
    secret_file: String,
    devices: usize,
    connections: usize,
    seconds: u64,
    keys: Option<String>,
    enroll_only: bool,
    storm: bool,
    retries: u32,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        cert: String::new(),
        secret_file: String::new(),
        devices: 1000,
        connections: 32,
        seconds: 20,
        keys: None,
        enroll_only: false,
        storm: false,
        retries: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--storm" => {
                a.storm = true;
                continue;
            }
            "--enroll-only" => {
                a.enroll_only = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = value,
            "--cert" => a.cert = value,
            "--secret-file" => a.secret_file = value,
            "--devices" => a.devices = value.parse()?,
            "--connections" => a.connections = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            "--keys" => a.keys = Some(value),
            "--retries" => a.retries = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.url.is_empty() || a.cert.is_empty() || a.secret_file.is_empty() {
        bail!(
            "usage: fleetwatch-loadgen --url URL --cert PEM --secret-file FILE [--devices N] [--connections C] [--seconds S] [--keys FILE] [--enroll-only] [--storm [--retries N]]"
        );
    }
    Ok(a)
}

/// A realistic report for simulated device `i` (about 4 KiB of JSON).
fn report_template(device_id: &str, i: usize) -> proto::Report {
    let inventory = proto::Inventory {
        hostname: format!("laptop-{i:05}"),
        fqdn: Some(format!("laptop-{i:05}.corp.example")),
        machine_id: Some(format!("{i:032x}")),
        computer_name: None,
        os: proto::OsInfo {
            id: "debian".into(),
            name: Some("Debian GNU/Linux".into()),
            version_id: Some("12".into()),
            version_codename: Some("bookworm".into()),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            support_end: Some("2028-06-10".into()),
            ..Default::default()
        },
        kernel_version: Some("6.1.0-18-amd64".into()),
        arch: "x86_64".into(),
        cpu: proto::CpuInfo {
            model: Some("Intel(R) Core(TM) i7-1165G7 @ 2.80GHz".into()),
            physical_cores: Some(4),
            logical_cpus: 8,
        },
        memory: proto::MemoryInfo {
            total_bytes: 16_624_230_400,
            available_bytes: 9_124_230_400,
            swap_total_bytes: 1_023_406_080,
            swap_free_bytes: 1_023_406_080,
        },
        disks: ["/", "/home", "/boot"]
            .iter()
            .map(|m| proto::Disk {
                mount_point: m.to_string(),
                device: "/dev/mapper/vg-root".into(),
                filesystem: "ext4".into(),
                total_bytes: 502_391_062_528,
                available_bytes: 301_391_062_528,
                encrypted: Some(true),
                removable: false,
            })
            .collect(),
        network: (0..2)
            .map(|n| proto::NetworkInterface {
                name: format!("wlp0s{n}"),
                mac: Some(format!(
                    "8c:8c:aa:{:02x}:{:02x}:{n:02x}",
                    i % 256,
                    (i / 256) % 256
                )),
                addresses: vec![
                    format!("10.{}.{}.{}/16", n, i % 256, (i / 256) % 256),
                    "fe80::1/64".into(),
                ],
            })
            .collect(),
        hardware: proto::Hardware {
            vendor: Some("Dell Inc.".into()),
            model: Some("Latitude 7420".into()),
            serial: Some(format!("SN{i:07}")),
            uuid: Some(format!("4c4c4544-0031-5810-8052-{i:012x}")),
            bios_vendor: Some("Dell Inc.".into()),
            bios_version: Some("1.25.0".into()),
            bios_date: Some("03/15/2024".into()),
            chassis_type: Some("10".into()),
        },
        boot_time: Some(1_794_900_000),
        users: ["root", "alice", "bob", "svc-backup"]
            .iter()
            .enumerate()
            .map(|(n, u)| proto::LocalUser {
                name: u.to_string(),
                uid: if n == 0 { 0 } else { 999 + n as u32 },
                gid: 1000,
                home: format!("/home/{u}"),
                shell: "/bin/bash".into(),
                interactive: true,
            })
            .collect(),
        users_error: None,
        packages: Some(proto::Packages {
            manager: "dpkg".into(),
            count: 1843,
            hash: "3f1a".repeat(16),
            items: None,
        }),
    };
    let patches = proto::Patches {
        manager: "apt".into(),
        pending_total: 4,
        pending_security: Some(1),
        pending: ["openssl", "libssl3", "curl", "tzdata"]
            .iter()
            .map(|p| proto::PendingUpdate {
                name: p.to_string(),
                installed_version: Some("3.0.11-1~deb12u2".into()),
                candidate_version: Some("3.0.13-1~deb12u1".into()),
                security: *p == "openssl",
                source: Some("Debian-Security:12/stable-security".into()),
            })
            .collect(),
        cache_updated_at: Some(1_794_990_000),
        last_install_at: Some(1_794_000_000),
        running_kernel: Some("6.1.0-18-amd64".into()),
        newest_kernel: Some("6.1.0-18-amd64".into()),
        ..Default::default()
    };
    let backup = proto::BackupStatus {
        jobs: vec![proto::BackupJob {
            name: "home".into(),
            kind: "restic".into(),
            last_success_at: Some(1_794_980_000),
            last_attempt_at: Some(1_794_980_000),
            last_result: proto::BackupResult::Success,
            size_bytes: Some(123_456_789),
            snapshot_count: Some(30),
            error: None,
            ..Default::default()
        }],
    };
    let password = proto::PasswordPolicy {
        settings: proto::PasswordSettings {
            min_length: Some(12),
            min_classes: Some(3),
            history: Some(5),
            lockout_threshold: Some(5),
            max_days: Some(365),
            min_days: Some(1),
            warn_days: Some(7),
            hash_algorithm: Some("YESCRYPT".into()),
            ..Default::default()
        },
        sources: vec![
            "/etc/login.defs".into(),
            "/etc/pam.d/common-password".into(),
        ],
        accounts: Some(
            ["root", "alice", "bob"]
                .iter()
                .map(|u| proto::AccountPasswordState {
                    name: u.to_string(),
                    has_password: true,
                    last_change_at: Some(1_790_000_000),
                    max_days: Some(365),
                    interactive: true,
                    ..Default::default()
                })
                .collect(),
        ),
        accounts_error: None,
        ..Default::default()
    };
    proto::Report {
        schema_version: proto::SCHEMA_VERSION,
        report_id: String::new(),
        device_id: device_id.into(),
        agent_version: "0.1.0".into(),
        // Fresh, so the collector judges every section (stale ones are "unknown").
        collected_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        inventory: proto::CheckResult::ok(0.012, inventory),
        checks: proto::Checks {
            patches: Some(proto::CheckResult::ok(0.3, patches)),
            backup: Some(proto::CheckResult::ok(0.2, backup)),
            password_policy: Some(proto::CheckResult::ok(0.001, password)),
            data_protection: None,
        },
    }
}

/// Enrolls `args.devices` simulated devices; returns `(device_id, node_key)`.
async fn enroll(
    client: &reqwest::Client,
    args: &Args,
    secret: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(args.connections));
    let mut tasks = Vec::new();
    for i in 0..args.devices {
        let (client, url, secret, sem) = (
            client.clone(),
            args.url.clone(),
            secret.to_string(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            let req = proto::EnrollRequest {
                enroll_secret: secret,
                identity: proto::HostIdentity {
                    machine_id: Some(format!("loadgen-{i:08}")),
                    hostname: format!("laptop-{i:05}"),
                    ..Default::default()
                },
                agent_version: "0.1.0".into(),
            };
            let r = client
                .post(format!("{url}{}", proto::ENROLL_PATH))
                .json(&req)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "enroll: {}", r.status());
            let e = r.json::<proto::EnrollResponse>().await?;
            anyhow::Ok((e.device_id, e.node_key))
        }));
    }
    let mut devices = Vec::with_capacity(args.devices);
    for t in tasks {
        devices.push(t.await??);
    }
    Ok(devices)
}

/// The enrolled devices: read from `--keys` when that file exists, else
/// enrolled (and written there).
async fn devices(
    client: &reqwest::Client,
    args: &Args,
    secret: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    if let Some(path) = &args.keys
        && let Ok(text) = std::fs::read_to_string(path)
    {
        let devices: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(id, key)| (id.to_string(), key.to_string()))
            .collect();
        anyhow::ensure!(
            devices.len() >= args.devices,
            "{path} holds {} devices, {} wanted",
            devices.len(),
            args.devices
        );
        println!("read {} enrolled devices from {path}", args.devices);
        return Ok(devices.into_iter().take(args.devices).collect());
    }
    let started = Instant::now();
    let devices = enroll(client, args, secret).await?;
    println!(
        "enrolled {} devices in {:.2}s",
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.keys {
        let text: String = devices
            .iter()
            .map(|(id, key)| format!("{id} {key}\n"))
            .collect();
        std::fs::write(path, text).with_context(|| format!("write {path}"))?;
    }
    Ok(devices)
}

/// A unique prefix for this run's report ids: a later run against the same
/// data dir must not send ids the collector already holds (they would be
/// answered as duplicates and never stored).
fn run_prefix() -> String {
    format!("lg-{:016x}", rand::random::<u64>())
}

/// The template's report body with `report_id`.
fn with_report_id(template: &str, report_id: &str) -> String {
    template.replacen(
        "\"report_id\":\"\"",
        &format!("\"report_id\":\"{report_id}\""),
        1,
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = parse_args()?;
    let secret = std::fs::read_to_string(&args.secret_file)?
        .trim()
        .to_string();
    let pool = if args.storm {
        args.devices
    } else {
        args.connections
    };
    // The agent's TLS set-up and HTTP client (timeouts, user agent), with
    // the collector's certificate as the CA file.
    let mut tls = client_config(&Trust::CaFile(args.cert.clone().into()))
        .with_context(|| format!("TLS trust from {}", args.cert))?;
    // One process plays every device, and rustls keeps tickets per server
    // name: shared, a retrying device would resume with another device's
    // session. Agents meeting a restarted collector hold only tickets it
    // cannot read, so each of their first connections is a full handshake;
    // without resumption every connection here is (the worst case).
    tls.resumption = rustls::client::Resumption::disabled();
    let client = http_client_builder(tls)
        .pool_max_idle_per_host(pool)
        .build()?;

    let enrolled = devices(&client, &args, &secret).await?;
    if args.enroll_only {
        return Ok(());
    }
    let mut devices = Vec::with_capacity(enrolled.len());
    for (i, (device_id, key)) in enrolled.into_iter().enumerate() {
        devices.push((key, serde_json::to_string(&report_template(&device_id, i))?));
    }
    let avg = devices.iter().map(|d| d.1.len()).sum::<usize>() / devices.len().max(1);
    println!("report size ~{avg} bytes");
    if args.storm {
        return storm(&client, &args, devices).await;
    }

    // Send reports from `connections` concurrent loops for `seconds`.
    let prefix = run_prefix();
    let devices = Arc::new(devices);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let run_started = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..args.connections {
        let (client, url, devices, next, errors, prefix) = (
            client.clone(),
            args.url.clone(),
            devices.clone(),
            next.clone(),
            errors.clone(),
            prefix.clone(),
        );
        loops.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (key, template) = &devices[(n as usize) % devices.len()];
                // report_id is the only field that differs between sends.
                let body = with_report_id(template, &format!("{prefix}-{n}"));
                let t = Instant::now();
                let ok = match client
                    .post(format!("{url}{}", proto::REPORTS_PATH))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for l in loops {
        all.extend(l.await?);
    }
    let elapsed = run_started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "sent {} reports in {:.1}s with {} connections: {:.0} reports/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {}",
        all.len(),
        elapsed,
        args.connections,
        all.len() as f64 / elapsed,
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied()),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

/// The `p` quantile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
}

fn ms(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN)
}

/// How one storm request ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Attempt {
    /// An HTTP status; `retry_after` whether the answer carried one.
    Status { code: u16, retry_after: bool },
    /// No answer: connecting, TLS or the exchange failed, or timed out.
    ConnectionError(String),
}

/// What one device saw in the storm.
struct StormOutcome {
    attempts: Vec<Attempt>,
    /// From the start of the storm to the 2xx.
    delivered_after: Option<Duration>,
    /// First attempt's answer time.
    first_answer: Option<Duration>,
}

/// Every device connects at once and sends one report, retrying a 429/503
/// or a connection error as the agent's service loop does, at most
/// `--retries` times.
async fn storm(
    client: &reqwest::Client,
    args: &Args,
    devices: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let prefix = run_prefix();
    let n = devices.len();
    let barrier = Arc::new(tokio::sync::Barrier::new(n + 1));
    let started = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::with_capacity(n);
    for (i, (key, template)) in devices.into_iter().enumerate() {
        let (client, url, barrier, started) = (
            client.clone(),
            args.url.clone(),
            barrier.clone(),
            started.clone(),
        );
        let body = with_report_id(&template, &format!("{prefix}-{i}"));
        let retries = args.retries;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let t0 = *started.get().expect("set before the barrier opens");
            let mut outcome = StormOutcome {
                attempts: Vec::new(),
                delivered_after: None,
                first_answer: None,
            };
            let mut backoff = service_backoff();
            for _ in 0..=retries {
                let t = Instant::now();
                let sent = client
                    .post(format!("{url}{}", proto::REPORTS_PATH))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let (attempt, wait) = match sent {
                    Ok(r) => {
                        let retry_after = r
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| parse_retry_after(v.to_str().ok()?));
                        let code = r.status().as_u16();
                        // Read the answer: the connection is reused after it.
                        let body = r.bytes().await;
                        match body {
                            Ok(_) => (
                                Attempt::Status {
                                    code,
                                    retry_after: retry_after.is_some(),
                                },
                                retry_after,
                            ),
                            Err(e) => (Attempt::ConnectionError(kind(&e)), None),
                        }
                    }
                    Err(e) => (Attempt::ConnectionError(kind(&e)), None),
                };
                if outcome.first_answer.is_none() {
                    outcome.first_answer = Some(t.elapsed());
                }
                let done =
                    matches!(attempt, Attempt::Status { code, .. } if (200..300).contains(&code));
                let retry = match &attempt {
                    Attempt::Status { code, .. } => *code == 429 || *code == 503,
                    Attempt::ConnectionError(_) => true,
                };
                outcome.attempts.push(attempt);
                if done {
                    outcome.delivered_after = Some(t0.elapsed());
                    break;
                }
                if !retry {
                    break;
                }
                tokio::time::sleep(backoff.delay_after(wait)).await;
            }
            outcome
        }));
    }
    // Everything spawned and waiting: open the gate.
    started.set(Instant::now()).ok();
    barrier.wait().await;
    let mut outcomes = Vec::with_capacity(n);
    for t in tasks {
        outcomes.push(t.await?);
    }
    let elapsed = started.get().map(Instant::elapsed).unwrap_or_default();
    let mut counts: BTreeMap<Attempt, u64> = BTreeMap::new();
    let mut first = Vec::new();
    let mut delivered = Vec::new();
    for o in &outcomes {
        for a in &o.attempts {
            *counts.entry(a.clone()).or_default() += 1;
        }
        first.extend(o.first_answer);
        delivered.extend(o.delivered_after);
    }
    first.sort();
    delivered.sort();
    let attempts: u64 = counts.values().sum();
    let connection_errors: u64 = counts
        .iter()
        .filter(|(a, _)| matches!(a, Attempt::ConnectionError(_)))
        .map(|(_, c)| c)
        .sum();
    println!(
        "storm: {n} connections at once; {attempts} requests in {:.1}s (request timeout {}s, the agent's)",
        elapsed.as_secs_f64(),
        REQUEST_TIMEOUT.as_secs()
    );
    for (attempt, count) in &counts {
        match attempt {
            Attempt::Status { code, retry_after } => println!(
                "  status {code}{}: {count}",
                if *retry_after {
                    " with Retry-After"
                } else {
                    ""
                }
            ),
            Attempt::ConnectionError(kind) => println!("  connection error ({kind}): {count}"),
        }
    }
    println!(
        "  connection errors: {connection_errors} of {attempts} requests ({:.3} %)",
        connection_errors as f64 * 100.0 / attempts.max(1) as f64
    );
    println!(
        "  first answer: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(percentile(&first, 0.50)),
        ms(percentile(&first, 0.99)),
        ms(first.last().copied())
    );
    println!(
        "  delivered: {} of {n} devices; all delivered after {:.1}s (p50 {:.1}s)",
        delivered.len(),
        delivered
            .last()
            .map(Duration::as_secs_f64)
            .unwrap_or(f64::NAN),
        percentile(&delivered, 0.5)
            .map(|d| d.as_secs_f64())
            .unwrap_or(f64::NAN)
    );
    Ok(())
}

/// A transport error's kind, for counting (not its whole message).
fn kind(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    };
    // The innermost cause says more than reqwest's wrapper.
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    format!("{what}: {source}")
}
