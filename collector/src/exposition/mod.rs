//! Prometheus exposition of the fleet, rendered at scrape time.
//!
//! Device families are streamed straight into a byte buffer from the compact
//! in-memory state (no registry, no per-device metric objects: ~20 samples a
//! device, 2M at 100k devices), then the [`compliance`] families from each
//! device's facts and verdict cells. Fleet
//! aggregates follow, then the collector's own metrics through the
//! `prometheus` crate. Output is text format 0.0.4,
//! the one `promtool check metrics` parses.

use std::sync::Arc;

pub mod aggregates;
pub mod compliance;
pub mod devices;
pub mod self_metrics;
pub mod text;

use crate::state::DeviceMetrics;
use compliance::DeviceCompliance;
use self_metrics::SelfMetrics;
use text::{DeviceIds, Sink};

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which part of the fleet a scrape wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Selection {
    /// `(shard, shards)`: only devices whose id hashes to `shard` mod `shards`.
    pub shard: Option<(u64, u64)>,
    /// Only aggregates and self metrics, no per-device series.
    pub aggregates_only: bool,
}

impl Selection {
    /// Whether fleet-wide series belong in this scrape: unsharded, or shard 0
    /// (so summing over shards never double counts).
    pub fn includes_fleet_series(&self) -> bool {
        self.aggregates_only || self.shard.is_none_or(|(i, _)| i == 0)
    }

    fn includes_device(&self, d: &DeviceMetrics) -> bool {
        self.shard.is_none_or(|(i, n)| d.shard_hash % n == i)
    }
}

/// Time-dependent settings of a render.
#[derive(Debug, Clone, Copy)]
pub struct RenderClock {
    /// Now, Unix seconds.
    pub now: i64,
    /// Silence after which a device counts as stale (the policy's `stale_after`).
    pub stale_after_secs: i64,
    /// Silence after which a device leaves the output.
    pub retire_after_secs: i64,
}

/// Renders a scrape from a state snapshot (devices in id order) into one
/// buffer.
pub fn render(
    snapshot: &[Arc<DeviceMetrics>],
    selection: Selection,
    clock: RenderClock,
    self_metrics: Option<&SelfMetrics>,
) -> Vec<u8> {
    let estimate = if selection.aggregates_only {
        4096
    } else {
        snapshot.len() * 2400 + 4096
    };
    let mut sink = Sink::collecting(estimate);
    render_into(&mut sink, snapshot, selection, clock, self_metrics);
    sink.finish()
}

/// Renders a scrape into a sink (streaming or collecting).
pub fn render_into(
    out: &mut Sink<'_>,
    snapshot: &[Arc<DeviceMetrics>],
    selection: Selection,
    clock: RenderClock,
    self_metrics: Option<&SelfMetrics>,
) {
    // Plain references: cloning the `Arc`s would write every device's
    // reference count (a cache miss each) twice per scrape.
    let visible: Vec<&DeviceMetrics> = snapshot
        .iter()
        .map(|d| &**d)
        .filter(|d| !d.retired && clock.now - d.last_heard() <= clock.retire_after_secs)
        .collect();
    if !selection.aggregates_only {
        let sharded: Vec<&DeviceMetrics>;
        let mine = match selection.shard {
            None => &visible,
            Some(_) => {
                sharded = visible
                    .iter()
                    .copied()
                    .filter(|d| selection.includes_device(d))
                    .collect();
                &sharded
            }
        };
        let ids = DeviceIds::new(mine.iter().map(|d| d.escaped_id()));
        devices::render_device_families(out, mine, &ids);
        let compliance = mine.iter().map(|d| {
            // One read of the verdicts, so the row and the since agree.
            let outcomes = d.verdicts.outcomes();
            DeviceCompliance {
                facts: d.compliance_facts(),
                outcomes,
                failing_since: d.verdicts.failing_since_of(outcomes).collect(),
            }
        });
        compliance::render_compliance_families(out, compliance, &ids);
    }
    if selection.includes_fleet_series() {
        aggregates::render_aggregates(out, &visible, clock.now, clock.stale_after_secs);
        if let Some(m) = self_metrics {
            m.encode_into(out);
        }
    }
}
