//! The live Windows host: WMI through the `wmi` crate, the registry through
//! `winreg`, Windows Update through [`super::wua`]. No `unsafe` here.

use std::collections::HashMap;

use winreg::RegKey;
use winreg::enums::{
    HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_32KEY, KEY_WOW64_64KEY, RegType,
};
use wmi::{Variant, WMIConnection};

use super::host::{
    NetAccount, NetUser, RegValue, RegValues, UninstallEntry, UninstallView, UserModals,
    WindowsError, WindowsHost, WmiRow, with_wbem_name,
};
use super::update::UpdateSearch;

/// The Uninstall key, under HKLM and under each user's hive.
const UNINSTALL_KEY: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
/// Present while component servicing waits for a reboot.
const CBS_REBOOT_PENDING_KEY: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending";
/// Present while Windows Update waits for a reboot.
const WU_REBOOT_REQUIRED_KEY: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired";
/// The Windows Update policy (WSUS server).
const WU_POLICY_KEY: &str = r"SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate";
/// `UseWUServer=1` here makes the machine use `WUServer`.
const WU_POLICY_AU_KEY: &str = r"SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU";

/// How long `secedit /export` may run.
const SECEDIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// WMI, the registry and the Windows Update Agent of this machine.
pub struct LiveWindowsHost {
    wmi: Result<WMIConnection, String>,
}

impl LiveWindowsHost {
    /// Connects to `ROOT\CIMV2`; a failed connection fails each query.
    pub fn new() -> Self {
        LiveWindowsHost {
            wmi: WMIConnection::new().map_err(|e| e.to_string()),
        }
    }
}

impl WindowsHost for LiveWindowsHost {
    fn wmi_query(&self, query: &str) -> Result<Vec<WmiRow>, WindowsError> {
        let err = |detail: String| WindowsError::Wmi {
            query: query.into(),
            detail: with_wbem_name(&detail),
        };
        let wmi = self.wmi.as_ref().map_err(|e| err(e.clone()))?;
        let rows: Vec<HashMap<String, Variant>> =
            wmi.raw_query(query).map_err(|e| err(e.to_string()))?;
        Ok(rows.into_iter().map(to_row).collect())
    }

    fn wmi_query_in(&self, namespace: &str, query: &str) -> Result<Vec<WmiRow>, WindowsError> {
        let err = |detail: String| WindowsError::Wmi {
            query: format!("{namespace}:{query}"),
            detail: with_wbem_name(&detail),
        };
        let wmi = WMIConnection::with_namespace_path(namespace).map_err(|e| err(e.to_string()))?;
        let rows: Vec<HashMap<String, Variant>> =
            wmi.raw_query(query).map_err(|e| err(e.to_string()))?;
        Ok(rows.into_iter().map(to_row).collect())
    }

