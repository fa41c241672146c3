//! Which operating system the agent reports on, and the checks that have a
//! meaning there.
//!
//! The platform is decided from the host at run time on Unix builds (a macOS
//! fixture root is reported as macOS on a Linux build machine, so the whole
//! macOS path is tested here), and at compile time on Windows. Each
//! platform's module builds the inventory and the compliance sections from
//! its own sources; a check with no meaning on an OS is `unsupported`
//! ("not applicable"), never failed or unknown.

use fleetwatch_protocol::{CheckResult, Checks, HostIdentity, Inventory};

use crate::checks::CheckContext;
use crate::checks::backup::BackupJobConfig;
use crate::config::{ChecksConfig, MacosConfig};
use crate::host::SysRoot;

#[cfg(unix)]
mod linux;
#[cfg(unix)]
mod macos;
// Compiled everywhere: the Windows mappings are tested on Linux with
// recorded rows; only its live host is Windows-only.
pub mod windows;

/// The operating system a report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// A Linux distribution.
    Linux,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
}

/// The file whose presence marks a macOS root (read by `sw_vers` itself).
pub const MACOS_SYSTEM_VERSION_PLIST: &str = "/System/Library/CoreServices/SystemVersion.plist";

impl Platform {
    /// The platform of the host under `root`.
    #[cfg(unix)]
    pub fn detect(root: &SysRoot) -> Platform {
        if root.exists(MACOS_SYSTEM_VERSION_PLIST) {
            Platform::Macos
        } else {
            Platform::Linux
        }
    }

    /// The platform of the host under `root`: a Windows build reads Windows
    /// sources only.
    #[cfg(windows)]
    pub fn detect(_root: &SysRoot) -> Platform {
        Platform::Windows
    }
}

/// What to collect: the enabled checks and the configured backup jobs.
#[derive(Debug, Clone, Copy)]
pub struct CheckPlan<'a> {
    /// Enable switches.
    pub checks: ChecksConfig,
    /// Backup jobs from the agent config.
    pub backup: &'a [BackupJobConfig],
    /// macOS-only settings.
    pub macos: MacosConfig,
}

/// The inventory and compliance sections of one report.
pub struct Collection {
    /// Device inventory (`unsupported` when disabled).
    pub inventory: CheckResult<Inventory>,
    /// Compliance sections; a disabled check is `None`.
    pub checks: Checks,
}

/// Runs the plan's checks for `platform` (blocking).
pub fn collect(platform: Platform, ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    match platform {
        #[cfg(unix)]
        Platform::Linux => linux::collect(ctx, plan),
        #[cfg(unix)]
        Platform::Macos => macos::collect(ctx, plan),
        #[cfg(windows)]
        Platform::Windows => windows::collect(ctx, plan),
        #[allow(unreachable_patterns)]
        other => not_built_for(other, plan),
    }
}

/// The identity sent at enrollment, read the way `platform` keeps it
/// (DMI and machine-id on Linux; system_profiler and scutil on a Mac).
pub fn host_identity(platform: Platform, ctx: &CheckContext<'_>) -> HostIdentity {
    match platform {
        #[cfg(unix)]
        Platform::Macos => crate::checks::inventory::macos::host_identity(ctx),
        #[cfg(unix)]
        _ => crate::checks::inventory::host_identity(ctx.root),
        #[cfg(windows)]
        _ => {
            let _ = ctx;
            windows::live_host_identity()
        }
    }
}

/// The answer for a platform this binary has no sources for (a Linux root
/// given to a Windows build, say): every enabled check is unsupported.
#[allow(dead_code)]
fn not_built_for(platform: Platform, plan: CheckPlan<'_>) -> Collection {
    let why = format!("this agent build has no {platform:?} checks");
    Collection {
        inventory: CheckResult::unsupported(0.0, why.clone()),
        checks: Checks {
            patches: unsupported_if(plan.checks.patches, &why),
            backup: unsupported_if(plan.checks.backup, &why),
            password_policy: unsupported_if(plan.checks.password_policy, &why),
            data_protection: unsupported_if(plan.checks.data_protection, &why),
        },
    }
}

/// `Some(unsupported(why))` for an enabled check, `None` for a disabled one.
pub fn unsupported_if<T>(enabled: bool, why: &str) -> Option<CheckResult<T>> {
    enabled.then(|| CheckResult::unsupported(0.0, why))
}

/// The outcome of a check switched off in the agent config.
pub fn disabled<T>() -> CheckResult<T> {
    CheckResult::unsupported(0.0, "disabled in the agent configuration")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_root_with_the_macos_version_plist_is_macos_and_others_are_linux() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        assert_eq!(Platform::detect(&root), Platform::Linux);
        let plist = dir
            .path()
            .join(MACOS_SYSTEM_VERSION_PLIST.trim_start_matches('/'));
        std::fs::create_dir_all(plist.parent().unwrap()).unwrap();
        std::fs::write(&plist, "<plist/>").unwrap();
        assert_eq!(Platform::detect(&root), Platform::Macos);
    }
}
