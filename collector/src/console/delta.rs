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
//! slots only grow) appends. Long lists are cut into chunks of [`CHUNK`]
//! ids that start on a byte, with a small table of where each starts, so
//! any other insert or removal re-encodes one chunk, not the list: a report
//! changing a device's packages touches a few hundred ids per pair.

/// Ids per chunk (a chunk re-encoded by an insert may hold up to twice
/// as many before it is split).
pub const CHUNK: usize = 256;

/// The high half of the last byte when only its low half is used: a group
/// with the "more" bit and nothing after it, which no value ends with.
const PAD: u8 = 0x8;

/// Where a chunk after the first starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    /// The id before its first (its first gap is from this one).
    before: u32,
    /// Byte offset of its first group.
    at: u32,
    /// Index of its first id in the list.
    start: u32,
}

/// Sorted, deduplicated `u32` ids as 4-bit-group gaps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeltaIds {
    /// Two groups per byte, low half first; a chunk whose last byte is used
    /// only in its low half has [`PAD`] in the high half.
    bytes: Vec<u8>,
    /// Number of ids.
    len: u32,
    /// The largest id (0 when empty), so an append needs no decoding.
    last: u32,
    /// The chunks after the first (which starts at byte 0, after "-1");
    /// empty for lists of up to [`CHUNK`] ids. A boxed slice (16 bytes,
    /// not a `Vec`'s 24): it changes once per [`CHUNK`] appends.
    chunks: Box<[Chunk]>,
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

/// Appends the gap from `before` to `id` to `bytes`; `high_free` says the
/// last byte's high half is free (and is kept up to date).
fn put(bytes: &mut Vec<u8>, high_free: &mut bool, before: u32, id: u32) {
    // "Before the first" is -1 (u32::MAX): the first id is its own gap.
    let (g, n) = groups(id.wrapping_sub(before).wrapping_sub(1));
    for group in &g[..n] {
        if *high_free {
            let b = bytes.last_mut().expect("a half-used byte");
            *b = (*b & 0xf) | (group << 4);
        } else {
            bytes.push(group | (PAD << 4));
        }
        *high_free = !*high_free;
    }
}

