//! Benchmark: judge N synthetic devices carrying every compliance section
//! against the policy (default 100,000), then render `/metrics`: the issue 3
//! "policy evaluation + render" figure is the judging pass plus one streamed
//! render.
//!
//! `cargo run --release -p fleetwatch-collector --example bench_metrics [-- N]`
//! Prints render times, sample counts, sizes and RSS; asserts nothing.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use fleetwatch_collector::exposition::self_metrics::SelfMetrics;
use fleetwatch_collector::exposition::text::Sink;
use fleetwatch_collector::exposition::{self, RenderClock, Selection};
use fleetwatch_collector::judge::Judge;
use fleetwatch_collector::policy::{Policy, PolicyHandle};
use fleetwatch_collector::state::{FleetState, LiveState};

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn summary(times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

fn count_samples(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let mut fleet = FleetState::default();
    for i in 0..n {
        fleet.insert_stored(&synthetic::stored(i));
    }
    let (hwm, rss) = synthetic::rss_kib();
    println!(
        "devices: {n}; state built in {:.2} s; RSS {:.1} MiB (peak {:.1} MiB, includes building synthetic reports)",
        started.elapsed().as_secs_f64(),
        mib(rss),
        mib(hwm)
    );
    let fleet = LiveState::new(fleet);
    let judge = Judge::new(PolicyHandle::new(Policy::default()));
    let mut judge_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        judge.judge_fleet(&fleet, synthetic::NOW, |_, _| {});
        judge_times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let judge_min = judge_times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "judge all devices (policy evaluation + failing-since): {}",
        summary(&mut judge_times)
    );
    let fleet = fleet.read();

    let clock = RenderClock {
        now: synthetic::NOW,
        stale_after_secs: Policy::default().stale_after_secs,
        retire_after_secs: 90 * 86_400,
    };
    let metrics = SelfMetrics::new();

    // What the /metrics handler does: stream ~1 MiB chunks (here dropped).
    let mut times = Vec::new();
    let (mut bytes, mut samples) = (0usize, 0usize);
    for _ in 0..7 {
        let t = Instant::now();
        let snapshot = fleet.snapshot();
        bytes = 0;
        let mut chunks = Vec::new();
        let mut keep = |chunk: Vec<u8>| {
            bytes += chunk.len();
            // Only the last few chunks are kept (counted below, untimed).
            chunks.push(chunk);
            if chunks.len() > 2 {
                chunks.remove(0);
            }
            true
        };
        let mut sink = Sink::streaming(&mut keep);
        exposition::render_into(
            &mut sink,
            &snapshot,
            Selection::default(),
            clock,
            Some(&metrics),
        );
        sink.finish();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (hwm_stream, _) = synthetic::rss_kib();
    // Count samples once, untimed.
    let full = exposition::render(
        &fleet.snapshot(),
        Selection::default(),
        clock,
        Some(&metrics),
    );
    samples += count_samples(&full);
    drop(full);
    println!(
        "render full, streamed: {}; {samples} samples, {:.1} MiB",
        summary(&mut times),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "policy evaluation + streamed render (min + min): {:.1} ms",
        judge_min + times[0]
    );

    for (label, selection) in [
        ("full, one buffer", Selection::default()),
        (
            "shard 0/4",
            Selection {
                shard: Some((0, 4)),
                aggregates_only: false,
            },
        ),
        (
            "aggregates_only",
            Selection {
                shard: None,
                aggregates_only: true,
            },
        ),
    ] {
        let mut times = Vec::new();
        let mut body = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            body = exposition::render(&fleet.snapshot(), selection, clock, Some(&metrics));
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "render {label}: {}; {} samples, {:.1} MiB",
            summary(&mut times),
            count_samples(&body),
            body.len() as f64 / (1024.0 * 1024.0)
        );
    }
    let (hwm, rss) = synthetic::rss_kib();
    println!(
        "RSS now {:.1} MiB; peak {:.1} MiB before the one-buffer renders (streaming), {:.1} MiB after",
        mib(rss),
        mib(hwm_stream),
        mib(hwm)
    );
}
