//! The password-policy check (placeholder until the parsers land).

use fleetwatch_protocol::PasswordPolicy;

use super::{Check, CheckContext, CheckError, Collected};

/// Merges login.defs, pwquality and PAM into the effective policy; reads shadow facts.
#[derive(Debug, Clone, Default)]
pub struct PasswordPolicyCheck;

impl Check for PasswordPolicyCheck {
    type Output = PasswordPolicy;
    const NAME: &'static str = "password_policy";
    fn collect(&self, _ctx: &CheckContext<'_>) -> Result<Collected<PasswordPolicy>, CheckError> {
        Ok(Collected::Unsupported(
            "password policy check not implemented yet".into(),
        ))
    }
}
