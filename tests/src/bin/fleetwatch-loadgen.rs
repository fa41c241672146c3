//! Ingest load generator: enrolls N simulated devices against a running
//! collector and sends realistic (~4 KiB) reports over TLS keep-alive
//! connections for a fixed time, then prints throughput and latency.
//!
//! ```text
//! fleetwatch-loadgen --url https://127.0.0.1:8443 --cert DATA/tls/cert.pem \
//!     --secret-file DATA/enroll-secret --devices 2000 --connections 32 --seconds 20
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fleetwatch_protocol as proto;

struct Args {
    url: String,
    cert: String,
    secret_file: String,
    devices: usize,
    connections: usize,
    seconds: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        cert: String::new(),
        secret_file: String::new(),
        devices: 1000,
        connections: 32,
        seconds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => a.url = value,
            "--cert" => a.cert = value,
            "--secret-file" => a.secret_file = value,
            "--devices" => a.devices = value.parse()?,
            "--connections" => a.connections = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.url.is_empty() || a.cert.is_empty() || a.secret_file.is_empty() {
        bail!(
            "usage: fleetwatch-loadgen --url URL --cert PEM --secret-file FILE [--devices N] [--connections C] [--seconds S]"
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = parse_args()?;
    let pem = std::fs::read(&args.cert).with_context(|| format!("read {}", args.cert))?;
    let secret = std::fs::read_to_string(&args.secret_file)?
        .trim()
        .to_string();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem)?])
        .pool_max_idle_per_host(args.connections)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()?;

    // Enroll the simulated fleet.
    let started = Instant::now();
    let mut devices = Vec::with_capacity(args.devices);
    let sem = Arc::new(tokio::sync::Semaphore::new(args.connections));
    let mut tasks = Vec::new();
    for i in 0..args.devices {
        let (client, url, secret, sem) = (
            client.clone(),
            args.url.clone(),
            secret.clone(),
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
            anyhow::Ok(r.json::<proto::EnrollResponse>().await?)
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let e = t.await??;
        let body = serde_json::to_string(&report_template(&e.device_id, i))?;
        devices.push((e.node_key, body));
    }
    let avg = devices.iter().map(|d| d.1.len()).sum::<usize>() / devices.len().max(1);
    println!(
        "enrolled {} devices in {:.2}s; report size ~{} bytes",
        devices.len(),
        started.elapsed().as_secs_f64(),
        avg
    );

    // Send reports from `connections` concurrent loops for `seconds`.
    let devices = Arc::new(devices);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let run_started = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..args.connections {
        let (client, url, devices, next, errors) = (
            client.clone(),
            args.url.clone(),
            devices.clone(),
            next.clone(),
            errors.clone(),
        );
        loops.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (key, template) = &devices[(n as usize) % devices.len()];
                // report_id is the only field that differs between sends.
                let body = template.replacen(
                    "\"report_id\":\"\"",
                    &format!("\"report_id\":\"lg-{n}\""),
                    1,
                );
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
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
    };
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
    println!(
        "sent {} reports in {:.1}s with {} connections: {:.0} reports/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {}",
        all.len(),
        elapsed,
        args.connections,
        all.len() as f64 / elapsed,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(all.last().copied()),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
