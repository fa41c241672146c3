//! Per-device families, streamed from the compact state.
//!
//! The numbers of every device are first gathered into one flat row per
//! device (a single read of each device entry), then each family is one
//! sequential pass over those rows: the entries themselves are scattered
//! over the heap, and ~20 family passes that each chased them cost more than
//! writing the text.

use fleetwatch_protocol::CheckStatus;

use super::text::{DeviceIds, FamilyType, Sink, float_text, header, line};
use crate::report_facts::CheckKind;
use crate::state::{CheckSample, DeviceMetrics};

/// The `device_id`-only gauges, in their slot order in [`Row::values`]:
/// name, help, and whether the value is a `u64` (else `i64`).
const GAUGES: [(&str, &str, bool); 8] = [
    (
        "fleetwatch_device_last_seen_timestamp_seconds",
        "When the collector last received a report from the device (0: never).",
        false,
    ),
    (
        "fleetwatch_device_enrolled_timestamp_seconds",
        "When the device enrolled.",
        false,
    ),
    (
        "fleetwatch_device_boot_timestamp_seconds",
        "When the device booted.",
        false,
    ),
    (
        "fleetwatch_device_memory_bytes",
        "Total physical memory.",
        true,
    ),
    ("fleetwatch_device_swap_bytes", "Total swap space.", true),
    ("fleetwatch_device_cpus", "Logical CPUs.", false),
    (
        "fleetwatch_device_packages_installed",
        "Installed software packages.",
        false,
    ),
    (
        "fleetwatch_device_os_support_end_timestamp_seconds",
        "End of vendor support of the installed OS release (os-release SUPPORT_END).",
        false,
    ),
];

/// Gauges written before the disk families; the rest come after them.
const GAUGES_BEFORE_DISKS: usize = 6;

/// One device's gauge values (`u64`s stored as their bits) and check samples.
struct Row {
    values: [i64; GAUGES.len()],
    /// Bit `i` set: `values[i]` is known.
    present: u8,
    checks: [CheckSample; CheckKind::ALL.len()],
}

impl Row {
    fn of(d: &DeviceMetrics) -> Row {
        let mut values = [d.last_seen, d.enrolled_at, 0, 0, 0, 0, 0, 0];
        let mut present = 0b11;
        if let Some(inv) = d.inventory.as_deref() {
            let known = [
                (2, inv.boot_time),
                (3, Some(inv.memory_bytes as i64)),
                (4, Some(inv.swap_bytes as i64)),
                (5, Some(i64::from(inv.cpus))),
                (6, inv.packages_installed.map(i64::from)),
                (7, inv.os_support_end),
            ];
            for (slot, v) in known {
                if let Some(v) = v {
                    values[slot] = v;
                    present |= 1 << slot;
                }
            }
        }
        Row {
            values,
            present,
            checks: d.checks,
        }
    }
}

/// `name{device_id="`: the constant start of every sample of a family.
fn prefix(name: &str) -> Vec<u8> {
    format!("{name}{{device_id=\"").into_bytes()
}

/// Writes gauges `range` of [`GAUGES`].
fn gauges(out: &mut Sink<'_>, rows: &[Row], ids: &DeviceIds, range: std::ops::Range<usize>) {
    for slot in range {
        let (name, help, unsigned) = GAUGES[slot];
        header(out, name, FamilyType::Gauge, help);
        let prefix = prefix(name);
        let mut buf = itoa::Buffer::new();
        for (i, row) in rows.iter().enumerate() {
            out.maybe_flush();
            if row.present & (1 << slot) == 0 {
                continue;
            }
            let v = row.values[slot];
            let value = if unsigned {
                buf.format(v as u64)
            } else {
                buf.format(v)
            };
            line(out, [&prefix, ids.get(i), b"\"} ", value.as_bytes(), b"\n"]);
        }
    }
}

