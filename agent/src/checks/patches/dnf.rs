//! dnf/yum (RHEL, Rocky, Alma, CentOS, Fedora): `check-update` (exit 100 =
//! updates) and `updateinfo list --security` from the cache only (`-C`: no
//! metadata download, no refresh; on dnf5 5.4+ also without the system
//! repository lock, `--skip-file-locks`), in dnf4's or dnf5's output format (on
//! Fedora 41+ `dnf` is dnf5, which keeps both commands as aliases); which
//! repositories carry security metadata from the cached `repomd.xml` files
//! (dnf, dnf5, yum), reboot from `needs-restarting -r`, last install from
//! the rpm log.

use std::collections::{BTreeMap, BTreeSet};

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::repomd::repomd_has_updateinfo;
use super::timestamp::parse_datetime;
use super::version::VersionScheme;
use super::{command_failed, count, count_security, reboot_fields, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::{CommandError, CommandOutput, SysRoot};

/// `-C` (cache only): dnf never downloads metadata and never refreshes
/// expired metadata; a repository it has no cache for is skipped (and said
/// so on stderr, which `-q` would silence).
const CHECK_UPDATE: [&str; 2] = ["-C", "check-update"];
const SECURITY_ADVISORIES: [&str; 4] = ["-C", "updateinfo", "list", "--security"];

/// dnf5's switch for not taking the system repository's lock (`dnf5/main.cpp`,
/// linked to the `skip_system_repo_lock` option). Since dnf5 5.4.0.0 every
/// command that loads the installed packages takes a read lock on
/// `/usr/lib/sysimage/libdnf5/system-repo.lock` and *waits* while a
/// transaction holds it (`dnf5/context.cpp`, `load_repos`); the lock and
/// this switch came in the same release (commits 33d77df1, 409be23c), so
/// older dnf5 neither locks nor knows the switch (an unknown argument is a
/// usage error). dnf4 rejects it too (argparse), hence [`DnfFlavour`].
///
/// dnf4 has no such switch: its `fill_sack` holds `metadata_lock.pid` in
/// the cache directory while loading the repositories (`dnf/base.py`,
/// `dnf/lock.py`) and waits for another dnf loading them at the same time
/// (a `makecache` run, not a whole transaction); the runner's timeout
/// bounds that wait.
const SKIP_FILE_LOCKS: &str = "--skip-file-locks";

/// Which program answers to `dnf`, from `dnf --version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DnfFlavour {
    /// dnf4, yum, or a `dnf` whose version could not be read: no lock
    /// switch is passed (dnf4 would refuse it).
    Dnf4OrUnknown,
    /// dnf5; `locks_system_repo` from 5.4.0.0 on (see [`SKIP_FILE_LOCKS`]).
    Dnf5 { locks_system_repo: bool },
}

impl DnfFlavour {
    /// `args` with the lock switch in front where this dnf takes the lock.
    fn args<'a>(self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full = Vec::with_capacity(args.len() + 1);
        if matches!(
            self,
            DnfFlavour::Dnf5 {
                locks_system_repo: true
            }
        ) {
            full.push(SKIP_FILE_LOCKS);
        }
        full.extend_from_slice(args);
        full
    }
}

/// Reads `dnf --version`: dnf5 prints `dnf5 version P.M.m.u` first
/// (`print_versions` in `dnf5/main.cpp`, before any repository or lock is
/// touched); dnf4 prints its bare version (`4.14.0`, `dnf/cli/cli.py`).
fn parse_dnf_version(text: &str) -> DnfFlavour {
    let Some(version) = text
        .lines()
        .next()
        .and_then(|l| l.trim().strip_prefix("dnf5 version "))
    else {
        return DnfFlavour::Dnf4OrUnknown;
    };
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(prime)), Some(Ok(major))) => DnfFlavour::Dnf5 {
            locks_system_repo: (prime, major) >= (5, 4),
        },
        // A dnf5 whose version we cannot read: passing the switch to one
        // that predates it would fail every check, so leave it out.
        _ => DnfFlavour::Dnf4OrUnknown,
    }
}

