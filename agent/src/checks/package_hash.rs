//! The stable hash of an installed-software list, shared by every
//! platform: the collector compares it to skip an unchanged list.

use fleetwatch_protocol::Package;
use sha2::{Digest, Sha256};

/// Hex SHA-256 over the sorted list, one `name\tversion\tarch\n` line each.
pub fn packages_hash(sorted: &[Package]) -> String {
    let mut hasher = Sha256::new();
    for p in sorted {
        hasher.update(p.name.as_bytes());
        hasher.update(b"\t");
        hasher.update(p.version.as_bytes());
        hasher.update(b"\t");
        hasher.update(p.arch.as_deref().unwrap_or("").as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}