/// Writes every per-device family for `devices` (already filtered by shard
/// and retirement, in id order; `ids` their escaped ids), in a fixed order.
pub fn render_device_families(out: &mut Sink<'_>, devices: &[&DeviceMetrics], ids: &DeviceIds) {
    let name = "fleetwatch_device_info";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Device metadata from its latest inventory; always 1.",
    );
    let prefix_info = prefix(name);
    for (i, d) in devices.iter().enumerate() {
        out.maybe_flush();
        line(
            out,
            [
                &prefix_info,
                ids.get(i),
                b"\",",
                d.info_labels.as_bytes(),
                b"} 1\n",
            ],
        );
    }

    let name = "fleetwatch_agent_info";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Version of the agent that sent the latest report; always 1.",
    );
    let prefix_agent = prefix(name);
    for (i, d) in devices.iter().enumerate() {
        out.maybe_flush();
        line(
            out,
            [
                &prefix_agent,
                ids.get(i),
                b"\",version=\"",
                d.agent_version.as_bytes(),
                b"\"} 1\n",
            ],
        );
    }

    // Gathered after the two string families so the rows are freshly
    // written (in cache) for the gauge passes.
    let rows: Vec<Row> = devices.iter().map(|d| Row::of(d)).collect();
    gauges(out, &rows, ids, 0..GAUGES_BEFORE_DISKS);

    for (name, help, available) in [
        (
            "fleetwatch_device_disk_size_bytes",
            "Size of a mounted file system.",
            false,
        ),
        (
            "fleetwatch_device_disk_available_bytes",
            "Bytes available to unprivileged users on a mounted file system.",
            true,
        ),
    ] {
        header(out, name, FamilyType::Gauge, help);
        let prefix = prefix(name);
        let mut buf = itoa::Buffer::new();
        for (i, d) in devices.iter().enumerate() {
            out.maybe_flush();
            let Some(inv) = d.inventory.as_deref() else {
                continue;
            };
            let id = ids.get(i);
            for disk in inv.disks.iter() {
                let value = buf.format(if available {
                    disk.available_bytes
                } else {
                    disk.size_bytes
                });
                line(
                    out,
                    [
                        &prefix,
                        id,
                        b"\",mountpoint=\"",
                        disk.mountpoint.as_bytes(),
                        b"\"} ",
                        value.as_bytes(),
                        b"\n",
                    ],
                );
            }
        }
    }

    gauges(out, &rows, ids, GAUGES_BEFORE_DISKS..GAUGES.len());

    let check_suffixes: Vec<Vec<u8>> = CheckKind::ALL
        .iter()
        .map(|c| format!("\",check=\"{}\"}} ", c.as_str()).into_bytes())
        .collect();
    let name = "fleetwatch_agent_check_failed";
    header(
        out,
        name,
        FamilyType::Gauge,
        "1 when the agent could not run the check in its latest report, 0 when it could (ok or unsupported).",
    );
    let prefix_failed = prefix(name);
    for (i, row) in rows.iter().enumerate() {
        out.maybe_flush();
        for (c, sample) in row.checks.iter().enumerate() {
            if let Some(status) = sample.status {
                let value: &[u8] = if status == CheckStatus::Failed {
                    b"1"
                } else {
                    b"0"
                };
                line(
                    out,
                    [&prefix_failed, ids.get(i), &check_suffixes[c], value, b"\n"],
                );
            }
        }
    }
    let name = "fleetwatch_agent_check_duration_seconds";
    header(
        out,
        name,
        FamilyType::Gauge,
        "How long the check took on the agent in its latest report.",
    );
    let prefix_duration = prefix(name);
    let mut buf = ryu::Buffer::new();
    for (i, row) in rows.iter().enumerate() {
        out.maybe_flush();
        for (c, sample) in row.checks.iter().enumerate() {
            if sample.status.is_some() {
                let value = float_text(&mut buf, sample.duration_seconds);
                line(
                    out,
                    [
                        &prefix_duration,
                        ids.get(i),
                        &check_suffixes[c],
                        value,
                        b"\n",
                    ],
                );
            }
        }
    }
}
