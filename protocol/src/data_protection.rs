//! The data-protection section: disk encryption, firewall, antivirus and the
//! platform's own integrity protections, in one shape for every OS.
//!
//! Linux reports LUKS/dm-crypt volumes and nftables/ufw/firewalld; Windows
//! BitLocker, Windows Defender Firewall profiles and Microsoft Defender;
//! macOS FileVault, the application firewall, XProtect, Gatekeeper and SIP.
//! A fact the agent could not read is `None` (or `Unknown`), never `false`.

use serde::{Deserialize, Serialize};

/// Data-protection facts of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProtection {
    /// Encryption state of each fixed volume.
    #[serde(default)]
    pub volumes: Vec<VolumeEncryption>,
    /// The host firewall; `None` when no firewall the agent knows is present
    /// or its state could not be read (see `firewall_error`).
    #[serde(default)]
    pub firewall: Option<Firewall>,
    /// Why the firewall state is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_error: Option<String>,
    /// Antivirus / anti-malware protection; `None` when the OS has none the
    /// agent knows or it could not be read (see `antivirus_error`).
    #[serde(default)]
    pub antivirus: Option<Antivirus>,
    /// Why the antivirus state is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antivirus_error: Option<String>,
    /// Platform integrity protections (Gatekeeper, System Integrity
    /// Protection, Secure Boot, ...).
    #[serde(default)]
    pub platform_protections: Vec<PlatformProtection>,
}

/// Encryption of one volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEncryption {
    /// Mount point or drive (`/`, `/home`, `C:`).
    pub mount_point: String,
    /// Block device or volume id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `luks1`, `luks2`, `dm-crypt`, `bitlocker`, `filevault`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Encryption state.
    #[serde(default)]
    pub state: EncryptionState,
    /// Whether protection is on (BitLocker `ProtectionStatus`, FileVault on):
    /// a volume encrypted with protection suspended is not protected.
    #[serde(default)]
    pub protection_on: Option<bool>,
    /// The volume holds the operating system.
    #[serde(default)]
    pub system_volume: bool,
}

/// Whether a volume is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncryptionState {
    /// Fully encrypted.
    Encrypted,
    /// Encryption is running (FileVault "Encryption in progress").
    EncryptionInProgress,
    /// Decryption is running.
    DecryptionInProgress,
    /// Not encrypted.
    NotEncrypted,
    /// Not known (also any state a newer agent names that this build does not).
    #[default]
    #[serde(other)]
    Unknown,
}

/// The host firewall.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firewall {
    /// `nftables`, `ufw`, `firewalld`, `iptables`, `windows_firewall`,
    /// `macos_application_firewall`, ...
    pub product: String,
    /// Whether it filters incoming traffic; on Windows, true only when every
    /// profile is on. `None` when not known.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Per-profile state where the OS has profiles (Windows: domain,
    /// private, public).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<FirewallProfile>,
}

/// One firewall profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallProfile {
    /// Profile name (`domain`, `private`, `public`).
    pub name: String,
    /// Whether the profile is on; `None` when not known.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Antivirus protection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Antivirus {
    /// `microsoft_defender`, `xprotect`, `clamav`, ...
    pub product: String,
    /// Real-time (on-access) protection on; `None` when not known or the
    /// product has no such switch.
    #[serde(default)]
    pub real_time_protection: Option<bool>,
    /// When the signatures were last updated (Unix seconds).
    #[serde(default)]
    pub signatures_updated_at: Option<i64>,
    /// Signature / definitions version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_version: Option<String>,
}

/// One platform integrity protection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformProtection {
    /// `gatekeeper`, `sip`, `secure_boot`, ...
    pub name: String,
    /// Whether it is on; `None` when not known.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_encryption_state_from_a_newer_agent_is_unknown() {
        let v: VolumeEncryption =
            serde_json::from_str(r#"{"mount_point":"/","state":"quantum_sealed"}"#).unwrap();
        assert_eq!(v.state, EncryptionState::Unknown);
        assert_eq!(v.protection_on, None);
    }

    #[test]
    fn an_empty_section_means_nothing_known() {
        let d: DataProtection = serde_json::from_str("{}").unwrap();
        assert!(d.volumes.is_empty() && d.firewall.is_none() && d.antivirus.is_none());
    }
}