    fn registry_values(&self, key: &str) -> Result<Option<RegValues>, WindowsError> {
        let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
        match hklm.open_subkey_with_flags(key, KEY_READ | KEY_WOW64_64KEY) {
            Ok(k) => Ok(Some(values_of(&k))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(WindowsError::Registry {
                key: format!(r"HKLM\{key}"),
                detail: e.to_string(),
            }),
        }
    }

    fn uninstall_entries(&self) -> Result<Vec<UninstallEntry>, WindowsError> {
        let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
        let mut out = Vec::new();
        for (view, flag) in [
            (UninstallView::Machine64, KEY_WOW64_64KEY),
            (UninstallView::Machine32, KEY_WOW64_32KEY),
        ] {
            match hklm.open_subkey_with_flags(UNINSTALL_KEY, KEY_READ | flag) {
                Ok(k) => out.extend(entries_of(&k, view)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(WindowsError::Registry {
                        key: format!(r"HKLM\{UNINSTALL_KEY} ({view:?})"),
                        detail: e.to_string(),
                    });
                }
            }
        }
        // Per-user installs: every loaded hive we may read (others are skipped).
        let users = RegKey::predef(HKEY_USERS);
        for sid in users.enum_keys().flatten() {
            if sid.ends_with("_Classes") {
                continue;
            }
            if let Ok(k) = users.open_subkey_with_flags(format!(r"{sid}\{UNINSTALL_KEY}"), KEY_READ)
            {
                out.extend(entries_of(&k, UninstallView::User));
            }
        }
        Ok(out)
    }

    fn search_updates(&self) -> Result<UpdateSearch, WindowsError> {
        let found = super::wua::search()?;
        let key_exists = |key: &str| matches!(self.registry_values(key), Ok(Some(_)));
        let keys_say_reboot =
            key_exists(CBS_REBOOT_PENDING_KEY) || key_exists(WU_REBOOT_REQUIRED_KEY);
        let reboot_required = match found.reboot_required {
            Some(api) => Some(api || keys_say_reboot),
            // Without the API the keys are the documented source: present
            // means pending, absent means none.
            None => Some(keys_say_reboot),
        };
        let use_wsus = self
            .registry_values(WU_POLICY_AU_KEY)
            .ok()
            .flatten()
            .and_then(|v| v.get("UseWUServer").and_then(RegValue::number))
            == Some(1);
        let wsus_server = use_wsus
            .then(|| {
                self.registry_values(WU_POLICY_KEY)
                    .ok()
                    .flatten()
                    .and_then(|v| v.get("WUServer").map(RegValue::text))
            })
            .flatten();
        Ok(UpdateSearch {
            reboot_required,
            wsus_server,
            ..found
        })
    }

    fn user_modals(&self) -> Result<UserModals, WindowsError> {
        super::netapi::user_modals()
    }

    fn local_users(&self) -> Result<Vec<NetUser>, WindowsError> {
        super::netapi::local_users()
    }

    fn local_accounts(&self) -> Result<Vec<NetAccount>, WindowsError> {
        super::netapi::local_accounts()
    }

    fn secedit_export(&self) -> Result<Vec<u8>, WindowsError> {
        let file =
            std::env::temp_dir().join(format!("fleetwatch-secedit-{}.inf", std::process::id()));
        let command = format!(
            "secedit /export /cfg {} /areas SECURITYPOLICY /quiet",
            file.display()
        );
        let err = |detail: String| WindowsError::Command {
            command: command.clone(),
            detail,
        };
        let mut child = std::process::Command::new("secedit")
            .arg("/export")
            .arg("/cfg")
            .arg(&file)
            .args(["/areas", "SECURITYPOLICY", "/quiet"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| err(e.to_string()))?;
        let deadline = std::time::Instant::now() + SECEDIT_TIMEOUT;
        let status = loop {
            match child.try_wait().map_err(|e| err(e.to_string()))? {
                Some(status) => break status,
                None if std::time::Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(err(format!("no answer within {SECEDIT_TIMEOUT:?}")));
                }
                None => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        };
        let bytes = std::fs::read(&file);
        let _ = std::fs::remove_file(&file);
        if !status.success() {
            return Err(err(format!("exited with {status}")));
        }
        bytes.map_err(|e| err(format!("no export file: {e}")))
    }
}

fn to_row(row: HashMap<String, Variant>) -> WmiRow {
    row.into_iter()
        // Variant serializes untagged: strings, numbers, arrays.
        .map(|(k, v)| (k, serde_json::to_value(&v).unwrap_or_default()))
        .collect()
}

fn entries_of(key: &RegKey, view: UninstallView) -> Vec<UninstallEntry> {
    key.enum_keys()
        .flatten()
        .filter_map(|name| {
            let sub = key.open_subkey_with_flags(&name, KEY_READ).ok()?;
            Some(UninstallEntry {
                key: name,
                view,
                values: values_of(&sub),
            })
        })
        .collect()
}

/// DWORD, QWORD and string values of a key; binary and multi-string values
/// are not read by any check.
fn values_of(key: &RegKey) -> RegValues {
    key.enum_values()
        .flatten()
        .filter_map(|(name, raw)| {
            let value = match raw.vtype {
                RegType::REG_DWORD => RegValue::Number(u64::from(u32::from_le_bytes(
                    raw.bytes.get(..4)?.try_into().ok()?,
                ))),
                RegType::REG_QWORD => {
                    RegValue::Number(u64::from_le_bytes(raw.bytes.get(..8)?.try_into().ok()?))
                }
                RegType::REG_SZ | RegType::REG_EXPAND_SZ => {
                    RegValue::Text(utf16_string(&raw.bytes))
                }
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

/// A REG_SZ payload (UTF-16LE, usually NUL-terminated) as a string.
fn utf16_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}
