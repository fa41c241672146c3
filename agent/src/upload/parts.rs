//! Cutting a package list into parts for `POST /api/v1/packages`: a list
//! too large to ride in a report goes on its own, each part below a byte
//! budget (halved when the collector still finds a part too large).

use fleetwatch_protocol::Package;
use serde::Serialize;

/// A package list whose JSON is larger than this is sent in parts before
/// the report (a quarter of the collector's default 1 MiB report limit).
pub const INLINE_PACKAGES_MAX_BYTES: usize = 256 << 10;
/// First byte budget of one part (JSON of its items).
pub const FIRST_PART_BYTES: usize = 256 << 10;
/// Smallest budget tried after 413 answers; below it the list is withheld.
pub const MIN_PART_BYTES: usize = 4 << 10;

/// One part as sent: borrows the items instead of copying the list.
#[derive(Debug, Serialize)]
pub struct PartBody<'a> {
    /// Hash of the whole list.
    pub hash: &'a str,
    /// Packages in the whole list.
    pub count: u32,
    /// Index of this part.
    pub part: u32,
    /// Number of parts.
    pub parts: u32,
    /// This part's items.
    pub items: &'a [Package],
}

/// Bytes one package takes in a JSON array (with its comma).
fn json_len(p: &Package) -> usize {
    serde_json::to_vec(p).map_or(0, |v| v.len()) + 1
}

/// Size of the list's JSON array.
pub fn list_json_len(items: &[Package]) -> usize {
    items.iter().map(json_len).sum::<usize>() + 1
}

/// Cuts `items` into consecutive slices whose JSON stays within `budget`
/// bytes (a single package larger than the budget gets a part of its own).
/// An empty list is one empty part, so the collector still learns it.
pub fn split(items: &[Package], budget: usize) -> Vec<&[Package]> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, p) in items.iter().enumerate() {
        let len = json_len(p);
        if i > start && size + len > budget {
            parts.push(&items[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < items.len() || parts.is_empty() {
        parts.push(&items[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> Vec<Package> {
        (0..n)
            .map(|i| Package {
                name: format!("package-{i:05}"),
                version: "1.0-1".into(),
                arch: Some("amd64".into()),
                ..Package::default()
            })
            .collect()
    }

    #[test]
    fn parts_keep_order_cover_everything_and_stay_within_the_budget() {
        let items = list(1000);
        let one = json_len(&items[0]);
        let parts = split(&items, 100 * one);
        assert_eq!(parts.len(), 10);
        assert!(parts.iter().all(|p| list_json_len(p) <= 100 * one + 1));
        let joined: Vec<Package> = parts.concat();
        assert_eq!(joined, items);
        // A budget below one package still makes progress.
        assert_eq!(split(&items[..3], 1).len(), 3);
        assert_eq!(split(&[], 100), vec![&[] as &[Package]]);
        assert_eq!(split(&items, usize::MAX).len(), 1);
    }
}
