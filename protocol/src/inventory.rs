//! The inventory section: what the device is.

use serde::{Deserialize, Serialize};

/// Device inventory, Linux first-class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Short host name.
    pub hostname: String,
    /// Fully qualified domain name, when the host has one.
    #[serde(default)]
    pub fqdn: Option<String>,
    /// The name people see for the machine (macOS `ComputerName`), where
    /// it differs from the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_name: Option<String>,
    /// `/etc/machine-id`.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Operating system from os-release.
    #[serde(default)]
    pub os: OsInfo,
    /// Running kernel release (`uname -r`).
    #[serde(default)]
    pub kernel_version: Option<String>,
    /// CPU architecture (`x86_64`, `aarch64`, ...).
    #[serde(default)]
    pub arch: String,
    /// Processor.
    #[serde(default)]
    pub cpu: CpuInfo,
    /// Memory and swap.
    #[serde(default)]
    pub memory: MemoryInfo,
    /// Mounted file systems backed by block devices.
    #[serde(default)]
    pub disks: Vec<Disk>,
    /// Network interfaces (loopback excluded).
    #[serde(default)]
    pub network: Vec<NetworkInterface>,
    /// DMI hardware identity, where readable.
    #[serde(default)]
    pub hardware: Hardware,
    /// When the host booted (Unix seconds).
    #[serde(default)]
    pub boot_time: Option<i64>,
    /// Local user accounts (`/etc/passwd`, `dscl`, WMI/NetUserEnum); never
    /// any secret. Empty with `users_error` set means unknown, not "none".
    #[serde(default)]
    pub users: Vec<LocalUser>,
    /// Why the local accounts could not be listed (then `users` is empty
    /// because it is unknown). Older agents never send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_error: Option<String>,
    /// Installed software; the full list only when it changed.
    #[serde(default)]
    pub packages: Option<Packages>,
}

/// Operating system identity: `/etc/os-release` on Linux, `sw_vers` on
/// macOS, the registry's `CurrentVersion` on Windows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    /// OS family; `None` from agents older than the field (all Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<OsFamily>,
    /// `ID` (`debian`, `ubuntu`, `rhel`, ...; `macos`, `windows`).
    #[serde(default)]
    pub id: String,
    /// `ID_LIKE`.
    #[serde(default)]
    pub id_like: Option<String>,
    /// `NAME`.
    #[serde(default)]
    pub name: Option<String>,
    /// `VERSION_ID`.
    #[serde(default)]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`.
    #[serde(default)]
    pub version_codename: Option<String>,
    /// `PRETTY_NAME`.
    #[serde(default)]
    pub pretty_name: Option<String>,
    /// `SUPPORT_END` (ISO date), when the vendor publishes it.
    #[serde(default)]
    pub support_end: Option<String>,
    /// Build number (macOS `BuildVersion`, Windows build and UBR `22631.2861`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Marketing version where it differs from `version_id` (Windows `23H2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_version: Option<String>,
    /// Edition (Windows `Professional`, `Enterprise`; Linux `VARIANT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
}

/// Operating-system family: decides which checks have a meaning on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Linux distributions.
    Linux,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
    /// Any family a newer agent names that this build does not know.
    #[serde(other)]
    Other,
}

impl OsFamily {
    /// The lowercase name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Macos => "macos",
            OsFamily::Windows => "windows",
            OsFamily::Other => "other",
        }
    }
}

/// Processor summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Model name of the first processor.
    #[serde(default)]
    pub model: Option<String>,
    /// Physical cores, when known.
    #[serde(default)]
    pub physical_cores: Option<u32>,
    /// Logical CPUs (hardware threads).
    #[serde(default)]
    pub logical_cpus: u32,
}

/// Memory totals in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// `MemTotal`.
    #[serde(default)]
    pub total_bytes: u64,
    /// `MemAvailable`.
    #[serde(default)]
    pub available_bytes: u64,
    /// `SwapTotal`.
    #[serde(default)]
    pub swap_total_bytes: u64,
    /// `SwapFree`.
    #[serde(default)]
    pub swap_free_bytes: u64,
}

/// One mounted file system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Mount point.
    pub mount_point: String,
    /// Block device (`/dev/nvme0n1p2`).
    #[serde(default)]
    pub device: String,
    /// File system type (`ext4`, `xfs`, ...).
    #[serde(default)]
    pub filesystem: String,
    /// Size in bytes.
    #[serde(default)]
    pub total_bytes: u64,
    /// Bytes available to unprivileged users.
    #[serde(default)]
    pub available_bytes: u64,
    /// Whether the device sits on an encrypted layer (dm-crypt), when known.
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// Removable media.
    #[serde(default)]
    pub removable: bool,
}

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Hardware address, when it has one.
    #[serde(default)]
    pub mac: Option<String>,
    /// IPv4 and IPv6 addresses with prefix (`192.0.2.4/24`).
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// DMI hardware identity (`/sys/class/dmi/id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// `sys_vendor`.
    #[serde(default)]
    pub vendor: Option<String>,
    /// `product_name`.
    #[serde(default)]
    pub model: Option<String>,
    /// `product_serial` (root only on most systems).
    #[serde(default)]
    pub serial: Option<String>,
    /// `product_uuid` (root only on most systems).
    #[serde(default)]
    pub uuid: Option<String>,
    /// `bios_vendor`.
    #[serde(default)]
    pub bios_vendor: Option<String>,
    /// `bios_version`.
    #[serde(default)]
    pub bios_version: Option<String>,
    /// `bios_date`.
    #[serde(default)]
    pub bios_date: Option<String>,
    /// `chassis_type` (SMBIOS number as text).
    #[serde(default)]
    pub chassis_type: Option<String>,
}

/// One local account from `/etc/passwd`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalUser {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    #[serde(default)]
    pub gid: u32,
    /// Home directory.
    #[serde(default)]
    pub home: String,
    /// Login shell.
    #[serde(default)]
    pub shell: String,
    /// Whether this looks like a login-capable human account.
    #[serde(default)]
    pub interactive: bool,
}

/// Installed software.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packages {
    /// Package database (`dpkg`, `rpm`, `pacman`).
    pub manager: String,
    /// Number of installed packages.
    pub count: u32,
    /// Stable hash of the sorted (name, version, arch) list, hex SHA-256.
    pub hash: String,
    /// The full list; `None` when unchanged since the last acknowledged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Package>>,
}

/// One installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Architecture, when the database records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Publisher or vendor (Windows `Publisher`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Stable identifier where the platform has one (macOS bundle id,
    /// Windows Uninstall key name / MSI product code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Install date (Unix seconds), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<i64>,
}
