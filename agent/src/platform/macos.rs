//! macOS: sw_vers, system_profiler, app bundles, the SoftwareUpdate and Time
//! Machine preferences, pwpolicy, fdesetup and socketfilterfw, all through
//! the `SysRoot` and `CommandRunner` so they run on fixture roots.

use fleetwatch_protocol::Checks;

use super::{CheckPlan, Collection, disabled};
use crate::checks::backup::BackupCheck;
use crate::checks::data_protection::macos::MacDataProtectionCheck;
use crate::checks::inventory::macos::MacInventoryCheck;
use crate::checks::password_policy::macos::MacPasswordPolicyCheck;
use crate::checks::patches::softwareupdate::SoftwareUpdateCheck;
use crate::checks::{CheckContext, run_check};

/// Runs the enabled macOS checks.
pub(super) fn collect(ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    let on = plan.checks;
    let software_update = SoftwareUpdateCheck {
        scan: plan.macos.softwareupdate_scan,
    };
    Collection {
        inventory: if on.inventory {
            run_check(&MacInventoryCheck, ctx)
        } else {
            disabled()
        },
        checks: Checks {
            patches: on.patches.then(|| run_check(&software_update, ctx)),
            // The backup check dispatches on each job's kind; `time_machine`
            // is the macOS one, restic/borg/marker/command work here too.
            backup: on
                .backup
                .then(|| run_check(&BackupCheck::new(plan.backup.to_vec()), ctx)),
            password_policy: on
                .password_policy
                .then(|| run_check(&MacPasswordPolicyCheck, ctx)),
            data_protection: on
                .data_protection
                .then(|| run_check(&MacDataProtectionCheck, ctx)),
        },
    }
}
