//! In-memory indexes the console queries: a search index (hostname, serial,
//! IP, MAC, user tokens -> devices), the devices in host-name order, and the
//! software inventory with interned titles and versions.
//!
//! Updated by the store writer right after each commit ([`ConsoleIndex::apply`])
//! and loaded once at start-up, so no request rebuilds or scans the reports.
//! Installs are kept in both directions as varint-gap lists ([`DeltaIds`]):
//! per device its interned (title, version) pair ids (the device page, and
//! the difference a new report makes), per pair its devices ("which devices
//! have X" without a pass over the fleet). The devices table's counts come
//! from per-`heard` counters kept by [`ConsoleIndex::follow`], so its first
//! page stops after the page.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard};

use super::delta::DeltaIds;
use super::search::{MAX_TOKEN, TokenIndex, join};
use crate::state::DeviceMetrics;
use fleetwatch_protocol::{Inventory, Package};

/// Most search tokens kept per device.
const MAX_TOKENS: usize = 256;
/// Most packages kept per device.
pub const MAX_PACKAGES: usize = 20_000;

/// What one report contributes to the indexes, built off the writer thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsoleDoc {
    /// Host name as reported.
    pub hostname: String,
    /// OS id (os-release `ID`), raw.
    pub os: String,
    /// OS version, raw.
    pub os_version: String,
    /// Lower-cased search tokens: host name (and its parts), FQDN, serial,
    /// IPs, MACs, local user names.
    pub tokens: Vec<String>,
    /// `(title, version)` of every installed package, when the report
    /// carried the list (absent: the previous list stands).
    pub packages: Option<Vec<(String, String)>>,
}

fn push_token(tokens: &mut Vec<String>, raw: &str) {
    let t: String = raw.trim().to_lowercase().chars().take(MAX_TOKEN).collect();
    if !t.is_empty() && tokens.len() < MAX_TOKENS && !tokens.contains(&t) {
        tokens.push(t);
    }
}

impl ConsoleDoc {
    /// The searchable facts of an inventory (packages from `packages`).
    pub fn from_inventory(inv: &Inventory, packages: Option<&[Package]>) -> Self {
        let mut tokens = Vec::new();
        push_token(&mut tokens, &inv.hostname);
        for part in inv.hostname.split(['.', '-', '_']) {
            push_token(&mut tokens, part);
        }
        if let Some(f) = &inv.fqdn {
            push_token(&mut tokens, f);
        }
        if let Some(s) = &inv.hardware.serial {
            push_token(&mut tokens, s);
        }
        for n in &inv.network {
            if let Some(mac) = &n.mac {
                push_token(&mut tokens, mac);
            }
            for a in &n.addresses {
                // "10.0.0.5/24" is searched as "10.0.0.5".
                push_token(&mut tokens, a.split('/').next().unwrap_or(a));
            }
        }
        for u in &inv.users {
            push_token(&mut tokens, &u.name);
        }
        ConsoleDoc {
            hostname: inv.hostname.clone(),
            os: inv.os.id.clone(),
            os_version: inv.os.version_id.clone().unwrap_or_default(),
            tokens,
            packages: packages.map(|p| {
                p.iter()
                    .take(MAX_PACKAGES)
                    .map(|p| (p.name.clone(), p.version.clone()))
                    .collect()
            }),
        }
    }

    /// A device known only from its enrollment.
    pub fn enrolled(hostname: &str) -> Self {
        let mut tokens = Vec::new();
        push_token(&mut tokens, hostname);
        ConsoleDoc {
            hostname: hostname.to_string(),
            tokens,
            ..ConsoleDoc::default()
        }
    }
}

/// Strings to dense ids.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
}

/// The `heard` value of a device that no clock makes visible: retired, or
/// not (yet) in the live state.
pub const HIDDEN: i64 = i64::MIN;

/// A live-state device's place on the retirement clock: when it was last
/// heard of, or [`HIDDEN`] when retired. The console lists a device while
/// this is at or after [`retirement_cutoff`].
pub fn heard_key(d: &DeviceMetrics) -> i64 {
    if d.retired { HIDDEN } else { d.last_heard() }
}