/// Reads `count` ids from `bytes` at byte `at`, the first after `before`.
fn read(bytes: &[u8], at: usize, mut before: u32, count: usize, out: &mut Vec<u32>) {
    let mut nibble = at * 2;
    for _ in 0..count {
        let (mut v, mut shift) = (0u32, 0);
        loop {
            let byte = bytes[nibble / 2];
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
        before = before.wrapping_add(v).wrapping_add(1);
        out.push(before);
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

    /// Chunk `c`'s `(id before it, first byte, end byte, first index, ids)`.
    fn chunk(&self, c: usize) -> (u32, usize, usize, usize, usize) {
        let (before, at, start) = match c {
            0 => (u32::MAX, 0, 0),
            _ => {
                let k = self.chunks[c - 1];
                (k.before, k.at as usize, k.start as usize)
            }
        };
        let (end, next_start) = match self.chunks.get(c) {
            Some(k) => (k.at as usize, k.start as usize),
            None => (self.bytes.len(), self.len as usize),
        };
        (before, at, end, start, next_start - start)
    }

    /// The ids in ascending order (decoded a chunk at a time).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..=self.chunks.len()).flat_map(move |c| {
            let (before, at, _, _, count) = self.chunk(c);
            let mut ids = Vec::with_capacity(count);
            read(&self.bytes, at, before, count, &mut ids);
            ids
        })
    }

    /// The ids decoded.
    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }

    /// Heap bytes held (the memory figure of the benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + std::mem::size_of_val(&*self.chunks)
    }

    /// Appends `id`, larger than every id held.
    fn push(&mut self, id: u32) {
        let (_, _, _, _, in_last) = self.chunk(self.chunks.len());
        let new_chunk = in_last >= CHUNK;
        if new_chunk {
            let mut chunks = std::mem::take(&mut self.chunks).into_vec();
            chunks.push(Chunk {
                before: self.last,
                at: self.bytes.len() as u32,
                start: self.len,
            });
            self.chunks = chunks.into_boxed_slice();
        }
        // Room for the groups, growing by an eighth (not doubling): lists
        // that grow one id at a time waste at most 1/8 of their size.
        let extra = 7;
        if self.bytes.capacity() - self.bytes.len() < extra {
            self.bytes.reserve_exact(extra.max(self.bytes.len() / 8));
        }
        // A chunk starts on a byte; within one, only its last group can sit
        // before a PAD, and it ends a value, so a PAD is never a real group.
        let mut high_free = !new_chunk && self.bytes.last().is_some_and(|b| b >> 4 == PAD);
        let before = if self.len == 0 { u32::MAX } else { self.last };
        put(&mut self.bytes, &mut high_free, before, id);
        self.len += 1;
        self.last = id;
    }

    /// The chunk that holds (or would hold) `id`.
    fn chunk_of(&self, id: u32) -> usize {
        self.chunks.partition_point(|k| k.before < id)
    }

    /// Replaces chunk `c`'s ids with `ids` (sorted, between its neighbours),
    /// cut into chunks of [`CHUNK`] when it grew past twice that.
    fn rewrite(&mut self, c: usize, ids: &[u32]) {
        let (before, at, end, start, count) = self.chunk(c);
        let piece = if ids.len() > 2 * CHUNK {
            CHUNK
        } else {
            ids.len().max(1)
        };
        let mut bytes = Vec::with_capacity(ids.len());
        let mut pieces = Vec::new();
        let mut high_free = false;
        let mut prev = before;
        for (i, id) in ids.iter().enumerate() {
            if i > 0 && i % piece == 0 {
                high_free = false;
                pieces.push(Chunk {
                    before: prev,
                    at: (at + bytes.len()) as u32,
                    start: (start + i) as u32,
                });
            }
            put(&mut bytes, &mut high_free, prev, *id);
            prev = *id;
        }
        let grown = bytes.len() as i64 - (end - at) as i64;
        self.bytes.splice(at..end, bytes);
        let added = ids.len() as i64 - count as i64;
        for k in &mut self.chunks[c..] {
            k.at = (i64::from(k.at) + grown) as u32;
            k.start = (i64::from(k.start) + added) as u32;
        }
        let was_last = c == self.chunks.len();
        if ids.is_empty() && c > 0 || !pieces.is_empty() {
            let mut chunks = std::mem::take(&mut self.chunks).into_vec();
            if ids.is_empty() {
                // An emptied chunk goes (the first stays, empty, at byte 0).
                chunks.remove(c - 1);
            } else {
                chunks.splice(c..c, pieces);
            }
            self.chunks = chunks.into_boxed_slice();
        }
        self.len = (i64::from(self.len) + added) as u32;
        if self.len == 0 {
            *self = DeltaIds::default();
        } else if was_last {
            self.last = match ids.last() {
                Some(id) => *id,
                // The last chunk emptied: the largest id is the end of the
                // one before it (`before` is only a bound).
                None => {
                    let (before, at, _, _, count) = self.chunk(self.chunks.len());
                    let mut prev = Vec::with_capacity(count);
                    read(&self.bytes, at, before, count, &mut prev);
                    prev.last().copied().unwrap_or(before)
                }
            };
        }
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: u32) -> bool {
        if self.len == 0 || id > self.last {
            self.push(id);
            return true;
        }
        let c = self.chunk_of(id);
        let (before, at, _, _, count) = self.chunk(c);
        let mut ids = Vec::with_capacity(count + 1);
        read(&self.bytes, at, before, count, &mut ids);
        match ids.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                ids.insert(i, id);
                self.rewrite(c, &ids);
                true
            }
        }
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: u32) -> bool {
        if self.len == 0 || id > self.last {
            return false;
        }
        let c = self.chunk_of(id);
        let (before, at, _, _, count) = self.chunk(c);
        let mut ids = Vec::with_capacity(count);
        read(&self.bytes, at, before, count, &mut ids);
        match ids.binary_search(&id) {
            Ok(i) => {
                ids.remove(i);
                self.rewrite(c, &ids);
                true
            }
            Err(_) => false,
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
        }
    }

    #[test]
    fn long_lists_stay_right_across_chunk_splits_and_emptied_chunks() {
        let mut seed = 0x1234_5678_9abc_def1;
        for range in [3_000u64, 40_000, 1 << 32] {
            // Start from appends (several chunks), then churn in the middle.
            let mut d = DeltaIds::from_sorted(&(0..2_000).map(|i| i * 3).collect::<Vec<_>>());
            let mut set: BTreeSet<u32> = (0..2_000).map(|i| i * 3).collect();
            assert!(d.chunks.len() >= 2_000 / CHUNK - 1);
            for step in 0..4_000 {
                let id = (next(&mut seed) % range) as u32;
                // Remove more than insert in the second half: chunks empty.
                let removing = next(&mut seed) % 4 < if step < 2_000 { 1 } else { 3 };
                if removing {
                    let id = set.range(id..).next().copied().unwrap_or(id);
                    assert_eq!(d.remove(id), set.remove(&id), "remove {id}");
                } else {
                    assert_eq!(d.insert(id), set.insert(id), "insert {id}");
                }
                assert_eq!(d.len(), set.len());
                assert_eq!(d.last, set.last().copied().unwrap_or(0), "step {step}");
                if step % 97 == 0 {
                    assert_eq!(d.to_vec(), set.iter().copied().collect::<Vec<_>>());
                }
            }
            assert_eq!(d.to_vec(), set.iter().copied().collect::<Vec<_>>());
            for k in d.chunks.windows(2) {
                assert!(
                    k[0].start < k[1].start && k[0].at <= k[1].at,
                    "{:?}",
                    d.chunks
                );
            }
        }
    }

    #[test]
    fn appending_one_id_at_a_time_wastes_at_most_an_eighth() {
        let mut d = DeltaIds::default();
        for id in 0..100_000u32 {
            d.insert(id * 3);
        }
        // Gaps of 3: one group each, two per byte (chunks start on a byte).
        assert_eq!(d.bytes.len(), 50_000);
        let table = std::mem::size_of_val(&*d.chunks);
        assert!(
            d.heap_bytes() - table <= 50_000 + 50_000 / 8 + 8,
            "{}",
            d.heap_bytes()
        );
    }
}
