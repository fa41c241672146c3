//! The collector's one non-cryptographic hash, FNV-1a (64 bit): stable
//! across processes, versions and machines (unlike `DefaultHasher`), so a
//! shard keeps its devices across restarts and an alert keeps its
//! fingerprint. Node keys and certificates use SHA-256 instead.

/// An FNV-1a hasher fed in pieces.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHasher {
    /// Feeds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a of `text`.
pub fn stable_hash(text: &str) -> u64 {
    let mut h = StableHasher::default();
    h.write(text.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        let mut pieces = StableHasher::default();
        pieces.write(b"a");
        pieces.write(b"");
        assert_eq!(pieces.finish(), stable_hash("a"));
    }
}