/// Asks `dnf --version` which dnf this is; a missing, failing or hung
/// `dnf` is [`DnfFlavour::Dnf4OrUnknown`] (`check-update` then says more).
fn probe_flavour(ctx: &CheckContext<'_>) -> DnfFlavour {
    match run(ctx, "dnf", &["--version"]) {
        Ok(o) if o.success() => parse_dnf_version(&o.stdout_text()),
        Ok(_) | Err(_) => DnfFlavour::Dnf4OrUnknown,
    }
}

/// The first lines of dnf5 5.4's `dnf --version`, written by hand from
/// `print_versions` in `dnf5/main.cpp` (dnf5 commit 8a8e2348; dnf5 cannot
/// run here, see testdata/dnf5/README.md).
#[cfg(test)]
pub(super) const DNF5_5_4_VERSION: &str =
    "dnf5 version 5.4.0.0\ndnf5 plugin API version 2.0\nlibdnf5 version 5.4.0.0\n";

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    let mut manager = "dnf";
    let mut flavour = probe_flavour(ctx);
    let mut check_update = flavour.args(&CHECK_UPDATE);
    let out = match run(ctx, "dnf", &check_update) {
        Err(CommandError::NotFound { .. }) => {
            manager = "yum";
            flavour = DnfFlavour::Dnf4OrUnknown;
            check_update = CHECK_UPDATE.to_vec();
            match run(ctx, "yum", &check_update) {
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
    let command = format!("{manager} {}", check_update.join(" "));
    let mut pending = match out.exit_code {
        Some(100) => parse_check_update(&out.stdout_text()),
        Some(0) => Vec::new(),
        _ => return Err(command_failed(&command, &out)),
    };
    // A skipped repository's updates are unknown, so the counts would be
    // too low: no answer is better than a wrong one.
    let skipped = skipped_repositories(&out);
    if !skipped.is_empty() {
        return Err(CheckError::CommandFailed {
            command,
            code: out
                .exit_code
                .map_or_else(|| "a signal".into(), |c| c.to_string()),
            stderr: format!(
                "no local cache for {} (updates from it are unknown until `{manager} makecache` runs)",
                skipped.join(", ")
            ),
        });
    }

    fill_installed_versions(ctx, &mut pending)?;

    let root = ctx.root;
    let cached = cached_repositories(root);
    let security_names = match run(ctx, manager, &flavour.args(&SECURITY_ADVISORIES)) {
        // Output in neither dnf4's nor dnf5's format: which updates are
        // security fixes is unknown, not "none".
        Ok(o) if o.success() => parse_updateinfo_names(&o.stdout_text()),
        Ok(_) | Err(CommandError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(names) = &security_names {
        for p in &mut pending {
            p.security = names.contains(&p.name);
        }
    }
    // An update from a repository without updateinfo (a reposync mirror, a
    // third-party repository) may well be a security fix nobody labelled.
    let every_source_labels_security = pending.iter().all(|p| {
        p.source
            .as_deref()
            .and_then(|repo| cached.get(repo))
            .is_some_and(|r| r.has_updateinfo)
    });
    let pending_security = security_names
        .filter(|_| every_source_labels_security)
        .map(|_| count_security(&pending));

    let (reboot, reboot_required_packages) = match run(ctx, "needs-restarting", &["-r"]) {
        Ok(o) if o.exit_code == Some(1) => (Some(true), parse_needs_restarting(&o.stdout_text())),
        Ok(o) if o.exit_code == Some(0) => (Some(false), Vec::new()),
        // Missing (dnf-utils not installed), failed or hung: unknown.
        Ok(_) | Err(_) => (None, Vec::new()),
    };
    let (reboot_required, reboot_required_unknown) = reboot_fields(reboot);

    let last_install_at = ["/var/log/dnf.rpm.log", "/var/log/yum.log"]
        .into_iter()
        .filter_map(|p| root.read_optional(p).ok().flatten())
        .find_map(|t| parse_rpm_log_last_install(&t));
    Ok(Collected::Ok(Patches {
        manager: manager.into(),
        pending_total: count(&pending),
        pending_security,
        pending,
        cache_updated_at: cached.values().filter_map(|r| r.refreshed_at).max(),
        last_install_at,
        reboot_required,
        reboot_required_unknown,
        reboot_required_packages,
        ..Default::default()
    }))
}

/// Repositories dnf said it skipped: `Ignoring repositories: a, b` on stderr
/// (dnf4). dnf5 has no such line: with `skip_if_unavailable=false` (its
/// default) a repository without cache fails the command ("Cache-only
/// enabled but no cache for repository …", `libdnf5/repo/repo_sack.cpp`),
/// which is an error here already; with `true` it only writes the warning
/// to its log file.
fn skipped_repositories(out: &CommandOutput) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Ignoring repositories:"))
        .flat_map(|list| list.split(','))
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// One repository's local metadata cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CachedRepository {
    /// When its `repomd.xml` was last written (the last metadata refresh).
    pub refreshed_at: Option<i64>,
    /// Its `repomd.xml` lists an `updateinfo` (advisories) file.
    pub has_updateinfo: bool,
}

/// The cached repositories by id, from dnf's `/var/cache/dnf/<id>-<hash>/`,
/// dnf5's `/var/cache/libdnf5/<id>-<hash>/` (both `repodata/repomd.xml`)
/// and yum's `/var/cache/yum/<basearch>/<releasever>/<id>/repomd.xml`.
pub(crate) fn cached_repositories(root: &SysRoot) -> BTreeMap<String, CachedRepository> {
    let mut repos: Vec<(String, String)> = Vec::new();
    for cache in ["/var/cache/dnf", "/var/cache/libdnf5"] {
        for dir in root.list_dir(cache).unwrap_or_default() {
            if let Some(id) = repo_id_of_cache_dir(&dir) {
                repos.push((id.to_string(), format!("{cache}/{dir}/repodata/repomd.xml")));
            }
        }
    }
    for arch in root.list_dir("/var/cache/yum").unwrap_or_default() {
        let arch_dir = format!("/var/cache/yum/{arch}");
        for release in root.list_dir(&arch_dir).unwrap_or_default() {
            let release_dir = format!("{arch_dir}/{release}");
            for id in root.list_dir(&release_dir).unwrap_or_default() {
                repos.push((id.clone(), format!("{release_dir}/{id}/repomd.xml")));
            }
        }
    }
    let mut out: BTreeMap<String, CachedRepository> = BTreeMap::new();
    for (id, repomd) in repos {
        let Some(text) = root.read_optional(&repomd).ok().flatten() else {
            continue;
        };
        let entry = out.entry(id).or_default();
        entry.has_updateinfo |= repomd_has_updateinfo(&text);
        entry.refreshed_at = entry.refreshed_at.max(root.mtime(&repomd).ok());
    }
    out
}

/// `baseos-044cae74d71fe9ea` → `baseos`: dnf appends a 16-hex hash of the URL.
fn repo_id_of_cache_dir(dir: &str) -> Option<&str> {
    let (id, hash) = dir.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !id.is_empty())
        .then_some(id)
}

/// Parses `dnf -C check-update` output: `name.arch  [epoch:]version-release  repo`
/// rows (a long name wraps its row onto the next line) after dnf4's
/// "Last metadata expiration check" line or under dnf5's "Upgrades"
/// heading (dnf5's `check-update` is `check-upgrade`); the "Obsoleting
/// Packages" section repeats packages and is skipped.
pub(crate) fn parse_check_update(text: &str) -> Vec<PendingUpdate> {
    let mut out = Vec::new();
    let mut carried: Vec<&str> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // dnf4 says "Obsoleting Packages", dnf5 "Obsoleting packages".
        if trimmed
            .get(..19)
            .is_some_and(|h| h.eq_ignore_ascii_case("Obsoleting packages"))
        {
            break;
        }
        if trimmed.is_empty()
            // dnf5's heading of its table (a package row has a `name.arch`).
            || trimmed == "Upgrades"
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
            .max_by(|a, b| VersionScheme::Rpm.compare(a, b))
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

/// Package names of the security advisories that `updateinfo list
/// --security` printed, in either format:
/// - dnf4/yum: `ADVISORY  SEVERITY/Sec.  NEVRA` rows, after an optional
///   "Last metadata expiration check" line;
/// - dnf5 (`updateinfo` is its alias of `advisory`): a table with the header
///   `Name Type Severity Package Issued`, the type as plain `security`, the
///   severity possibly empty and the issue date as `YYYY-MM-DD HH:MM:SS`.
///
/// One row per advisory and package, so a name may come twice. `None` when
/// a line fits neither format: the security updates are then unknown.
pub(crate) fn parse_updateinfo_names(text: &str) -> Option<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let mut dnf5_table = false;
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols == DNF5_ADVISORY_HEADER {
            dnf5_table = true;
            continue;
        }
        if dnf5_table {
            let (kind, nevra) = dnf5_advisory_row(&cols)?;
            match kind {
                "security" => {
                    names.insert(rpm_name(nevra)?);
                }
                "bugfix" | "enhancement" | "newpackage" => {}
                // A type cut short by a narrow table, or one never seen:
                // whether it is a security fix is unknown.
                _ => return None,
            }
            continue;
        }
        if line.starts_with("Last metadata expiration check") || line.starts_with("Security: ") {
            continue;
        }
        let [_advisory, kind, nevra] = cols[..] else {
            return None;
        };
        if !kind.contains('/') {
            return None;
        }
        if kind.ends_with("Sec.") {
            names.insert(rpm_name(nevra)?);
        }
    }
    Some(names)
}

/// The header of dnf5's advisory table (`libdnf5-cli/output/advisorylist.cpp`).
const DNF5_ADVISORY_HEADER: [&str; 5] = ["Name", "Type", "Severity", "Package", "Issued"];

/// `(type, nevra)` of a dnf5 advisory row: `NAME TYPE [SEVERITY] NEVRA DATE TIME`.
fn dnf5_advisory_row<'a>(cols: &[&'a str]) -> Option<(&'a str, &'a str)> {
    let is_date = |d: &str| {
        d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    let (row, issued) = cols.split_at(cols.len().checked_sub(2)?);
    if !is_date(issued[0]) || !(3..=4).contains(&row.len()) {
        return None;
    }
    Some((row[1], row[row.len() - 1]))
}

/// `glib2-2.68.4-14.el9_4.1.x86_64` → `glib2`; `openssl-libs-1:3.0.7-28.el9_4.x86_64` → `openssl-libs`.
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
    use super::super::recorded;
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
        )
        .unwrap();
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

    #[test]
    fn recorded_dnf_outputs() {
        let p = parse_check_update(&recorded(
            "rocky9-noncompliant",
            "commands/dnf-check-update.out",
        ));
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["glib2", "kernel-core", "openssl-libs", "vim-minimal"]
        );
        assert_eq!(p[2].candidate_version.as_deref(), Some("1:3.0.7-28.el9_4"));
        assert_eq!(p[3].source.as_deref(), Some("appstream"));
        let sec = parse_updateinfo_names(&recorded(
            "rocky9-noncompliant",
            "commands/dnf-updateinfo-security.out",
        ))
        .unwrap();
        assert_eq!(
            sec.into_iter().collect::<Vec<_>>(),
            ["glib2", "kernel-core", "openssl-libs"]
        );
        // dnf 4.14's other recordings stay answers (a security count), not unknown.
        for host in ["rocky9-compliant", "centos9-reposync"] {
            let text = recorded(host, "commands/dnf-updateinfo-security.out");
            assert_eq!(
                parse_updateinfo_names(&text),
                Some(BTreeSet::new()),
                "{host}"
            );
        }
        assert!(
            parse_check_update(&recorded(
                "rocky9-compliant",
                "commands/dnf-check-update.out"
            ))
            .is_empty()
        );
        assert_eq!(
            parse_needs_restarting(&recorded(
                "rocky9-noncompliant",
                "commands/needs-restarting-r.out"
            )),
            ["kernel", "systemd"]
        );
    }

    #[test]
    fn skipped_repositories_from_dnf_stderr() {
        let out = CommandOutput {
            exit_code: Some(100),
            stdout: Vec::new(),
            stderr: b"Error: Cache-only enabled but no cache for 'never-cached'\nIgnoring repositories: never-cached, other\n".to_vec(),
        };
        assert_eq!(skipped_repositories(&out), ["never-cached", "other"]);
    }

    #[test]
    fn updateinfo_presence_from_recorded_repomd() {
        let root = SysRoot::new(format!(
            "{}/../tests/hosts/rocky9-noncompliant",
            env!("CARGO_MANIFEST_DIR")
        ));
        let repos = cached_repositories(&root);
        assert_eq!(repos.keys().collect::<Vec<_>>(), ["appstream", "baseos"]);
        assert!(repos.values().all(|r| r.has_updateinfo));
        let root = SysRoot::new(format!(
            "{}/../tests/hosts/centos9-reposync",
            env!("CARGO_MANIFEST_DIR")
        ));
        let repos = cached_repositories(&root);
        assert!(!repos["epel-mirror"].has_updateinfo);
        assert!(!repomd_has_updateinfo("<repomd"));
        assert_eq!(
            repo_id_of_cache_dir("epel-mirror-fd88b57b288d6e68"),
            Some("epel-mirror")
        );
        assert_eq!(repo_id_of_cache_dir("baseos.solv"), None);
        assert_eq!(repo_id_of_cache_dir("appstream-filenames.solvx"), None);
    }

    #[test]
    fn dnf5_and_yum_cache_paths() {
        let dir = tempfile::tempdir().unwrap();
        let repomd = recorded(
            "rocky9-noncompliant",
            "var/cache/dnf/baseos-bbe1f9a265050221/repodata/repomd.xml",
        );
        for p in [
            "var/cache/libdnf5/updates-0123456789abcdef/repodata/repomd.xml",
            "var/cache/yum/x86_64/7/base/repomd.xml",
        ] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &repomd).unwrap();
        }
        let repos = cached_repositories(&SysRoot::new(dir.path()));
        assert_eq!(repos.keys().collect::<Vec<_>>(), ["base", "updates"]);
        assert!(repos["base"].has_updateinfo && repos["base"].refreshed_at.is_some());
    }

    /// Runs the check on a fake dnf5 host (a libdnf5 cache with updateinfo)
    /// whose `updateinfo list --security` printed `advisories`.
    fn dnf5_host_patches(advisories: &str) -> Patches {
        let dir = tempfile::tempdir().unwrap();
        let repomd = recorded(
            "rocky9-noncompliant",
            "var/cache/dnf/baseos-bbe1f9a265050221/repodata/repomd.xml",
        );
        let path = dir
            .path()
            .join("var/cache/libdnf5/updates-0123456789abcdef/repodata/repomd.xml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, repomd).unwrap();
        let root = SysRoot::new(dir.path());
        let runner = crate::host::RecordedRunner::new()
            .with(&["dnf", "--version"], 0, DNF5_5_4_VERSION)
            .with(
                &CHECK_UPDATE_ARGV,
                100,
                include_str!("testdata/dnf5/check-upgrade.out"),
            )
            .with(&SECURITY_ADVISORIES_ARGV, 0, advisories);
        let ctx = CheckContext {
            root: &root,
            runner: &runner,
            now: 0,
            command_timeout: std::time::Duration::from_secs(5),
        };
        match collect(&ctx).unwrap() {
            Collected::Ok(p) => p,
            other => panic!("{other:?}"),
        }
    }

    /// dnf5 5.4 takes the system repository lock: both commands skip it.
    const CHECK_UPDATE_ARGV: [&str; 4] = ["dnf", SKIP_FILE_LOCKS, CHECK_UPDATE[0], CHECK_UPDATE[1]];
    const SECURITY_ADVISORIES_ARGV: [&str; 6] = [
        "dnf",
        SKIP_FILE_LOCKS,
        SECURITY_ADVISORIES[0],
        SECURITY_ADVISORIES[1],
        SECURITY_ADVISORIES[2],
        SECURITY_ADVISORIES[3],
    ];

    /// dnf5 (Fedora 41+) prints its own formats (testdata/dnf5/README.md):
    /// every pending update and both security fixes are counted.
    #[test]
    fn dnf5_check_upgrade_and_advisory_list() {
        let p = dnf5_host_patches(include_str!("testdata/dnf5/advisory-list-security.out"));
        let names: Vec<_> = p.pending.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["glib2", "kernel-core", "vim-minimal"]);
        assert_eq!(
            p.pending[2].candidate_version.as_deref(),
            Some("2:9.1.866-1.fc41")
        );
        assert_eq!(p.pending_total, 3);
        assert_eq!(p.pending_security, Some(2));
        let security: Vec<_> = p
            .pending
            .iter()
            .filter(|p| p.security)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(security, ["glib2", "kernel-core"]);
    }

    /// Advisory output in neither format: unknown, never zero.
    #[test]
    fn unreadable_advisory_list_is_unknown_not_zero() {
        for text in [
            "Advisories of an unknown layout\nFEDORA-2026-1 glib2 security\n",
            "FEDORA-2026-1 security Important glib2-2.82.2-1.fc41.x86_64\n",
            "Name Type Severity Package Issued\n\
             FEDORA-2026-1 secu… Important glib2-2.82.2-1.fc41.x86_64 2026-11-20 01:23:45\n",
        ] {
            assert_eq!(parse_updateinfo_names(text), None, "{text}");
            assert_eq!(dnf5_host_patches(text).pending_security, None, "{text}");
        }
        // Nothing to report is an answer in both formats.
        assert_eq!(parse_updateinfo_names(""), Some(BTreeSet::new()));
        assert_eq!(
            parse_updateinfo_names("Name Type Severity Package Issued\n"),
            Some(BTreeSet::new())
        );
        assert_eq!(
            parse_updateinfo_names(
                "Last metadata expiration check: 0:00:04 ago on Wed Dec  2 08:19:37 2026.\n"
            ),
            Some(BTreeSet::new())
        );
    }

    #[test]
    fn dnf_flavour_from_version_output() {
        let dnf5 = |locks_system_repo| DnfFlavour::Dnf5 { locks_system_repo };
        for (text, want) in [
            (DNF5_5_4_VERSION, dnf5(true)),
            ("dnf5 version 5.4.4.0\n", dnf5(true)),
            ("dnf5 version 6.0.0.0\n", dnf5(true)),
            // Fedora 41's dnf5 predates the lock (and the switch).
            (
                "dnf5 version 5.2.8.1\ndnf5 plugin API version 2.0\n",
                dnf5(false),
            ),
            ("dnf5 version 5.3.0.0\n", dnf5(false)),
            // dnf4 (`dnf/cli/cli.py`: the bare version, then packages).
            (
                "4.14.0\n  Installed: dnf-0:4.14.0-9.el9.noarch at Mon 02 Dec 2026\n",
                DnfFlavour::Dnf4OrUnknown,
            ),
            ("dnf5 version five\n", DnfFlavour::Dnf4OrUnknown),
            ("", DnfFlavour::Dnf4OrUnknown),
        ] {
            assert_eq!(parse_dnf_version(text), want, "{text:?}");
        }
        assert_eq!(
            dnf5(true).args(&CHECK_UPDATE),
            [SKIP_FILE_LOCKS, "-C", "check-update"]
        );
        for old in [dnf5(false), DnfFlavour::Dnf4OrUnknown] {
            assert_eq!(old.args(&CHECK_UPDATE), ["-C", "check-update"], "{old:?}");
        }
    }

    /// A dnf5 older than 5.4 would refuse `--skip-file-locks`: not passed.
    #[test]
    fn dnf5_before_5_4_gets_no_lock_switch() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        let runner = crate::host::RecordedRunner::new()
            .with(&["dnf", "--version"], 0, "dnf5 version 5.2.8.1\n")
            .with(
                &["dnf", "-C", "check-update"],
                100,
                include_str!("testdata/dnf5/check-upgrade.out"),
            );
        let ctx = CheckContext {
            root: &root,
            runner: &runner,
            now: 0,
            command_timeout: std::time::Duration::from_secs(5),
        };
        match collect(&ctx).unwrap() {
            Collected::Ok(p) => assert_eq!(p.pending_total, 3),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_dnf_version(&s);
            let _ = repomd_has_updateinfo(&s);
            let _ = parse_check_update(&s);
            let _ = parse_updateinfo_names(&s);
            let _ = parse_needs_restarting(&s);
            let _ = parse_rpm_log_last_install(&s);
            let _ = parse_rpm_versions(&s);
        }
    }
}
