//! Installed packages: dpkg status, `rpm -qa` output and pacman's local
//! database parsing, and the stable hash of the list.

use fleetwatch_protocol::Package;

pub use crate::checks::package_hash::packages_hash;
use crate::host::{HostError, SysRoot};

/// pacman's local database: one directory per installed package.
pub const PACMAN_LOCAL_DB: &str = "/var/lib/pacman/local";

/// Parses `/var/lib/dpkg/status`, keeping only packages whose status is
/// `install ok installed` (not removed-with-config, half-installed...).
pub fn parse_dpkg_status(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut installed = false;
        for line in paragraph.lines() {
            // Continuation lines (descriptions, conffiles) start with whitespace.
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "Package" => name = Some(value.to_string()),
                "Version" => version = Some(value.to_string()),
                "Architecture" => arch = Some(value.to_string()),
                "Status" => installed = value == "install ok installed",
                _ => {}
            }
        }
        if let (true, Some(name), Some(version)) = (installed, name, version) {
            packages.push(Package {
                name,
                version,
                arch,
                ..Package::default()
            });
        }
    }
    packages.sort();
    packages
}

/// The `rpm -qa` query format [`parse_rpm_qa`] understands.
pub const RPM_QUERY_FORMAT: &str =
    "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n";

/// Parses `rpm -qa --qf RPM_QUERY_FORMAT` output (`name\tversion\tarch` lines).
pub fn parse_rpm_qa(text: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = text
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let name = f.next()?.trim();
            let version = f.next()?.trim();
            if name.is_empty() || version.is_empty() {
                return None;
            }
            let arch = f
                .next()
                .map(str::trim)
                .filter(|a| !a.is_empty() && *a != "(none)");
            Some(Package {
                name: name.into(),
                version: version.into(),
                arch: arch.map(Into::into),
                ..Package::default()
            })
        })
        .collect();
    packages.sort();
    packages
}

/// Reads every `<PACMAN_LOCAL_DB>/<name>-<version>/desc`, sorted; a
/// package directory without a readable `desc` is skipped (pacman itself
/// reports such a database as corrupt, it does not make the list unknown).
pub fn read_pacman_local(root: &SysRoot) -> Result<Vec<Package>, HostError> {
    let mut packages: Vec<Package> = root
        .list_dir(PACMAN_LOCAL_DB)?
        .iter()
        .filter_map(|dir| {
            root.read_optional(&format!("{PACMAN_LOCAL_DB}/{dir}/desc"))
                .ok()
                .flatten()
        })
        .filter_map(|desc| parse_pacman_desc(&desc))
        .collect();
    packages.sort();
    Ok(packages)
}

/// Parses one pacman `desc` file: `%NAME%`, `%VERSION%`, `%ARCH%`,
/// `%INSTALLDATE%` sections, each a header line and value lines up to a
/// blank line.
pub fn parse_pacman_desc(text: &str) -> Option<Package> {
    let mut section = "";
    let (mut name, mut version, mut arch, mut installed_at) = (None, None, None, None);
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with('%') && line.ends_with('%') && line.len() > 2 {
            section = line;
            continue;
        }
        if line.is_empty() {
            section = "";
            continue;
        }
        match section {
            "%NAME%" => name = name.or(Some(line.to_string())),
            "%VERSION%" => version = version.or(Some(line.to_string())),
            "%ARCH%" => arch = arch.or(Some(line.to_string())),
            "%INSTALLDATE%" => installed_at = installed_at.or(line.parse().ok()),
            _ => {}
        }
    }
    Some(Package {
        name: name?,
        version: version?,
        // `any` is pacman's noarch.
        arch,
        installed_at,
        ..Package::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_keeps_only_installed_packages() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/hosts/inventory-debian12/var/lib/dpkg/status"
        ))
        .unwrap();
        let pkgs = parse_dpkg_status(&text);
        let names: Vec<_> = pkgs.iter().map(|p| p.name.as_str()).collect();
        // old-kernel is "deinstall ok config-files", half is "install ok half-installed".
        assert_eq!(names, ["base-files", "bash", "libc6", "openssh-server"]);
        let bash = &pkgs[1];
        assert_eq!(bash.version, "5.2.15-2+b7");
        assert_eq!(bash.arch.as_deref(), Some("amd64"));
    }

    #[test]
    fn dpkg_description_lines_do_not_confuse_the_parser() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\nDescription: x\n \
                    Package: fake\n Version: 9\n .\n\nPackage: b\nVersion: 2\nStatus: install ok installed\n";
        let pkgs = parse_dpkg_status(text);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(
            (pkgs[0].name.as_str(), pkgs[0].version.as_str()),
            ("a", "1")
        );
        assert_eq!(pkgs[1].arch, None);
    }

    #[test]
    fn rpm_output() {
        let text = "bash\t5.1.8-9.el9\tx86_64\ngpg-pubkey\tabc-def\t(none)\nkernel\t1:5.14.0-427\tx86_64\n\nbroken\n";
        let pkgs = parse_rpm_qa(text);
        assert_eq!(pkgs.len(), 3);
        assert_eq!(pkgs[1].name, "gpg-pubkey");
        assert_eq!(pkgs[1].arch, None);
        assert_eq!(pkgs[2].version, "1:5.14.0-427");
    }

    #[test]
    fn pacman_local_database_recorded_from_a_real_pacman_root() {
        let root = SysRoot::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/hosts/arch-noncompliant"
        ));
        let pkgs = read_pacman_local(&root).unwrap();
        let names: Vec<_> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["glibc", "linux", "openssh", "python-fwtool"]);
        assert_eq!(pkgs[0].version, "2.40+r16+gaa533d58ff-2");
        assert_eq!(pkgs[3].version, "1:1.0-1");
        assert_eq!(pkgs[1].arch.as_deref(), Some("x86_64"));
        assert!(pkgs[1].installed_at.is_some_and(|t| t > 1_700_000_000));
        assert!(parse_pacman_desc("%NAME%\nfoo\n\n").is_none());
        let empty = SysRoot::new("/nonexistent-fleetwatch-root");
        assert!(read_pacman_local(&empty).unwrap().is_empty());
    }

    #[test]
    fn hash_is_stable_and_changes_with_content() {
        let a = vec![Package {
            name: "a".into(),
            version: "1".into(),
            arch: None,
            ..Package::default()
        }];
        let mut b = a.clone();
        b[0].version = "2".into();
        assert_eq!(packages_hash(&a), packages_hash(&a.clone()));
        assert_ne!(packages_hash(&a), packages_hash(&b));
        assert_eq!(packages_hash(&a).len(), 64);
        // Known value: guards against an accidental change of the hashed format.
        assert_eq!(
            packages_hash(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
