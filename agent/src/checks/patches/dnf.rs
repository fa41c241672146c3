//! dnf/yum (RHEL, Rocky, Alma, Fedora): `check-update` (exit 100 = updates),
//! `updateinfo list --security`, `needs-restarting -r`, cache and rpm logs.

use std::collections::BTreeSet;

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::kernel::compare_versions;
use super::timestamp::parse_datetime;
use super::{command_failed, count, count_security, newest_mtime_in, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::CommandError;

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    // `-q` keeps the "Last metadata expiration check" chatter out; `-C`
    // would fail on an empty cache, and check-update never downloads
    // metadata that is still within `metadata_expire` anyway.
    let mut manager = "dnf";
    let out = match run(ctx, "dnf", &["-q", "check-update"]) {
        Err(CommandError::NotFound { .. }) => {
            manager = "yum";
            match run(ctx, "yum", &["-q", "check-update"]) {
                Err(CommandError::NotFound { .. }) => {
                    return Ok(Collected::Unsupported(
                        "neither dnf nor yum is installed".into(),
                    ));
                }
                other => other?,
            }
        }
        other => other?,
    };
    let mut pending = match out.exit_code {
        Some(100) => parse_check_update(&out.stdout_text()),
        Some(0) => Vec::new(),
        _ => return Err(command_failed(&format!("{manager} check-update"), &out)),
    };

    fill_installed_versions(ctx, &mut pending)?;

    let security_names = match run(ctx, manager, &["-q", "updateinfo", "list", "--security"]) {
        Ok(o) if o.success() => Some(parse_updateinfo_names(&o.stdout_text())),
        Ok(_) | Err(CommandError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(names) = &security_names {
        for p in &mut pending {
            p.security = names.contains(&p.name);
        }
    }

    let (reboot_required, reboot_required_packages) = match run(ctx, "needs-restarting", &["-r"]) {
        Ok(o) if o.exit_code == Some(1) => (true, parse_needs_restarting(&o.stdout_text())),
        Ok(_) | Err(CommandError::NotFound { .. }) => (false, Vec::new()),
        Err(e) => return Err(e.into()),
    };

    let root = ctx.root;
    let cache_dir = format!("/var/cache/{manager}");
    let last_install_at = ["/var/log/dnf.rpm.log", "/var/log/yum.log"]
        .into_iter()
        .filter_map(|p| root.read_optional(p).ok().flatten())
        .find_map(|t| parse_rpm_log_last_install(&t));
    Ok(Collected::Ok(Patches {
        manager: manager.into(),
        pending_total: count(&pending),
        pending_security: security_names.map(|_| count_security(&pending)),
        pending,
        cache_updated_at: newest_mtime_in(root, &cache_dir, "/repodata/repomd.xml")
            .or_else(|| newest_mtime_in(root, &cache_dir, "")),
        last_install_at,
        reboot_required,
        reboot_required_packages,
        ..Default::default()
    }))
}

/// Parses `dnf -q check-update` output: `name.arch  [epoch:]version-release  repo`
/// rows (a long name wraps its row onto the next line); the
/// "Obsoleting Packages" section repeats packages and is skipped.
pub(crate) fn parse_check_update(text: &str) -> Vec<PendingUpdate> {
    let mut out = Vec::new();
    let mut carried: Vec<&str> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Obsoleting Packages") {
            break;
        }
        if trimmed.is_empty()
            || trimmed.starts_with("Last metadata expiration")
            || trimmed.starts_with("Security:")
        {
            carried.clear();
            continue;
        }
        carried.extend(trimmed.split_whitespace());
        if carried.len() < 3 {
            continue;
        }
        if let [name_arch, version, repo] = carried[..] {
            let name = name_arch.rsplit_once('.').map_or(name_arch, |(n, _)| n);
            out.push(PendingUpdate {
                name: name.to_string(),
                installed_version: None,
                candidate_version: Some(version.to_string()),
                security: false,
                source: Some(repo.to_string()),
            });
        }
        carried.clear();
    }
    out
}

/// check-update does not say what is installed: one `rpm -q` for the
/// pending names does. Best effort: without rpm the versions stay unknown.
fn fill_installed_versions(
    ctx: &CheckContext<'_>,
    pending: &mut [PendingUpdate],
) -> Result<(), CheckError> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut args = vec!["-q", "--qf", RPM_QUERY_FORMAT];
    args.extend(names);
    let installed = match run(ctx, "rpm", &args) {
        // rpm exits 1 when one of the names is not installed; the rest is still printed.
        Ok(o) => parse_rpm_versions(&o.stdout_text()),
        Err(CommandError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for p in pending.iter_mut() {
        // Install-only packages (kernels) have several versions: the newest counts.
        p.installed_version = installed
            .iter()
            .filter(|(n, _)| *n == p.name)
            .map(|(_, v)| v)
            .max_by(|a, b| compare_versions(a, b))
            .cloned();
    }
    Ok(())
}

/// `%{EVR}` is `[epoch:]version-release`, as check-update prints candidates.
const RPM_QUERY_FORMAT: &str = "%{NAME} %{EVR}\\n";

/// `name evr` rows of the rpm query.
pub(crate) fn parse_rpm_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let (name, evr) = (cols.next()?, cols.next()?);
            // "package foo is not installed"
            (cols.next().is_none()).then(|| (name.to_string(), evr.to_string()))
        })
        .collect()
}

