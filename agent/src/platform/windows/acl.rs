//! The access control list of the agent's private directories on Windows
//! (`%ProgramData%\fleetwatch`, its `state` directory with the node key):
//! owned by BUILTIN\Administrators, a *protected* DACL (nothing inherited
//! from `ProgramData`, which lets Users read) granting full control to
//! SYSTEM and Administrators only, inherited by every file and
//! subdirectory created inside. Pure: the SDDL is built and checked here
//! and tested on Linux; [`super::secure_dir`] applies it with Win32.

use std::fmt;

/// A trustee of the private DACL, by its SDDL alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trustee {
    /// `SY`: LocalSystem, the account the service runs as.
    System,
    /// `BA`: BUILTIN\Administrators.
    Administrators,
}

impl Trustee {
    /// The SDDL SID alias.
    pub fn sddl(self) -> &'static str {
        match self {
            Trustee::System => "SY",
            Trustee::Administrators => "BA",
        }
    }
}

/// One access-allowed ACE: full control, inherited by files (`OI`) and
/// subdirectories (`CI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullControl(pub Trustee);

impl fmt::Display for FullControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(A;OICI;FA;;;{})", self.0.sddl())
    }
}

/// The ACEs of a private directory, in order.
pub const PRIVATE_ACES: [FullControl; 2] = [
    FullControl(Trustee::System),
    FullControl(Trustee::Administrators),
];

/// The security descriptor applied to a private directory: owner
/// Administrators (a user who created the directory first cannot keep
/// ownership and so rewrite the DACL), protected DACL (`P`) of
/// [`PRIVATE_ACES`].
pub fn private_dir_sddl() -> String {
    let aces: String = PRIVATE_ACES.iter().map(ToString::to_string).collect();
    format!("O:BAD:P{aces}")
}

/// One ACE of a DACL read back as SDDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// `A` (allow), `D` (deny), ...
    pub kind: String,
    /// Inheritance flags (`OICI`, `ID` for an inherited ACE, ...).
    pub flags: String,
    /// Rights (`FA`, `FR`, `0x1f01ff`, ...).
    pub rights: String,
    /// The trustee: an alias (`SY`) or a SID string (`S-1-5-32-545`).
    pub sid: String,
}

/// The DACL part of an SDDL string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dacl {
    /// `P`: nothing is inherited from the parent.
    pub protected: bool,
    /// The ACEs in order.
    pub aces: Vec<Ace>,
}

/// An SDDL string that has no parseable DACL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an SDDL DACL ({reason}): {sddl}")]
pub struct SddlError {
    /// The text.
    pub sddl: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses the `D:` part of an SDDL string (as
/// `ConvertSecurityDescriptorToStringSecurityDescriptorW` prints it).
pub fn parse_dacl(sddl: &str) -> Result<Dacl, SddlError> {
    let fail = |reason| SddlError {
        sddl: sddl.to_string(),
        reason,
    };
    let start = sddl.find("D:").ok_or_else(|| fail("no D: part"))? + 2;
    let rest = &sddl[start..];
    // The DACL ends where the SACL (`S:`) starts, outside any ACE.
    let end = rest
        .find("S:")
        .filter(|&i| !rest[..i].ends_with(';'))
        .unwrap_or(rest.len());
    let dacl = &rest[..end];
    let flags_end = dacl.find('(').unwrap_or(dacl.len());
    let protected = dacl[..flags_end].contains('P');
    let mut aces = Vec::new();
    for ace in dacl[flags_end..].split_inclusive(')') {
        let body = ace
            .strip_prefix('(')
            .and_then(|a| a.strip_suffix(')'))
            .ok_or_else(|| fail("an ACE is not in parentheses"))?;
        let parts: Vec<&str> = body.split(';').collect();
        if parts.len() < 6 {
            return Err(fail("an ACE has fewer than six fields"));
        }
        aces.push(Ace {
            kind: parts[0].to_string(),
            flags: parts[1].to_string(),
            rights: parts[2].to_string(),
            sid: parts[5].to_string(),
        });
    }
    Ok(Dacl { protected, aces })
}

/// `FILE_ALL_ACCESS` as a hex mask (what SDDL prints instead of `FA` on
/// some systems).
const FILE_ALL_ACCESS_HEX: &str = "0x1f01ff";

/// Why a DACL is not the private one.
pub fn private_dacl_problem(dacl: &Dacl) -> Option<String> {
    if !dacl.protected {
        return Some("the DACL is not protected: it inherits from the parent".into());
    }
    let allowed = |sid: &str| PRIVATE_ACES.iter().any(|a| a.0.sddl() == sid);
    for ace in &dacl.aces {
        if ace.kind != "A" {
            continue;
        }
        if !allowed(&ace.sid) {
            return Some(format!("{} is granted {}", ace.sid, ace.rights));
        }
    }
    for want in PRIVATE_ACES {
        let full = dacl.aces.iter().any(|a| {
            a.kind == "A"
                && a.sid == want.0.sddl()
                && (a.rights == "FA" || a.rights.eq_ignore_ascii_case(FILE_ALL_ACCESS_HEX))
        });
        if !full {
            return Some(format!("{} lacks full control", want.0.sddl()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_descriptor_grants_system_and_administrators_only_and_is_protected() {
        assert_eq!(
            private_dir_sddl(),
            "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
        );
        let dacl = parse_dacl(&private_dir_sddl()).unwrap();
        assert!(dacl.protected);
        assert_eq!(
            dacl.aces
                .iter()
                .map(|a| (a.flags.as_str(), a.sid.as_str()))
                .collect::<Vec<_>>(),
            [("OICI", "SY"), ("OICI", "BA")]
        );
        assert_eq!(private_dacl_problem(&dacl), None);
    }

    #[test]
    fn the_default_program_data_dacl_is_refused() {
        // ProgramData on Windows 11 (icacls / Get-Acl output, SDDL form):
        // Users may read and create, nothing is protected.
        let sddl = "O:SYG:SYD:(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)";
        let dacl = parse_dacl(sddl).unwrap();
        assert_eq!(dacl.aces.len(), 5);
        assert!(
            private_dacl_problem(&dacl)
                .unwrap()
                .contains("not protected")
        );
        let protected_with_users =
            parse_dacl("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;BU)").unwrap();
        assert_eq!(
            private_dacl_problem(&protected_with_users).as_deref(),
            Some("BU is granted FR")
        );
        let read_only_admins = parse_dacl("D:PAI(A;OICI;FA;;;SY)(A;OICI;FR;;;BA)").unwrap();
        assert_eq!(
            private_dacl_problem(&read_only_admins).as_deref(),
            Some("BA lacks full control")
        );
    }

    #[test]
    fn hex_rights_inherited_aces_and_a_sacl_parse() {
        let dacl =
            parse_dacl("O:BAG:SYD:PAI(A;ID;0x1f01ff;;;SY)(A;ID;FA;;;BA)S:(AU;SA;FA;;;WD)").unwrap();
        assert!(dacl.protected);
        assert_eq!(dacl.aces.len(), 2);
        assert_eq!(dacl.aces[0].rights, "0x1f01ff");
        assert_eq!(private_dacl_problem(&dacl), None);
        assert!(parse_dacl("O:BA").is_err());
        assert!(parse_dacl("D:P(A;OICI;FA)").is_err());
    }
}
