//! The inventory of a Windows machine from WMI (`Win32_OperatingSystem`,
//! `Win32_ComputerSystem`, `Win32_ComputerSystemProduct`, `Win32_BIOS`,
//! `Win32_Processor`, `Win32_LogicalDisk`, `Win32_NetworkAdapterConfiguration`,
//! `Win32_UserAccount`) and the registry (`CurrentVersion`, `MachineGuid`,
//! the Uninstall keys). Only `Win32_OperatingSystem` is required; any other
//! source that fails leaves its fields unknown (and is logged).

use fleetwatch_protocol::{
    CpuInfo, Disk, Hardware, HostIdentity, Inventory, LocalUser, MemoryInfo, NetworkInterface,
    OsFamily, OsInfo,
};

use super::host::{NetAccount, RegValues, WindowsError, WindowsHost, WmiRow};
use super::password::UF_ACCOUNTDISABLE;
use super::software::packages_section;
use super::values::{boolean, cim_datetime, strings, text, unsigned};
use crate::checks::hardware_ids::clean_dmi_value;
use crate::checks::{Check, CheckContext, CheckError, Collected};

/// `Win32_OperatingSystem`.
pub const OS_QUERY: &str = "SELECT * FROM Win32_OperatingSystem";
/// `Win32_ComputerSystem`.
pub const COMPUTER_SYSTEM_QUERY: &str = "SELECT * FROM Win32_ComputerSystem";
/// `Win32_ComputerSystemProduct` (SMBIOS UUID and serial).
pub const PRODUCT_QUERY: &str = "SELECT * FROM Win32_ComputerSystemProduct";
/// `Win32_BIOS`.
pub const BIOS_QUERY: &str = "SELECT * FROM Win32_BIOS";
/// `Win32_Processor`, one row per socket.
pub const PROCESSOR_QUERY: &str = "SELECT * FROM Win32_Processor";
/// `Win32_LogicalDisk`: volumes with a drive letter.
pub const LOGICAL_DISK_QUERY: &str = "SELECT * FROM Win32_LogicalDisk";
/// `Win32_NetworkAdapterConfiguration` of adapters bound to IP.
pub const NETWORK_QUERY: &str =
    "SELECT * FROM Win32_NetworkAdapterConfiguration WHERE IPEnabled = TRUE";
/// Local accounts (domain accounts are the domain's inventory).
pub const USERS_QUERY: &str = "SELECT * FROM Win32_UserAccount WHERE LocalAccount = TRUE";
/// OS version details WMI does not carry (UBR, DisplayVersion, EditionID).
pub const CURRENT_VERSION_KEY: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
/// The per-installation `MachineGuid`.
pub const CRYPTOGRAPHY_KEY: &str = r"SOFTWARE\Microsoft\Cryptography";

/// Collects the inventory of a Windows machine through a [`WindowsHost`].
pub struct WindowsInventoryCheck<'h> {
    /// Where WMI and the registry are read.
    pub host: &'h dyn WindowsHost,
}

impl Check for WindowsInventoryCheck<'_> {
    type Output = Inventory;
    const NAME: &'static str = "inventory";

    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<Inventory>, CheckError> {
        Ok(Collected::Ok(read_inventory(self.host)?))
    }
}

