//! What the Windows checks read, behind [`WindowsHost`]: WMI rows, registry
//! values, the Uninstall keys and the Windows Update search. The live host
//! (Windows builds only) asks WMI, the registry and the Windows Update Agent;
//! [`RecordedWindowsHost`] answers from a JSON recording, so every mapping
//! runs on Linux against recorded rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::update::UpdateSearch;

/// One WMI instance: property name to value (strings, numbers, booleans,
/// arrays or null, as the `wmi` crate's `Variant` carries them).
pub type WmiRow = BTreeMap<String, Value>;

/// One registry value: a DWORD/QWORD or a string (REG_SZ, REG_EXPAND_SZ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegValue {
    /// REG_DWORD or REG_QWORD.
    Number(u64),
    /// REG_SZ or REG_EXPAND_SZ.
    Text(String),
}

impl RegValue {
    /// The value as text (a number in decimal).
    pub fn text(&self) -> String {
        match self {
            RegValue::Number(n) => n.to_string(),
            RegValue::Text(s) => s.clone(),
        }
    }

    /// The value as a number (a decimal string is accepted).
    pub fn number(&self) -> Option<u64> {
        match self {
            RegValue::Number(n) => Some(*n),
            RegValue::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// The values of one registry key, by name.
pub type RegValues = BTreeMap<String, RegValue>;

/// Where an Uninstall entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UninstallView {
    /// `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`, 64-bit view.
    Machine64,
    /// The same key in the 32-bit view (`WOW6432Node`).
    Machine32,
    /// A user's `HKU\<SID>\...\Uninstall` (per-user installs).
    User,
}

/// One subkey of an Uninstall key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UninstallEntry {
    /// The subkey name (a product code `{GUID}` for MSI installs).
    pub key: String,
    /// Which view it came from.
    pub view: UninstallView,
    /// Its values (`DisplayName`, `DisplayVersion`, `Publisher`, ...).
    pub values: RegValues,
}

/// Why a Windows source could not be read. Serializable so that a
/// recording carries the failures too (a WUA search failing under Wine).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowsError {
    /// A WMI query failed.
    #[error("WMI query `{query}` failed: {detail}")]
    Wmi {
        /// The WQL query.
        query: String,
        /// The error WMI gave.
        detail: String,
    },
    /// A registry key could not be read.
    #[error("registry key {key} could not be read: {detail}")]
    Registry {
        /// The key path.
        key: String,
        /// The error the registry gave.
        detail: String,
    },
    /// A COM call failed with an HRESULT.
    #[error("{call} failed with HRESULT 0x{hresult:08X} ({name})")]
    Com {
        /// The interface method that failed.
        call: String,
        /// The HRESULT, as the unsigned 32-bit value Windows documents.
        hresult: u32,
        /// Its symbolic name (`E_NOTIMPL`) or system message.
        name: String,
    },
    /// A Net API call failed with a `NET_API_STATUS`.
    #[error("{call} failed with status {status} ({})", net_status_name(*status).unwrap_or("unknown status"))]
    NetApi {
        /// The function and level.
        call: String,
        /// The status (a Win32 error or an `NERR_*` code).
        status: u32,
    },
    /// A program the check runs could not run or failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Why.
        detail: String,
    },
    /// A recording could not be read (tests and `--recorded-windows`).
    #[error("Windows host recording {path}: {detail}")]
    Recording {
        /// The recording file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// `NetUserModalsGet` levels 0 and 3, as the API gives them: ages and
/// durations in seconds, [`TIMEQ_FOREVER`] for "never".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserModals {
    /// `usrmod0_min_passwd_len`.
    pub min_passwd_len: u32,
    /// `usrmod0_max_passwd_age` (seconds).
    pub max_passwd_age: u32,
    /// `usrmod0_min_passwd_age` (seconds).
    pub min_passwd_age: u32,
    /// `usrmod0_password_hist_len`.
    pub password_hist_len: u32,
    /// `usrmod3_lockout_duration` (seconds); `None` when level 3 failed.
    pub lockout_duration: Option<u32>,
    /// `usrmod3_lockout_observation_window` (seconds).
    pub lockout_observation_window: Option<u32>,
    /// `usrmod3_lockout_threshold` (0: never locks out).
    pub lockout_threshold: Option<u32>,
}

/// `TIMEQ_FOREVER` (lmaccess.h): no maximum age, locked until an admin unlocks.
pub const TIMEQ_FOREVER: u32 = u32::MAX;

