//! The compact data-protection facts of one device: each volume's
//! encryption, the firewall, the antivirus. Agent strings (mount points,
//! products, errors) are capped; the volume list is bounded and deduplicated,
//! the least protected volumes kept, so the cap never hides a violation.

use fleetwatch_protocol::{DataProtection, EncryptionState};
use serde::{Deserialize, Serialize};

use super::compliance_facts::cap;

/// Volumes kept per device.
pub const MAX_VOLUMES: usize = 32;
/// Cap for a volume's mount point (bytes); also the label value cap.
pub const MAX_VOLUME_NAME_LEN: usize = 128;
/// Cap for product names and errors (bytes).
const MAX_TEXT_LEN: usize = 200;

/// One volume, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeFacts {
    /// Mount point or drive, capped at [`MAX_VOLUME_NAME_LEN`].
    pub mount_point: Box<str>,
    /// Encryption state.
    pub state: EncryptionState,
    /// Protection on (BitLocker protectors active, FileVault on, LUKS open).
    #[serde(default)]
    pub protection_on: Option<bool>,
    /// Holds the operating system.
    #[serde(default)]
    pub system_volume: bool,
}

impl VolumeFacts {
    /// `Some(true)` when the volume's data is encrypted and protected,
    /// `Some(false)` when it is not (not encrypted, still or again being
    /// converted, or protection suspended), `None` when not known.
    pub fn protected(&self) -> Option<bool> {
        match (self.state, self.protection_on) {
            (_, Some(false)) => Some(false),
            (EncryptionState::Encrypted, Some(true)) => Some(true),
            (EncryptionState::Encrypted, None) | (EncryptionState::Unknown, _) => None,
            (
                EncryptionState::NotEncrypted
                | EncryptionState::EncryptionInProgress
                | EncryptionState::DecryptionInProgress,
                _,
            ) => Some(false),
        }
    }
}

/// The firewall, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallFacts {
    /// Product (`ufw`, `windows_firewall`, ...), capped.
    pub product: Box<str>,
    /// Filters incoming traffic; `None` when not known.
    pub enabled: Option<bool>,
    /// Profiles that are off (Windows), capped names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles_off: Vec<Box<str>>,
}

/// The antivirus, compact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AntivirusFacts {
    /// Product (`microsoft_defender`, `xprotect`, `clamav`, ...), capped.
    pub product: Box<str>,
    /// Real-time protection on; `None` when not known or not switchable.
    pub real_time_protection: Option<bool>,
    /// Last signature update (Unix seconds).
    pub signatures_updated_at: Option<i64>,
}

/// Data-protection facts needed by evaluation and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProtectionFacts {
    /// At most [`MAX_VOLUMES`], sorted by mount point, unique.
    pub volumes: Vec<VolumeFacts>,
    /// Volumes dropped by the cap.
    #[serde(default)]
    pub volumes_dropped: u32,
    /// `None` when the agent has none or could not read it.
    pub firewall: Option<FirewallFacts>,
    /// Why `firewall` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_error: Option<Box<str>>,
    /// `None` when the device has none the agent knows, or it could not be read.
    pub antivirus: Option<AntivirusFacts>,
    /// Why `antivirus` could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antivirus_error: Option<Box<str>>,
}

