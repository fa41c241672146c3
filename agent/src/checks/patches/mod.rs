//! The patch-level check: detects the package manager and reports pending
//! updates, cache age, last install, reboot state and kernels.
//!
//! Each backend (`apt`, `dnf`, `zypper`, `pacman`) keeps its pure parsers
//! apart from the I/O. The agent never refreshes a package cache itself: it
//! runs each tool in its cache-only mode and reads what the last refresh
//! left behind. What a tool cannot tell (security metadata, reboot state)
//! is reported unknown, never zero or false.

mod apt;
pub mod command_outputs;
mod dnf;
pub mod install_history;
mod kernel;
mod pacman;
mod repomd;
pub mod softwareupdate;
pub(crate) mod timestamp;
mod version;
mod zypper;

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::{Check, CheckContext, CheckError, Collected};
use crate::host::{CommandError, CommandOutput, SysRoot};
use version::VersionScheme;

/// At most this many pending packages are listed (the totals stay exact).
pub const PENDING_CAP: usize = 200;

/// Detects the package manager and reports pending updates, cache age, reboot state.
#[derive(Debug, Clone, Default)]
pub struct PatchCheck;

/// The package managers this check understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Apt,
    Dnf,
    Zypper,
    Pacman,
}

impl Check for PatchCheck {
    type Output = Patches;
    const NAME: &'static str = "patches";
    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
        let Some(manager) = detect_manager(ctx.root) else {
            return Ok(Collected::Unsupported(
                "no supported package manager (apt, dnf/yum, zypper, pacman) detected".into(),
            ));
        };
        let collected = match manager {
            Manager::Apt => apt::collect(ctx)?,
            Manager::Dnf => dnf::collect(ctx)?,
            Manager::Zypper => zypper::collect(ctx)?,
            Manager::Pacman => pacman::collect(ctx)?,
        };
        Ok(match collected {
            Collected::Ok(mut patches) => {
                patches.running_kernel = ctx.root.read_value("/proc/sys/kernel/osrelease");
                patches.newest_kernel = kernel::newest_installed(ctx.root, manager.versions());
                cap_pending(&mut patches);
                Collected::Ok(patches)
            }
            other => other,
        })
    }
}

/// Picks the manager from os-release (`ID`, then `ID_LIKE`), falling back
/// to the package databases present under the root.
fn detect_manager(root: &SysRoot) -> Option<Manager> {
    let os_release = root
        .read_optional("/etc/os-release")
        .ok()
        .flatten()
        .or_else(|| root.read_optional("/usr/lib/os-release").ok().flatten())
        .unwrap_or_default();
    let id = os_release_value(&os_release, "ID").unwrap_or_default();
    let id_like = os_release_value(&os_release, "ID_LIKE").unwrap_or_default();
    let from_ids = std::iter::once(id.as_str())
        .chain(id_like.split_whitespace())
        .find_map(manager_for_id);
    from_ids.or_else(|| {
        [
            ("/var/lib/dpkg/status", Manager::Apt),
            ("/var/lib/pacman/local", Manager::Pacman),
            ("/etc/zypp", Manager::Zypper),
            ("/etc/dnf", Manager::Dnf),
            ("/etc/yum.conf", Manager::Dnf),
        ]
        .into_iter()
        .find(|(path, _)| root.exists(path))
        .map(|(_, m)| m)
    })
}

impl Manager {
    /// The version order of this manager's packages.
    fn versions(self) -> VersionScheme {
        match self {
            Manager::Apt => VersionScheme::Debian,
            // pacman's vercmp is rpmvercmp with pkgrel as the release.
            Manager::Dnf | Manager::Zypper | Manager::Pacman => VersionScheme::Rpm,
        }
    }
}

fn manager_for_id(id: &str) -> Option<Manager> {
    match id {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" | "pop" | "kali" => Some(Manager::Apt),
        "rhel" | "fedora" | "centos" | "rocky" | "almalinux" | "ol" | "amzn" => Some(Manager::Dnf),
        "suse" | "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "sles" | "sled" => {
            Some(Manager::Zypper)
        }
        "arch" | "manjaro" | "endeavouros" => Some(Manager::Pacman),
        _ => None,
    }
}

/// A value from os-release text, unquoted.
pub(crate) fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Runs a tool with the check's timeout.
fn run(
    ctx: &CheckContext<'_>,
    program: &str,
    args: &[&str],
) -> Result<CommandOutput, CommandError> {
    ctx.runner.run(program, args, ctx.command_timeout)
}

