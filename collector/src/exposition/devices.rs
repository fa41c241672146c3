//! Per-device families, streamed from the compact state.

use std::sync::Arc;

use fleetwatch_protocol::CheckStatus;

use super::text::{FamilyType, Sink, header, sample_start, value_float, value_int};
use crate::facts::CheckKind;
use crate::state::{DeviceMetrics, InventoryMetrics};

type Devices<'a> = &'a [Arc<DeviceMetrics>];

/// A gauge with only the `device_id` label; `value` returns `None` to skip
/// the device (value not known).
fn id_gauge<V: itoa::Integer>(
    out: &mut Sink<'_>,
    devices: Devices<'_>,
    name: &str,
    help: &str,
    value: impl Fn(&DeviceMetrics) -> Option<V>,
) {
    header(out, name, FamilyType::Gauge, help);
    for d in devices {
        out.maybe_flush();
        if let Some(v) = value(d) {
            sample_start(out, name, &[&d.id_label]);
            value_int(out, v);
        }
    }
}

fn inventory<T>(d: &DeviceMetrics, f: impl Fn(&InventoryMetrics) -> Option<T>) -> Option<T> {
    d.inventory.as_deref().and_then(f)
}

/// Writes every per-device family for `devices` (already filtered by shard
/// and retirement), in a fixed order.
pub fn render_device_families(out: &mut Sink<'_>, devices: Devices<'_>) {
    let name = "fleetwatch_device_info";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Device metadata from its latest inventory; always 1.",
    );
    for d in devices {
        out.maybe_flush();
        sample_start(out, name, &[&d.id_label, &d.info_labels]);
        out.extend_from_slice(b"1\n");
    }

    let name = "fleetwatch_agent_info";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Version of the agent that sent the latest report; always 1.",
    );
    let mut version = String::new();
    for d in devices {
        out.maybe_flush();
        version.clear();
        version.push_str("version=\"");
        version.push_str(&d.agent_version);
        version.push('"');
        sample_start(out, name, &[&d.id_label, &version]);
        out.extend_from_slice(b"1\n");
    }

    id_gauge(
        out,
        devices,
        "fleetwatch_device_last_seen_timestamp_seconds",
        "When the collector last received a report from the device (0: never).",
        |d| Some(d.last_seen),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_enrolled_timestamp_seconds",
        "When the device enrolled.",
        |d| Some(d.enrolled_at),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_boot_timestamp_seconds",
        "When the device booted.",
        |d| inventory(d, |i| i.boot_time),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_memory_bytes",
        "Total physical memory.",
        |d| inventory(d, |i| Some(i.memory_bytes)),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_swap_bytes",
        "Total swap space.",
        |d| inventory(d, |i| Some(i.swap_bytes)),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_cpus",
        "Logical CPUs.",
        |d| inventory(d, |i| Some(i.cpus)),
    );

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
        let mut mount = String::new();
        for d in devices {
            out.maybe_flush();
            let Some(inv) = d.inventory.as_deref() else {
                continue;
            };
            for disk in inv.disks.iter() {
                mount.clear();
                mount.push_str("mountpoint=\"");
                mount.push_str(&disk.mountpoint);
                mount.push('"');
                sample_start(out, name, &[&d.id_label, &mount]);
                value_int(
                    out,
                    if available {
                        disk.available_bytes
                    } else {
                        disk.size_bytes
                    },
                );
            }
        }
    }

    id_gauge(
        out,
        devices,
        "fleetwatch_device_packages_installed",
        "Installed software packages.",
        |d| inventory(d, |i| i.packages_installed),
    );
    id_gauge(
        out,
        devices,
        "fleetwatch_device_os_support_end_timestamp_seconds",
        "End of vendor support of the installed OS release (os-release SUPPORT_END).",
        |d| inventory(d, |i| i.os_support_end),
    );

    let check_labels: Vec<String> = CheckKind::ALL
        .iter()
        .map(|c| format!("check=\"{}\"", c.as_str()))
        .collect();
    let name = "fleetwatch_agent_check_failed";
    header(
        out,
        name,
        FamilyType::Gauge,
        "1 when the agent could not run the check in its latest report, 0 when it could (ok or unsupported).",
    );
    for d in devices {
        out.maybe_flush();
        for (i, sample) in d.checks.iter().enumerate() {
            if let Some(status) = sample.status {
                sample_start(out, name, &[&d.id_label, &check_labels[i]]);
                out.extend_from_slice(if status == CheckStatus::Failed {
                    b"1\n"
                } else {
                    b"0\n"
                });
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
    for d in devices {
        out.maybe_flush();
        for (i, sample) in d.checks.iter().enumerate() {
            if sample.status.is_some() {
                sample_start(out, name, &[&d.id_label, &check_labels[i]]);
                value_float(out, sample.duration_seconds);
            }
        }
    }
}
