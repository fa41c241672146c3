//! apt (Debian, Ubuntu): pending updates from a simulated `dist-upgrade`
//! against the local cache (no network, no lock), cache age from the
//! periodic stamp, last install from `dpkg.log`, reboot from `/run/reboot-required`.

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::timestamp::parse_datetime;
use super::{command_failed, count, count_security, newest_mtime, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::CommandError;

/// `dist-upgrade` rather than `upgrade`: a kernel security fix arrives as a
/// new package (new ABI), which plain `upgrade` keeps back and would hide.
const SIMULATE: [&str; 4] = ["-s", "-o", "Debug::NoLocking=true", "dist-upgrade"];

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    let out = match run(ctx, "apt-get", &SIMULATE) {
        Ok(out) => out,
        Err(CommandError::NotFound { .. }) => {
            return Ok(Collected::Unsupported("apt-get is not installed".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if !out.success() {
        return Err(command_failed("apt-get -s dist-upgrade", &out));
    }
    let pending = parse_simulation(&out.stdout_text());
    let root = ctx.root;
    let reboot_required = root.exists("/run/reboot-required");
    let (reboot_required_since, reboot_required_packages) = if reboot_required {
        let pkgs = root
            .read_optional("/run/reboot-required.pkgs")
            .ok()
            .flatten()
            .map(|t| parse_reboot_pkgs(&t))
            .unwrap_or_default();
        (root.mtime("/run/reboot-required").ok(), pkgs)
    } else {
        (None, Vec::new())
    };
    Ok(Collected::Ok(Patches {
        manager: "apt".into(),
        pending_total: count(&pending),
        pending_security: Some(count_security(&pending)),
        pending,
        pending_truncated: false,
        cache_updated_at: newest_mtime(root, ["/var/lib/apt/periodic/update-success-stamp"])
            .or_else(|| newest_mtime(root, ["/var/lib/apt/lists"]))
            .or_else(|| newest_mtime(root, ["/var/cache/apt/pkgcache.bin"])),
        last_install_at: root
            .read_optional("/var/log/dpkg.log")
            .ok()
            .flatten()
            .and_then(|t| parse_dpkg_log_last_install(&t)),
        reboot_required,
        reboot_required_since,
        reboot_required_packages,
        running_kernel: None,
        newest_kernel: None,
    }))
}

/// Parses the `Inst` lines of `apt-get -s` output:
/// `Inst NAME [OLD] (NEW ORIGIN, ORIGIN [ARCH]) [...]`; a package without
/// `[OLD]` is newly installed by the upgrade (e.g. a new kernel ABI).
pub(crate) fn parse_simulation(text: &str) -> Vec<PendingUpdate> {
    text.lines().filter_map(parse_inst_line).collect()
}

fn parse_inst_line(line: &str) -> Option<PendingUpdate> {
    let rest = line.strip_prefix("Inst ")?.trim_start();
    let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let (installed_version, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (old, after) = r.split_once(']')?;
            (Some(old.to_string()), after.trim_start())
        }
        None => (None, rest),
    };
    let inner = rest.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    // Drop the trailing " [amd64]".
    let inner = match inner.rfind(" [") {
        Some(i) if inner.ends_with(']') => &inner[..i],
        _ => inner,
    };
    let (candidate, origins) = inner.split_once(' ').unwrap_or((inner, ""));
    let origins: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    let security_origin = origins.iter().find(|o| is_security_origin(o));
    Some(PendingUpdate {
        name: name.to_string(),
        installed_version,
        candidate_version: (!candidate.is_empty()).then(|| candidate.to_string()),
        security: security_origin.is_some(),
        source: security_origin.or(origins.first()).map(|o| o.to_string()),
    })
}

/// `Debian-Security:12/stable-security`, `Ubuntu:24.04/noble-security`.
fn is_security_origin(origin: &str) -> bool {
    let archive = origin.rsplit_once('/').map_or(origin, |(_, a)| a);
    archive.ends_with("-security") || origin.starts_with("Debian-Security:")
}

/// Time of the last `status installed`, `install` or `upgrade` line. dpkg
/// writes local time without an offset; it is read as UTC (agents run in
/// UTC on servers; on a laptop the error is the UTC offset).
pub(crate) fn parse_dpkg_log_last_install(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| {
            let action = l.get(20..).unwrap_or("");
            action.starts_with("status installed ")
                || action.starts_with("upgrade ")
                || action.starts_with("install ")
        })
        .filter_map(|l| parse_datetime(l.get(..19)?))
        .max()
}

/// Package names from `/run/reboot-required.pkgs`, de-duplicated in order.
pub(crate) fn parse_reboot_pkgs(text: &str) -> Vec<String> {
    let mut pkgs: Vec<String> = Vec::new();
    for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !pkgs.iter().any(|p| p == name) {
            pkgs.push(name.to_string());
        }
    }
    pkgs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_debian_inst_lines() {
        let text = "\
Reading package lists...
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []
Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security [amd64])
Remv foo [1.0]
";
        let p = parse_simulation(text);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "bash");
        assert_eq!(p[0].installed_version.as_deref(), Some("5.2.15-2+b8"));
        assert_eq!(p[0].candidate_version.as_deref(), Some("5.2.15-2+b13"));
        assert!(!p[0].security);
        assert_eq!(p[0].source.as_deref(), Some("Debian:12.15/oldstable"));
        assert!(p[1].security);
        assert_eq!(
            p[1].source.as_deref(),
            Some("Debian-Security:12/oldstable-security")
        );
        assert_eq!(p[2].installed_version, None);
        assert!(p[2].security);
    }

    #[test]
    fn parses_ubuntu_inst_lines() {
        let p = parse_simulation(
            "Inst libssl3t64 [3.0.13-0ubuntu3.4] (3.0.13-0ubuntu3.5 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
             Inst snapd [2.63+24.04] (2.66.1+24.04 Ubuntu:24.04/noble-updates [amd64])\n",
        );
        assert!(p[0].security);
        assert_eq!(p[0].source.as_deref(), Some("Ubuntu:24.04/noble-security"));
        assert!(!p[1].security);
    }

    #[test]
    fn dpkg_log_last_install() {
        let log = "\
2024-05-01 10:00:00 startup archives unpack
2024-05-01 10:00:01 upgrade bash:amd64 5.2.15-2+b7 5.2.15-2+b8
2024-05-01 10:00:05 status installed bash:amd64 5.2.15-2+b8
2024-05-01 10:00:09 remove foo:amd64 1.0 <none>
garbage line
";
        assert_eq!(parse_dpkg_log_last_install(log), Some(1_714_557_605));
        assert_eq!(parse_dpkg_log_last_install(""), None);
    }

    #[test]
    fn reboot_pkgs_are_deduplicated() {
        assert_eq!(
            parse_reboot_pkgs("linux-image-6.1.0-26-amd64\nlibc6\nlibc6\n\n"),
            vec!["linux-image-6.1.0-26-amd64", "libc6"]
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_simulation(&s);
            let _ = parse_simulation(&format!("Inst {s}"));
            let _ = parse_dpkg_log_last_install(&s);
            let _ = parse_reboot_pkgs(&s);
        }
    }
}
