//! apt (Debian, Ubuntu): pending updates from a simulated `dist-upgrade`
//! against the local cache (no network, no lock), which sources say
//! security from `apt-cache policy`, cache age from the periodic stamp and
//! the lists, last install from `dpkg.log` and its rotations, reboot from
//! `/run/reboot-required`.

use std::io::Read;

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::timestamp::parse_datetime;
use super::{command_failed, count, count_security, newest_mtime, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::{CommandError, SysRoot};

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
    let (pending, new_packages) = split_new(parse_simulation(&out.stdout_text()));
    // Security is told apart by origin: without a security source among
    // the configured ones, "no security update" would be a guess.
    let security_known = match run(ctx, "apt-cache", &["policy"]) {
        Ok(o) if o.success() => has_security_source(&o.stdout_text()),
        Ok(_) | Err(CommandError::NotFound { .. }) => false,
        Err(e) => return Err(e.into()),
    };
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
        pending_security: security_known.then(|| count_security(&pending)),
        pending,
        new_packages,
        cache_updated_at: cache_updated_at(root),
        last_install_at: last_install_at(root),
        reboot_required,
        reboot_required_since,
        reboot_required_packages,
        ..Default::default()
    }))
}

/// Upgrades of installed packages apart from packages the upgrade would
/// newly install (no `[OLD]` version in the simulation).
fn split_new(all: Vec<PendingUpdate>) -> (Vec<PendingUpdate>, Vec<PendingUpdate>) {
    all.into_iter().partition(|p| p.installed_version.is_some())
}

/// The newest of the periodic stamp (touched after a successful `apt
/// update` by apt.systemd.daily) and the files under the lists directory
/// (a manual `apt update` touches no stamp; apt dates a list file with the
/// archive's Last-Modified); the binary cache as a last resort.
fn cache_updated_at(root: &SysRoot) -> Option<i64> {
    const LISTS: &str = "/var/lib/apt/lists";
    let lists = root.list_dir(LISTS).unwrap_or_default();
    let list_files = lists
        .iter()
        .filter(|n| !matches!(n.as_str(), "lock" | "partial" | "auxfiles"))
        .map(|n| format!("{LISTS}/{n}"));
    let stamp_and_lists = std::iter::once("/var/lib/apt/periodic/update-success-stamp".to_string())
        .chain(list_files)
        .filter_map(|p| root.mtime(&p).ok())
        .max();
    stamp_and_lists.or_else(|| newest_mtime(root, ["/var/cache/apt/pkgcache.bin"]))
}

/// `dpkg.log` and its rotations, newest first (logrotate's dpkg policy:
/// monthly, 12 kept, compressed from the second on).
const DPKG_LOGS: [&str; 14] = [
    "/var/log/dpkg.log",
    "/var/log/dpkg.log.1",
    "/var/log/dpkg.log.1.gz",
    "/var/log/dpkg.log.2.gz",
    "/var/log/dpkg.log.3.gz",
    "/var/log/dpkg.log.4.gz",
    "/var/log/dpkg.log.5.gz",
    "/var/log/dpkg.log.6.gz",
    "/var/log/dpkg.log.7.gz",
    "/var/log/dpkg.log.8.gz",
    "/var/log/dpkg.log.9.gz",
    "/var/log/dpkg.log.10.gz",
    "/var/log/dpkg.log.11.gz",
    "/var/log/dpkg.log.12.gz",
];

/// The last install in the newest log that has one: right after a rotation
/// `dpkg.log` is empty and the answer is in `dpkg.log.1` (or older).
fn last_install_at(root: &SysRoot) -> Option<i64> {
    DPKG_LOGS
        .iter()
        .filter_map(|p| read_log(root, p))
        .find_map(|t| parse_dpkg_log_last_install(&t))
}

/// A log file's text, gunzipped when its name says so; `None` when absent or unreadable.
fn read_log(root: &SysRoot, path: &str) -> Option<String> {
    if !path.ends_with(".gz") {
        return root.read_optional(path).ok().flatten();
    }
    let file = std::fs::File::open(root.path(path)).ok()?;
    let mut text = String::new();
    // A log cut short by a crash still has its first lines: keep them.
    let _ = flate2::read::GzDecoder::new(file)
        .take(64 << 20)
        .read_to_string(&mut text);
    Some(text)
}

/// True when `apt-cache policy` lists a source whose Release file says
/// security (`release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,…`).
pub(crate) fn has_security_source(policy: &str) -> bool {
    policy
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("release "))
        .any(|fields| {
            fields.split(',').any(|f| match f.split_once('=') {
                Some(("a" | "n", suite)) => suite.ends_with("-security"),
                Some(("l", label)) => label == "Debian-Security",
                _ => false,
            })
        })
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

/// `Debian-Security:12/stable-security`, `Ubuntu:24.04/noble-security`
/// (`Label:Version/Suite`, as apt prints a release).
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
    use super::super::recorded;
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
    fn security_sources_from_recorded_policies() {
        let rec = |host: &str| recorded(host, "commands/apt-cache-policy.out");
        assert!(has_security_source(&rec("debian12-noncompliant")));
        assert!(has_security_source(&rec("ubuntu2404-noncompliant")));
        assert!(!has_security_source(&rec("debian12-mirror")));
        assert!(!has_security_source(""));
    }

    #[test]
    fn new_packages_are_kept_apart_from_upgrades() {
        let text = recorded(
            "ubuntu2404-noncompliant",
            "commands/apt-get-s-dist-upgrade.out",
        );
        let (upgrades, new) = split_new(parse_simulation(&text));
        assert_eq!(upgrades.len(), 6);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].name, "linux-image-6.8.0-51-generic");
        assert!(upgrades.iter().all(|p| p.installed_version.is_some()));
    }

    #[test]
    fn last_install_comes_from_the_rotated_logs_when_dpkg_log_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("var/log");
        std::fs::create_dir_all(&log).unwrap();
        let root = SysRoot::new(dir.path());
        assert_eq!(last_install_at(&root), None);
        std::fs::write(
            log.join("dpkg.log"),
            "2024-06-01 00:00:01 startup archives unpack\n",
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut gz,
            b"2024-05-01 10:00:05 status installed bash:amd64 5.2\n",
        )
        .unwrap();
        std::fs::write(log.join("dpkg.log.2.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(last_install_at(&root), Some(1_714_557_605));
        std::fs::write(
            log.join("dpkg.log.1"),
            "2024-05-20 08:00:00 upgrade bash:amd64 5.2 5.3\n",
        )
        .unwrap();
        assert_eq!(last_install_at(&root), Some(1_716_192_000));
    }

    #[test]
    fn cache_time_is_the_newest_of_stamp_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let set = |p: &str, t: u64| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
                .unwrap();
        };
        set("var/lib/apt/periodic/update-success-stamp", 1_000);
        set(
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            5_000,
        );
        set("var/lib/apt/lists/lock", 9_000);
        let root = SysRoot::new(dir.path());
        assert_eq!(cache_updated_at(&root), Some(5_000));
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