/// Error for a tool that exited with an unexpected code.
fn command_failed(command: &str, out: &CommandOutput) -> CheckError {
    CheckError::command_failed(command, out)
}

/// Newest modification time among `paths` (those that exist).
fn newest_mtime<'a>(root: &SysRoot, paths: impl IntoIterator<Item = &'a str>) -> Option<i64> {
    paths.into_iter().filter_map(|p| root.mtime(p).ok()).max()
}

/// Newest mtime of `<dir>/<entry>/<suffix>` over the entries of `dir`.
fn newest_mtime_in(root: &SysRoot, dir: &str, suffix: &str) -> Option<i64> {
    let entries = root.list_dir(dir).ok()?;
    entries
        .iter()
        .filter_map(|e| root.mtime(&format!("{dir}/{e}{suffix}")).ok())
        .max()
}

/// Cuts the pending and new-package lists at [`PENDING_CAP`], security
/// updates first so the ones that matter survive the cut.
fn cap_pending(patches: &mut Patches) {
    for list in [&mut patches.pending, &mut patches.new_packages] {
        list.sort_by(|a, b| {
            b.security
                .cmp(&a.security)
                .then_with(|| a.name.cmp(&b.name))
        });
        if list.len() > PENDING_CAP {
            list.truncate(PENDING_CAP);
            patches.pending_truncated = true;
        }
    }
}

/// `(reboot_required, reboot_required_unknown)` from what a backend learnt
/// (`None`: it could not tell).
fn reboot_fields(required: Option<bool>) -> (bool, bool) {
    (required.unwrap_or(false), required.is_none())
}

/// Counts the security updates among `pending`.
fn count_security(pending: &[PendingUpdate]) -> u32 {
    u32::try_from(pending.iter().filter(|p| p.security).count()).unwrap_or(u32::MAX)
}

/// `pending.len()` as the wire's `u32`.
fn count(pending: &[PendingUpdate]) -> u32 {
    u32::try_from(pending.len()).unwrap_or(u32::MAX)
}

