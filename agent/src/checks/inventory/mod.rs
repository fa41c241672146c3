//! The inventory check: what the device is. Linux first-class.
//!
//! Every file is read through the [`SysRoot`], so the check runs unchanged
//! on a fixture tree; parsers live in their own modules, apart from I/O.
//! Disks and network interfaces come from system calls (via `sysinfo`) and
//! are therefore only collected on the live root; on a fixture root the mount
//! table is read from `/proc/mounts` without sizes.
//!
//! Nothing secret is read: `/etc/shadow` is never opened, and the password
//! field of `/etc/passwd` is ignored.

pub mod disks;
pub mod identity;
pub mod kernel_counts;
pub mod macos;
pub mod network;
pub mod os_release;
pub mod packages;
pub mod passwd;
pub mod procfs;

use fleetwatch_protocol::{CpuInfo, Inventory, MemoryInfo, OsInfo, Packages};

pub use identity::host_identity;

use super::{Check, CheckContext, CheckError, Collected};
use crate::host::SysRoot;

/// Collects the device inventory.
#[derive(Debug, Clone, Default)]
pub struct InventoryCheck;

impl Check for InventoryCheck {
    type Output = Inventory;
    const NAME: &'static str = "inventory";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<Inventory>, CheckError> {
        let root = ctx.root;
        let hostname = identity::read_hostname(root);
        let live = root.is_live();
        let (users, users_error) = match root.read_optional("/etc/passwd")? {
            Some(text) => (passwd::parse_passwd(&text), None),
            None => (Vec::new(), Some("/etc/passwd does not exist".to_string())),
        };
        let inventory = Inventory {
            fqdn: identity::read_fqdn(root, &hostname),
            machine_id: identity::read_machine_id(root),
            os: read_os(root)?,
            kernel_version: root.read_value("/proc/sys/kernel/osrelease"),
            arch: read_arch(root),
            cpu: read_cpu(root)?,
            memory: read_memory(root)?,
            disks: disks::read_disks(root)?,
            network: if live {
                network::live_interfaces()
            } else {
                Vec::new()
            },
            hardware: identity::read_hardware(root),
            boot_time: root
                .read_optional("/proc/stat")?
                .and_then(|t| procfs::parse_btime(&t)),
            users,
            users_error,
            packages: read_packages(ctx)?,
            computer_name: None,
            hostname,
        };
        Ok(Collected::Ok(inventory))
    }
}

/// CPUs from `/proc/cpuinfo`; on a live root without it (no `/proc` in a
/// chroot or container) the count from the scheduler, and a check failure
/// when neither knows: zero CPUs would be a wrong fact, not an unknown one.
fn read_cpu(root: &SysRoot) -> Result<CpuInfo, CheckError> {
    let mut cpu = root
        .read_optional("/proc/cpuinfo")?
        .map(|t| procfs::parse_cpuinfo(&t))
        .unwrap_or_default();
    if cpu.logical_cpus == 0 && root.is_live() {
        cpu.logical_cpus =
            kernel_counts::cpus_from_scheduler().ok_or_else(|| CheckError::Parse {
                what: "/proc/cpuinfo".into(),
                detail: "no processor listed and the scheduler's CPU count is unknown".into(),
            })?;
    }
    Ok(cpu)
}

/// Memory from `/proc/meminfo`; on a live root without a `MemTotal` there
/// (no `/proc`) the kernel's `sysinfo(2)`, and a check failure when neither
/// knows, for the same reason as [`read_cpu`].
fn read_memory(root: &SysRoot) -> Result<MemoryInfo, CheckError> {
    let memory = root
        .read_optional("/proc/meminfo")?
        .map(|t| procfs::parse_meminfo(&t))
        .unwrap_or_default();
    if memory.total_bytes == 0 && root.is_live() {
        return kernel_counts::memory_from_sysinfo().ok_or_else(|| CheckError::Parse {
            what: "/proc/meminfo".into(),
            detail: "no MemTotal and sysinfo(2) failed".into(),
        });
    }
    Ok(memory)
}

