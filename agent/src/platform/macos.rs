//! macOS: sw_vers, system_profiler, app bundles, the SoftwareUpdate and Time
//! Machine preferences, pwpolicy, fdesetup and socketfilterfw, all through
//! the `SysRoot` and `CommandRunner` so they run on fixture roots.

use super::{CheckPlan, Collection, Platform, not_built_for};
use crate::checks::CheckContext;

/// Runs the enabled macOS checks.
pub(super) fn collect(_ctx: &CheckContext<'_>, plan: CheckPlan<'_>) -> Collection {
    // The macOS checks are not written yet: every section is unsupported.
    not_built_for(Platform::Macos, plan)
}
