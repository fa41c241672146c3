//! Sorted, deduplicated `u32` ids stored as the gaps between them in
//! LEB128 varints. Both directions of the software index use it: a device's
//! package-pair ids (gaps of about 10 among the pairs a fleet shares: one
//! byte per install) and a pair's device slots (one byte when a tenth of the
//! fleet has it). 100,000 devices x 1,000 installs take about 110 MB in
//! each direction instead of 400 MB as `u32`.
//!
//! Inserting a larger id than the last (the start-up load and new devices:
//! slots only grow) appends; any other insert or removal rewrites the bytes
//! after the position, which a report changing a few packages can afford.

/// Sorted, deduplicated `u32` ids as varint gaps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeltaIds {
    /// The first id, then each id minus the one before, as LEB128.
    bytes: Vec<u8>,
    /// Number of ids.
    len: u32,
    /// The largest id (0 when empty), so an append needs no decoding.
    last: u32,
}

/// Writes `v` as LEB128 into `out`; returns the bytes used (1 to 5).
fn encode(mut v: u32, out: &mut [u8; 5]) -> usize {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = byte;
            return n + 1;
        }
        out[n] = byte | 0x80;
        n += 1;
    }
}

/// Reads one LEB128 value at the start of `bytes`: `(value, bytes used)`.
/// The bytes are our own encoding, so a value always ends within them.
fn decode(bytes: &[u8]) -> (u32, usize) {
    let mut v = 0u32;
    for (i, b) in bytes.iter().enumerate() {
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, bytes.len())
}

impl DeltaIds {
    /// Encodes `ids`, which must be sorted and deduplicated (exact capacity).
    pub fn from_sorted(ids: &[u32]) -> Self {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not sorted");
        let mut out = DeltaIds::default();
        let mut scratch = Vec::with_capacity(ids.len() * 2);
        let mut buf = [0u8; 5];
        let mut prev = 0;
        for id in ids {
            let n = encode(id - prev, &mut buf);
            scratch.extend_from_slice(&buf[..n]);
            prev = *id;
        }
        out.bytes = scratch.as_slice().to_vec();
        out.len = ids.len() as u32;
        out.last = prev;
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
        let mut at = 0;
        let mut prev = 0u32;
        std::iter::from_fn(move || {
            if at >= self.bytes.len() {
                return None;
            }
            let (gap, n) = decode(&self.bytes[at..]);
            at += n;
            prev += gap;
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

    /// Room for `extra` more bytes, growing by an eighth (not doubling):
    /// lists that grow one id at a time waste at most 1/8 of their size.
    fn reserve(&mut self, extra: usize) {
        if self.bytes.capacity() - self.bytes.len() < extra {
            self.bytes
                .reserve_exact(extra.max(8).max(self.bytes.len() / 8));
        }
    }

    /// The byte offset and the id before the first id `>= id`, and that id
    /// with its encoded length (`None` past the end).
    fn seek(&self, id: u32) -> (usize, u32, Option<(u32, usize)>) {
        let (mut at, mut prev) = (0, 0u32);
        while at < self.bytes.len() {
            let (gap, n) = decode(&self.bytes[at..]);
            let v = prev + gap;
            if v >= id {
                return (at, prev, Some((v, n)));
            }
            prev = v;
            at += n;
        }
        (at, prev, None)
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: u32) -> bool {
        let mut buf = [0u8; 5];
        if self.len == 0 || id > self.last {
            let n = encode(id - self.last, &mut buf);
            self.reserve(n);
            self.bytes.extend_from_slice(&buf[..n]);
            self.len += 1;
            self.last = id;
            return true;
        }
        let (at, prev, Some((next, n))) = self.seek(id) else {
            unreachable!("an id below the last has a successor")
        };
        if next == id {
            return false;
        }
        // `prev < id < next`: the gap to `next` splits in two.
        let mut both = [0u8; 10];
        let k = encode(id - prev, &mut buf);
        both[..k].copy_from_slice(&buf[..k]);
        let k2 = encode(next - id, &mut buf);
        both[k..k + k2].copy_from_slice(&buf[..k2]);
        self.reserve(k + k2 - n);
        self.bytes
            .splice(at..at + n, both[..k + k2].iter().copied());
        self.len += 1;
        true
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: u32) -> bool {
        let (at, prev, found) = self.seek(id);
        let Some((v, n)) = found.filter(|(v, _)| *v == id) else {
            return false;
        };
        let end = at + n;
        if end == self.bytes.len() {
            self.bytes.truncate(at);
            self.last = prev;
        } else {
            // The gap before `id` and the one after it merge.
            let (gap, n2) = decode(&self.bytes[end..]);
            let mut buf = [0u8; 5];
            let k = encode(v - prev + gap, &mut buf);
            self.bytes.splice(at..end + n2, buf[..k].iter().copied());
        }
        self.len -= 1;
        if self.len == 0 {
            self.bytes = Vec::new();
            self.last = 0;
        }
        true
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
        // One byte per gap below 128, five for the largest.
        assert_eq!(DeltaIds::from_sorted(&[5, 10, 137]).bytes.len(), 3);
        assert_eq!(DeltaIds::from_sorted(&[0, 128]).bytes.len(), 3);
        assert_eq!(DeltaIds::from_sorted(&[u32::MAX]).bytes.len(), 5);
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
        assert_eq!(d.bytes.len(), 100_000);
        assert!(
            d.heap_bytes() <= 100_000 + 100_000 / 8 + 8,
            "{}",
            d.heap_bytes()
        );
    }
}
