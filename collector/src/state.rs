//! In-memory device state the metrics are rendered from, plus the node-key
//! index used to authenticate reports.
//!
//! Per device only a compact [`DeviceMetrics`] is kept: label values already
//! escaped and capped (`Box<str>`), numbers, and a few flags — never the
//! report (packages, users and history stay in SQLite). Loaded from the
//! store at start-up and updated by the writer right after each commit, so a
//! scrape never sees an unacknowledged report and an acknowledged report is
//! visible at the next scrape.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fleetwatch_protocol::CheckStatus;
use subtle::ConstantTimeEq;

use crate::exposition::text::push_label_value;
use crate::policy::{ComplianceFacts, FailingSince, Outcomes, PolicyCheck};
use crate::report_facts::{CheckKind, InventoryFacts, ReportFacts};
use crate::stable_hash::stable_hash;
use crate::store::{EnrollOutcome, IngestOp, IngestOutcome, NodeKeyHash, StoredDevice};

/// Most disks kept per device: bounds series per device on hostile input.
pub const MAX_DISKS_PER_DEVICE: usize = 64;

/// One check's latest outcome (`status: None` = the agent did not run it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckSample {
    /// Outcome, if the check ran.
    pub status: Option<CheckStatus>,
    /// Duration on the agent.
    pub duration_seconds: f64,
}

/// One mounted file system, label pre-escaped.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskMetrics {
    /// Escaped, capped mount point.
    pub mountpoint: Box<str>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Available bytes.
    pub available_bytes: u64,
}

/// Numbers from the latest good inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryMetrics {
    /// Boot time.
    pub boot_time: Option<i64>,
    /// Total memory.
    pub memory_bytes: u64,
    /// Total swap.
    pub swap_bytes: u64,
    /// Logical CPUs.
    pub cpus: u32,
    /// Installed packages.
    pub packages_installed: Option<u32>,
    /// OS support end.
    pub os_support_end: Option<i64>,
    /// Mounted file systems (deduplicated by escaped mount point).
    pub disks: Box<[DiskMetrics]>,
}

/// Marks "not failing" in a failing-since cell.
const NOT_FAILING: i64 = i64::MIN;

/// A device's current verdicts and failing-since, updated in place.
///
/// Atomics on purpose: the periodic evaluation rewrites these for every
/// device (100,000 of them) under the state's *read* lock, so it never
/// copies device entries held by a running scrape and never blocks scrapes.
/// A scrape may see one device half updated; the next one is consistent.
#[derive(Default)]
pub struct VerdictCells {
    outcomes: AtomicU64,
    failing_since: [AtomicI64; PolicyCheck::COUNT],
}

impl VerdictCells {
    /// Cells holding `outcomes` and `failing_since`.
    pub fn new(outcomes: Outcomes, failing_since: &FailingSince) -> Self {
        let cells = VerdictCells::default();
        cells.set(outcomes, failing_since);
        cells
    }

    /// The verdicts.
    pub fn outcomes(&self) -> Outcomes {
        Outcomes::from_bits(self.outcomes.load(Ordering::Acquire))
    }

    /// Failing-since per check.
    pub fn failing_since(&self) -> FailingSince {
        let mut since = FailingSince::default();
        for check in PolicyCheck::ALL {
            let v = self.failing_since[check.index()].load(Ordering::Acquire);
            since.set(check, (v != NOT_FAILING).then_some(v));
        }
        since
    }

    /// The checks failing in `outcomes` with their since (what
    /// `fleetwatch_check_failing_since_timestamp_seconds` shows), reading
    /// only the cells of those checks.
    pub fn failing_since_of(
        &self,
        outcomes: Outcomes,
    ) -> impl Iterator<Item = (PolicyCheck, i64)> + '_ {
        PolicyCheck::ALL
            .into_iter()
            .filter(move |c| outcomes.is_failing(*c))
            .filter_map(|c| {
                let v = self.failing_since[c.index()].load(Ordering::Acquire);
                (v != NOT_FAILING).then_some((c, v))
            })
    }

    /// Replaces both (failing-since first, so a verdict that turns failing
    /// is never seen without its since).
    pub fn set(&self, outcomes: Outcomes, failing_since: &FailingSince) {
        for check in PolicyCheck::ALL {
            self.failing_since[check.index()].store(
                failing_since.get(check).unwrap_or(NOT_FAILING),
                Ordering::Release,
            );
        }
        self.outcomes.store(outcomes.to_bits(), Ordering::Release);
    }
}

