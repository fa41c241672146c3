//! Windows: WMI and the registry for inventory, the Windows Update Agent API,
//! NetUserModalsGet/NetUserEnum/secedit, BitLocker, Defender and the
//! firewall. Only Windows sources are compiled into a Windows build.

use super::{CheckPlan, Collection, Platform, not_built_for};
use crate::checks::CheckContext;

/// Runs the enabled Windows checks.
pub(super) fn collect(_ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    // The Windows checks are not written yet: every section is unsupported.
    not_built_for(Platform::Windows, plan)
}
