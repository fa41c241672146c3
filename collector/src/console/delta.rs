//! Sorted, deduplicated `u32` ids stored as the gaps between them, each
//! gap minus one in 4-bit groups (3 value bits and a "more" bit, lowest
//! group first). Both directions of the software index use it: a device's
//! package-pair ids and a pair's device slots. Gaps below 9 take half a
//! byte, below 65 one byte, below 513 one and a half: devices in one group
//! (same image, same versions) are a few slots apart in a pair's list, so
//! 100,000 devices x 1,000 installs take well under a byte per install in
//! each direction (docs/benchmarks.md), instead of 4 bytes as `u32`.
//!
//! Inserting a larger id than the last (the start-up load and new devices:
//! slots only grow) appends; any other insert or removal decodes and
//! re-encodes the list, which a report changing a few packages can afford.

/// The high half of the last byte when only its low half is used: a group
/// with the "more" bit and nothing after it, which no value ends with.
const PAD: u8 = 0x8;

/// Sorted, deduplicated `u32` ids as 4-bit-group gaps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeltaIds {
    /// Two groups per byte, low half first; a last byte used only in its
    /// low half has [`PAD`] in the high half.
    bytes: Vec<u8>,
    /// Number of ids.
    len: u32,
    /// The largest id (0 when empty), so an append needs no decoding.
    last: u32,
}

/// Splits `v` into 4-bit groups, lowest first: `(groups, count)`.
fn groups(mut v: u32) -> ([u8; 11], usize) {
    let mut out = [0u8; 11];
    let mut n = 0;
    loop {
        let low = (v & 0x7) as u8;
        v >>= 3;
        if v == 0 {
            out[n] = low;
            return (out, n + 1);
        }
        out[n] = low | 0x8;
        n += 1;
    }
}

impl DeltaIds {
    /// Encodes `ids`, which must be sorted and deduplicated (exact capacity).
    pub fn from_sorted(ids: &[u32]) -> Self {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not sorted");
        let mut out = DeltaIds::default();
        for id in ids {
            out.push(*id);
        }
        out.bytes.shrink_to_fit();
        out
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there is no id.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut nibble = 0usize;
        // The id "before the first" is -1, so the first is encoded as itself.
        let mut prev = u32::MAX;
        let mut left = self.len;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let (mut v, mut shift) = (0u32, 0);
            loop {
                let byte = self.bytes[nibble / 2];
                let g = if nibble.is_multiple_of(2) {
                    byte & 0xf
                } else {
                    byte >> 4
                };
                nibble += 1;
                v |= u32::from(g & 0x7) << shift;
                shift += 3;
                if g & 0x8 == 0 {
                    break;
                }
            }
            prev = prev.wrapping_add(v).wrapping_add(1);
            Some(prev)
        })
    }

    /// The ids decoded.
    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }

    /// Heap bytes held (the memory figure of the benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends `id`, larger than every id held.
    fn push(&mut self, id: u32) {
        let gap = if self.len == 0 {
            id
        } else {
            id - self.last - 1
        };
        let (g, n) = groups(gap);
        // Room for the groups, growing by an eighth (not doubling): lists
        // that grow one id at a time waste at most 1/8 of their size.
        let extra = n.div_ceil(2) + 1;
        if self.bytes.capacity() - self.bytes.len() < extra {
            self.bytes
                .reserve_exact(extra.max(4).max(self.bytes.len() / 8));
        }
        // Only the stream's last group can sit before a PAD, and it ends a
        // value (no "more" bit), so a PAD is never a real group; within
        // this value, though, a group 0x8 is real: track the half here.
        let mut high_free = self.bytes.last().is_some_and(|b| b >> 4 == PAD);
        for group in &g[..n] {
            if high_free {
                let b = self.bytes.last_mut().expect("a half-used byte");
                *b = (*b & 0xf) | (group << 4);
            } else {
                self.bytes.push(group | (PAD << 4));
            }
            high_free = !high_free;
        }
        self.len += 1;
        self.last = id;
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: u32) -> bool {
        if self.len == 0 || id > self.last {
            self.push(id);
            return true;
        }
        let mut ids = self.to_vec();
        match ids.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                ids.insert(at, id);
                self.rebuild(&ids);
                true
            }
        }
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: u32) -> bool {
        if self.len == 0 || id > self.last {
            return false;
        }
        let mut ids = self.to_vec();
        match ids.binary_search(&id) {
            Ok(at) => {
                ids.remove(at);
                self.rebuild(&ids);
                true
            }
            Err(_) => false,
        }
    }

    /// Re-encodes from `ids` in place, keeping the allocation when it fits.
    fn rebuild(&mut self, ids: &[u32]) {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        *self = DeltaIds {
            bytes,
            len: 0,
            last: 0,
        };
        for id in ids {
            self.push(*id);
        }
        if self.len == 0 {
            self.bytes = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_varint_width_round_trips() {
        for ids in [
            vec![],
            vec![0],
            vec![1, 7, 127, 128],
            vec![3, 16_383, 16_384, 65_535],
            vec![9, 2_097_151, 2_097_152, 268_435_455],
            vec![0, 268_435_456, u32::MAX - 1, u32::MAX],
        ] {
            let d = DeltaIds::from_sorted(&ids);
            assert_eq!(d.to_vec(), ids);
            assert_eq!(d.len(), ids.len());
            assert_eq!(d.is_empty(), ids.is_empty());
        }
        // Half a byte per gap up to 8, one up to 64, 11 groups at most.
        assert_eq!(DeltaIds::from_sorted(&[0, 1, 9, 17]).bytes.len(), 2);
        assert_eq!(DeltaIds::from_sorted(&[7, 72]).bytes.len(), 2);
        assert_eq!(DeltaIds::from_sorted(&[8]).bytes.len(), 1);
        assert_eq!(DeltaIds::from_sorted(&[u32::MAX]).bytes.len(), 6);
    }

    /// A small deterministic generator (no dependency for one test).
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn random_inserts_and_removes_match_a_set() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            // Narrow ranges collide often; wide ones exercise long varints.
            let range = [50u64, 5_000, 1 << 32][round % 3];
            let mut d = DeltaIds::default();
            let mut set = BTreeSet::new();
            for _ in 0..300 {
                let id = (next(&mut seed) % range) as u32;
                if next(&mut seed).is_multiple_of(3) {
                    assert_eq!(d.remove(id), set.remove(&id), "remove {id}");
                } else {
                    assert_eq!(d.insert(id), set.insert(id), "insert {id}");
                }
                assert_eq!(d.len(), set.len());
                assert_eq!(d.last, set.last().copied().unwrap_or(0));
            }
            assert_eq!(d.to_vec(), set.iter().copied().collect::<Vec<_>>());
            assert_eq!(
                d,
                DeltaIds::from_sorted(&d.to_vec()),
                "same bytes as a fresh encoding (capacity aside)"
            );
        }
    }

    #[test]
    fn appending_one_id_at_a_time_wastes_at_most_an_eighth() {
        let mut d = DeltaIds::default();
        for id in 0..100_000u32 {
            d.insert(id * 3);
        }
        // Gaps of 3: one group each, two per byte.
        assert_eq!(d.bytes.len(), 50_000);
        assert!(
            d.heap_bytes() <= 50_000 + 50_000 / 8 + 8,
            "{}",
            d.heap_bytes()
        );
    }
}