impl DataProtectionFacts {
    /// Extracts the facts from the agent's section.
    pub fn from_section(d: &DataProtection) -> Self {
        let mut volumes: Vec<VolumeFacts> = d
            .volumes
            .iter()
            .map(|v| VolumeFacts {
                mount_point: cap(&v.mount_point, MAX_VOLUME_NAME_LEN),
                state: v.state,
                protection_on: v.protection_on,
                system_volume: v.system_volume,
            })
            .collect();
        // Least protected first (unprotected, unknown, protected), so the
        // cap and the deduplication keep the ones that matter.
        volumes.sort_by_key(|v| match v.protected() {
            Some(false) => 0,
            None => 1,
            Some(true) => 2,
        });
        let mut kept: Vec<VolumeFacts> = Vec::with_capacity(volumes.len().min(MAX_VOLUMES));
        let mut dropped = 0u32;
        for v in volumes {
            if kept.len() >= MAX_VOLUMES || kept.iter().any(|k| k.mount_point == v.mount_point) {
                dropped += 1;
                continue;
            }
            kept.push(v);
        }
        kept.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        let text = |s: &Option<String>| s.as_deref().map(|s| cap(s, MAX_TEXT_LEN));
        DataProtectionFacts {
            volumes: kept,
            volumes_dropped: dropped,
            firewall: d.firewall.as_ref().map(|f| FirewallFacts {
                product: cap(&f.product, MAX_TEXT_LEN),
                enabled: f.enabled,
                profiles_off: f
                    .profiles
                    .iter()
                    .filter(|p| p.enabled == Some(false))
                    .take(8)
                    .map(|p| cap(&p.name, 32))
                    .collect(),
            }),
            firewall_error: text(&d.firewall_error),
            antivirus: d.antivirus.as_ref().map(|a| AntivirusFacts {
                product: cap(&a.product, MAX_TEXT_LEN),
                real_time_protection: a.real_time_protection,
                signatures_updated_at: a.signatures_updated_at,
            }),
            antivirus_error: text(&d.antivirus_error),
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let text = |s: &Option<Box<str>>| s.as_ref().map_or(0, |s| s.len());
        self.volumes.capacity() * size_of::<VolumeFacts>()
            + self
                .volumes
                .iter()
                .map(|v| v.mount_point.len())
                .sum::<usize>()
            + self.firewall.as_ref().map_or(0, |f| {
                f.product.len() + f.profiles_off.iter().map(|p| p.len() + 16).sum::<usize>()
            })
            + self.antivirus.as_ref().map_or(0, |a| a.product.len())
            + text(&self.firewall_error)
            + text(&self.antivirus_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetwatch_protocol::{Firewall, FirewallProfile, VolumeEncryption};

    fn vol(mount: &str, state: EncryptionState, on: Option<bool>) -> VolumeEncryption {
        VolumeEncryption {
            mount_point: mount.into(),
            state,
            protection_on: on,
            ..VolumeEncryption::default()
        }
    }

    #[test]
    fn protected_is_unknown_unless_the_agent_knows() {
        let f = |state, on| VolumeFacts {
            mount_point: "/".into(),
            state,
            protection_on: on,
            system_volume: true,
        };
        use EncryptionState::*;
        assert_eq!(f(Encrypted, Some(true)).protected(), Some(true));
        assert_eq!(
            f(Encrypted, Some(false)).protected(),
            Some(false),
            "suspended"
        );
        assert_eq!(f(Encrypted, None).protected(), None);
        assert_eq!(f(Unknown, None).protected(), None);
        assert_eq!(f(EncryptionInProgress, None).protected(), Some(false));
        assert_eq!(f(NotEncrypted, None).protected(), Some(false));
    }

    #[test]
    fn hostile_volume_lists_are_capped_deduped_and_worst_kept() {
        let mut volumes: Vec<VolumeEncryption> = (0..40)
            .map(|i| vol(&format!("/v{i:02}"), EncryptionState::Encrypted, Some(true)))
            .collect();
        let long = "é".repeat(100);
        volumes.push(vol(
            &format!("{long}a"),
            EncryptionState::NotEncrypted,
            Some(false),
        ));
        volumes.push(vol(
            &format!("{long}b"),
            EncryptionState::Encrypted,
            Some(true),
        ));
        let f = DataProtectionFacts::from_section(&DataProtection {
            volumes,
            firewall: Some(Firewall {
                product: "windows_firewall".into(),
                enabled: Some(false),
                profiles: vec![
                    FirewallProfile {
                        name: "domain".into(),
                        enabled: Some(true),
                    },
                    FirewallProfile {
                        name: "public".into(),
                        enabled: Some(false),
                    },
                ],
            }),
            ..DataProtection::default()
        });
        assert_eq!(f.volumes.len(), MAX_VOLUMES);
        assert_eq!(f.volumes_dropped, 42 - MAX_VOLUMES as u32);
        let capped: Vec<_> = f
            .volumes
            .iter()
            .filter(|v| v.mount_point.starts_with('é'))
            .collect();
        assert_eq!(capped.len(), 1, "the two names collide once capped");
        assert_eq!(
            capped[0].protected(),
            Some(false),
            "the unprotected one is kept"
        );
        assert_eq!(capped[0].mount_point.len(), MAX_VOLUME_NAME_LEN);
        assert_eq!(
            f.firewall.unwrap().profiles_off,
            vec![Box::<str>::from("public")]
        );
    }
}
