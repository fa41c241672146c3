//! The inventory of a Mac, from `sw_vers`, `scutil`, `system_profiler`,
//! `sysctl`, `vm_stat`, `ifconfig`, `dscl` and the application bundles.
//!
//! Every command goes through the context's runner and every file through
//! its root, so the whole check runs on a fixture root with recorded
//! outputs. A source that fails leaves its fields unknown (and is logged)
//! instead of failing the inventory: a Mac without `system_profiler`
//! output still reports its version and accounts.

pub mod apps;
pub mod hardware;
pub mod network;
pub mod os;
pub mod users;
pub mod volumes;

use fleetwatch_protocol::{HostIdentity, Inventory, LocalUser, Packages};
use serde::de::DeserializeOwned;

use super::packages::packages_hash;
use crate::checks::{Check, CheckContext, CheckError, Collected, plist};
use crate::platform::MACOS_SYSTEM_VERSION_PLIST;

/// Collects the inventory of a Mac.
#[derive(Debug, Clone, Default)]
pub struct MacInventoryCheck;

/// `Packages::manager` for application bundles.
pub const APPS_MANAGER: &str = "macos_apps";

impl Check for MacInventoryCheck {
    type Output = Inventory;
    const NAME: &'static str = "inventory";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<Inventory>, CheckError> {
        let sysctl = optional(ctx, "sysctl", &hardware::SYSCTL_NAMES)
            .map(|t| hardware::parse_sysctl(&t))
            .unwrap_or_default();
        let overview = json::<hardware::HardwareReport>(ctx, "SPHardwareDataType")
            .unwrap_or_default()
            .overview();
        let names = HostNames::read(ctx, sysctl.get("kern.hostname").map(String::as_str));
        let available =
            optional(ctx, "vm_stat", &[]).and_then(|t| hardware::parse_vm_stat_available(&t));
        let applications = apps::read_applications(ctx.root)?;
        let (users, users_error) = local_users(ctx);
        let inventory = Inventory {
            hostname: names.hostname,
            fqdn: names.fqdn,
            computer_name: names.computer_name,
            machine_id: None,
            os: os::os_info(&read_sw_vers(ctx)?),
            kernel_version: sysctl.get("kern.osrelease").cloned(),
            arch: sysctl.get("hw.machine").cloned().unwrap_or_default(),
            cpu: hardware::cpu_info(&sysctl, overview.processor()),
            memory: hardware::memory_info(&sysctl, available),
            disks: json::<volumes::StorageReport>(ctx, "SPStorageDataType")
                .map(|r| r.disks())
                .unwrap_or_default(),
            network: optional(ctx, "ifconfig", &["-a"])
                .map(|t| network::parse_ifconfig(&t))
                .unwrap_or_default(),
            hardware: overview.hardware(),
            boot_time: sysctl
                .get("kern.boottime")
                .and_then(|v| hardware::parse_boottime(v)),
            users,
            users_error,
            packages: Some(Packages {
                manager: APPS_MANAGER.into(),
                count: u32::try_from(applications.len()).unwrap_or(u32::MAX),
                hash: packages_hash(&applications),
                items: Some(applications),
            }),
        };
        Ok(Collected::Ok(inventory))
    }
}

/// The enrollment identity of a Mac: hardware UUID and serial from
/// system_profiler, the host name from scutil. Macs have no machine-id.
pub fn host_identity(ctx: &CheckContext<'_>) -> HostIdentity {
    let hw = json::<hardware::HardwareReport>(ctx, "SPHardwareDataType")
        .unwrap_or_default()
        .overview()
        .hardware();
    HostIdentity {
        machine_id: None,
        hardware_uuid: hw.uuid,
        serial: hw.serial,
        hostname: HostNames::read(ctx, None).hostname,
    }
}

/// sw_vers, else the SystemVersion.plist it reads.
fn read_sw_vers(ctx: &CheckContext<'_>) -> Result<os::SwVers, CheckError> {
    if let Some(text) = optional(ctx, "sw_vers", &[]) {
        let parsed = os::parse_sw_vers(&text);
        if parsed.product_version.is_some() {
            return Ok(parsed);
        }
    }
    Ok(
        plist::read::<os::SystemVersionPlist>(ctx.root, MACOS_SYSTEM_VERSION_PLIST)?
            .map(os::SwVers::from)
            .unwrap_or_default(),
    )
}

/// The names `scutil` keeps: the Bonjour `LocalHostName`, the optional
/// admin-set `HostName`, and the `ComputerName` people see in Finder.
struct HostNames {
    hostname: String,
    fqdn: Option<String>,
    computer_name: Option<String>,
}

impl HostNames {
    fn read(ctx: &CheckContext<'_>, kernel_hostname: Option<&str>) -> HostNames {
        // `scutil --get X` exits 1 with "X: not set" when a name is unset.
        let get = |key: &str| {
            optional(ctx, "scutil", &["--get", key])
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let host_name = get("HostName");
        let short = |n: &str| n.split('.').next().unwrap_or(n).to_string();
        let hostname = get("LocalHostName")
            .or_else(|| host_name.as_deref().map(short))
            .or_else(|| kernel_hostname.map(short))
            .unwrap_or_default();
        HostNames {
            hostname,
            fqdn: host_name.filter(|h| h.contains('.') && !h.ends_with(".local")),
            computer_name: get("ComputerName"),
        }
    }
}

/// A command's stdout when it ran and exited 0; otherwise `None`, logged.
fn optional(ctx: &CheckContext<'_>, program: &str, args: &[&str]) -> Option<String> {
    optional_bytes(ctx, program, args).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn optional_bytes(ctx: &CheckContext<'_>, program: &str, args: &[&str]) -> Option<Vec<u8>> {
    match ctx.run_ok(program, program, args) {
        Ok(out) => Some(out.stdout),
        Err(e) => {
            tracing::debug!(program, error = %e, "inventory source unavailable");
            None
        }
    }
}

/// The local accounts from `dscl`, or why they are unknown.
fn local_users(ctx: &CheckContext<'_>) -> (Vec<LocalUser>, Option<String>) {
    let unknown = |why: String| {
        tracing::warn!(error = %why, "local accounts unknown");
        (Vec::new(), Some(why))
    };
    match ctx.run_ok("dscl", "dscl", users::DSCL_ARGS) {
        Ok(out) => match plist::parse(&out.stdout, "dscl -readall /Users") {
            Ok(records) => (users::users_from_records(records), None),
            Err(e) => unknown(e.to_string()),
        },
        Err(e) => unknown(e.to_string()),
    }
}

/// `system_profiler -json <data type>`, parsed.
fn json<T: DeserializeOwned>(ctx: &CheckContext<'_>, data_type: &str) -> Option<T> {
    let bytes = optional_bytes(ctx, "system_profiler", &["-json", data_type])?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(data_type, error = %e, "could not parse system_profiler output");
            None
        }
    }
}