impl Clone for VerdictCells {
    fn clone(&self) -> Self {
        VerdictCells::new(self.outcomes(), &self.failing_since())
    }
}

impl PartialEq for VerdictCells {
    fn eq(&self, other: &Self) -> bool {
        self.outcomes() == other.outcomes() && self.failing_since() == other.failing_since()
    }
}

impl std::fmt::Debug for VerdictCells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCells")
            .field("outcomes", &self.outcomes())
            .field("failing_since", &self.failing_since())
            .finish()
    }
}

/// Everything the exposition needs about one device, pre-escaped.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceMetrics {
    /// Raw device id (ours: `dev-<hex>`); the sort key.
    pub device_id: Box<str>,
    /// `device_id="..."`, ready to paste into a label set.
    pub id_label: Box<str>,
    /// Raw host name (latest inventory, else enrollment), for alerts and the API.
    pub hostname: Box<str>,
    /// Stable hash of the device id for `?shard=i&shards=n`.
    pub shard_hash: u64,
    /// `hostname="...",fqdn="...",...,serial="..."` for `fleetwatch_device_info`.
    pub info_labels: Box<str>,
    /// Escaped OS id (aggregates). Shared between the devices of a
    /// [`FleetState`] with the same value, like the next two.
    pub os: Arc<str>,
    /// Escaped OS version (aggregates).
    pub os_version: Arc<str>,
    /// Escaped agent version.
    pub agent_version: Arc<str>,
    /// Enrollment time.
    pub enrolled_at: i64,
    /// Last report (0: never).
    pub last_seen: i64,
    /// Explicitly retired.
    pub retired: bool,
    /// Current node key hash.
    pub node_key_hash: NodeKeyHash,
    /// From the latest good inventory.
    pub inventory: Option<Box<InventoryMetrics>>,
    /// Latest outcome per check, indexed by [`CheckKind::index`].
    pub checks: [CheckSample; CheckKind::ALL.len()],
    /// How far the device's clock ran ahead of ours on its latest report
    /// (`None` before the first report).
    pub clock_skew_secs: Option<i64>,
    /// Merged compliance facts (none before the first report).
    pub facts: Option<Arc<ComplianceFacts>>,
    /// Current policy verdicts and failing-since.
    pub verdicts: VerdictCells,
}

fn escaped(raw: &str) -> Box<str> {
    let mut s = String::with_capacity(raw.len().min(300) + 2);
    push_label_value(&mut s, raw);
    s.into_boxed_str()
}

fn info_labels(hostname: &str, facts: Option<&InventoryFacts>) -> Box<str> {
    let empty = InventoryFacts::default();
    let f = facts.unwrap_or(&empty);
    let host = if facts.is_some() {
        &f.hostname
    } else {
        hostname
    };
    // A device stored before the family was kept is Linux (as its agent was).
    let family = if f.os_family.is_empty() && facts.is_some() {
        "linux"
    } else {
        &f.os_family
    };
    let pairs: [(&str, &str); 11] = [
        ("hostname", host),
        ("fqdn", &f.fqdn),
        ("os_family", family),
        ("os", &f.os),
        ("os_version", &f.os_version),
        ("os_name", &f.os_name),
        ("kernel_version", &f.kernel_version),
        ("arch", &f.arch),
        ("vendor", &f.vendor),
        ("model", &f.model),
        ("serial", &f.serial),
    ];
    let mut s = String::with_capacity(160);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(name);
        s.push_str("=\"");
        push_label_value(&mut s, value);
        s.push('"');
    }
    s.into_boxed_str()
}

