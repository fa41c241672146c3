//! Fleet aggregates, computed at scrape time over every non-retired device
//! (never per shard: they describe the whole fleet).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::compliance::{FleetCheckCounts, render_fleet_checks};
use super::text::{FamilyType, Sink, header, sample_start, value_int};
use crate::state::DeviceMetrics;

/// For the counting maps, keyed by addresses: one multiply per address
/// (FxHash's), where FNV-1a's byte loop cost more than the rest of the
/// count. Flooding resistance buys nothing: the keys are our own pointers.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        // Addresses are aligned, so the product's low bits (hashbrown's
        // bucket index) would repeat; fold the mixed high bits into them.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_usize(usize::from(*b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// Devices per value (`V`), keyed by the value's addresses (`K`).
type Counts<K, V> = HashMap<K, (V, u64), BuildHasherDefault<AddressHasher>>;

/// Writes `fleetwatch_devices{state}`, `fleetwatch_fleet_devices_by_os` and
/// `fleetwatch_fleet_agents_by_version`, then `fleetwatch_fleet_checks`
/// (counted in the same pass: one read of each device, not two).
pub fn render_aggregates(
    out: &mut Sink<'_>,
    devices: &[&DeviceMetrics],
    now: i64,
    stale_after_secs: i64,
) {
    let mut checks = FleetCheckCounts::default();
    let mut reporting = 0u64;
    // Counted by the values' addresses: the fleet state shares one copy of
    // each value, so the strings themselves are not read per device.
    // `by_value` merges any equal values at different addresses.
    let mut by_os: Counts<(*const u8, *const u8), (&str, &str)> = HashMap::default();
    let mut by_version: Counts<*const u8, &str> = HashMap::default();
    for d in devices {
        if d.last_seen > 0 && now - d.last_seen <= stale_after_secs {
            reporting += 1;
        }
        by_os
            .entry((address(&d.os), address(&d.os_version)))
            .or_insert(((&d.os, &d.os_version), 0))
            .1 += 1;
        by_version
            .entry(address(&d.agent_version))
            .or_insert((&d.agent_version, 0))
            .1 += 1;
        checks.add(d.verdicts.outcomes());
    }
    let stale = devices.len() as u64 - reporting;

    let name = "fleetwatch_devices";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Devices by state: reporting (seen within the policy's stale_after) or stale; retired devices are not counted.",
    );
    sample_start(out, name, &["state=\"reporting\""]);
    value_int(out, reporting);
    sample_start(out, name, &["state=\"stale\""]);
    value_int(out, stale);

    let name = "fleetwatch_fleet_devices_by_os";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Devices by OS id and version.",
    );
    let (mut os, mut ver) = (String::new(), String::new());
    for ((o, v), n) in by_value(by_os.into_values()) {
        os.clear();
        os.push_str("os=\"");
        os.push_str(o);
        os.push('"');
        ver.clear();
        ver.push_str("os_version=\"");
        ver.push_str(v);
        ver.push('"');
        sample_start(out, name, &[&os, &ver]);
        value_int(out, n);
    }

    let name = "fleetwatch_fleet_agents_by_version";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Devices by the version of their agent.",
    );
    for (v, n) in by_value(by_version.into_values()) {
        ver.clear();
        ver.push_str("version=\"");
        ver.push_str(v);
        ver.push('"');
        sample_start(out, name, &[&ver]);
        value_int(out, n);
    }
    render_fleet_checks(out, &checks);
}

fn address(value: &Arc<str>) -> *const u8 {
    Arc::as_ptr(value).cast()
}

/// Counts per value, sorted by value, equal values summed.
fn by_value<K: Ord>(counts: impl Iterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut rows: Vec<(K, u64)> = counts.collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 += next.1;
        }
        same
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_at_different_addresses_are_counted_together() {
        let rows = by_value([("b", 1), ("a", 2), ("b", 3)].into_iter());
        assert_eq!(rows, [("a", 2), ("b", 4)]);
    }
}
