//! The data-protection check: disk encryption per volume, the host firewall
//! and antivirus, in the protocol's cross-platform shape.
//!
//! On Linux: LUKS/dm-crypt from sysfs and `cryptsetup luksDump`
//! ([`volumes`]), firewalld/ufw/nftables ([`firewall`]), ClamAV
//! ([`clamav`]). A firewall that cannot be read is unknown (`None` with the
//! reason), never off; a host without ClamAV reports no antivirus and no
//! error: Linux has no built-in one, so there is nothing to judge.
//!
//! On macOS: FileVault, the application firewall, XProtect, Gatekeeper and
//! SIP ([`macos`]).

pub mod clamav;
pub mod firewall;
pub mod luks;
pub mod macos;
pub mod nftables;
pub mod volumes;

use fleetwatch_protocol::DataProtection;

use super::{Check, CheckContext, CheckError, Collected};

/// Collects the Linux data-protection facts.
#[derive(Debug, Clone, Default)]
pub struct LinuxDataProtectionCheck;

impl Check for LinuxDataProtectionCheck {
    type Output = DataProtection;
    const NAME: &'static str = "data_protection";

    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<DataProtection>, CheckError> {
        let volumes = volumes::read(ctx)?;
        let (firewall, firewall_error) = firewall::read(ctx);
        let (antivirus, antivirus_error) = match clamav::read(ctx.root) {
            Ok(av) => (av, None),
            Err(e) => (None, Some(format!("ClamAV: {e}"))),
        };
        Ok(Collected::Ok(DataProtection {
            volumes,
            firewall,
            firewall_error,
            antivirus,
            antivirus_error,
            platform_protections: Vec::new(),
        }))
    }
}