fn inventory_metrics(f: &InventoryFacts) -> Box<InventoryMetrics> {
    let mut disks: Vec<DiskMetrics> = Vec::new();
    for d in &f.disks {
        if disks.len() >= MAX_DISKS_PER_DEVICE {
            break;
        }
        let mountpoint = escaped(&d.mountpoint);
        // Capping can make two long mount points equal; a repeated label set
        // would be a duplicate series, so the first one wins.
        if disks.iter().any(|x| x.mountpoint == mountpoint) {
            continue;
        }
        disks.push(DiskMetrics {
            mountpoint,
            size_bytes: d.size_bytes,
            available_bytes: d.available_bytes,
        });
    }
    Box::new(InventoryMetrics {
        boot_time: f.boot_time,
        memory_bytes: f.memory_bytes,
        swap_bytes: f.swap_bytes,
        cpus: f.cpus,
        packages_installed: f.packages_installed,
        os_support_end: f.os_support_end,
        disks: disks.into_boxed_slice(),
    })
}

fn check_samples(report: Option<&ReportFacts>) -> [CheckSample; CheckKind::ALL.len()] {
    let mut checks = [CheckSample::default(); CheckKind::ALL.len()];
    for o in report.map(|r| r.outcomes.as_slice()).unwrap_or_default() {
        checks[o.check.index()] = CheckSample {
            status: Some(o.status),
            duration_seconds: o.duration_seconds,
        };
    }
    checks
}

impl DeviceMetrics {
    /// Builds the compact entry from a stored device.
    pub fn from_stored(d: &StoredDevice) -> Self {
        let inv = d.inventory.as_ref();
        let mut id_label = String::with_capacity(d.device_id.len() + 12);
        id_label.push_str("device_id=\"");
        push_label_value(&mut id_label, &d.device_id);
        id_label.push('"');
        DeviceMetrics {
            device_id: d.device_id.clone().into_boxed_str(),
            id_label: id_label.into_boxed_str(),
            hostname: inv
                .map_or(d.hostname.as_str(), |f| f.hostname.as_str())
                .into(),
            shard_hash: stable_hash(&d.device_id),
            info_labels: info_labels(&d.hostname, inv),
            os: escaped(inv.map(|f| f.os.as_str()).unwrap_or_default()).into(),
            os_version: escaped(inv.map(|f| f.os_version.as_str()).unwrap_or_default()).into(),
            agent_version: escaped(
                d.report
                    .as_ref()
                    .map(|r| r.agent_version.as_str())
                    .unwrap_or_default(),
            )
            .into(),
            enrolled_at: d.enrolled_at,
            last_seen: d.last_seen,
            retired: d.retired,
            node_key_hash: d.node_key_hash,
            inventory: inv.map(inventory_metrics),
            checks: check_samples(d.report.as_ref()),
            clock_skew_secs: d.report.as_ref().map(ReportFacts::clock_skew_secs),
            facts: d.compliance.clone().map(Arc::new),
            verdicts: VerdictCells::new(Outcomes::default(), &d.failing_since),
        }
    }

    /// The escaped device id (the value inside [`DeviceMetrics::id_label`]).
    pub fn escaped_id(&self) -> &str {
        self.id_label
            .strip_prefix("device_id=\"")
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or_default()
    }

    /// The merged compliance facts (empty before the first report).
    pub fn compliance_facts(&self) -> &ComplianceFacts {
        static NONE: LazyLock<ComplianceFacts> = LazyLock::new(ComplianceFacts::default);
        self.facts.as_deref().unwrap_or(&NONE)
    }

    /// Applies a committed report (the inventory part only when it succeeded).
    fn apply_report(&mut self, op: &IngestOp, outcome: &IngestOutcome) {
        self.last_seen = outcome.last_seen;
        self.retired = false;
        if let Some(c) = &op.compliance {
            self.facts = Some(c.facts.clone());
            self.verdicts.set(c.outcomes, &c.failing_since);
        }
        if !outcome.applied {
            return;
        }
        self.agent_version = escaped(&op.report_facts.agent_version).into();
        self.checks = check_samples(Some(&op.report_facts));
        self.clock_skew_secs = Some(op.report_facts.clock_skew_secs());
        if let Some(inv) = &op.inventory {
            let f = &inv.facts;
            self.info_labels = info_labels(&f.hostname, Some(f));
            self.hostname = f.hostname.as_str().into();
            self.os = escaped(&f.os).into();
            self.os_version = escaped(&f.os_version).into();
            self.inventory = Some(inventory_metrics(f));
        }
    }

