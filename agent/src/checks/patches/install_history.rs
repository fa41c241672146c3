//! `/Library/Receipts/InstallHistory.plist`: every install macOS made
//! (Software Update, Installer, App Store, background config data such as
//! XProtect), with its date. Readable without privileges.

use serde::Deserialize;

use crate::checks::{CheckError, plist};
use crate::host::SysRoot;

/// The install history file.
pub const INSTALL_HISTORY: &str = "/Library/Receipts/InstallHistory.plist";

/// One install.
#[derive(Debug, Clone, Deserialize)]
pub struct Install {
    /// When it was installed.
    pub date: plist::Date,
    /// `macOS Sonoma 14.4.1`, `XProtectPlistConfigData`, ...
    #[serde(rename = "displayName", default)]
    pub display_name: String,
    /// `14.4.1`, `2192`, ...
    #[serde(rename = "displayVersion", default)]
    pub display_version: String,
    /// `softwareupdated`, `Installer`, `App Store`, ...
    #[serde(rename = "processName", default)]
    pub process_name: String,
}

/// The history, oldest first as macOS writes it; `None` when the file is absent.
pub fn read(root: &SysRoot) -> Result<Option<Vec<Install>>, CheckError> {
    plist::read(root, INSTALL_HISTORY)
}

/// When anything was last installed (Unix seconds).
pub fn last_install_at(history: &[Install]) -> Option<i64> {
    history.iter().map(|i| plist::unix_seconds(i.date)).max()
}

/// When `display_name` was last installed at `version` (any version when `None`).
pub fn installed_at(history: &[Install], display_name: &str, version: Option<&str>) -> Option<i64> {
    history
        .iter()
        .filter(|i| i.display_name == display_name)
        .filter(|i| version.is_none_or(|v| i.display_version == v))
        .map(|i| plist::unix_seconds(i.date))
        .max()
}
