//! Judging the data-protection facts: `disk_encryption`, `firewall`,
//! `antivirus`. As everywhere, what the agent could not read is unknown,
//! never passing; a violation found beside an unknown still fails.

use fleetwatch_protocol::EncryptionState;

use super::{Ctx, Verdict, humane};
use crate::policy::config::DiskEncryptionScope;
use crate::policy::protection_facts::{DataProtectionFacts, VolumeFacts};
use crate::time::rfc3339;

/// Volumes named in a reason; the rest are counted.
const NAMED: usize = 3;

/// Antivirus products with no real-time switch: they scan whenever the OS
/// runs (XProtect is part of macOS's Gatekeeper and file-quarantine path).
const ALWAYS_ON_ANTIVIRUS: [&str; 1] = ["xprotect"];

impl Ctx<'_> {
    /// Every in-scope volume encrypted with protection on.
    pub(super) fn disk_encryption(&self, d: &DataProtectionFacts) -> Verdict {
        let p = self.policy;
        let in_scope: Vec<&VolumeFacts> = d
            .volumes
            .iter()
            .filter(|v| match p.disk_encryption_scope {
                DiskEncryptionScope::System => v.system_volume,
                DiskEncryptionScope::AllFixed => !p
                    .disk_encryption_exclude
                    .iter()
                    .any(|m| m.as_str() == v.mount_point.as_ref()),
            })
            .collect();
        let unprotected: Vec<&VolumeFacts> = in_scope
            .iter()
            .copied()
            .filter(|v| v.protected() == Some(false))
            .collect();
        if !unprotected.is_empty() {
            return self.failing(None, || {
                format!(
                    "{}; policy: {} encrypted",
                    list(&unprotected, |v| format!(
                        "{} {}",
                        v.mount_point,
                        unprotected_why(v)
                    )),
                    match p.disk_encryption_scope {
                        DiskEncryptionScope::System => "the system volume",
                        DiskEncryptionScope::AllFixed => "every fixed volume",
                    }
                )
            });
        }
        let unknown: Vec<&VolumeFacts> = in_scope
            .iter()
            .copied()
            .filter(|v| v.protected().is_none())
            .collect();
        if !unknown.is_empty() {
            return self.unknown(|| {
                format!(
                    "encryption unknown for {}",
                    list(&unknown, |v| v.mount_point.to_string())
                )
            });
        }
        if in_scope.is_empty() {
            return self.unknown(|| match p.disk_encryption_scope {
                DiskEncryptionScope::System => "the agent reported no system volume".into(),
                DiskEncryptionScope::AllFixed => {
                    "the agent reported no volume outside disk_encryption_exclude".into()
                }
            });
        }
        Verdict::Passing
    }

    /// The host firewall filters incoming traffic.
    pub(super) fn firewall(&self, d: &DataProtectionFacts) -> Verdict {
        let Some(fw) = &d.firewall else {
            return self.unknown(|| {
                format!(
                    "firewall state unknown: {}",
                    d.firewall_error
                        .as_deref()
                        .unwrap_or("the agent reported none")
                )
            });
        };
        match fw.enabled {
            Some(true) => Verdict::Passing,
            Some(false) if !fw.profiles_off.is_empty() => self.failing(None, || {
                let off: Vec<&str> = fw.profiles_off.iter().map(|p| p.as_ref()).collect();
                format!(
                    "{} is off for the {} profile(s); policy: a firewall on every profile",
                    fw.product,
                    off.join(", ")
                )
            }),
            Some(false) => self.failing(None, || {
                format!(
                    "{} does not filter incoming traffic; policy: a firewall on",
                    fw.product
                )
            }),
            None => self.unknown(|| format!("{} state unknown", fw.product)),
        }
    }

    /// Real-time protection on (when the policy asks) and signatures
    /// younger than the policy's maximum age.
    pub(super) fn antivirus(&self, d: &DataProtectionFacts) -> Verdict {
        let p = self.policy;
        let max = p.antivirus_signature_max_age_secs;
        let Some(av) = &d.antivirus else {
            return match &d.antivirus_error {
                Some(e) => self.unknown(|| format!("antivirus state unknown: {e}")),
                None => self.failing(None, || {
                    "no antivirus found on the device; policy: an antivirus is required".into()
                }),
            };
        };
        let always_on = ALWAYS_ON_ANTIVIRUS.contains(&av.product.as_ref());
        let real_time = if p.antivirus_require_real_time && !always_on {
            av.real_time_protection
        } else {
            Some(true)
        };
        let stale_since = av
            .signatures_updated_at
            .filter(|at| self.now.saturating_sub(*at) > max)
            .map(|at| at.saturating_add(max));
        if real_time == Some(false) || stale_since.is_some() {
            return self.failing(stale_since, || {
                let mut problems = Vec::new();
                if real_time == Some(false) {
                    problems.push("real-time protection is off".to_string());
                }
                if let Some(at) = av.signatures_updated_at.filter(|_| stale_since.is_some()) {
                    problems.push(format!(
                        "signatures updated {} ago at {}",
                        humane(self.now.saturating_sub(at)),
                        rfc3339(at)
                    ));
                }
                format!(
                    "{}: {}; policy: real-time protection on, signatures at most {} old",
                    av.product,
                    problems.join(", "),
                    humane(max)
                )
            });
        }
        if real_time.is_none() {
            return self.unknown(|| format!("{}: real-time protection state unknown", av.product));
        }
        if av.signatures_updated_at.is_none() {
            return self.unknown(|| format!("{}: signature age unknown", av.product));
        }
        Verdict::Passing
    }
}

/// Why a volume counts as unprotected.
fn unprotected_why(v: &VolumeFacts) -> &'static str {
    match v.state {
        EncryptionState::NotEncrypted => "is not encrypted",
        EncryptionState::EncryptionInProgress => "is still being encrypted",
        EncryptionState::DecryptionInProgress => "is being decrypted",
        EncryptionState::Encrypted | EncryptionState::Unknown => "has its protection off",
    }
}

/// The first [`NAMED`] items, then how many more.
fn list<T>(items: &[T], name: impl Fn(&T) -> String) -> String {
    let mut out: Vec<String> = items.iter().take(NAMED).map(name).collect();
    if items.len() > NAMED {
        out.push(format!("{} more", items.len() - NAMED));
    }
    out.join(", ")
}