/// One local account from `NetUserEnum` level 3; never its password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetUser {
    /// `usri3_name`.
    pub name: String,
    /// `usri3_flags` (`UF_ACCOUNTDISABLE`, `UF_LOCKOUT`, ...).
    pub flags: u32,
    /// `usri3_password_age`: seconds since the password was last changed.
    pub password_age: u32,
    /// `usri3_last_logon` (Unix seconds; 0: never or unknown).
    pub last_logon: u32,
    /// `usri3_password_expired` is non-zero.
    pub password_expired: bool,
    /// `usri3_user_id` (the RID).
    pub user_id: u32,
}

/// A local account from `NetUserEnum` level 20 (`USER_INFO_20`): what the
/// inventory needs when `Win32_UserAccount` answers nothing (Wine).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetAccount {
    /// `usri20_name`.
    pub name: String,
    /// `usri20_flags` (`UF_ACCOUNTDISABLE`, ...).
    pub flags: u32,
    /// `usri20_user_id` (the RID).
    pub user_id: u32,
}

/// `detail` with the symbolic name of a WMI error code it carries
/// (wbemcli.h), so "0x8004100E" reads as the missing namespace it is.
pub fn with_wbem_name(detail: &str) -> String {
    const NAMES: [(&str, &str); 5] = [
        ("0x80041002", "WBEM_E_NOT_FOUND"),
        ("0x80041003", "WBEM_E_ACCESS_DENIED"),
        ("0x8004100E", "WBEM_E_INVALID_NAMESPACE"),
        ("0x80041010", "WBEM_E_INVALID_CLASS"),
        ("0x80041017", "WBEM_E_INVALID_QUERY"),
    ];
    let upper = detail.to_ascii_uppercase().replace("0X", "0x");
    match NAMES.iter().find(|(code, _)| upper.contains(code)) {
        Some((_, name)) => format!("{detail} ({name})"),
        None => detail.to_string(),
    }
}

/// The symbolic name of the `NET_API_STATUS` values the Net API calls
/// commonly fail with (winerror.h, lmerr.h).
pub fn net_status_name(status: u32) -> Option<&'static str> {
    Some(match status {
        5 => "ERROR_ACCESS_DENIED",
        8 => "ERROR_NOT_ENOUGH_MEMORY",
        87 => "ERROR_INVALID_PARAMETER",
        124 => "ERROR_INVALID_LEVEL",
        2102 => "NERR_NetNotStarted",
        2123 => "NERR_BufTooSmall",
        2140 => "NERR_InternalError",
        2142 => "NERR_InvalidAPI",
        2221 => "NERR_UserNotFound",
        2351 => "NERR_InvalidComputer",
        _ => return None,
    })
}

/// The Windows sources the checks read.
pub trait WindowsHost {
    /// Runs a WQL query in `ROOT\CIMV2`.
    fn wmi_query(&self, query: &str) -> Result<Vec<WmiRow>, WindowsError>;
    /// Runs a WQL query in another namespace (BitLocker, Defender).
    fn wmi_query_in(&self, namespace: &str, query: &str) -> Result<Vec<WmiRow>, WindowsError>;
    /// The values of an `HKEY_LOCAL_MACHINE` key (64-bit view); `None` when
    /// the key does not exist.
    fn registry_values(&self, key: &str) -> Result<Option<RegValues>, WindowsError>;
    /// Every Uninstall entry: both machine views and the readable user hives.
    fn uninstall_entries(&self) -> Result<Vec<UninstallEntry>, WindowsError>;
    /// `IUpdateSearcher::Search("IsInstalled=0 and IsHidden=0")`, no download.
    fn search_updates(&self) -> Result<UpdateSearch, WindowsError>;
    /// `NetUserModalsGet(NULL, 0)` and `(NULL, 3)`.
    fn user_modals(&self) -> Result<UserModals, WindowsError>;
    /// `NetUserEnum(NULL, 3, FILTER_NORMAL_ACCOUNT)`.
    fn local_users(&self) -> Result<Vec<NetUser>, WindowsError>;
    /// `NetUserEnum(NULL, 20, FILTER_NORMAL_ACCOUNT)`: names, flags, RIDs.
    fn local_accounts(&self) -> Result<Vec<NetAccount>, WindowsError>;
    /// The file `secedit /export /areas SECURITYPOLICY` writes (UTF-16LE).
    fn secedit_export(&self) -> Result<Vec<u8>, WindowsError>;
}

/// A recorded answer: the value, or the error the live source gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded<T> {
    /// The source answered.
    Ok(T),
    /// The source failed with this error.
    Err(WindowsError),
}