/// os-release from `/etc`, falling back to `/usr/lib` as the spec says.
fn read_os(root: &SysRoot) -> Result<OsInfo, CheckError> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Some(text) = root.read_optional(path)? {
            return Ok(os_release::parse_os_release(&text));
        }
    }
    Ok(OsInfo::default())
}

/// The kernel's architecture name (`/proc/sys/kernel/arch`, Linux ≥ 6.1),
/// else, when live, the architecture this agent was built for.
fn read_arch(root: &SysRoot) -> String {
    root.read_value("/proc/sys/kernel/arch")
        .or_else(|| root.is_live().then(|| std::env::consts::ARCH.to_string()))
        .unwrap_or_default()
}

/// Installed packages with their full list (report assembly drops the list
/// when the collector already holds this hash).
fn read_packages(ctx: &CheckContext<'_>) -> Result<Option<Packages>, CheckError> {
    let root = ctx.root;
    let (manager, items) = if let Some(text) = root.read_optional("/var/lib/dpkg/status")? {
        ("dpkg", packages::parse_dpkg_status(&text))
    } else if root.exists("/var/lib/rpm") || root.exists("/usr/lib/sysimage/rpm") {
        // Only ask rpm when the root has an rpm database: on a fixture root
        // the runner is a recording, on the live root it is this machine.
        let out = ctx.runner.run(
            "rpm",
            &["-qa", "--qf", packages::RPM_QUERY_FORMAT],
            ctx.command_timeout,
        )?;
        if !out.success() {
            return Err(CheckError::CommandFailed {
                command: "rpm -qa".into(),
                code: out
                    .exit_code
                    .map_or_else(|| "a signal".into(), |c| c.to_string()),
                stderr: out.stderr_summary(),
            });
        }
        ("rpm", packages::parse_rpm_qa(&out.stdout_text()))
    } else if root.exists(packages::PACMAN_LOCAL_DB) {
        ("pacman", packages::read_pacman_local(root)?)
    } else {
        return Ok(None);
    };
    Ok(Some(Packages {
        manager: manager.into(),
        count: items.len() as u32,
        hash: packages::packages_hash(&items),
        items: Some(items),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::run_check;
    use crate::host::{RecordedRunner, SystemRunner};
    use fleetwatch_protocol::CheckStatus;
    use std::time::Duration;

    fn fixture_root() -> SysRoot {
        SysRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/hosts/inventory-debian12"
        ))
    }

    fn collect(root: &SysRoot, runner: &dyn crate::host::CommandRunner) -> Inventory {
        let ctx = CheckContext {
            root,
            runner,
            now: 1_714_000_000,
            command_timeout: Duration::from_secs(30),
        };
        let result = run_check(&InventoryCheck, &ctx);
        assert_eq!(result.status, CheckStatus::Ok, "{:?}", result.error);
        result.data.unwrap()
    }

    #[test]
    fn inventory_of_the_debian12_fixture() {
        let inv = collect(&fixture_root(), &RecordedRunner::new());
        assert_eq!(inv.hostname, "ws-0042");
        assert_eq!(inv.fqdn.as_deref(), Some("ws-0042.corp.example.com"));
        assert_eq!(
            inv.machine_id.as_deref(),
            Some("5f3c1a9e8b7d4c2a9e1f0b6d3c8a7e21")
        );
        assert_eq!(inv.os.id, "debian");
        assert_eq!(inv.os.version_id.as_deref(), Some("12"));
        assert_eq!(inv.kernel_version.as_deref(), Some("6.1.0-21-amd64"));
        assert_eq!(inv.arch, "x86_64");
        assert_eq!(inv.cpu.logical_cpus, 4);
        assert_eq!(inv.memory.total_bytes, 16_303_372 * 1024);
        assert_eq!(inv.boot_time, Some(1_714_032_000));
        assert_eq!(inv.hardware.vendor.as_deref(), Some("LENOVO"));
        let mounts: Vec<_> = inv.disks.iter().map(|d| d.mount_point.as_str()).collect();
        assert_eq!(mounts, ["/", "/boot", "/boot/efi"]);
        assert!(inv.network.is_empty());
        let interactive: Vec<_> = inv
            .users
            .iter()
            .filter(|u| u.interactive)
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(interactive, ["root", "alice", "bob"]);
        let pkgs = inv.packages.as_ref().unwrap();
        assert_eq!(pkgs.manager, "dpkg");
        assert_eq!(pkgs.count, 4);
        assert_eq!(pkgs.items.as_ref().unwrap().len(), 4);
        assert_eq!(
            pkgs.hash,
            packages::packages_hash(pkgs.items.as_ref().unwrap())
        );
    }

    #[test]
    fn users_without_an_account_database_are_unknown_not_none() {
        let with = collect(&fixture_root(), &RecordedRunner::new());
        assert_eq!(with.users_error, None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/os-release"), "ID=debian\n").unwrap();
        let inv = collect(&SysRoot::new(dir.path()), &RecordedRunner::new());
        assert!(inv.users.is_empty());
        assert_eq!(
            inv.users_error.as_deref(),
            Some("/etc/passwd does not exist")
        );
    }

    #[test]
    fn the_inventory_contains_no_shadow_secret() {
        let root = fixture_root();
        let shadow = root.read_to_string("/etc/shadow").unwrap();
        let hashes: Vec<&str> = shadow
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .filter(|h| h.starts_with('$'))
            .collect();
        assert!(
            hashes.len() >= 2,
            "fixture shadow must hold real-looking hashes"
        );
        let json = serde_json::to_string(&collect(&root, &RecordedRunner::new())).unwrap();
        for hash in hashes {
            assert!(!json.contains(hash), "report leaks {hash}");
            // Not even the salt or the digest part on its own.
            for part in hash.split('$').filter(|p| p.len() >= 8) {
                assert!(!json.contains(part), "report leaks part of a hash: {part}");
            }
        }
    }

    #[test]
    fn rpm_hosts_use_the_runner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        let runner = RecordedRunner::new().with(
            &["rpm", "-qa", "--qf", packages::RPM_QUERY_FORMAT],
            0,
            "bash\t5.1.8-9.el9\tx86_64\n",
        );
        let inv = collect(&SysRoot::new(dir.path()), &runner);
        let pkgs = inv.packages.unwrap();
        assert_eq!((pkgs.manager.as_str(), pkgs.count), ("rpm", 1));
    }

    #[test]
    fn an_empty_root_still_gives_an_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let inv = collect(&SysRoot::new(dir.path()), &RecordedRunner::new());
        assert_eq!(inv.hostname, "");
        assert_eq!(inv.os.id, "");
        assert!(inv.packages.is_none());
    }

    #[test]
    fn inventory_of_the_live_machine_is_sane() {
        let root = SysRoot::live();
        let inv = collect(&root, &SystemRunner::new());
        assert!(!inv.hostname.is_empty());
        assert!(inv.memory.total_bytes > 0);
        assert!(inv.cpu.logical_cpus > 0);
        assert!(!inv.arch.is_empty());
        assert!(inv.kernel_version.is_some());
        assert!(inv.boot_time.unwrap_or(0) > 1_000_000_000);
        assert!(inv.users.iter().any(|u| u.name == "root" && u.uid == 0));
        assert!(!inv.os.id.is_empty());
        // The CI machine is a Debian host with dpkg.
        if root.exists("/var/lib/dpkg/status") {
            let pkgs = inv.packages.unwrap();
            assert!(pkgs.count > 0);
            assert_eq!(pkgs.hash.len(), 64);
        }
    }
}
