//! The setting to change when a check fails, per OS family: the Linux file
//! or PAM line, the Windows Group Policy / secpol setting, the macOS
//! configuration-profile key. Alert descriptions end with it.

use fleetwatch_protocol::OsFamily;

use super::checks::PolicyCheck;

/// What to change on a device of `family` failing `check`; `None` when the
/// fix is not a setting (a backup job, a silent device) or the check does
/// not apply there.
pub fn remediation(check: PolicyCheck, family: OsFamily) -> Option<&'static str> {
    use OsFamily::*;
    use PolicyCheck::*;
    Some(match (check, family) {
        (Reporting | AgentChecks | Backup, _) => return None,
        (SecurityUpdates, Windows) => {
            "install the pending updates (Settings > Windows Update, or approve them in WSUS/Intune)"
        }
        (SecurityUpdates, Macos) => {
            "install the pending updates (System Settings > General > Software Update, or softwareupdate --install --all)"
        }
        (SecurityUpdates, _) => {
            "install the pending security updates (apt-get upgrade, dnf upgrade --security, zypper patch); unattended-upgrades or dnf-automatic keep them current"
        }
        (Reboot, Windows | Macos) => "restart the device to finish installing its updates",
        (Reboot, _) => "reboot the device so the installed updates (often the kernel) take effect",
        (PatchCache, Windows) => return None,
        (PatchCache, Macos) => {
            "let Software Update check automatically: AutomaticCheckEnabled = true in the com.apple.SoftwareUpdate profile"
        }
        (PatchCache, _) => {
            "refresh the package cache daily: APT::Periodic::Update-Package-Lists \"1\" in /etc/apt/apt.conf.d/20auto-upgrades, or enable dnf-makecache.timer"
        }
        (PasswordLength, Windows) => {
            "Group Policy: Computer Configuration > Windows Settings > Security Settings > Account Policies > Password Policy > Minimum password length (net accounts /minpwlen)"
        }
        (PasswordLength, Macos) => {
            "minLength in the com.apple.mobiledevice.passwordpolicy profile (pwpolicy minChars)"
        }
        (PasswordLength, _) => {
            "minlen in /etc/security/pwquality.conf, with pam_pwquality in the PAM password stack (/etc/pam.d/common-password or system-auth)"
        }
        (PasswordComplexity, Windows) => {
            "Group Policy: ... Account Policies > Password Policy > Password must meet complexity requirements = Enabled (PasswordComplexity = 1)"
        }
        (PasswordComplexity, Macos) => {
            "requireAlphanumeric and minComplexChars in the com.apple.mobiledevice.passwordpolicy profile"
        }
        (PasswordComplexity, _) => {
            "minclass (or negative dcredit/ucredit/lcredit/ocredit) in /etc/security/pwquality.conf"
        }
        (PasswordHistory, Windows) => {
            "Group Policy: ... Account Policies > Password Policy > Enforce password history (net accounts /uniquepw)"
        }
        (PasswordHistory, Macos) => {
            "pinHistory in the com.apple.mobiledevice.passwordpolicy profile (pwpolicy usingHistory)"
        }
        (PasswordHistory, _) => {
            "remember= in /etc/security/pwhistory.conf, or on the pam_pwhistory line of the PAM password stack"
        }
        (PasswordLockout, Windows) => {
            "Group Policy: ... Account Policies > Account Lockout Policy > Account lockout threshold (net accounts /lockoutthreshold)"
        }
        (PasswordLockout, Macos) => {
            "maxFailedAttempts in the com.apple.mobiledevice.passwordpolicy profile (pwpolicy maxFailedLoginAttempts)"
        }
        (PasswordLockout, _) => {
            "deny= in /etc/security/faillock.conf, with pam_faillock in the PAM auth stack"
        }
        (PasswordMaxAge, Windows) => {
            "Group Policy: ... Account Policies > Password Policy > Maximum password age (net accounts /maxpwage), and clear \"Password never expires\" on the accounts"
        }
        (PasswordMaxAge, Macos) => {
            "maxPINAgeInDays in the com.apple.mobiledevice.passwordpolicy profile"
        }
        (PasswordMaxAge, _) => {
            "PASS_MAX_DAYS in /etc/login.defs for new accounts, chage -M <days> <user> for existing ones"
        }
        (EmptyPasswords, Windows) => {
            "set a password and clear \"Password not required\" on the account (net user <name> /passwordreq:yes)"
        }
        (EmptyPasswords, Macos) => return None,
        (EmptyPasswords, _) => {
            "set a password or lock the account (passwd -l <user>), and remove nullok from pam_unix in the PAM stack"
        }
        (ExpiredPasswords, Windows) => {
            "have the user change the password (User must change password at next logon), or disable the account"
        }
        (ExpiredPasswords, Macos) => {
            "have the user change the password (pwpolicy -u <user> -setpolicy newPasswordRequired=1), or disable the account"
        }
        (ExpiredPasswords, _) => {
            "have the user change the password (chage -d 0 <user> forces it at next login), or lock the account"
        }
        (DiskEncryption, Windows) => {
            "turn BitLocker on for the volume and resume a suspended protection (manage-bde -on C:, Resume-BitLocker); Group Policy: Administrative Templates > Windows Components > BitLocker Drive Encryption"
        }
        (DiskEncryption, Macos) => {
            "turn FileVault on: the com.apple.MCX.FileVault2 profile (Enable = On), or fdesetup enable"
        }
        (DiskEncryption, _) => {
            "encrypt the volume with LUKS (cryptsetup reencrypt --encrypt for a volume in use, cryptsetup luksFormat for a new one) and let a running reencryption finish"
        }
        (Firewall, Windows) => {
            "turn Windows Defender Firewall on for every profile: Group Policy Windows Defender Firewall with Advanced Security > Properties > Firewall state = On (Set-NetFirewallProfile -All -Enabled True)"
        }
        (Firewall, Macos) => {
            "turn the application firewall on: EnableFirewall = true in the com.apple.security.firewall profile (socketfilterfw --setglobalstate on)"
        }
        (Firewall, _) => {
            "turn the firewall on: ufw enable, systemctl enable --now firewalld, or an nftables ruleset whose input chain drops by default (systemctl enable --now nftables)"
        }
        (Antivirus, Windows) => {
            "turn Microsoft Defender real-time protection on (Group Policy: Administrative Templates > Windows Components > Microsoft Defender Antivirus > Real-time Protection > Turn off real-time protection = Disabled) and update its signatures (Update-MpSignature)"
        }
        (Antivirus, Macos) => {
            "let macOS install its security data (XProtect): ConfigDataInstall = true in the com.apple.SoftwareUpdate profile"
        }
        (Antivirus, _) => {
            "keep ClamAV's signatures current (systemctl enable --now clamav-freshclam) and scan on access with clamonacc"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_applicable_setting_check_names_its_fix_on_every_family() {
        for family in [OsFamily::Linux, OsFamily::Windows, OsFamily::Macos] {
            for check in PolicyCheck::ALL {
                let fix = remediation(check, family);
                let not_a_setting = matches!(
                    check,
                    PolicyCheck::Reporting | PolicyCheck::AgentChecks | PolicyCheck::Backup
                );
                let applies = check.not_applicable_on(family).is_none();
                assert_eq!(
                    fix.is_some(),
                    applies && !not_a_setting,
                    "{check} on {family:?}"
                );
            }
        }
        assert!(
            remediation(PolicyCheck::PasswordLength, OsFamily::Windows)
                .unwrap()
                .contains("Minimum password length")
        );
        assert!(
            remediation(PolicyCheck::PasswordLength, OsFamily::Linux)
                .unwrap()
                .contains("pwquality.conf")
        );
        assert!(
            remediation(PolicyCheck::PasswordLength, OsFamily::Macos)
                .unwrap()
                .contains("com.apple.mobiledevice.passwordpolicy")
        );
    }
}
