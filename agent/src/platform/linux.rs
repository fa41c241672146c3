//! Linux: os-release, procfs, DMI, dpkg/rpm; apt/dnf/zypper/pacman; PAM,
//! login.defs, pwquality and shadow; LUKS, firewalld/ufw/nftables and ClamAV.

use fleetwatch_protocol::Checks;

use super::{CheckPlan, Collection, disabled};
use crate::checks::backup::BackupCheck;
use crate::checks::data_protection::LinuxDataProtectionCheck;
use crate::checks::inventory::InventoryCheck;
use crate::checks::password_policy::PasswordPolicyCheck;
use crate::checks::patches::PatchCheck;
use crate::checks::{CheckContext, run_check};

/// Runs the enabled Linux checks.
// `Default` is the checks' fixed API even where they are unit structs today.
#[allow(clippy::default_constructed_unit_structs)]
pub(super) fn collect(ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    let on = plan.checks;
    Collection {
        inventory: if on.inventory {
            run_check(&InventoryCheck, ctx)
        } else {
            disabled()
        },
        checks: Checks {
            patches: on.patches.then(|| run_check(&PatchCheck::default(), ctx)),
            backup: on
                .backup
                .then(|| run_check(&BackupCheck::new(plan.backup.to_vec()), ctx)),
            password_policy: on
                .password_policy
                .then(|| run_check(&PasswordPolicyCheck::default(), ctx)),
            data_protection: on
                .data_protection
                .then(|| run_check(&LinuxDataProtectionCheck, ctx)),
        },
    }
}