    /// Time the device was last heard of (report, else enrollment).
    pub fn last_heard(&self) -> i64 {
        self.last_seen.max(self.enrolled_at)
    }

    /// Points the aggregate label values at the shared copies.
    fn share_labels(&mut self, shared: &mut SharedLabels) {
        for value in [&mut self.os, &mut self.os_version, &mut self.agent_version] {
            *value = shared.get(value);
        }
    }
}

/// One copy of each OS, OS version and agent version value, shared by the
/// devices carrying it: a scrape then counts devices per value by pointer,
/// without reading (a cache miss each) or hashing 300,000 strings.
#[derive(Debug, Default)]
struct SharedLabels {
    values: HashSet<Arc<str>>,
    /// Size at which values no device holds any more are dropped, so
    /// values that churn (agent-reported) cannot grow the set unbounded.
    prune_at: usize,
}

impl SharedLabels {
    fn get(&mut self, value: &str) -> Arc<str> {
        if let Some(shared) = self.values.get(value) {
            return shared.clone();
        }
        if self.values.len() >= self.prune_at {
            self.values.retain(|v| Arc::strong_count(v) > 1);
            self.prune_at = (2 * self.values.len()).max(64);
        }
        let shared: Arc<str> = value.into();
        self.values.insert(shared.clone());
        shared
    }
}

/// All devices plus the node-key index.
#[derive(Debug, Default)]
pub struct FleetState {
    devices: BTreeMap<Box<str>, Arc<DeviceMetrics>>,
    keys: HashMap<NodeKeyHash, Box<str>>,
    labels: SharedLabels,
}

impl FleetState {
    /// Number of devices (retired included).
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when no device is enrolled.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Adds or replaces a device loaded from the store.
    pub fn insert_stored(&mut self, d: &StoredDevice) {
        let mut entry = DeviceMetrics::from_stored(d);
        entry.share_labels(&mut self.labels);
        if let Some(old) = self.devices.get(entry.device_id.as_ref()) {
            self.keys.remove(&old.node_key_hash);
        }
        self.keys.insert(d.node_key_hash, entry.device_id.clone());
        self.devices
            .insert(entry.device_id.clone(), Arc::new(entry));
    }

    /// Applies a committed enrollment: the old key stops working at once.
    pub fn apply_enroll(&mut self, outcome: &EnrollOutcome) {
        if let Some(prev) = outcome.previous_key_hash {
            self.keys.remove(&prev);
        }
        match self.devices.get_mut(outcome.device.device_id.as_str()) {
            Some(entry) => {
                let entry = Arc::make_mut(entry);
                self.keys.remove(&entry.node_key_hash);
                entry.node_key_hash = outcome.device.node_key_hash;
                self.keys
                    .insert(outcome.device.node_key_hash, entry.device_id.clone());
            }
            None => self.insert_stored(&outcome.device),
        }
    }

    /// Marks a device retired (committed): hidden until it reports again.
    pub fn retire(&mut self, device_id: &str) {
        if let Some(entry) = self.devices.get_mut(device_id) {
            Arc::make_mut(entry).retired = true;
        }
    }

    /// Applies a committed report.
    pub fn apply_report(&mut self, op: &IngestOp, outcome: &IngestOutcome) {
        if outcome.duplicate {
            return;
        }
        if let Some(entry) = self.devices.get_mut(op.device_id.as_str()) {
            let entry = Arc::make_mut(entry);
            entry.apply_report(op, outcome);
            entry.share_labels(&mut self.labels);
        }
    }

    /// The device a node key belongs to; the stored hash is compared in
    /// constant time.
    pub fn authenticate(&self, presented: &NodeKeyHash) -> Option<&str> {
        let id = self.keys.get(presented)?;
        let entry = self.devices.get(id)?;
        bool::from(entry.node_key_hash.ct_eq(presented)).then_some(entry.device_id.as_ref())
    }

    /// One device's entry.
    pub fn device(&self, device_id: &str) -> Option<&Arc<DeviceMetrics>> {
        self.devices.get(device_id)
    }