/// The inventory; fails only when `Win32_OperatingSystem` cannot be read.
pub fn read_inventory(host: &dyn WindowsHost) -> Result<Inventory, WindowsError> {
    let os_row = host
        .wmi_query(OS_QUERY)?
        .into_iter()
        .next()
        .unwrap_or_default();
    let cs = first_row(host, COMPUTER_SYSTEM_QUERY);
    let current_version = optional_key(host, CURRENT_VERSION_KEY);
    let processors = rows(host, PROCESSOR_QUERY);
    let hostname = text(&cs, "DNSHostName")
        .or_else(|| text(&cs, "Name"))
        .or_else(|| text(&os_row, "CSName"))
        .unwrap_or_default();
    let os = os_info(&os_row, &current_version);
    let (users, users_error) = local_users(host);
    Ok(Inventory {
        fqdn: fqdn(&hostname, &cs),
        computer_name: text(&cs, "Name").filter(|n| !n.eq_ignore_ascii_case(&hostname)),
        machine_id: machine_guid(host),
        kernel_version: os.version_id.clone(),
        os,
        arch: arch(&processors),
        cpu: cpu_info(&processors),
        memory: memory_info(&os_row),
        disks: disks(&rows(host, LOGICAL_DISK_QUERY)),
        network: network(&rows(host, NETWORK_QUERY)),
        hardware: hardware(
            &cs,
            &first_row(host, PRODUCT_QUERY),
            &first_row(host, BIOS_QUERY),
        ),
        boot_time: text(&os_row, "LastBootUpTime").and_then(|t| cim_datetime(&t)),
        users,
        users_error,
        packages: match host.uninstall_entries() {
            Ok(entries) => Some(packages_section(&entries)),
            Err(e) => {
                tracing::warn!(error = %e, "installed software unknown");
                None
            }
        },
        hostname,
    })
}

/// The enrollment identity: SMBIOS UUID and serial, `MachineGuid`, host name.
pub fn host_identity(host: &dyn WindowsHost) -> HostIdentity {
    let cs = first_row(host, COMPUTER_SYSTEM_QUERY);
    let hw = hardware(
        &cs,
        &first_row(host, PRODUCT_QUERY),
        &first_row(host, BIOS_QUERY),
    );
    HostIdentity {
        machine_id: machine_guid(host),
        hardware_uuid: hw.uuid,
        serial: hw.serial,
        hostname: text(&cs, "DNSHostName")
            .or_else(|| text(&cs, "Name"))
            .unwrap_or_default(),
    }
}

