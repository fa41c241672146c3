//! Benchmark: collector start-up load from a SQLite store of N devices
//! (default 100,000) carrying every compliance section, the first judging
//! pass over all of them, and the resulting process RSS.
//!
//! `cargo run --release -p fleetwatch-collector --example bench_startup [-- N [DIR]]`
//! The database is generated once into DIR (default /tmp/fleetwatch-bench-N)
//! by a child process, so this process's RSS reflects only the load.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::time::Instant;

use fleetwatch_collector::exposition::text::Sink;
use fleetwatch_collector::exposition::{self, RenderClock, Selection};
use fleetwatch_collector::judge::Judge;
use fleetwatch_collector::policy::{Policy, PolicyHandle};
use fleetwatch_collector::state::{FleetState, LiveState};
use fleetwatch_collector::store::{EnrollOp, SqliteStore, Store, WriteOp};
use fleetwatch_protocol::HostIdentity;

fn generate(db: &Path, n: usize) {
    let mut store = SqliteStore::open(db).unwrap();
    let started = Instant::now();
    let batch_size = 512;
    let mut i = 0;
    while i < n {
        let end = (i + batch_size).min(n);
        let enrolls: Vec<WriteOp> = (i..end)
            .map(|k| {
                WriteOp::Enroll(EnrollOp {
                    identity: HostIdentity {
                        machine_id: Some(format!("machine-{k}")),
                        hardware_uuid: Some(format!("uuid-{k:08}")),
                        serial: Some(format!("SER{k:08}")),
                        hostname: format!("laptop-{k:06}"),
                    },
                    node_key_hash: {
                        let mut h = [0u8; 32];
                        h[..8].copy_from_slice(&(k as u64).to_le_bytes());
                        h
                    },
                    new_device_id: synthetic::device_id(k),
                    now: synthetic::NOW - 86_400,
                    max_devices: None,
                })
            })
            .collect();
        for r in store.apply(&enrolls).unwrap() {
            r.unwrap();
        }
        let reports: Vec<WriteOp> = (i..end)
            .map(|k| WriteOp::Ingest(Box::new(synthetic::ingest_op(k))))
            .collect();
        for r in store.apply(&reports).unwrap() {
            r.unwrap();
        }
        i = end;
    }
    println!(
        "generated {n} devices + {n} reports in {:.1} s ({:.0} report commits/s in batches of {batch_size})",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--generate") {
        generate(Path::new(&args[2]), args[3].parse().unwrap());
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/fleetwatch-bench-{n}")));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fleetwatch.db");
    if !db.exists() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--generate", db.to_str().unwrap(), &n.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "generating the database failed");
    }
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "database: {} ({:.0} MiB)",
        db.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    let (hwm0, _) = synthetic::rss_kib();

    let started = Instant::now();
    let mut store = SqliteStore::open(&db).unwrap();
    let mut fleet = FleetState::default();
    store
        .load_devices(&mut |d| {
            fleet.insert_stored(&d);
            Ok(())
        })
        .unwrap();
    let load = started.elapsed().as_secs_f64();
    let devices = fleet.len();
    let live = LiveState::new(fleet);
    let t = Instant::now();
    let judge = Judge::new(PolicyHandle::new(Policy::default()));
    let changed = judge.judge_fleet(&live, synthetic::NOW, |_, _| {});
    let judging = t.elapsed().as_secs_f64();
    let (hwm, rss) = synthetic::rss_kib();
    println!("start-up load: {devices} devices in {load:.2} s");
    println!(
        "first judging pass: {:.0} ms ({} failing-since changes); load + judge: {:.2} s",
        judging * 1000.0,
        changed.len(),
        load + judging
    );
    println!(
        "RSS after load: {:.1} MiB (peak {:.1} MiB; before load {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        hwm0 as f64 / 1024.0
    );
    let clock = RenderClock {
        now: synthetic::NOW,
        stale_after_secs: Policy::default().stale_after_secs,
        retire_after_secs: 90 * 86_400,
    };
    // Streamed like the /metrics handler does (chunks dropped here).
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut count = |chunk: Vec<u8>| {
        bytes += chunk.len();
        true
    };
    let mut sink = Sink::streaming(&mut count);
    exposition::render_into(
        &mut sink,
        &live.read().snapshot(),
        Selection::default(),
        clock,
        None,
    );
    sink.finish();
    println!(
        "first render (streamed): {:.1} ms, {:.1} MiB",
        t.elapsed().as_secs_f64() * 1000.0,
        bytes as f64 / 1048576.0
    );
    let (hwm, rss) = synthetic::rss_kib();
    println!(
        "RSS after a render: {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
