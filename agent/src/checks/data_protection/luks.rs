//! The LUKS header as `cryptsetup luksDump` prints it: the format version,
//! and whether a LUKS2 online reencryption is under way (and which way).
//! Only these two facts are read; salts, digests and key-slot details never
//! leave this parser.

use fleetwatch_protocol::EncryptionState;

/// What the agent takes from a LUKS header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksHeader {
    /// `1` or `2`.
    pub version: u32,
    /// `Encrypted`, or `EncryptionInProgress`/`DecryptionInProgress` while
    /// an online reencryption of that mode runs (a key change, `reencrypt`
    /// mode, keeps the data encrypted throughout).
    pub state: EncryptionState,
}

impl LuksHeader {
    /// The protocol's method name (`luks1`, `luks2`).
    pub fn method(&self) -> String {
        format!("luks{}", self.version)
    }
}

/// Parses `cryptsetup luksDump` output; `None` when it is not a LUKS dump.
pub fn parse_luks_dump(text: &str) -> Option<LuksHeader> {
    let mut version = None;
    let mut reencrypting = false;
    let mut in_reencrypt_keyslot = false;
    let mut mode = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(v) = trimmed.strip_prefix("Version:") {
            version = version.or_else(|| v.trim().parse().ok());
        } else if let Some(r) = trimmed.strip_prefix("Requirements:") {
            reencrypting = r
                .split_whitespace()
                .any(|req| req.starts_with("online-reencrypt"));
        } else if line.starts_with("  ") && !line.starts_with("\t") && trimmed.contains(": ") {
            // A key-slot line (`  1: reencrypt (unbound)`) opens a slot.
            in_reencrypt_keyslot = trimmed
                .split_once(": ")
                .is_some_and(|(_, kind)| kind.starts_with("reencrypt"));
        } else if in_reencrypt_keyslot && let Some(m) = trimmed.strip_prefix("Mode:") {
            mode = Some(m.trim().to_string());
        } else if !line.starts_with([' ', '\t']) {
            in_reencrypt_keyslot = false;
        }
    }
    let state = match (reencrypting, mode.as_deref()) {
        (true, Some("encrypt")) => EncryptionState::EncryptionInProgress,
        (true, Some("decrypt")) => EncryptionState::DecryptionInProgress,
        _ => EncryptionState::Encrypted,
    };
    Some(LuksHeader {
        version: version?,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(name: &str) -> String {
        let path = format!(
            "{}/../tests/hosts/recordings/cryptsetup/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn header(version: u32, state: EncryptionState) -> Option<LuksHeader> {
        Some(LuksHeader { version, state })
    }

    #[test]
    fn luks1_and_luks2_headers() {
        assert_eq!(
            parse_luks_dump(&recording("luksDump-luks1.out")),
            header(1, EncryptionState::Encrypted)
        );
        assert_eq!(
            parse_luks_dump(&recording("luksDump-luks2.out")),
            header(2, EncryptionState::Encrypted)
        );
    }

    #[test]
    fn online_reencryption_modes() {
        assert_eq!(
            parse_luks_dump(&recording("luksDump-luks2-encrypting.out")),
            header(2, EncryptionState::EncryptionInProgress)
        );
        assert_eq!(
            parse_luks_dump(&recording("luksDump-luks2-decrypting.out")),
            header(2, EncryptionState::DecryptionInProgress)
        );
        // A key change keeps the data encrypted all along.
        assert_eq!(
            parse_luks_dump(&recording("luksDump-luks2-reencrypting.out")),
            header(2, EncryptionState::Encrypted)
        );
    }

    #[test]
    fn not_a_luks_dump() {
        assert_eq!(parse_luks_dump(""), None);
        assert_eq!(
            parse_luks_dump("Device plain.img is not a valid LUKS device.\n"),
            None
        );
    }
}