/// The OS section: WMI's caption and version, the registry's edition,
/// display version (`23H2`) and update build revision.
pub fn os_info(os: &WmiRow, current_version: &RegValues) -> OsInfo {
    let reg = |name: &str| {
        current_version
            .get(name)
            .map(|v| v.text().trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let build_number = text(os, "BuildNumber").or_else(|| reg("CurrentBuildNumber"));
    let ubr = current_version.get("UBR").and_then(|v| v.number());
    let caption = text(os, "Caption").or_else(|| reg("ProductName"));
    OsInfo {
        family: Some(OsFamily::Windows),
        id: "windows".into(),
        id_like: None,
        name: Some("Windows".into()),
        version_id: text(os, "Version"),
        version_codename: None,
        pretty_name: caption,
        support_end: None,
        build: build_number.map(|b| match ubr {
            Some(ubr) => format!("{b}.{ubr}"),
            None => b,
        }),
        display_version: reg("DisplayVersion").or_else(|| reg("ReleaseId")),
        edition: reg("EditionID"),
    }
}

fn fqdn(hostname: &str, cs: &WmiRow) -> Option<String> {
    let domain = text(cs, "Domain")?;
    // A workgroup machine's `Domain` is the workgroup name, not a DNS suffix.
    let joined = boolean(cs, "PartOfDomain").unwrap_or(false);
    (joined && !hostname.is_empty()).then(|| format!("{}.{}", hostname, domain.to_lowercase()))
}

fn machine_guid(host: &dyn WindowsHost) -> Option<String> {
    optional_key(host, CRYPTOGRAPHY_KEY)
        .get("MachineGuid")
        .map(|v| v.text().trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
}

/// The architecture of the first processor (`Win32_Processor.Architecture`).
fn arch(processors: &[WmiRow]) -> String {
    let code = processors.first().and_then(|p| unsigned(p, "Architecture"));
    match code {
        Some(0) => "x86",
        Some(5) => "arm",
        Some(9) => "x86_64",
        Some(12) => "aarch64",
        _ => "",
    }
    .to_string()
}

fn cpu_info(processors: &[WmiRow]) -> CpuInfo {
    let sum = |key: &str| {
        processors
            .iter()
            .map(|p| unsigned(p, key))
            .sum::<Option<u64>>()
            .and_then(|n| u32::try_from(n).ok())
    };
    CpuInfo {
        model: processors.first().and_then(|p| text(p, "Name")),
        physical_cores: sum("NumberOfCores").filter(|n| *n > 0),
        logical_cpus: sum("NumberOfLogicalProcessors").unwrap_or(0),
    }
}

/// Memory from `Win32_OperatingSystem` (which counts in KiB); swap is the
/// paging files.
fn memory_info(os: &WmiRow) -> MemoryInfo {
    let kib = |key: &str| unsigned(os, key).map_or(0, |v| v.saturating_mul(1024));
    MemoryInfo {
        total_bytes: kib("TotalVisibleMemorySize"),
        available_bytes: kib("FreePhysicalMemory"),
        swap_total_bytes: kib("SizeStoredInPagingFiles"),
        swap_free_bytes: kib("FreeSpaceInPagingFiles"),
    }
}

/// Local fixed and removable volumes (`DriveType` 3 and 2); network and
/// optical drives are not this device's storage.
fn disks(rows: &[WmiRow]) -> Vec<Disk> {
    rows.iter()
        .filter_map(|r| {
            let drive_type = unsigned(r, "DriveType")?;
            if drive_type != 2 && drive_type != 3 {
                return None;
            }
            let id = text(r, "DeviceID")?;
            Some(Disk {
                mount_point: format!("{id}\\"),
                device: id,
                filesystem: text(r, "FileSystem").unwrap_or_default(),
                total_bytes: unsigned(r, "Size").unwrap_or(0),
                available_bytes: unsigned(r, "FreeSpace").unwrap_or(0),
                // BitLocker state is the data-protection check's, not WMI's here.
                encrypted: None,
                removable: drive_type == 2,
            })
        })
        .collect()
}

fn network(rows: &[WmiRow]) -> Vec<NetworkInterface> {
    rows.iter()
        .map(|r| {
            let subnets = strings(r, "IPSubnet");
            NetworkInterface {
                name: text(r, "Description").unwrap_or_default(),
                mac: text(r, "MACAddress").map(|m| m.to_ascii_lowercase()),
                addresses: strings(r, "IPAddress")
                    .into_iter()
                    .enumerate()
                    .map(
                        |(i, addr)| match subnets.get(i).and_then(|s| prefix_len(s)) {
                            Some(p) => format!("{addr}/{p}"),
                            None => addr,
                        },
                    )
                    .collect(),
            }
        })
        .collect()
}

/// A prefix length from an `IPSubnet` entry: a dotted IPv4 mask or an IPv6
/// prefix length in decimal.
fn prefix_len(subnet: &str) -> Option<u32> {
    if let Ok(mask) = subnet.parse::<std::net::Ipv4Addr>() {
        let bits = u32::from(mask);
        // Only a contiguous mask is a prefix.
        return (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones());
    }
    subnet.parse::<u32>().ok().filter(|p| *p <= 128)
}

/// The local accounts: `Win32_UserAccount`, else `NetUserEnum` level 20.
/// Windows always has at least the built-in Administrator and Guest, so no
/// rows means the source did not answer (Wine's WMI returns none), not "no
/// accounts": the Net API is asked then. When neither answers, the list
/// stays empty and the failure is logged (the wire format has no "unknown"
/// for the user list).
fn local_users(host: &dyn WindowsHost) -> (Vec<LocalUser>, Option<String>) {
    match host.wmi_query(USERS_QUERY) {
        Ok(rows) if !rows.is_empty() => return (users(&rows), None),
        Ok(_) => tracing::info!("Win32_UserAccount has no rows: asking NetUserEnum"),
        Err(e) => tracing::info!(error = %e, "Win32_UserAccount unavailable: asking NetUserEnum"),
    }
    // Every Windows machine has built-in accounts (Administrator, Guest):
    // an empty answer from both sources is a failure, not "no users".
    let why = match host.local_accounts() {
        Ok(accounts) if !accounts.is_empty() => return (net_users(&accounts), None),
        Ok(_) => "neither Win32_UserAccount nor NetUserEnum lists an account".to_string(),
        Err(e) => format!("Win32_UserAccount has no rows and {e}"),
    };
    tracing::warn!(error = %why, "local users unknown");
    (Vec::new(), Some(why))
}

/// Accounts from `NetUserEnum` level 20: the RID stands for the uid, an
/// account without `UF_ACCOUNTDISABLE` counts as interactive.
fn net_users(accounts: &[NetAccount]) -> Vec<LocalUser> {
    let mut out: Vec<LocalUser> = accounts
        .iter()
        .filter(|a| !a.name.is_empty())
        .map(|a| LocalUser {
            name: a.name.clone(),
            uid: a.user_id,
            gid: 0,
            home: String::new(),
            shell: String::new(),
            interactive: a.flags & UF_ACCOUNTDISABLE == 0,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Local accounts: the RID (last SID part) stands for the uid; an enabled
/// account counts as interactive.
fn users(rows: &[WmiRow]) -> Vec<LocalUser> {
    let mut out: Vec<LocalUser> = rows
        .iter()
        .filter_map(|r| {
            let name = text(r, "Name")?;
            let rid = text(r, "SID")
                .and_then(|sid| sid.rsplit('-').next().and_then(|p| p.parse().ok()))
                .unwrap_or(0);
            Some(LocalUser {
                name,
                uid: rid,
                gid: 0,
                home: String::new(),
                shell: String::new(),
                interactive: !boolean(r, "Disabled").unwrap_or(false),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn hardware(cs: &WmiRow, product: &WmiRow, bios: &WmiRow) -> Hardware {
    let clean = |row: &WmiRow, key: &str| text(row, key).and_then(|v| clean_dmi_value(&v));
    Hardware {
        vendor: clean(cs, "Manufacturer").or_else(|| clean(product, "Vendor")),
        model: clean(cs, "Model").or_else(|| clean(product, "Name")),
        serial: clean(product, "IdentifyingNumber").or_else(|| clean(bios, "SerialNumber")),
        uuid: clean(product, "UUID").map(|u| u.to_ascii_lowercase()),
        bios_vendor: clean(bios, "Manufacturer"),
        bios_version: clean(bios, "SMBIOSBIOSVersion"),
        bios_date: text(bios, "ReleaseDate").and_then(|d| {
            let b = d.get(..8)?;
            b.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| format!("{}-{}-{}", &b[..4], &b[4..6], &b[6..8]))
        }),
        chassis_type: None,
    }
}

fn rows(host: &dyn WindowsHost, query: &str) -> Vec<WmiRow> {
    host.wmi_query(query).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "inventory source unavailable");
        Vec::new()
    })
}

fn first_row(host: &dyn WindowsHost, query: &str) -> WmiRow {
    rows(host, query).into_iter().next().unwrap_or_default()
}

fn optional_key(host: &dyn WindowsHost, key: &str) -> RegValues {
    match host.registry_values(key) {
        Ok(values) => values.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "registry source unavailable");
            RegValues::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::host::{Recorded, RecordedWindowsHost};

    /// Recorded under Wine 8 by `fleetwatch-agent.exe record-windows`.
    const WINE8: &str = include_str!("../../../../tests/hosts/windows-wine8/recording.json");

    fn wine8() -> crate::platform::windows::host::RecordedWindowsHost {
        crate::platform::windows::host::RecordedWindowsHost::new(
            serde_json::from_str(WINE8).unwrap(),
        )
    }

    #[test]
    fn the_wine_recording_maps_to_a_windows_inventory() {
        let inv = read_inventory(&wine8()).unwrap();
        assert_eq!(inv.os.family, Some(OsFamily::Windows));
        assert_eq!(
            inv.os.pretty_name.as_deref(),
            Some("Microsoft Windows 7 Professional")
        );
        assert_eq!(inv.os.version_id.as_deref(), Some("6.1.7601"));
        assert_eq!(inv.hostname, "VM");
        assert_eq!(inv.hardware.vendor.as_deref(), Some("The Wine Project"));
        assert_eq!(
            inv.hardware.uuid.as_deref(),
            Some("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4")
        );
        assert_eq!(inv.arch, "x86_64");
        assert_eq!(inv.cpu.logical_cpus, 2);
        assert!(inv.memory.total_bytes > 0);
        assert!(inv.boot_time.is_some());
        let pkgs = inv.packages.unwrap();
        assert_eq!(pkgs.count, 1);
    }

    #[test]
    fn users_come_from_net_user_enum_when_wmi_has_no_rows() {
        // Wine: Win32_UserAccount answers no rows, NetUserEnum(20) the one
        // account Wine has (the recording's local_accounts).
        let inv = read_inventory(&wine8()).unwrap();
        assert_eq!(inv.users.len(), 1, "{:?}", inv.users);
        assert!(!inv.users[0].name.is_empty());
        assert!(inv.users[0].interactive);

        let mut recording: crate::platform::windows::host::Recording =
            serde_json::from_str(WINE8).unwrap();
        recording.local_accounts = Some(Recorded::Ok(vec![
            NetAccount {
                name: "Guest".into(),
                flags: UF_ACCOUNTDISABLE | 0x0200,
                user_id: 501,
            },
            NetAccount {
                name: "Administrator".into(),
                flags: 0x0200,
                user_id: 500,
            },
        ]));
        let (users, why) = local_users(&RecordedWindowsHost::new(recording.clone()));
        assert_eq!(why, None);
        assert_eq!(
            users
                .iter()
                .map(|u| (u.name.as_str(), u.uid, u.interactive))
                .collect::<Vec<_>>(),
            [("Administrator", 500, true), ("Guest", 501, false)]
        );

        // WMI rows win over the Net API when there are any.
        recording.wmi.insert(
            USERS_QUERY.into(),
            Recorded::Ok(vec![WmiRow::from([
                ("Name".to_string(), serde_json::json!("alice")),
                ("SID".to_string(), serde_json::json!("S-1-5-21-1-2-3-1001")),
                ("Disabled".to_string(), serde_json::json!(false)),
            ])]),
        );
        let (users, why) = local_users(&RecordedWindowsHost::new(recording.clone()));
        assert_eq!(why, None);
        assert_eq!(users.len(), 1);
        assert_eq!((users[0].name.as_str(), users[0].uid), ("alice", 1001));

        // Neither source answers: unknown with the reason, never a made-up
        // account and never "no accounts".
        recording.wmi.remove(USERS_QUERY);
        recording.local_accounts = Some(Recorded::Err(WindowsError::NetApi {
            call: "NetUserEnum(level 20)".into(),
            status: 124,
        }));
        let (users, why) = local_users(&RecordedWindowsHost::new(recording.clone()));
        assert!(users.is_empty());
        let why = why.expect("unknown, with a reason");
        assert!(why.contains("NetUserEnum(level 20)"), "{why}");
        // Both answer with nothing: also unknown (Windows always has built-in accounts).
        recording.local_accounts = Some(Recorded::Ok(vec![]));
        let (users, why) = local_users(&RecordedWindowsHost::new(recording));
        assert!(users.is_empty());
        assert!(why.is_some());
    }

    #[test]
    fn wmi_property_names_match_without_case() {
        // Wine answers `DeviceId` where Windows documents `DeviceID`.
        let disks = disks(&rows(&wine8(), LOGICAL_DISK_QUERY));
        let c = disks.iter().find(|d| d.device == "C:").expect("drive C:");
        assert_eq!(c.mount_point, "C:\\");
        assert_eq!(c.filesystem, "NTFS");
        assert_eq!(c.total_bytes, 82_252_800_000);
        assert!(!c.removable);
    }

    #[test]
    fn ipv4_masks_and_ipv6_prefixes() {
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("255.255.0.255"), None);
        assert_eq!(prefix_len("0.0.0.0"), Some(0));
        assert_eq!(prefix_len("64"), Some(64));
        assert_eq!(prefix_len("129"), None);
    }
}