impl<T: Clone> Recorded<T> {
    fn get(&self) -> Result<T, WindowsError> {
        match self {
            Recorded::Ok(v) => Ok(v.clone()),
            Recorded::Err(e) => Err(e.clone()),
        }
    }
}

/// Everything a [`WindowsHost`] answers, as recorded from a machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recording {
    /// Where the recording came from (tool, machine, date).
    #[serde(default)]
    pub provenance: String,
    /// WQL query to rows (or the error); a query outside `ROOT\CIMV2` is
    /// keyed `NAMESPACE:QUERY`.
    #[serde(default)]
    pub wmi: BTreeMap<String, Recorded<Vec<WmiRow>>>,
    /// HKLM key path to its values; a missing key is absent.
    #[serde(default)]
    pub registry: BTreeMap<String, RegValues>,
    /// The Uninstall entries.
    #[serde(default)]
    pub uninstall: Vec<UninstallEntry>,
    /// The Windows Update search (absent: the search was not recorded).
    #[serde(default)]
    pub windows_update: Option<Recorded<UpdateSearch>>,
    /// `NetUserModalsGet` levels 0 and 3.
    #[serde(default)]
    pub user_modals: Option<Recorded<UserModals>>,
    /// `NetUserEnum` level 3.
    #[serde(default)]
    pub local_users: Option<Recorded<Vec<NetUser>>>,
    /// `NetUserEnum` level 20.
    #[serde(default)]
    pub local_accounts: Option<Recorded<Vec<NetAccount>>>,
    /// The text of the `secedit /export` file (replayed as UTF-16LE with a
    /// BOM, as secedit writes it).
    #[serde(default)]
    pub secedit: Option<Recorded<String>>,
}

/// The error for a source a recording does not hold.
fn not_recorded(call: &str) -> WindowsError {
    WindowsError::Recording {
        path: PathBuf::from("(recording)"),
        detail: format!("{call} is not in the recording"),
    }
}

/// A [`WindowsHost`] answering from a [`Recording`].
#[derive(Debug, Clone, Default)]
pub struct RecordedWindowsHost {
    recording: Recording,
}

impl RecordedWindowsHost {
    /// A host answering from `recording`.
    pub fn new(recording: Recording) -> Self {
        RecordedWindowsHost { recording }
    }

    /// Reads a JSON recording.
    pub fn load(path: &Path) -> Result<Self, WindowsError> {
        let err = |detail: String| WindowsError::Recording {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let recording = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        Ok(RecordedWindowsHost { recording })
    }
}

impl WindowsHost for RecordedWindowsHost {
    fn wmi_query(&self, query: &str) -> Result<Vec<WmiRow>, WindowsError> {
        match self.recording.wmi.get(query) {
            Some(r) => r.get(),
            None => Err(WindowsError::Wmi {
                query: query.into(),
                detail: "not in the recording".into(),
            }),
        }
    }

    fn wmi_query_in(&self, namespace: &str, query: &str) -> Result<Vec<WmiRow>, WindowsError> {
        self.wmi_query(&format!("{namespace}:{query}"))
    }

    fn registry_values(&self, key: &str) -> Result<Option<RegValues>, WindowsError> {
        Ok(self.recording.registry.get(key).cloned())
    }

    fn uninstall_entries(&self) -> Result<Vec<UninstallEntry>, WindowsError> {
        Ok(self.recording.uninstall.clone())
    }

    fn search_updates(&self) -> Result<UpdateSearch, WindowsError> {
        match &self.recording.windows_update {
            Some(r) => r.get(),
            None => Err(WindowsError::Com {
                call: "IUpdateSearcher::Search".into(),
                hresult: 0x8000_4001,
                name: "E_NOTIMPL (not in the recording)".into(),
            }),
        }
    }

    fn user_modals(&self) -> Result<UserModals, WindowsError> {
        self.recording
            .user_modals
            .as_ref()
            .ok_or_else(|| not_recorded("NetUserModalsGet"))?
            .get()
    }

    fn local_users(&self) -> Result<Vec<NetUser>, WindowsError> {
        self.recording
            .local_users
            .as_ref()
            .ok_or_else(|| not_recorded("NetUserEnum"))?
            .get()
    }

    fn local_accounts(&self) -> Result<Vec<NetAccount>, WindowsError> {
        self.recording
            .local_accounts
            .as_ref()
            .ok_or_else(|| not_recorded("NetUserEnum(level 20)"))?
            .get()
    }

    fn secedit_export(&self) -> Result<Vec<u8>, WindowsError> {
        let text = self
            .recording
            .secedit
            .as_ref()
            .ok_or_else(|| not_recorded("secedit /export"))?
            .get()?;
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        Ok(bytes)
    }
}