/// Package names of `updateinfo list` rows: `ADVISORY  SEVERITY/Sec.  NEVRA`.
pub(crate) fn parse_updateinfo_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let (_advisory, _kind, nevra) = (cols.next()?, cols.next()?, cols.next()?);
            rpm_name(nevra)
        })
        .collect()
}

/// `glib2-2.68.4-14.el9_4.1.x86_64` → `glib2`.
fn rpm_name(nevra: &str) -> Option<String> {
    let (name_version, _release) = nevra.rsplit_once('-')?;
    let (name, _version) = name_version.rsplit_once('-')?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The `  * package` rows of `needs-restarting -r`.
pub(crate) fn parse_needs_restarting(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("* "))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Last install/upgrade in `dnf.rpm.log` (`2024-05-14T10:12:33+0000 SUBDEBUG Upgrade: …`)
/// (the old `yum.log` has year-less dates and yields nothing).
pub(crate) fn parse_rpm_log_last_install(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| {
            [
                "Installed: ",
                "Install: ",
                "Upgrade: ",
                "Upgraded: ",
                "Reinstall: ",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .filter_map(|l| parse_datetime(l.split_whitespace().next()?))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn check_update_rows_including_wrapped() {
        let text = "\n\
glib2.x86_64                          2.68.4-14.el9_4.1                appstream\n\
kernel.x86_64                         5.14.0-427.22.1.el9_4            baseos\n\
python3-very-long-package-name-that-wraps.noarch\n\
                                      1:3.2-1.el9                      epel\n\
\n\
Obsoleting Packages\n\
grub2-tools.x86_64                    1:2.06-80.el9                    baseos\n\
    grub2-tools.x86_64                1:2.06-77.el9                    @baseos\n";
        let p = parse_check_update(text);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "glib2");
        assert_eq!(p[0].candidate_version.as_deref(), Some("2.68.4-14.el9_4.1"));
        assert_eq!(p[0].source.as_deref(), Some("appstream"));
        assert_eq!(p[2].name, "python3-very-long-package-name-that-wraps");
        assert_eq!(p[2].candidate_version.as_deref(), Some("1:3.2-1.el9"));
    }

    #[test]
    fn rpm_versions() {
        let v = parse_rpm_versions(
            "glib2 2.68.4-14.el9_4\nNetworkManager 1:1.46.0-19.el9_4\npackage foo is not installed\n",
        );
        assert_eq!(
            v,
            vec![
                ("glib2".to_string(), "2.68.4-14.el9_4".to_string()),
                (
                    "NetworkManager".to_string(),
                    "1:1.46.0-19.el9_4".to_string()
                ),
            ]
        );
    }

    #[test]
    fn updateinfo_names() {
        let names = parse_updateinfo_names(
            "RLSA-2024:3339 Important/Sec. glib2-2.68.4-14.el9_4.1.x86_64\n\
             RLSA-2024:4211 Moderate/Sec.  kernel-5.14.0-427.22.1.el9_4.x86_64\n\
             RLSA-2024:4211 Moderate/Sec.  kernel-core-5.14.0-427.22.1.el9_4.x86_64\n",
        );
        assert!(names.contains("glib2"));
        assert!(names.contains("kernel-core"));
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn needs_restarting_and_rpm_log() {
        assert_eq!(
            parse_needs_restarting(
                "Core libraries or services have been updated since boot-up:\n  * kernel\n  * systemd\n\nReboot is required to fully utilize these updates.\n"
            ),
            vec!["kernel", "systemd"]
        );
        let log = "2024-05-14T10:12:33+0000 SUBDEBUG Upgrade: bash-5.1.8-9.el9.x86_64\n\
                   2024-05-14T10:12:35+0000 SUBDEBUG Upgraded: bash-5.1.8-6.el9.x86_64\n\
                   2024-05-14T10:13:00+0000 INFO --- logging initialized ---\n";
        assert_eq!(parse_rpm_log_last_install(log), Some(1_715_681_555));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_check_update(&s);
            let _ = parse_updateinfo_names(&s);
            let _ = parse_needs_restarting(&s);
            let _ = parse_rpm_log_last_install(&s);
            let _ = parse_rpm_versions(&s);
        }
    }
}
