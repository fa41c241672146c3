//! macOS data protection: FileVault (`fdesetup status`), the application
//! firewall (`socketfilterfw --getglobalstate`), Gatekeeper (`spctl
//! --status`), System Integrity Protection (`csrutil status`) and
//! XProtect's version (its bundle's Info.plist) and install date (the
//! install history).

use fleetwatch_protocol::{
    Antivirus, DataProtection, EncryptionState, Firewall, PlatformProtection, VolumeEncryption,
};
use serde::Deserialize;

use crate::checks::patches::install_history;
use crate::checks::{Check, CheckContext, CheckError, Collected, plist};

/// The application firewall's command-line tool (not on the default PATH).
pub const SOCKETFILTERFW: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";

/// XProtect bundles, newest location first: macOS 14+ keeps updates under
/// /var/protected, 10.15–13 under /Library/Apple, older under /System.
pub const XPROTECT_BUNDLES: [&str; 3] = [
    "/var/protected/xprotect/XProtect.bundle",
    "/Library/Apple/System/Library/CoreServices/XProtect.bundle",
    "/System/Library/CoreServices/XProtect.bundle",
];

/// The install-history name of XProtect's data updates.
const XPROTECT_HISTORY_NAME: &str = "XProtectPlistConfigData";

/// Collects FileVault, firewall, Gatekeeper, SIP and XProtect facts.
#[derive(Debug, Clone, Default)]
pub struct MacDataProtectionCheck;

/// The FileVault state of the system volume from `fdesetup status`.
pub fn parse_fdesetup(text: &str) -> VolumeEncryption {
    let on = if text.contains("FileVault is On") {
        Some(true)
    } else if text.contains("FileVault is Off") {
        Some(false)
    } else {
        None
    };
    let state = if text.contains("Encryption in progress") {
        EncryptionState::EncryptionInProgress
    } else if text.contains("Decryption in progress") {
        EncryptionState::DecryptionInProgress
    } else {
        match on {
            Some(true) => EncryptionState::Encrypted,
            Some(false) => EncryptionState::NotEncrypted,
            None => EncryptionState::Unknown,
        }
    };
    system_volume(state, on)
}

fn system_volume(state: EncryptionState, protection_on: Option<bool>) -> VolumeEncryption {
    VolumeEncryption {
        mount_point: "/".into(),
        device: None,
        method: Some("filevault".into()),
        state,
        protection_on,
        system_volume: true,
    }
}

/// `Firewall is enabled. (State = 1)`: state 1 (on) and 2 (block all) are
/// enabled, 0 is off; `None` when the answer is not understood.
pub fn parse_firewall_state(text: &str) -> Option<bool> {
    if let Some(rest) = text.split("State = ").nth(1) {
        let n: u32 = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        return Some(n >= 1);
    }
    if text.contains("Firewall is enabled") || text.contains("blocking all") {
        Some(true)
    } else if text.contains("Firewall is disabled") {
        Some(false)
    } else {
        None
    }
}

/// `assessments enabled` / `assessments disabled`.
pub fn parse_gatekeeper(text: &str) -> Option<bool> {
    if text.contains("assessments enabled") {
        Some(true)
    } else if text.contains("assessments disabled") {
        Some(false)
    } else {
        None
    }
}

/// `System Integrity Protection status: enabled.`; a custom configuration
/// (some protections switched off, reported as "unknown (Custom
/// Configuration)") is not enabled.
pub fn parse_csrutil(text: &str) -> Option<bool> {
    let status = text
        .split("System Integrity Protection status:")
        .nth(1)?
        .trim_start();
    if status.starts_with("enabled") {
        Some(true)
    } else if status.starts_with("disabled") || status.contains("Custom Configuration") {
        Some(false)
    } else {
        None
    }
}

#[derive(Debug, Deserialize)]
struct BundleInfo {
    #[serde(rename = "CFBundleShortVersionString")]
    version: Option<String>,
}

/// XProtect's signature version (the highest among its bundle locations)
/// and when that version was installed, from the install history.
fn xprotect(ctx: &CheckContext<'_>) -> Result<Option<Antivirus>, CheckError> {
    let mut best: Option<(u64, String)> = None;
    for bundle in XPROTECT_BUNDLES {
        let info = plist::read::<BundleInfo>(ctx.root, &format!("{bundle}/Contents/Info.plist"))?;
        if let Some(version) = info.and_then(|i| i.version) {
            let rank = version.trim().parse::<u64>().unwrap_or(0);
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, version.trim().to_string()));
            }
        }
    }
    let Some((_, version)) = best else {
        return Ok(None);
    };
    let history = install_history::read(ctx.root)?.unwrap_or_default();
    Ok(Some(Antivirus {
        product: "xprotect".into(),
        // XProtect scans at launch and has no on/off switch.
        real_time_protection: None,
        signatures_updated_at: install_history::installed_at(
            &history,
            XPROTECT_HISTORY_NAME,
            Some(&version),
        ),
        signature_version: Some(version),
    }))
}

