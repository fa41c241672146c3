//! In-memory indexes the console queries: a search index (hostname, serial,
//! IP, MAC, user tokens -> devices), the devices in host-name order, and the
//! software inventory with interned titles and versions.
//!
//! Updated by the store writer right after each commit ([`ConsoleIndex::apply`])
//! and loaded once at start-up, so no request rebuilds or scans the reports.
//! Per device the package list is a sorted `Box<[u32]>` of interned
//! (title, version) pair ids: 4 bytes per install, whatever the strings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard};

use super::packed::PackedIds;
use fleetwatch_protocol::{Inventory, Package};

/// Longest string kept per token (hostile agents send long ones).
const MAX_TOKEN: usize = 128;
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
    tokens: Box<[Box<str>]>,
    /// Sorted pair ids of the installed packages, packed.
    packages: PackedIds,
    sort_key: Box<str>,
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
    slots: Vec<Option<IndexedDevice>>,
    free: Vec<u32>,
    by_id: HashMap<Box<str>, u32>,
    tokens: BTreeMap<Box<str>, BTreeSet<u32>>,
    by_hostname: BTreeSet<(Box<str>, u32)>,
    titles: Interner,
    versions: Interner,
    /// `(title id, version id)` -> pair id.
    pair_ids: HashMap<(u32, u32), u32>,
    /// pair id -> `(title id, version id)`.
    pairs: Vec<(u32, u32)>,
    /// pair id -> devices having it.
    pair_installs: Vec<u32>,
    /// title id -> its pair ids.
    title_pairs: Vec<Vec<u32>>,
    /// OS id -> indexed devices with it (the devices page's OS filter
    /// options without a fleet scan).
    os_counts: BTreeMap<Box<str>, u32>,
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

    /// Adds or updates a device (after a committed report or enrollment).
    pub fn apply(&self, device_id: &str, doc: &ConsoleDoc) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.upsert(device_id, doc);
    }

    /// Adds a device from the store at start-up, leaving one the writer
    /// has already applied as it is (the writer's answer is newer).
    pub fn apply_seed(&self, device_id: &str, doc: &ConsoleDoc) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !inner.by_id.contains_key(device_id) {
            inner.upsert(device_id, doc);
        }
    }

    /// Marks the start-up load finished.
    pub fn mark_loaded(&self) {
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
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !inner.by_id.contains_key(device_id) {
            inner.upsert(device_id, &ConsoleDoc::enrolled(hostname));
        }
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
        let slot = match self.by_id.get(device_id) {
            Some(s) => *s,
            None => {
                let s = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    (self.slots.len() - 1) as u32
                });
                self.by_id.insert(device_id.into(), s);
                s
            }
        };
        let old = self.slots[slot as usize].take();
        let (old_tokens, old_packages, old_sort) = match old {
            Some(d) => {
                if let Some(n) = self.os_counts.get_mut(&d.os) {
                    *n -= 1;
                    if *n == 0 {
                        self.os_counts.remove(&d.os);
                    }
                }
                (d.tokens, d.packages, Some(d.sort_key))
            }
            None => (Box::default(), PackedIds::default(), None),
        };
        if !doc.os.is_empty() {
            *self.os_counts.entry(doc.os.as_str().into()).or_default() += 1;
        }
        if let Some(key) = old_sort {
            self.by_hostname.remove(&(key, slot));
        }
        for t in old_tokens.iter() {
            if let Some(set) = self.tokens.get_mut(t) {
                set.remove(&slot);
                if set.is_empty() {
                    self.tokens.remove(t);
                }
            }
        }
        let tokens: Box<[Box<str>]> = doc.tokens.iter().map(|t| t.as_str().into()).collect();
        for t in tokens.iter() {
            self.tokens.entry(t.clone()).or_default().insert(slot);
        }
        let packages = match packages {
            Some(new) => {
                let (gone, added) = diff(&old_packages.to_vec(), &new);
                for p in gone {
                    self.pair_installs[p as usize] -= 1;
                }
                for p in added {
                    self.pair_installs[p as usize] += 1;
                }
                PackedIds::from_sorted(&new)
            }
            None => old_packages,
        };
        let sort_key: Box<str> = format!("{}\u{0}{device_id}", doc.hostname.to_lowercase()).into();
        self.by_hostname.insert((sort_key.clone(), slot));
        self.slots[slot as usize] = Some(IndexedDevice {
            device_id: device_id.into(),
            hostname: doc.hostname.as_str().into(),
            os: doc.os.as_str().into(),
            os_version: doc.os_version.as_str().into(),
            tokens,
            packages,
            sort_key,
        });
    }

    fn pair_id(&mut self, title: &str, version: &str) -> u32 {
        let t = self.titles.id(title);
        let v = self.versions.id(version);
        if let Some(id) = self.pair_ids.get(&(t, v)) {
            return *id;
        }
        let id = self.pairs.len() as u32;
        self.pairs.push((t, v));
        self.pair_installs.push(0);
        self.pair_ids.insert((t, v), id);
        if self.title_pairs.len() <= t as usize {
            self.title_pairs.resize(t as usize + 1, Vec::new());
        }
        self.title_pairs[t as usize].push(id);
        id
    }

    /// The OS ids of the indexed devices, sorted.
    pub fn os_names(&self) -> impl Iterator<Item = &str> {
        self.os_counts.keys().map(|k| &**k)
    }

    /// Number of indexed devices.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// One device.
    pub fn device(&self, device_id: &str) -> Option<&IndexedDevice> {
        let slot = *self.by_id.get(device_id)?;
        self.slots[slot as usize].as_ref()
    }

    /// Devices in host-name order (then id).
    pub fn in_hostname_order(&self) -> impl Iterator<Item = &IndexedDevice> {
        self.by_hostname
            .iter()
            .filter_map(|(_, s)| self.slots[*s as usize].as_ref())
    }

    /// Devices with a token starting with every word of `query`
    /// (lower-cased; words split on white space), in host-name order.
    /// `None` for an empty query (no filter).
    pub fn search(&self, query: &str) -> Option<Vec<&IndexedDevice>> {
        let words: Vec<String> = query
            .split_whitespace()
            .map(|w| w.to_lowercase().chars().take(MAX_TOKEN).collect())
            .collect();
        if words.is_empty() {
            return None;
        }
        let mut result: Option<BTreeSet<u32>> = None;
        for w in &words {
            let mut slots = BTreeSet::new();
            let range = self
                .tokens
                .range::<str, _>((Bound::Included(w.as_str()), Bound::Unbounded));
            for (token, set) in range {
                if !token.starts_with(w.as_str()) {
                    break;
                }
                slots.extend(set.iter().copied());
            }
            result = Some(match result {
                None => slots,
                Some(prev) => prev.intersection(&slots).copied().collect(),
            });
        }
        let mut found: Vec<&IndexedDevice> = result
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| self.slots[s as usize].as_ref())
            .collect();
        found.sort_unstable_by(|a, b| a.sort_key.cmp(&b.sort_key));
        Some(found)
    }

    /// Every title with its installs and versions, most installed first.
    pub fn titles(&self) -> Vec<TitleSummary> {
        let mut out: Vec<TitleSummary> = (0..self.title_pairs.len())
            .filter_map(|t| self.title_summary_by_id(t as u32))
            .collect();
        out.sort_by(|a, b| b.installs.cmp(&a.installs).then(a.title.cmp(&b.title)));
        out
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
                    u64::from(self.pair_installs[*p as usize]),
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

    /// Devices having `title` (in `version`, when given), in host-name
    /// order; a binary search in each device's sorted pair list.
    pub fn devices_with(&self, title: &str, version: Option<&str>) -> Vec<&IndexedDevice> {
        let Some(t) = self.titles.ids.get(title) else {
            return Vec::new();
        };
        let wanted: Vec<u32> = self.title_pairs[*t as usize]
            .iter()
            .copied()
            .filter(|p| {
                version.is_none_or(|v| {
                    self.versions.names[self.pairs[*p as usize].1 as usize].as_ref() == v
                })
            })
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        self.in_hostname_order()
            .filter(|d| wanted.iter().any(|p| d.packages.contains(*p)))
            .collect()
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
        index.apply_seed("dev-1", &doc("old-name", &[], Some(&[("vim", "9.0")])));
        index.apply_seed("dev-2", &doc("other", &[], Some(&[("vim", "9.0")])));
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
            assert_eq!(r.devices_with("firefox", Some("118")).len(), 2);
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
            .devices_with("firefox", Some("118"))
            .iter()
            .map(|d| &*d.hostname)
            .collect();
        assert_eq!(hosts, vec!["a"]);
        assert_eq!(r.devices_with("firefox", None).len(), 2);
        assert!(r.devices_with("nothing", None).is_empty());
        assert_eq!(r.titles()[0].title, "firefox");
        let d = r.device("dev-2").unwrap();
        assert_eq!(r.packages_of(d), vec![("firefox", "120"), ("vim", "9.0")]);
    }
}
