//! HOOK: compliance families, rendered from the verdicts the policy module
//! attaches to each device (`state::ComplianceSummary`). Nothing is written
//! until some device has verdicts.

use std::sync::Arc;

use super::text::{FamilyType, Sink, header, sample_start, value_int};
use crate::state::DeviceMetrics;

/// Writes `fleetwatch_check_passing`, `fleetwatch_check_failing_since_timestamp_seconds`
/// and `fleetwatch_device_compliant` for devices that have verdicts.
pub fn render_compliance_families(out: &mut Sink<'_>, devices: &[Arc<DeviceMetrics>]) {
    if !devices.iter().any(|d| d.compliance.is_some()) {
        return;
    }
    let mut check = String::new();
    let name = "fleetwatch_check_passing";
    header(
        out,
        name,
        FamilyType::Gauge,
        "1 when the device passes the policy check, else 0.",
    );
    for d in devices {
        out.maybe_flush();
        let Some(c) = d.compliance.as_deref() else {
            continue;
        };
        for v in c.checks.iter() {
            check.clear();
            check.push_str("check=\"");
            check.push_str(&v.check);
            check.push('"');
            sample_start(out, name, &[&d.id_label, &check]);
            out.extend_from_slice(if v.passing { b"1\n" } else { b"0\n" });
        }
    }
    let name = "fleetwatch_check_failing_since_timestamp_seconds";
    header(
        out,
        name,
        FamilyType::Gauge,
        "Since when the policy check fails (0: passing).",
    );
    for d in devices {
        out.maybe_flush();
        let Some(c) = d.compliance.as_deref() else {
            continue;
        };
        for v in c.checks.iter() {
            check.clear();
            check.push_str("check=\"");
            check.push_str(&v.check);
            check.push('"');
            sample_start(out, name, &[&d.id_label, &check]);
            value_int(out, v.failing_since.unwrap_or(0));
        }
    }
    let name = "fleetwatch_device_compliant";
    header(
        out,
        name,
        FamilyType::Gauge,
        "1 when the device passes every policy check, else 0.",
    );
    for d in devices {
        out.maybe_flush();
        let Some(c) = d.compliance.as_deref() else {
            continue;
        };
        sample_start(out, name, &[&d.id_label]);
        out.extend_from_slice(if c.compliant { b"1\n" } else { b"0\n" });
    }
}
