//! A device's sorted package-pair ids packed at the narrowest fixed width
//! (1 to 4 bytes, little-endian) that holds its largest id: 100,000 devices
//! x 1,000 installs take 300 MB at 3 bytes instead of 400 MB as `u32`, and a
//! fixed width keeps binary search.

/// Sorted, deduplicated `u32` ids in `width` bytes each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackedIds {
    /// `[width, id0 bytes..., id1 bytes..., ...]`; empty when no ids.
    bytes: Box<[u8]>,
}

impl PackedIds {
    /// Packs `ids`, which must be sorted and deduplicated.
    pub fn from_sorted(ids: &[u32]) -> Self {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not sorted");
        let Some(max) = ids.last() else {
            return PackedIds::default();
        };
        let width = (4 - max.leading_zeros() as usize / 8).max(1);
        let mut bytes = Vec::with_capacity(1 + ids.len() * width);
        bytes.push(width as u8);
        for id in ids {
            bytes.extend_from_slice(&id.to_le_bytes()[..width]);
        }
        PackedIds {
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn width(&self) -> usize {
        self.bytes.first().map_or(1, |w| usize::from(*w))
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.bytes.len().saturating_sub(1) / self.width()
    }

    /// True when there is no id.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() <= 1
    }

    /// The `i`-th id (`i < len()`).
    pub fn get(&self, i: usize) -> u32 {
        let w = self.width();
        let at = 1 + i * w;
        let mut le = [0u8; 4];
        le[..w].copy_from_slice(&self.bytes[at..at + w]);
        u32::from_le_bytes(le)
    }

    /// Whether `id` is in the list (binary search).
    pub fn contains(&self, id: u32) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The ids unpacked.
    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_round_trips_and_searches() {
        for ids in [
            vec![],
            vec![0],
            vec![1, 7, 255],
            vec![3, 256, 65_535],
            vec![9, 65_536, 16_777_215],
            vec![0, 16_777_216, u32::MAX],
        ] {
            let p = PackedIds::from_sorted(&ids);
            assert_eq!(p.to_vec(), ids);
            assert_eq!(p.len(), ids.len());
            assert_eq!(p.is_empty(), ids.is_empty());
            for id in &ids {
                assert!(p.contains(*id), "{id} in {ids:?}");
                assert!(!p.contains(id.wrapping_add(1)) || ids.contains(&id.wrapping_add(1)));
            }
            assert!(!p.contains(2) || ids.contains(&2));
        }
        // The width follows the largest id.
        assert_eq!(PackedIds::from_sorted(&[1, 255]).bytes.len(), 1 + 2);
        assert_eq!(PackedIds::from_sorted(&[1, 256]).bytes.len(), 1 + 4);
        assert_eq!(PackedIds::from_sorted(&[1, 70_000]).bytes.len(), 1 + 6);
        assert_eq!(PackedIds::from_sorted(&[1, u32::MAX]).bytes.len(), 1 + 8);
    }
}
