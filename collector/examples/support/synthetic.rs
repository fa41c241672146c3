//! Synthetic, realistic devices for the benchmarks (from the shipped full
//! report fixture, varied per device).
// Each bench example uses part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use fleetwatch_collector::judge::judge;
use fleetwatch_collector::policy::{ComplianceFacts, FailingSince, Policy};
use fleetwatch_collector::report_facts::{InventoryFacts, ReportFacts};
use fleetwatch_collector::store::{ComplianceUpdate, IngestOp, StoredDevice};
use fleetwatch_protocol::{Disk, Report};

pub const NOW: i64 = 1_800_000_000;

pub fn report(n: usize) -> Report {
    let text = include_str!("../../../protocol/fixtures/report-v1-0.1.0-full.json");
    let mut r: Report = serde_json::from_str(text).unwrap();
    r.device_id = device_id(n);
    r.report_id = format!("r-{n:08}");
    r.collected_at = NOW - (n % 600) as i64;
    r.agent_version = ["0.1.0", "0.1.1", "0.2.0"][n % 3].into();
    let inv = r.inventory.data.as_mut().unwrap();
    inv.hostname = format!("laptop-{n:06}");
    inv.fqdn = Some(format!("laptop-{n:06}.corp.example"));
    inv.hardware.serial = Some(format!("SER{n:08}"));
    inv.hardware.uuid = Some(format!("uuid-{n:08}"));
    inv.os.version_id = Some(["11", "12", "13"][n % 3].into());
    inv.memory.total_bytes = 8 << (30 + n % 3);
    inv.disks.push(Disk {
        mount_point: "/boot/efi".into(),
        device: "/dev/nvme0n1p1".into(),
        filesystem: "vfat".into(),
        total_bytes: 536_870_912,
        available_bytes: 500_000_000,
        ..Disk::default()
    });
    inv.disks.push(Disk {
        mount_point: "/home".into(),
        device: "/dev/mapper/vg-home".into(),
        filesystem: "ext4".into(),
        total_bytes: 400 << 30,
        available_bytes: (n as u64 % 400) << 30,
        ..Disk::default()
    });
    r
}

pub fn device_id(n: usize) -> String {
    format!(
        "dev-{:016x}",
        (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

/// A stored device as the start-up load would produce it.
pub fn stored(n: usize) -> StoredDevice {
    let r = report(n);
    let inv = r.inventory.data.as_ref().unwrap();
    StoredDevice {
        device_id: device_id(n),
        hostname: inv.hostname.clone(),
        enrolled_at: NOW - 86_400 * 30,
        last_seen: NOW - (n % 1200) as i64,
        retired: false,
        node_key_hash: {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(n as u64).to_le_bytes());
            h
        },
        inventory: Some(InventoryFacts::from_inventory(inv)),
        report: Some(ReportFacts::from_report(&r)),
        compliance: Some(ComplianceFacts::from_report(&r, NOW)),
        failing_since: FailingSince::default(),
    }
}

/// A report ready for the store, with the compliance state the writer
/// would commit with it (judged under the default policy).
pub fn ingest_op(n: usize) -> IngestOp {
    let mut op = IngestOp::prepare(report(n), NOW).unwrap();
    let facts = op.compliance_facts.clone();
    let j = judge(
        &facts,
        NOW,
        &FailingSince::default(),
        &Policy::default(),
        NOW,
    );
    op.compliance = Some(ComplianceUpdate {
        facts_json: serde_json::to_string(&facts).unwrap(),
        facts: Arc::new(facts),
        outcomes: j.outcomes,
        failing_since_json: serde_json::to_string(&j.failing_since).unwrap(),
        failing_since: j.failing_since,
    });
    op
}

/// Peak and current resident set size from /proc/self/status, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