    /// Up to `n` devices in id order after the id `after` (from the first
    /// when `None`): lets long passes release the lock between chunks.
    pub fn devices_after(
        &self,
        after: Option<&str>,
        n: usize,
    ) -> impl Iterator<Item = &DeviceMetrics> {
        use std::ops::Bound;
        let start = match after {
            Some(id) => Bound::Excluded(id),
            None => Bound::Unbounded,
        };
        self.devices
            .range::<str, _>((start, Bound::Unbounded))
            .take(n)
            .map(|(_, d)| d.as_ref())
    }

    /// All devices in id order (cheap: clones `Arc`s), so rendering runs
    /// without holding the lock.
    pub fn snapshot(&self) -> Vec<Arc<DeviceMetrics>> {
        self.devices.values().cloned().collect()
    }
}

/// The shared, lock-protected state.
#[derive(Debug, Default)]
pub struct LiveState {
    fleet: RwLock<FleetState>,
    /// The console's search and software indexes (own lock).
    console: crate::console::index::ConsoleIndex,
}

impl LiveState {
    /// Wraps a loaded state.
    pub fn new(fleet: FleetState) -> Self {
        LiveState {
            fleet: RwLock::new(fleet),
            console: Default::default(),
        }
    }

    /// The console's indexes, updated by the writer after each commit.
    pub fn console(&self) -> &crate::console::index::ConsoleIndex {
        &self.console
    }

    /// Read access. A writer that panicked mid-update leaves at worst one
    /// device half-updated, better than refusing every scrape afterwards.
    pub fn read(&self) -> RwLockReadGuard<'_, FleetState> {
        self.fleet.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access (the writer thread, after a commit).
    pub fn write(&self) -> RwLockWriteGuard<'_, FleetState> {
        self.fleet.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, key: u8) -> StoredDevice {
        StoredDevice {
            device_id: id.into(),
            hostname: "h".into(),
            enrolled_at: 10,
            last_seen: 0,
            retired: false,
            node_key_hash: [key; 32],
            inventory: None,
            report: None,
            compliance: None,
            failing_since: FailingSince::default(),
        }
    }

    #[test]
    fn re_enrollment_replaces_the_key() {
        let mut fleet = FleetState::default();
        fleet.insert_stored(&stored("dev-a", 1));
        assert_eq!(fleet.authenticate(&[1; 32]), Some("dev-a"));
        fleet.apply_enroll(&EnrollOutcome {
            device: stored("dev-a", 2),
            reused: true,
            previous_key_hash: Some([1; 32]),
            weaker_match: None,
        });
        assert_eq!(fleet.authenticate(&[1; 32]), None);
        assert_eq!(fleet.authenticate(&[2; 32]), Some("dev-a"));
        assert_eq!(fleet.len(), 1);
    }

    #[test]
    fn devices_share_label_values_and_unheld_values_are_dropped() {
        let mut fleet = FleetState::default();
        fleet.insert_stored(&stored("dev-a", 1));
        fleet.insert_stored(&stored("dev-b", 2));
        let (a, b) = (
            fleet.device("dev-a").unwrap(),
            fleet.device("dev-b").unwrap(),
        );
        assert!(Arc::ptr_eq(&a.os, &b.os));
        assert!(Arc::ptr_eq(&a.agent_version, &b.os_version), "all empty");
        let mut labels = SharedLabels::default();
        for n in 0..1000 {
            drop(labels.get(&n.to_string()));
        }
        assert!(labels.values.len() <= 128, "{}", labels.values.len());
    }

    #[test]
    fn long_mount_points_that_cap_to_the_same_label_are_deduplicated() {
        let long = "x".repeat(1000);
        let facts = InventoryFacts {
            disks: vec![
                crate::report_facts::DiskFacts {
                    mountpoint: format!("{long}a"),
                    size_bytes: 1,
                    available_bytes: 1,
                },
                crate::report_facts::DiskFacts {
                    mountpoint: format!("{long}b"),
                    size_bytes: 2,
                    available_bytes: 2,
                },
            ],
            ..InventoryFacts::default()
        };
        let m = inventory_metrics(&facts);
        assert_eq!(m.disks.len(), 1);
        assert_eq!(m.disks[0].size_bytes, 1);
    }
}