/// The earliest `heard` still listed at `now` (devices not heard of for
/// `retire_after` seconds drop out of the console, as from the metrics).
pub fn retirement_cutoff(now: i64, retire_after: i64) -> i64 {
    // Never at HIDDEN itself, which would list the hidden.
    now.saturating_sub(retire_after).max(HIDDEN + 1)
}

/// Devices per `heard` value: how many are listed at any cutoff, counting
/// only the hidden side (usually the few retired or gone devices).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct HeardCounts {
    by_heard: BTreeMap<i64, u32>,
    total: u32,
}

impl HeardCounts {
    fn add(&mut self, heard: i64) {
        *self.by_heard.entry(heard).or_default() += 1;
        self.total += 1;
    }

    fn remove(&mut self, heard: i64) {
        if let Some(n) = self.by_heard.get_mut(&heard) {
            *n -= 1;
            if *n == 0 {
                self.by_heard.remove(&heard);
            }
            self.total -= 1;
        }
    }

    /// Devices with `heard >= cutoff`.
    fn listed(&self, cutoff: i64) -> usize {
        let hidden: u32 = self.by_heard.range(..cutoff).map(|(_, n)| n).sum();
        (self.total - hidden) as usize
    }
}

/// What the devices table filters on, per slot, in one compact array (a
/// pass over it touches 2.4 MB for 100,000 devices, not the device
/// records): copied from the live state by [`ConsoleIndex::follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Liveness {
    /// [`heard_key`] of the live-state entry ([`HIDDEN`] before one).
    heard: i64,
    /// Last report (0: never).
    last_seen: i64,
    /// Interned OS id of the indexed inventory.
    os: u32,
}

/// One device in the index.
#[derive(Debug)]
pub struct IndexedDevice {
    /// Device id.
    pub device_id: Box<str>,
    /// Host name as reported.
    pub hostname: Box<str>,
    /// OS id, raw.
    pub os: Box<str>,
    /// OS version, raw.
    pub os_version: Box<str>,
    /// Its search tokens, NUL-joined.
    tokens: Box<str>,
    /// Sorted pair ids of the installed packages.
    packages: DeltaIds,
    sort_key: Box<str>,
    slot: u32,
}

/// A software title across the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSummary {
    /// Title.
    pub title: String,
    /// Installs (devices), all versions.
    pub installs: u64,
    /// `(version, installs)`, most installed first.
    pub versions: Vec<(String, u64)>,
}

/// The indexes; read-mostly.
#[derive(Debug, Default)]
pub struct IndexInner {
    slots: Vec<IndexedDevice>,
    /// slot -> filter facts (parallel to `slots`).
    live: Vec<Liveness>,
    by_id: HashMap<Box<str>, u32>,
    tokens: TokenIndex,
    by_hostname: BTreeSet<(Box<str>, u32)>,
    titles: Interner,
    versions: Interner,
    /// `(title id, version id)` -> pair id.
    pair_ids: HashMap<(u32, u32), u32>,
    /// pair id -> `(title id, version id)`.
    pairs: Vec<(u32, u32)>,
    /// pair id -> slots of the devices having it (its install count is
    /// the length).
    pair_devices: Vec<DeltaIds>,
    /// title id -> its pair ids.
    title_pairs: Vec<Vec<u32>>,
    oses: Interner,
    /// Every device's `heard`: the devices table's count without a pass.
    heard: HeardCounts,
    /// OS id -> its devices' `heard` (the OS filter's count, and the OS
    /// options without a fleet scan).
    os_heard: Vec<HeardCounts>,
}

/// The console's indexes behind one lock.
#[derive(Debug, Default)]
pub struct ConsoleIndex {
    inner: RwLock<IndexInner>,
    /// Whether the start-up load from the store has finished (it runs
    /// beside the server, so a large fleet does not delay start-up).
    loaded: std::sync::atomic::AtomicBool,
}

impl ConsoleIndex {
    /// Read access (queries).
    pub fn read(&self) -> RwLockReadGuard<'_, IndexInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, IndexInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or updates a device (after a committed report or enrollment).
    pub fn apply(&self, device_id: &str, doc: &ConsoleDoc) {
        self.write().upsert(device_id, doc);
    }

