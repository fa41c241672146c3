//! Windows: WMI and the registry for inventory, the Windows Update Agent
//! for patches. Every mapping is a pure function over what a
//! [`host::WindowsHost`] answers, so it is tested on Linux with recorded
//! rows; the live host (WMI, registry, COM, Net API) exists in Windows
//! builds only.

pub mod acl;
pub mod host;
pub mod inventory;
pub mod password;
pub mod protection;
pub mod provision;
pub mod record;
pub mod software;
pub mod update;
pub mod values;

#[cfg(windows)]
mod live;
#[cfg(windows)]
mod netapi;
#[cfg(windows)]
pub mod secure_dir;
#[cfg(windows)]
pub mod service;
#[cfg(windows)]
pub mod usage;
#[cfg(windows)]
mod wua;

use fleetwatch_protocol::{Checks, HostIdentity};

use super::{CheckPlan, Collection, disabled};
use crate::checks::backup::BackupCheck;
use crate::checks::{CheckContext, run_check};
use host::WindowsHost;
use inventory::WindowsInventoryCheck;
use password::WindowsPasswordCheck;
use protection::WindowsProtectionCheck;
use update::WindowsUpdateCheck;

/// Runs the enabled Windows checks against the live machine.
#[cfg(windows)]
pub(super) fn collect(ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    collect_from(&live::LiveWindowsHost::new(), ctx, plan)
}

/// The enrollment identity of the live machine.
#[cfg(windows)]
pub(super) fn live_host_identity() -> HostIdentity {
    inventory::host_identity(&live::LiveWindowsHost::new())
}

/// A recording of everything the checks read on this machine.
#[cfg(windows)]
pub fn record_live(provenance: &str) -> host::Recording {
    record::record(&live::LiveWindowsHost::new(), provenance)
}

/// Runs the enabled Windows checks against `host` (blocking).
pub fn collect_from(
    host: &dyn WindowsHost,
    ctx: &CheckContext<'_>,
    plan: CheckPlan<'_>,
) -> Collection {
    let on = plan.checks;
    Collection {
        inventory: if on.inventory {
            run_check(&WindowsInventoryCheck { host }, ctx)
        } else {
            disabled()
        },
        checks: Checks {
            patches: on
                .patches
                .then(|| run_check(&WindowsUpdateCheck { host }, ctx)),
            // restic, marker and command jobs take Windows paths as they are.
            backup: on
                .backup
                .then(|| run_check(&BackupCheck::new(plan.backup.to_vec()), ctx)),
            password_policy: on
                .password_policy
                .then(|| run_check(&WindowsPasswordCheck { host }, ctx)),
            data_protection: on
                .data_protection
                .then(|| run_check(&WindowsProtectionCheck { host }, ctx)),
        },
    }
}

/// The enrollment identity read from `host`.
pub fn host_identity(host: &dyn WindowsHost) -> HostIdentity {
    inventory::host_identity(host)
}
