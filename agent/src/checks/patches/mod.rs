//! The patch-level check (placeholder until the apt/dnf/zypper/pacman backends land).

use fleetwatch_protocol::Patches;

use super::{Check, CheckContext, CheckError, Collected};

/// Detects the package manager and reports pending updates, cache age, reboot state.
#[derive(Debug, Clone, Default)]
pub struct PatchCheck;

impl Check for PatchCheck {
    type Output = Patches;
    const NAME: &'static str = "patches";
    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
        Ok(Collected::Unsupported(
            "patch check not implemented yet".into(),
        ))
    }
}