    /// Adds a device from the store at start-up, leaving one the writer
    /// has already applied as it is (the writer's answer is newer), and
    /// takes its retirement clock from its live-state entry. The caller
    /// holds the live-state lock across the call, as the writer does, so
    /// the entry cannot change in between.
    pub fn apply_seed(&self, device_id: &str, doc: &ConsoleDoc, entry: Option<&DeviceMetrics>) {
        let mut inner = self.write();
        if !inner.by_id.contains_key(device_id) {
            inner.upsert(device_id, doc);
        }
        if let Some(d) = entry {
            inner.follow(d);
        }
    }

    /// Marks the start-up load finished, dropping the growth room the
    /// load left in the per-slot and per-pair vectors.
    pub fn mark_loaded(&self) {
        {
            let mut inner = self.write();
            inner.slots.shrink_to_fit();
            inner.live.shrink_to_fit();
            inner.pairs.shrink_to_fit();
            inner.pair_devices.shrink_to_fit();
            inner.title_pairs.shrink_to_fit();
        }
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the start-up load has finished (until then the console
    /// shows only the devices loaded so far, and says so).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Adds a device seen only at enrollment, leaving a known one as it is.
    pub fn apply_enrolled(&self, device_id: &str, hostname: &str) {
        let mut inner = self.write();
        if !inner.by_id.contains_key(device_id) {
            inner.upsert(device_id, &ConsoleDoc::enrolled(hostname));
        }
    }

    /// Copies a live-state entry's retirement clock and last report (after
    /// every change the writer makes to it: enrollment, report, retire).
    /// A device the index does not hold yet is left to its seed.
    pub fn follow(&self, d: &DeviceMetrics) {
        self.write().follow(d);
    }
}

/// Merges two sorted id lists' difference: `(only in old, only in new)`.
fn diff(old: &[u32], new: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let (mut i, mut j) = (0, 0);
    let (mut gone, mut added) = (Vec::new(), Vec::new());
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                gone.push(*a);
                i += 1;
            }
            (Some(a), None) => {
                gone.push(*a);
                i += 1;
            }
            (_, Some(b)) => {
                added.push(*b);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (gone, added)
}

impl IndexInner {
    fn upsert(&mut self, device_id: &str, doc: &ConsoleDoc) {
        let packages: Option<Vec<u32>> = doc.packages.as_ref().map(|list| {
            let mut ids: Vec<u32> = list
                .iter()
                .map(|(title, version)| self.pair_id(title, version))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        let os = self.oses.id(&doc.os);
        if self.os_heard.len() <= os as usize {
            self.os_heard
                .resize(os as usize + 1, HeardCounts::default());
        }
        let slot = match self.by_id.get(device_id) {
            Some(s) => *s,
            None => {
                // A new slot is the largest: its pair lists only append.
                let s = self.slots.len() as u32;
                self.by_id.insert(device_id.into(), s);
                self.slots.push(IndexedDevice {
                    device_id: device_id.into(),
                    hostname: Box::default(),
                    os: Box::default(),
                    os_version: Box::default(),
                    tokens: Box::default(),
                    packages: DeltaIds::default(),
                    sort_key: Box::default(),
                    slot: s,
                });
                self.live.push(Liveness {
                    heard: HIDDEN,
                    last_seen: 0,
                    os,
                });
                self.heard.add(HIDDEN);
                self.os_heard[os as usize].add(HIDDEN);
                s
            }
        };
        let sort_key: Box<str> = format!("{}\u{0}{device_id}", doc.hostname.to_lowercase()).into();
        let old = std::mem::replace(
            &mut self.slots[slot as usize],
            IndexedDevice {
                device_id: device_id.into(),
                hostname: doc.hostname.as_str().into(),
                os: doc.os.as_str().into(),
                os_version: doc.os_version.as_str().into(),
                tokens: join(&doc.tokens),
                packages: DeltaIds::default(),
                sort_key: sort_key.clone(),
                slot,
            },
        );
        let live = &mut self.live[slot as usize];
        if live.os != os {
            self.os_heard[live.os as usize].remove(live.heard);
            self.os_heard[os as usize].add(live.heard);
            live.os = os;
        }
        self.by_hostname.remove(&(old.sort_key, slot));
        self.tokens.remove(slot, &old.tokens);
        self.tokens.add(slot, &self.slots[slot as usize].tokens);
        let packages = match packages {
            Some(new) => {
                let (gone, added) = diff(&old.packages.to_vec(), &new);
                for p in gone {
                    self.pair_devices[p as usize].remove(slot);
                }
                for p in added {
                    self.pair_devices[p as usize].insert(slot);
                }
                DeltaIds::from_sorted(&new)
            }
            None => old.packages,
        };
        self.by_hostname.insert((sort_key, slot));
        self.slots[slot as usize].packages = packages;
    }

    fn follow(&mut self, d: &DeviceMetrics) {
        let Some(slot) = self.by_id.get(&*d.device_id) else {
            return;
        };
        let live = &mut self.live[*slot as usize];
        let heard = heard_key(d);
        if live.heard != heard {
            self.heard.remove(live.heard);
            self.heard.add(heard);
            let per_os = &mut self.os_heard[live.os as usize];
            per_os.remove(live.heard);
            per_os.add(heard);
            live.heard = heard;
        }
        live.last_seen = d.last_seen;
    }

    fn pair_id(&mut self, title: &str, version: &str) -> u32 {
        let t = self.titles.id(title);
        let v = self.versions.id(version);
        if let Some(id) = self.pair_ids.get(&(t, v)) {
            return *id;
        }
        let id = self.pairs.len() as u32;
        self.pairs.push((t, v));
        self.pair_devices.push(DeltaIds::default());
        self.pair_ids.insert((t, v), id);
        if self.title_pairs.len() <= t as usize {
            self.title_pairs.resize(t as usize + 1, Vec::new());
        }
        self.title_pairs[t as usize].push(id);
        id
    }

    /// The OS ids of the indexed devices, sorted (an empty id is no option).
    pub fn os_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .os_heard
            .iter()
            .enumerate()
            .filter(|(os, counts)| counts.total > 0 && !self.oses.names[*os].is_empty())
            .map(|(os, _)| &*self.oses.names[os])
            .collect();
        names.sort_unstable();
        names
    }

    /// Number of indexed devices.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// One device.
    pub fn device(&self, device_id: &str) -> Option<&IndexedDevice> {
        let slot = *self.by_id.get(device_id)?;
        self.slots.get(slot as usize)
    }

    /// Devices in host-name order (then id); `.rev()` for descending.
    pub fn in_hostname_order(&self) -> impl DoubleEndedIterator<Item = &IndexedDevice> {
        self.by_hostname
            .iter()
            .map(|(_, s)| &self.slots[*s as usize])
    }

    /// Devices listed at `cutoff` ([`retirement_cutoff`]), all or with OS
    /// id `os`, from the maintained counts (no pass over the devices).
    pub fn listed_count(&self, os: Option<&str>, cutoff: i64) -> usize {
        match os {
            None => self.heard.listed(cutoff),
            Some(name) => self
                .oses
                .ids
                .get(name)
                .map_or(0, |os| self.os_heard[*os as usize].listed(cutoff)),
        }
    }

    /// Whether `d` is listed at `cutoff` (and has OS id `os`, when given).
    pub fn is_listed(&self, d: &IndexedDevice, os: Option<&str>, cutoff: i64) -> bool {
        let live = &self.live[d.slot as usize];
        live.heard >= cutoff && os.is_none_or(|name| &*self.oses.names[live.os as usize] == name)
    }

    /// The last report of `d` as the live state had it (0: never).
    pub fn last_seen(&self, d: &IndexedDevice) -> i64 {
        self.live[d.slot as usize].last_seen
    }

    /// Devices with a token starting with every word of `query`
    /// (lower-cased; words split on white space), in host-name order.
    /// `None` for an empty query (no filter).
    pub fn search(&self, query: &str) -> Option<Vec<&IndexedDevice>> {
        let slots = self.tokens.search(query)?;
        let mut found: Vec<&IndexedDevice> =
            slots.into_iter().map(|s| &self.slots[s as usize]).collect();
        found.sort_unstable_by(|a, b| a.sort_key.cmp(&b.sort_key));
        Some(found)
    }

    /// Every title with its installs and versions, most installed first.
    pub fn titles(&self) -> Vec<TitleSummary> {
        self.titles_matching("", usize::MAX).1
    }

    /// Titles containing `needle` (case-insensitive; empty: all): how many,
    /// and the first `limit`, most installed first (then by title). Only
    /// those `limit` are turned into strings and version lists.
    pub fn titles_matching(&self, needle: &str, limit: usize) -> (usize, Vec<TitleSummary>) {
        let needle = needle.to_lowercase();
        let names = &self.titles.names;
        let mut found: Vec<(u64, u32)> = (0..self.title_pairs.len() as u32)
            .filter(|t| needle.is_empty() || names[*t as usize].to_lowercase().contains(&needle))
            .map(|t| {
                let installs = self.title_pairs[t as usize]
                    .iter()
                    .map(|p| self.pair_devices[*p as usize].len() as u64)
                    .sum();
                (installs, t)
            })
            .filter(|(installs, _)| *installs > 0)
            .collect();
        let order = |a: &(u64, u32), b: &(u64, u32)| {
            b.0.cmp(&a.0)
                .then_with(|| names[a.1 as usize].cmp(&names[b.1 as usize]))
        };
        let total = found.len();
        if found.len() > limit {
            found.select_nth_unstable_by(limit, order);
            found.truncate(limit);
        }
        found.sort_unstable_by(order);
        let first = found
            .into_iter()
            .filter_map(|(_, t)| self.title_summary_by_id(t))
            .collect();
        (total, first)
    }

    /// One title's summary (`None`: nobody has it).
    pub fn title(&self, title: &str) -> Option<TitleSummary> {
        self.title_summary_by_id(*self.titles.ids.get(title)?)
    }

    fn title_summary_by_id(&self, t: u32) -> Option<TitleSummary> {
        let mut versions: Vec<(String, u64)> = self.title_pairs[t as usize]
            .iter()
            .map(|p| {
                let (_, v) = self.pairs[*p as usize];
                (
                    self.versions.names[v as usize].to_string(),
                    self.pair_devices[*p as usize].len() as u64,
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if versions.is_empty() {
            return None;
        }
        versions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(TitleSummary {
            title: self.titles.names[t as usize].to_string(),
            // A device has a title once per version it holds; distinct
            // versions of one title on one device are rare (kernels).
            installs: versions.iter().map(|(_, n)| n).sum(),
            versions,
        })
    }

    /// Devices having `title` (in `version`, when given): how many, and the
    /// first `limit` in host-name order. Read from the pairs' device lists,
    /// so the work follows the answer's size, not the fleet's.
    pub fn devices_with(
        &self,
        title: &str,
        version: Option<&str>,
        limit: usize,
    ) -> (usize, Vec<&IndexedDevice>) {
        let Some(t) = self.titles.ids.get(title) else {
            return (0, Vec::new());
        };
        let mut slots: Vec<u32> = Vec::new();
        let mut lists = 0;
        for p in &self.title_pairs[*t as usize] {
            let (_, v) = self.pairs[*p as usize];
            if version.is_none_or(|want| &*self.versions.names[v as usize] == want) {
                slots.extend(self.pair_devices[*p as usize].iter());
                lists += 1;
            }
        }
        if lists > 1 {
            // A device holding two versions is one device.
            slots.sort_unstable();
            slots.dedup();
        }
        let total = slots.len();
        let mut found: Vec<&IndexedDevice> =
            slots.into_iter().map(|s| &self.slots[s as usize]).collect();
        let by_name = |a: &&IndexedDevice, b: &&IndexedDevice| a.sort_key.cmp(&b.sort_key);
        if found.len() > limit {
            // Only the first `limit` need ordering.
            found.select_nth_unstable_by(limit, by_name);
            found.truncate(limit);
        }
        found.sort_unstable_by(by_name);
        (total, found)
    }

    /// The `(title, version)` pairs installed on a device, sorted by title.
    pub fn packages_of(&self, d: &IndexedDevice) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = d
            .packages
            .iter()
            .map(|p| {
                let (t, v) = self.pairs[p as usize];
                (
                    &*self.titles.names[t as usize],
                    &*self.versions.names[v as usize],
                )
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Heap bytes of the install lists: `(per device, per pair)`.
    pub fn install_list_bytes(&self) -> (usize, usize) {
        (
            self.slots.iter().map(|d| d.packages.heap_bytes()).sum(),
            self.pair_devices.iter().map(DeltaIds::heap_bytes).sum(),
        )
    }

    /// Installed packages counted on a device.
    pub fn package_count(&self, d: &IndexedDevice) -> usize {
        d.packages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(host: &str, tokens: &[&str], packages: Option<&[(&str, &str)]>) -> ConsoleDoc {
        ConsoleDoc {
            hostname: host.into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            packages: packages.map(|p| {
                p.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            }),
            ..ConsoleDoc::default()
        }
    }

    #[test]
    fn search_matches_token_prefixes_and_follows_updates() {
        let index = ConsoleIndex::default();
        index.apply(
            "dev-1",
            &doc("web-01", &["web-01", "10.0.0.5", "alice"], None),
        );
        index.apply("dev-2", &doc("db-01", &["db-01", "10.0.0.6", "bob"], None));
        let r = index.read();
        let hosts = |q: &str| -> Vec<String> {
            r.search(q)
                .unwrap()
                .into_iter()
                .map(|d| d.hostname.to_string())
                .collect()
        };
        assert_eq!(hosts("10.0.0"), vec!["db-01", "web-01"]);
        assert_eq!(hosts("ALI"), vec!["web-01"]);
        assert_eq!(hosts("10.0 bob"), vec!["db-01"]);
        assert!(hosts("carol").is_empty());
        assert!(r.search("  ").is_none());
        drop(r);
        index.apply("dev-1", &doc("web-01", &["web-01", "carol"], None));
        let r = index.read();
        assert_eq!(r.search("alice").unwrap().len(), 0, "old tokens removed");
        assert_eq!(r.search("carol").unwrap().len(), 1);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn a_start_up_seed_never_overwrites_what_the_writer_applied() {
        let index = ConsoleIndex::default();
        assert!(!index.is_loaded());
        // The writer commits a fresh report while the start-up load runs...
        index.apply("dev-1", &doc("new-name", &[], Some(&[("vim", "9.1")])));
        // ...and the load then reaches the same device's older stored row.
        index.apply_seed(
            "dev-1",
            &doc("old-name", &[], Some(&[("vim", "9.0")])),
            None,
        );
        index.apply_seed("dev-2", &doc("other", &[], Some(&[("vim", "9.0")])), None);
        index.mark_loaded();
        assert!(index.is_loaded());
        let r = index.read();
        assert_eq!(&*r.device("dev-1").unwrap().hostname, "new-name");
        assert_eq!(&*r.device("dev-2").unwrap().hostname, "other");
        let vim = r.title("vim").unwrap();
        assert_eq!(
            vim.versions,
            vec![("9.0".to_string(), 1), ("9.1".to_string(), 1)]
        );
    }

    #[test]
    fn software_counts_follow_package_list_changes() {
        let index = ConsoleIndex::default();
        let v1: &[(&str, &str)] = &[("firefox", "118"), ("vim", "9.0")];
        index.apply("dev-1", &doc("a", &[], Some(v1)));
        index.apply("dev-2", &doc("b", &[], Some(v1)));
        {
            let r = index.read();
            assert_eq!(r.title("firefox").unwrap().installs, 2);
            assert_eq!(r.devices_with("firefox", Some("118"), 10).0, 2);
        }
        index.apply(
            "dev-2",
            &doc("b", &[], Some(&[("firefox", "120"), ("vim", "9.0")])),
        );
        // A report without the list keeps the previous one.
        index.apply("dev-1", &doc("a", &["x"], None));
        let r = index.read();
        let ff = r.title("firefox").unwrap();
        assert_eq!(ff.installs, 2);
        assert_eq!(
            ff.versions,
            vec![("118".to_string(), 1), ("120".to_string(), 1)]
        );
        let hosts: Vec<&str> = r
            .devices_with("firefox", Some("118"), 10)
            .1
            .iter()
            .map(|d| &*d.hostname)
            .collect();
        assert_eq!(hosts, vec!["a"]);
        assert_eq!(r.devices_with("firefox", None, 10).0, 2);
        assert_eq!(r.devices_with("nothing", None, 10).0, 0);
        assert_eq!(r.titles()[0].title, "firefox");
        let d = r.device("dev-2").unwrap();
        assert_eq!(r.packages_of(d), vec![("firefox", "120"), ("vim", "9.0")]);
    }

    fn entry(id: &str, enrolled_at: i64, last_seen: i64, retired: bool) -> DeviceMetrics {
        DeviceMetrics::from_stored(&crate::store::StoredDevice {
            device_id: id.into(),
            hostname: "h".into(),
            enrolled_at,
            last_seen,
            retired,
            node_key_hash: [0; 32],
            inventory: None,
            report: None,
            compliance: None,
            failing_since: Default::default(),
        })
    }

    /// What the model knows of one device: its latest applied doc and
    /// live-state entry.
    struct Model {
        doc: ConsoleDoc,
        entry: Option<DeviceMetrics>,
    }

    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Every question the maintained structures answer, asked of `r` and
    /// answered again by brute force over `model`.
    fn check_against(r: &IndexInner, model: &BTreeMap<String, Model>, titles: &[String]) {
        assert_eq!(r.len(), model.len());
        for cutoff in [retirement_cutoff(HIDDEN, 0), 0, 40, 95, 150, i64::MAX] {
            for os in [None, Some("debian"), Some("fedora"), Some("")] {
                let expected = model
                    .values()
                    .filter(|m| os.is_none_or(|o| m.doc.os == o))
                    .filter(|m| m.entry.as_ref().is_some_and(|e| heard_key(e) >= cutoff))
                    .count();
                assert_eq!(
                    r.listed_count(os, cutoff),
                    expected,
                    "cutoff {cutoff} os {os:?}"
                );
                let walked = r
                    .in_hostname_order()
                    .filter(|d| r.is_listed(d, os, cutoff))
                    .count();
                assert_eq!(walked, expected, "is_listed agrees with the count");
            }
        }
        let mut by_name: Vec<(String, &String)> = model
            .iter()
            .map(|(id, m)| (format!("{}\u{0}{id}", m.doc.hostname.to_lowercase()), id))
            .collect();
        by_name.sort();
        let order: Vec<&str> = r.in_hostname_order().map(|d| &*d.device_id).collect();
        let expected: Vec<&str> = by_name.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(order, expected);
        for (id, m) in model {
            let d = r.device(id).unwrap();
            assert_eq!(r.last_seen(d), m.entry.as_ref().map_or(0, |e| e.last_seen));
            let mut want: Vec<(&str, &str)> = m
                .doc
                .packages
                .iter()
                .flatten()
                .map(|(t, v)| (t.as_str(), v.as_str()))
                .collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(r.packages_of(d), want);
        }
        for title in titles {
            for version in [None, Some("1"), Some("2")] {
                let has = |m: &Model| {
                    m.doc
                        .packages
                        .iter()
                        .flatten()
                        .any(|(t, v)| t == title && version.is_none_or(|want| v == want))
                };
                let all: Vec<&str> = expected
                    .iter()
                    .copied()
                    .filter(|id| has(&model[*id]))
                    .collect();
                for limit in [0, 3, 1000] {
                    let (total, first) = r.devices_with(title, version, limit);
                    assert_eq!(total, all.len(), "{title} {version:?}");
                    let first: Vec<&str> = first.iter().map(|d| &*d.device_id).collect();
                    assert_eq!(first, all[..all.len().min(limit)], "{title} {version:?}");
                }
            }
            let installs = model
                .values()
                .filter(|m| m.doc.packages.iter().flatten().any(|(t, _)| t == title));
            assert_eq!(
                r.title(title).map_or(0, |t| t.installs),
                // Two versions on one device count twice, as the page says.
                installs
                    .map(|m| {
                        let mut v: Vec<_> = m
                            .doc
                            .packages
                            .iter()
                            .flatten()
                            .filter(|(t, _)| t == title)
                            .collect();
                        v.sort();
                        v.dedup();
                        v.len() as u64
                    })
                    .sum::<u64>()
            );
        }
    }

    /// The title list's order and counts, from the per-title answers.
    fn check_titles(r: &IndexInner, titles: &[String]) {
        let mut all: Vec<(u64, &str)> = titles
            .iter()
            .filter_map(|t| r.title(t).map(|s| (s.installs, t.as_str())))
            .collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for limit in [0, 2, 100] {
            let (total, first) = r.titles_matching("", limit);
            assert_eq!(total, all.len());
            let names: Vec<&str> = first.iter().map(|t| t.title.as_str()).collect();
            let want: Vec<&str> = all.iter().take(limit).map(|(_, t)| *t).collect();
            assert_eq!(names, want);
        }
        let (total, first) = r.titles_matching("T1", 10);
        assert_eq!(total, usize::from(r.title("t1").is_some()));
        assert!(first.iter().all(|t| t.title == "t1"));
    }

    #[test]
    fn maintained_counts_and_postings_match_a_full_recomputation() {
        let titles: Vec<String> = (0..6).map(|t| format!("t{t}")).collect();
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for round in 0..30 {
            let index = ConsoleIndex::default();
            let mut model: BTreeMap<String, Model> = BTreeMap::new();
            for _ in 0..150 {
                let id = format!("dev-{}", next(&mut seed) % 25);
                let time = (next(&mut seed) % 200) as i64;
                match next(&mut seed) % 6 {
                    // Enrollment: known devices keep their doc.
                    0 => {
                        index.apply_enrolled(&id, &format!("enrolled-{id}"));
                        let m = model.entry(id.clone()).or_insert_with(|| Model {
                            doc: ConsoleDoc::enrolled(&format!("enrolled-{id}")),
                            entry: None,
                        });
                        let e = m.entry.get_or_insert_with(|| entry(&id, time, 0, false));
                        index.follow(e);
                    }
                    // Retire (a committed one: the device is known).
                    1 => {
                        if let Some(e) = model.get_mut(&id).and_then(|m| m.entry.as_mut()) {
                            e.retired = true;
                            index.follow(e);
                        }
                    }
                    // A report, with or without the package list.
                    _ => {
                        let mut packages = Vec::new();
                        for t in &titles {
                            if next(&mut seed).is_multiple_of(3) {
                                packages.push((t.clone(), (1 + next(&mut seed) % 2).to_string()));
                            }
                        }
                        let d = doc(&format!("Host-{}", next(&mut seed) % 10), &[], None);
                        let d = ConsoleDoc {
                            os: ["debian", "fedora", ""][(next(&mut seed) % 3) as usize].into(),
                            packages: (!next(&mut seed).is_multiple_of(4)).then_some(packages),
                            ..d
                        };
                        index.apply(&id, &d);
                        let m = model.entry(id.clone()).or_insert_with(|| Model {
                            doc: ConsoleDoc::default(),
                            entry: None,
                        });
                        let kept = m.doc.packages.take();
                        m.doc = ConsoleDoc {
                            packages: d.packages.clone().or(kept),
                            ..d
                        };
                        let e = m.entry.get_or_insert_with(|| entry(&id, 0, 0, false));
                        e.retired = false;
                        e.last_seen = time;
                        index.follow(e);
                    }
                }
                if round % 10 == 0 {
                    check_against(&index.read(), &model, &titles);
                    check_titles(&index.read(), &titles);
                }
            }
            check_against(&index.read(), &model, &titles);
            // And a fresh index built from the final state only (the
            // start-up load) answers the same.
            let rebuilt = ConsoleIndex::default();
            for (id, m) in &model {
                let doc = ConsoleDoc {
                    packages: m.doc.packages.clone().or(Some(Vec::new())),
                    ..m.doc.clone()
                };
                rebuilt.apply_seed(id, &doc, m.entry.as_ref());
            }
            check_against(&rebuilt.read(), &model, &titles);
        }
    }
}