/// stdout and stderr of a command, for tools that answer on either.
fn answer(ctx: &CheckContext<'_>, program: &str, args: &[&str]) -> Result<String, CheckError> {
    let out = ctx.run(program, args)?;
    Ok(format!(
        "{}{}",
        out.stdout_text(),
        String::from_utf8_lossy(&out.stderr)
    ))
}

impl Check for MacDataProtectionCheck {
    type Output = DataProtection;
    const NAME: &'static str = "data_protection";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<DataProtection>, CheckError> {
        let volume = match ctx.run_ok("fdesetup status", "fdesetup", &["status"]) {
            Ok(out) => parse_fdesetup(&out.stdout_text()),
            Err(e) => {
                tracing::warn!(error = %e, "FileVault state unknown");
                system_volume(EncryptionState::Unknown, None)
            }
        };
        let mut dp = DataProtection {
            volumes: vec![volume],
            ..DataProtection::default()
        };
        match answer(ctx, SOCKETFILTERFW, &["--getglobalstate"]) {
            Ok(text) => match parse_firewall_state(&text) {
                Some(enabled) => {
                    dp.firewall = Some(Firewall {
                        product: "macos_application_firewall".into(),
                        enabled: Some(enabled),
                        profiles: Vec::new(),
                    })
                }
                None => {
                    dp.firewall_error = Some(format!(
                        "socketfilterfw --getglobalstate answered {:?}",
                        text.trim()
                    ))
                }
            },
            Err(e) => dp.firewall_error = Some(e.to_string()),
        }
        match xprotect(ctx) {
            Ok(Some(av)) => dp.antivirus = Some(av),
            Ok(None) => dp.antivirus_error = Some("no XProtect bundle found".into()),
            Err(e) => dp.antivirus_error = Some(e.to_string()),
        }
        let protection =
            |name: &str, program: &str, args: &[&str], parse: fn(&str) -> Option<bool>| {
                let enabled = match answer(ctx, program, args) {
                    Ok(text) => parse(&text),
                    Err(e) => {
                        tracing::warn!(protection = name, error = %e, "state unknown");
                        None
                    }
                };
                PlatformProtection {
                    name: name.into(),
                    enabled,
                }
            };
        dp.platform_protections = vec![
            protection("gatekeeper", "spctl", &["--status"], parse_gatekeeper),
            protection("sip", "csrutil", &["status"], parse_csrutil),
        ];
        Ok(Collected::Ok(dp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filevault_states() {
        let on = parse_fdesetup("FileVault is On.\n");
        assert_eq!(
            (on.state, on.protection_on),
            (EncryptionState::Encrypted, Some(true))
        );
        let off = parse_fdesetup("FileVault is Off.\n");
        assert_eq!(
            (off.state, off.protection_on),
            (EncryptionState::NotEncrypted, Some(false))
        );
        let busy =
            parse_fdesetup("FileVault is On.\nEncryption in progress: Percent completed = 37.2\n");
        assert_eq!(busy.state, EncryptionState::EncryptionInProgress);
        let strange = parse_fdesetup("");
        assert_eq!(
            (strange.state, strange.protection_on),
            (EncryptionState::Unknown, None)
        );
    }

    #[test]
    fn firewall_gatekeeper_and_sip() {
        assert_eq!(
            parse_firewall_state("Firewall is enabled. (State = 1)\n"),
            Some(true)
        );
        assert_eq!(
            parse_firewall_state("Firewall is enabled. (State = 2)\n"),
            Some(true)
        );
        assert_eq!(
            parse_firewall_state("Firewall is disabled. (State = 0)\n"),
            Some(false)
        );
        assert_eq!(parse_firewall_state("socketfilterfw: error\n"), None);
        assert_eq!(parse_gatekeeper("assessments enabled\n"), Some(true));
        assert_eq!(parse_gatekeeper("assessments disabled\n"), Some(false));
        assert_eq!(parse_gatekeeper(""), None);
        assert_eq!(
            parse_csrutil("System Integrity Protection status: enabled.\n"),
            Some(true)
        );
        assert_eq!(
            parse_csrutil("System Integrity Protection status: disabled.\n"),
            Some(false)
        );
        assert_eq!(
            parse_csrutil("System Integrity Protection status: unknown (Custom Configuration).\n"),
            Some(false)
        );
        assert_eq!(parse_csrutil("csrutil: failed"), None);
    }
}
