//! Windows data protection in the shared shape: BitLocker per fixed volume
//! (`Win32_EncryptableVolume`), Microsoft Defender (`MSFT_MpComputerStatus`),
//! Windows Defender Firewall per profile (the registry: Group Policy first,
//! then the local setting) and Secure Boot. What could not be read is
//! unknown, never "off".

use fleetwatch_protocol::{
    Antivirus, DataProtection, EncryptionState, Firewall, FirewallProfile, PlatformProtection,
    VolumeEncryption,
};

use super::host::{RegValue, WindowsHost, WmiRow};
use super::inventory::{LOGICAL_DISK_QUERY, OS_QUERY};
use super::values::{boolean, cim_datetime, text, unsigned};
use crate::checks::{Check, CheckContext, CheckError, Collected};

/// The WMI namespace of the BitLocker provider.
pub const BITLOCKER_NAMESPACE: &str = r"ROOT\CIMV2\Security\MicrosoftVolumeEncryption";
/// BitLocker volumes.
pub const BITLOCKER_QUERY: &str = "SELECT * FROM Win32_EncryptableVolume";
/// The WMI namespace of Microsoft Defender.
pub const DEFENDER_NAMESPACE: &str = r"ROOT\Microsoft\Windows\Defender";
/// Defender's status.
pub const DEFENDER_QUERY: &str = "SELECT * FROM MSFT_MpComputerStatus";
/// Firewall settings set by Group Policy (they win over the local ones).
pub const FIREWALL_POLICY_KEY: &str = r"SOFTWARE\Policies\Microsoft\WindowsFirewall";
/// The local firewall settings.
pub const FIREWALL_LOCAL_KEY: &str =
    r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy";
/// `UEFISecureBootEnabled` lives here.
pub const SECURE_BOOT_KEY: &str = r"SYSTEM\CurrentControlSet\Control\SecureBoot\State";

/// `(profile name, Group Policy subkey, local subkey)`: the local "private"
/// profile is `StandardProfile`.
pub const FIREWALL_PROFILES: [(&str, &str, &str); 3] = [
    ("domain", "DomainProfile", "DomainProfile"),
    ("private", "PrivateProfile", "StandardProfile"),
    ("public", "PublicProfile", "PublicProfile"),
];

