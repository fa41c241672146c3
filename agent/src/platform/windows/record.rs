//! Recording a Windows host: every WMI query, registry key and the Windows
//! Update search the checks read, answered by a [`WindowsHost`] and saved as
//! a [`Recording`]. The hidden `record-windows` subcommand of the Windows
//! build runs this against the live machine (Wine in the tests), so the
//! fixtures under `tests/hosts/windows-*` come from a real source.

use super::host::{Recorded, Recording, WindowsError, WindowsHost};
use super::inventory::{
    BIOS_QUERY, COMPUTER_SYSTEM_QUERY, CRYPTOGRAPHY_KEY, CURRENT_VERSION_KEY, LOGICAL_DISK_QUERY,
    NETWORK_QUERY, OS_QUERY, PROCESSOR_QUERY, PRODUCT_QUERY, USERS_QUERY,
};
use super::protection::{
    BITLOCKER_NAMESPACE, BITLOCKER_QUERY, DEFENDER_NAMESPACE, DEFENDER_QUERY, FIREWALL_LOCAL_KEY,
    FIREWALL_POLICY_KEY, FIREWALL_PROFILES, SECURE_BOOT_KEY,
};

/// The WQL queries the Windows checks run.
pub const RECORDED_QUERIES: &[&str] = &[
    OS_QUERY,
    COMPUTER_SYSTEM_QUERY,
    PRODUCT_QUERY,
    BIOS_QUERY,
    PROCESSOR_QUERY,
    LOGICAL_DISK_QUERY,
    NETWORK_QUERY,
    USERS_QUERY,
];

/// The queries outside `ROOT\CIMV2`: `(namespace, query)`.
pub const RECORDED_NAMESPACE_QUERIES: &[(&str, &str)] = &[
    (BITLOCKER_NAMESPACE, BITLOCKER_QUERY),
    (DEFENDER_NAMESPACE, DEFENDER_QUERY),
];

/// The HKLM keys the Windows checks read directly.
pub fn recorded_keys() -> Vec<String> {
    let mut keys = vec![
        CURRENT_VERSION_KEY.to_string(),
        CRYPTOGRAPHY_KEY.to_string(),
        SECURE_BOOT_KEY.to_string(),
    ];
    for (_, policy, local) in FIREWALL_PROFILES {
        keys.push(format!(r"{FIREWALL_POLICY_KEY}\{policy}"));
        keys.push(format!(r"{FIREWALL_LOCAL_KEY}\{local}"));
    }
    keys
}

/// Everything `host` answers to the checks' queries; a failing source is
/// recorded as its error (a missing registry key is left out).
pub fn record(host: &dyn WindowsHost, provenance: &str) -> Recording {
    let mut recording = Recording {
        provenance: provenance.to_string(),
        ..Recording::default()
    };
    for query in RECORDED_QUERIES {
        let answer = match host.wmi_query(query) {
            Ok(rows) => Recorded::Ok(rows),
            Err(e) => Recorded::Err(e),
        };
        recording.wmi.insert((*query).to_string(), answer);
    }
    for (namespace, query) in RECORDED_NAMESPACE_QUERIES {
        let answer = match host.wmi_query_in(namespace, query) {
            Ok(rows) => Recorded::Ok(rows),
            Err(e) => Recorded::Err(e),
        };
        recording.wmi.insert(format!("{namespace}:{query}"), answer);
    }
    for key in recorded_keys() {
        // A key that cannot be read is recorded as absent: the checks treat
        // both as "unknown".
        if let Ok(Some(values)) = host.registry_values(&key) {
            recording.registry.insert(key, values);
        }
    }
    recording.uninstall = host.uninstall_entries().unwrap_or_default();
    recording.windows_update = Some(match host.search_updates() {
        Ok(search) => Recorded::Ok(search),
        Err(e) => Recorded::Err(e),
    });
    recording.user_modals = Some(host.user_modals().map_or_else(Recorded::Err, Recorded::Ok));
    recording.local_users = Some(host.local_users().map_or_else(Recorded::Err, Recorded::Ok));
    recording.local_accounts = Some(
        host.local_accounts()
            .map_or_else(Recorded::Err, Recorded::Ok),
    );
    recording.secedit = Some(
        match host
            .secedit_export()
            .map(|b| super::password::decode_export(&b))
        {
            Ok(Ok(text)) => Recorded::Ok(text),
            Ok(Err(e)) => Recorded::Err(WindowsError::Command {
                command: "secedit /export".into(),
                detail: e.to_string(),
            }),
            Err(e) => Recorded::Err(e),
        },
    );
    recording
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::host::{RecordedWindowsHost, RegValue};
    use crate::platform::windows::inventory::read_inventory;

    #[test]
    fn a_recording_of_a_recording_answers_the_same_inventory() {
        let mut original = Recording::default();
        let os = serde_json::json!([{"Caption": "Microsoft Windows 11 Pro", "Version": "10.0.22631", "BuildNumber": "22631"}]);
        original.wmi.insert(
            OS_QUERY.into(),
            Recorded::Ok(serde_json::from_value(os).unwrap()),
        );
        original.wmi.insert(
            BIOS_QUERY.into(),
            Recorded::Err(WindowsError::Wmi {
                query: BIOS_QUERY.into(),
                detail: "0x80041010".into(),
            }),
        );
        original.registry.insert(
            CURRENT_VERSION_KEY.into(),
            [("UBR".to_string(), RegValue::Number(3007))].into(),
        );
        let source = RecordedWindowsHost::new(original);
        let copy = record(&source, "test");
        assert_eq!(copy.provenance, "test");
        assert!(matches!(copy.wmi[BIOS_QUERY], Recorded::Err(_)));
        assert!(matches!(
            copy.windows_update,
            Some(Recorded::Err(WindowsError::Com {
                hresult: 0x8000_4001,
                ..
            }))
        ));
        let json = serde_json::to_string(&copy).unwrap();
        let replayed = RecordedWindowsHost::new(serde_json::from_str(&json).unwrap());
        assert_eq!(
            read_inventory(&replayed).unwrap(),
            read_inventory(&source).unwrap()
        );
    }
}