/// A file of a fixture host under `tests/hosts/<host>/`, for the backends' tests.
#[cfg(test)]
pub(crate) fn recorded(host: &str, path: &str) -> String {
    let path = format!(
        "{}/../tests/hosts/{host}/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_from_os_release_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let root = SysRoot::new(dir.path());
        for (text, want) in [
            ("ID=debian\n", Some(Manager::Apt)),
            (
                "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
                Some(Manager::Dnf),
            ),
            ("ID=myrhel\nID_LIKE=\"rhel fedora\"\n", Some(Manager::Dnf)),
            (
                "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n",
                Some(Manager::Zypper),
            ),
            ("ID=arch\n", Some(Manager::Pacman)),
            ("ID=gentoo\n", None),
        ] {
            std::fs::write(dir.path().join("etc/os-release"), text).unwrap();
            assert_eq!(detect_manager(&root), want, "{text}");
        }
    }

    /// Replays a fixture host's recordings and keeps every command asked for.
    struct Spy {
        inner: crate::host::RecordedRunner,
        /// Every command's argv and the `K=V` variables set for it alone.
        calls: std::sync::Mutex<Vec<(Vec<String>, Vec<String>)>>,
    }

    impl crate::host::CommandRunner for Spy {
        fn run_with_env(
            &self,
            program: &str,
            args: &[&str],
            env: &[(&str, &str)],
            timeout: std::time::Duration,
        ) -> Result<CommandOutput, CommandError> {
            let mut argv = vec![program.to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            let env = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.calls.lock().unwrap().push((argv, env));
            self.inner.run(program, args, timeout)
        }
    }

    /// A Fedora host whose `dnf` is dnf5 5.4 (which locks the system repository).
    fn dnf5_5_4_host() -> (tempfile::TempDir, crate::host::RecordedRunner) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/os-release"), "ID=fedora\n").unwrap();
        let runner = crate::host::RecordedRunner::new()
            .with(&["dnf", "--version"], 0, dnf::DNF5_5_4_VERSION)
            .with(
                &["dnf", "--skip-file-locks", "-C", "check-update"],
                100,
                include_str!("testdata/dnf5/check-upgrade.out"),
            )
            .with(
                &[
                    "dnf",
                    "--skip-file-locks",
                    "-C",
                    "updateinfo",
                    "list",
                    "--security",
                ],
                0,
                include_str!("testdata/dnf5/advisory-list-security.out"),
            );
        (dir, runner)
    }

    /// The agent's promise: no refresh, no download, no sync from mirrors,
    /// no lock where the tool has a way around it.
    #[test]
    fn every_patch_command_is_cache_only() {
        let (dnf5_dir, dnf5_runner) = dnf5_5_4_host();
        let fixture = |host: &str| {
            let dir = format!("{}/../tests/hosts/{host}", env!("CARGO_MANIFEST_DIR"));
            let runner = crate::host::RecordedRunner::from_dir(std::path::Path::new(&format!(
                "{dir}/commands"
            )))
            .unwrap();
            (host.to_string(), std::path::PathBuf::from(dir), runner)
        };
        let hosts = vec![
            fixture("debian12-noncompliant"),
            fixture("rocky9-noncompliant"),
            fixture("opensuse-noncompliant"),
            fixture("arch-noncompliant"),
            (
                "dnf5-5.4".to_string(),
                dnf5_dir.path().to_path_buf(),
                dnf5_runner,
            ),
        ];
        for (host, dir, runner) in hosts {
            // dnf5 5.4 waits for a transaction's lock unless told not to;
            // dnf4 (rocky9) refuses the switch.
            let skips_locks = host == "dnf5-5.4";
            let root = SysRoot::new(&dir);
            let spy = Spy {
                inner: runner,
                calls: Default::default(),
            };
            let ctx = CheckContext {
                root: &root,
                runner: &spy,
                now: 0,
                command_timeout: std::time::Duration::from_secs(5),
            };
            let out = PatchCheck.collect(&ctx).unwrap();
            assert!(matches!(out, Collected::Ok(_)), "{host}");
            let calls = spy.calls.into_inner().unwrap();
            assert!(!calls.is_empty());
            for (argv, env) in &calls {
                let has = |a: &str| argv.iter().any(|x| x == a);
                // zypper alone runs read-only (no zypp lock); nothing else
                // gets extra variables.
                let want_env: &[&str] = match argv[0].as_str() {
                    "zypper" => &["ZYPP_READONLY_HACK=1"],
                    _ => &[],
                };
                assert_eq!(env, want_env, "{host}: {argv:?}");
                match argv[0].as_str() {
                    "apt-get" => assert!(has("-s") && has("Debug::NoLocking=true"), "{argv:?}"),
                    "dnf" if argv[1..] == ["--version"] => {}
                    "dnf" | "yum" => {
                        assert!(has("-C"), "{argv:?}");
                        assert_eq!(has("--skip-file-locks"), skips_locks, "{host}: {argv:?}");
                    }
                    "zypper" => assert!(has("--no-refresh"), "{argv:?}"),
                    "pacman" => assert!(argv[1].starts_with("-Q"), "{argv:?}"),
                    "apt-cache" | "rpm" | "needs-restarting" => {}
                    other => panic!("{host}: unexpected command {other} ({argv:?})"),
                }
                for refresh in ["update", "refresh", "makecache", "-Sy", "-Syu"] {
                    assert!(!has(refresh), "{host}: {argv:?}");
                }
            }
        }
    }

    #[test]
    fn patch_errors_never_carry_repository_credentials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/os-release"), "ID=rocky\n").unwrap();
        let root = SysRoot::new(dir.path());
        let url = "https://deploy:glpat-TOKEN-1234@repo.corp.example/el9/repodata/repomd.xml";
        // Once with the URL well inside the quoted part, once across the cut.
        for pad in [0, crate::host::STDERR_SUMMARY_CHARS - 20] {
            let stderr = format!(
                "{}Error: Failed to download metadata for repo 'corp': Curl error (22): {url}\n",
                "x".repeat(pad)
            );
            let runner = crate::host::RecordedRunner::new().with_stderr(
                &["dnf", "-C", "check-update"],
                1,
                &stderr,
            );
            let ctx = CheckContext {
                root: &root,
                runner: &runner,
                now: 0,
                command_timeout: std::time::Duration::from_secs(5),
            };
            let r = crate::checks::run_check(&PatchCheck, &ctx);
            let error = r.error.unwrap();
            for leak in ["glpat", "TOKEN", "deploy:"] {
                assert!(!error.contains(leak), "pad {pad}: {error}");
            }
            assert!(
                error.contains("dnf -C check-update exited with 1"),
                "{error}"
            );
        }
    }

    #[test]
    fn cap_keeps_security_first_and_marks_truncation() {
        let mut p = Patches {
            pending: (0..250)
                .map(|i| PendingUpdate {
                    name: format!("pkg{i:03}"),
                    security: i == 249,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        cap_pending(&mut p);
        assert_eq!(p.pending.len(), PENDING_CAP);
        assert!(p.pending_truncated);
        assert_eq!(p.pending[0].name, "pkg249");
    }
}