/// Every data-protection fact `host` answers (pure over the host).
pub fn read_protection(host: &dyn WindowsHost) -> DataProtection {
    let os = host
        .wmi_query(OS_QUERY)
        .ok()
        .and_then(|r| r.into_iter().next())
        .unwrap_or_default();
    let system_drive = text(&os, "SystemDrive").unwrap_or_else(|| "C:".into());
    let volumes = match host.wmi_query_in(BITLOCKER_NAMESPACE, BITLOCKER_QUERY) {
        Ok(rows) => bitlocker_volumes(&rows, &system_drive),
        Err(e) => {
            tracing::warn!(error = %e, "BitLocker state unknown");
            // Without the provider each fixed volume is still listed, with
            // its encryption unknown.
            unknown_volumes(
                &host.wmi_query(LOGICAL_DISK_QUERY).unwrap_or_default(),
                &system_drive,
            )
        }
    };
    let (antivirus, antivirus_error) = match host.wmi_query_in(DEFENDER_NAMESPACE, DEFENDER_QUERY) {
        Ok(rows) => match rows.first() {
            Some(row) => (Some(defender(row)), None),
            None => (
                None,
                Some(
                    "MSFT_MpComputerStatus has no instance (Microsoft Defender not running)".into(),
                ),
            ),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    let (firewall, firewall_error) = firewall(host);
    DataProtection {
        volumes,
        firewall,
        firewall_error,
        antivirus,
        antivirus_error,
        platform_protections: secure_boot(host).into_iter().collect(),
    }
}

/// BitLocker rows to volumes: fixed ones only (`VolumeType` 0 = OS, 1 = fixed
/// data; 2 = removable is not this device's storage).
pub fn bitlocker_volumes(rows: &[WmiRow], system_drive: &str) -> Vec<VolumeEncryption> {
    let mut out: Vec<VolumeEncryption> = rows
        .iter()
        .filter(|r| unsigned(r, "VolumeType") != Some(2))
        .filter_map(|r| {
            let letter = text(r, "DriveLetter");
            let device = text(r, "DeviceID");
            let mount_point = letter.clone().or_else(|| device.clone())?;
            let state = match unsigned(r, "ConversionStatus") {
                Some(0) => EncryptionState::NotEncrypted,
                Some(1) => EncryptionState::Encrypted,
                // Running or paused: not yet fully encrypted / decrypted.
                Some(2 | 4) => EncryptionState::EncryptionInProgress,
                Some(3 | 5) => EncryptionState::DecryptionInProgress,
                _ => EncryptionState::Unknown,
            };
            let protection_on = match unsigned(r, "ProtectionStatus") {
                Some(0) => Some(false),
                Some(1) => Some(true),
                // 2: "unknown" (a locked volume).
                _ => None,
            };
            let system_volume = unsigned(r, "VolumeType") == Some(0)
                || letter
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(system_drive));
            Some(VolumeEncryption {
                mount_point,
                device,
                method: Some("bitlocker".into()),
                state,
                protection_on,
                system_volume,
            })
        })
        .collect();
    out.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    out
}

/// Fixed logical disks with encryption unknown.
fn unknown_volumes(disks: &[WmiRow], system_drive: &str) -> Vec<VolumeEncryption> {
    disks
        .iter()
        .filter(|r| unsigned(r, "DriveType") == Some(3))
        .filter_map(|r| {
            let id = text(r, "DeviceID")?;
            Some(VolumeEncryption {
                system_volume: id.eq_ignore_ascii_case(system_drive),
                mount_point: id,
                device: None,
                method: None,
                state: EncryptionState::Unknown,
                protection_on: None,
            })
        })
        .collect()
}

/// `MSFT_MpComputerStatus` to the antivirus section.
pub fn defender(row: &WmiRow) -> Antivirus {
    // Real-time protection needs the engine too: AntivirusEnabled false
    // (another product took over) means Defender is not protecting.
    let real_time = match (
        boolean(row, "AntivirusEnabled"),
        boolean(row, "RealTimeProtectionEnabled"),
    ) {
        (Some(false), _) => Some(false),
        (_, rt) => rt,
    };
    Antivirus {
        product: "microsoft_defender".into(),
        real_time_protection: real_time,
        signatures_updated_at: text(row, "AntivirusSignatureLastUpdated")
            .and_then(|t| cim_datetime(&t)),
        signature_version: text(row, "AntivirusSignatureVersion"),
    }
}

/// Each profile's `EnableFirewall`, Group Policy first.
fn firewall(host: &dyn WindowsHost) -> (Option<Firewall>, Option<String>) {
    let mut errors = Vec::new();
    let mut read = |key: String| match host.registry_values(&key) {
        Ok(values) => values
            .and_then(|v| v.get("EnableFirewall").and_then(RegValue::number))
            .map(|n| n != 0),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let profiles: Vec<FirewallProfile> = FIREWALL_PROFILES
        .iter()
        .map(|(name, policy, local)| FirewallProfile {
            name: (*name).into(),
            enabled: read(format!(r"{FIREWALL_POLICY_KEY}\{policy}"))
                .or_else(|| read(format!(r"{FIREWALL_LOCAL_KEY}\{local}"))),
        })
        .collect();
    firewall_from(profiles, errors)
}

/// The firewall from its profiles: on when every profile is on, off when
/// one is off, unknown otherwise; no profile known at all is no firewall
/// state (with the reason).
pub fn firewall_from(
    profiles: Vec<FirewallProfile>,
    errors: Vec<String>,
) -> (Option<Firewall>, Option<String>) {
    if profiles.iter().all(|p| p.enabled.is_none()) {
        let why = if errors.is_empty() {
            "no Windows Defender Firewall profile setting (EnableFirewall) in the registry"
                .to_string()
        } else {
            errors.join("; ")
        };
        return (None, Some(why));
    }
    let enabled = if profiles.iter().any(|p| p.enabled == Some(false)) {
        Some(false)
    } else if profiles.iter().all(|p| p.enabled == Some(true)) {
        Some(true)
    } else {
        None
    };
    (
        Some(Firewall {
            product: "windows_firewall".into(),
            enabled,
            profiles,
        }),
        None,
    )
}

fn secure_boot(host: &dyn WindowsHost) -> Option<PlatformProtection> {
    let values = host.registry_values(SECURE_BOOT_KEY).ok().flatten()?;
    let on = values
        .get("UEFISecureBootEnabled")
        .and_then(RegValue::number)?;
    Some(PlatformProtection {
        name: "secure_boot".into(),
        enabled: Some(on != 0),
    })
}

/// The data-protection check of a Windows machine.
pub struct WindowsProtectionCheck<'h> {
    /// Where WMI and the registry are read.
    pub host: &'h dyn WindowsHost,
}

impl Check for WindowsProtectionCheck<'_> {
    type Output = DataProtection;
    const NAME: &'static str = "data_protection";

    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<DataProtection>, CheckError> {
        Ok(Collected::Ok(read_protection(self.host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::host::{Recorded, RecordedWindowsHost, Recording, RegValues};

    fn rows(v: serde_json::Value) -> Vec<WmiRow> {
        serde_json::from_value(v).unwrap()
    }

    /// Rows in the documented shape of `Win32_EncryptableVolume` and
    /// `MSFT_MpComputerStatus` (Microsoft Learn class references; values as
    /// `Get-CimInstance` prints them on Windows 11 23H2).
    fn laptop() -> Recording {
        let mut r = Recording::default();
        r.wmi.insert(
            OS_QUERY.into(),
            Recorded::Ok(rows(serde_json::json!([{"SystemDrive": "C:"}]))),
        );
        r.wmi.insert(
            format!("{BITLOCKER_NAMESPACE}:{BITLOCKER_QUERY}"),
            Recorded::Ok(rows(serde_json::json!([
                {"DeviceID": "\\\\?\\Volume{4c1b02c1-0000-0000-0000-100000000000}\\", "DriveLetter": "C:",
                 "ProtectionStatus": 1, "ConversionStatus": 1, "VolumeType": 0, "EncryptionMethod": 7},
                {"DeviceID": "\\\\?\\Volume{9d2e7a10-0000-0000-0000-500200000000}\\", "DriveLetter": "D:",
                 "ProtectionStatus": 0, "ConversionStatus": 1, "VolumeType": 1, "EncryptionMethod": 7},
                {"DeviceID": "\\\\?\\Volume{11111111-0000-0000-0000-000000000000}\\", "DriveLetter": "E:",
                 "ProtectionStatus": 0, "ConversionStatus": 0, "VolumeType": 2},
                {"DeviceID": "\\\\?\\Volume{22222222-0000-0000-0000-000000000000}\\", "DriveLetter": "F:",
                 "ProtectionStatus": 2, "ConversionStatus": 2, "VolumeType": 1}
            ]))),
        );
        r.wmi.insert(
            format!("{DEFENDER_NAMESPACE}:{DEFENDER_QUERY}"),
            Recorded::Ok(rows(serde_json::json!([{
                "AMServiceEnabled": true, "AntivirusEnabled": true, "RealTimeProtectionEnabled": true,
                "AntivirusSignatureLastUpdated": "20231212100000.000000+060",
                "AntivirusSignatureVersion": "1.403.1205.0"
            }]))),
        );
        let dword =
            |n: u64| -> RegValues { [("EnableFirewall".to_string(), RegValue::Number(n))].into() };
        r.registry
            .insert(format!(r"{FIREWALL_LOCAL_KEY}\DomainProfile"), dword(1));
        r.registry
            .insert(format!(r"{FIREWALL_LOCAL_KEY}\StandardProfile"), dword(1));
        r.registry
            .insert(format!(r"{FIREWALL_LOCAL_KEY}\PublicProfile"), dword(1));
        // Group Policy switches the public profile off: it wins.
        r.registry
            .insert(format!(r"{FIREWALL_POLICY_KEY}\PublicProfile"), dword(0));
        r.registry.insert(
            SECURE_BOOT_KEY.into(),
            [("UEFISecureBootEnabled".to_string(), RegValue::Number(1))].into(),
        );
        r
    }

    #[test]
    fn bitlocker_defender_firewall_and_secure_boot() {
        let d = read_protection(&RecordedWindowsHost::new(laptop()));
        let mounts: Vec<&str> = d.volumes.iter().map(|v| v.mount_point.as_str()).collect();
        assert_eq!(mounts, ["C:", "D:", "F:"], "the removable E: is left out");
        let c = &d.volumes[0];
        assert_eq!(c.state, EncryptionState::Encrypted);
        assert_eq!(c.protection_on, Some(true));
        assert!(c.system_volume);
        assert_eq!(c.method.as_deref(), Some("bitlocker"));
        let dd = &d.volumes[1];
        assert_eq!(
            (dd.state, dd.protection_on, dd.system_volume),
            (EncryptionState::Encrypted, Some(false), false),
            "suspended protection"
        );
        let f = &d.volumes[2];
        assert_eq!(
            (f.state, f.protection_on),
            (EncryptionState::EncryptionInProgress, None)
        );

        let av = d.antivirus.unwrap();
        assert_eq!(av.product, "microsoft_defender");
        assert_eq!(av.real_time_protection, Some(true));
        assert_eq!(av.signatures_updated_at, Some(1_702_371_600));
        assert_eq!(av.signature_version.as_deref(), Some("1.403.1205.0"));

        let fw = d.firewall.unwrap();
        assert_eq!(fw.enabled, Some(false));
        let public = fw.profiles.iter().find(|p| p.name == "public").unwrap();
        assert_eq!(public.enabled, Some(false), "Group Policy wins");
        assert_eq!(fw.profiles[0].enabled, Some(true));
        assert_eq!(d.platform_protections[0].name, "secure_boot");
        assert_eq!(d.platform_protections[0].enabled, Some(true));
    }

    #[test]
    fn defender_switched_off_by_another_product_is_not_protecting() {
        let av = defender(
            &rows(serde_json::json!([{
                "AntivirusEnabled": false, "RealTimeProtectionEnabled": true
            }]))[0],
        );
        assert_eq!(av.real_time_protection, Some(false));
        assert_eq!(av.signatures_updated_at, None);
    }

    #[test]
    fn under_wine_everything_is_unknown_never_off() {
        let host = RecordedWindowsHost::new(
            serde_json::from_str(include_str!(
                "../../../../tests/hosts/windows-wine8/recording.json"
            ))
            .unwrap(),
        );
        let d = read_protection(&host);
        assert!(!d.volumes.is_empty());
        for v in &d.volumes {
            assert_eq!(v.state, EncryptionState::Unknown, "{v:?}");
            assert_eq!(v.protection_on, None);
        }
        assert!(
            d.volumes
                .iter()
                .any(|v| v.mount_point == "C:" && v.system_volume)
        );
        assert!(d.antivirus.is_none());
        assert!(d.antivirus_error.is_some());
        assert!(d.firewall.is_none());
        assert!(d.firewall_error.unwrap().contains("EnableFirewall"));
        assert!(d.platform_protections.is_empty());
    }

    #[test]
    fn wmi_error_codes_are_named() {
        use crate::platform::windows::host::with_wbem_name;
        assert_eq!(
            with_wbem_name("HRESULT Call failed with: 0x8004100E"),
            "HRESULT Call failed with: 0x8004100E (WBEM_E_INVALID_NAMESPACE)"
        );
        assert_eq!(
            with_wbem_name("0x80041010"),
            "0x80041010 (WBEM_E_INVALID_CLASS)"
        );
        assert_eq!(with_wbem_name("timeout"), "timeout");
    }

    #[test]
    fn firewall_profiles_partly_known() {
        let p = |name: &str, on: Option<bool>| FirewallProfile {
            name: name.into(),
            enabled: on,
        };
        let (fw, _) = firewall_from(
            vec![
                p("domain", Some(true)),
                p("private", None),
                p("public", Some(true)),
            ],
            vec![],
        );
        assert_eq!(fw.unwrap().enabled, None);
        let (fw, err) = firewall_from(vec![p("domain", None)], vec!["access denied".into()]);
        assert!(fw.is_none());
        assert_eq!(err.as_deref(), Some("access denied"));
    }
}
