//! Fleet aggregates, computed at scrape time over every non-retired device
//! (never per shard: they describe the whole fleet).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::text::{FamilyType, Sink, header, sample_start, value_int};
use crate::policy::render::{FleetCheckCounts, render_fleet_checks};
use crate::state::DeviceMetrics;

/// FNV-1a for the counting maps: keys are our own short label values, so
/// SipHash's flooding resistance buys nothing and costs ~10% of a render.
#[derive(Default)]
struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Fnv = BuildHasherDefault<FnvHasher>;

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
    let mut by_os: HashMap<(&str, &str), u64, Fnv> = HashMap::default();
    let mut by_version: HashMap<&str, u64, Fnv> = HashMap::default();
    for d in devices {
        if d.last_seen > 0 && now - d.last_seen <= stale_after_secs {
            reporting += 1;
        }
        *by_os.entry((&d.os, &d.os_version)).or_default() += 1;
        *by_version.entry(&d.agent_version).or_default() += 1;
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
    let mut rows: Vec<_> = by_os.into_iter().collect();
    rows.sort_unstable();
    let (mut os, mut ver) = (String::new(), String::new());
    for ((o, v), n) in rows {
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
    let mut rows: Vec<_> = by_version.into_iter().collect();
    rows.sort_unstable();
    for (v, n) in rows {
        ver.clear();
        ver.push_str("version=\"");
        ver.push_str(v);
        ver.push('"');
        sample_start(out, name, &[&ver]);
        value_int(out, n);
    }
    render_fleet_checks(out, &checks);
}
