//! zypper (openSUSE, SLES): `list-updates` and a dry-run `patch --category
//! security` as XML from the local cache (`--no-refresh`), read with
//! quick-xml; which repositories carry patches from their cached
//! `repomd.xml`; `needs-rebooting`; zypp history. Every zypper command runs
//! read-only (`ZYPP_READONLY_HACK=1`), without the global zypp lock.

use std::collections::BTreeSet;

use fleetwatch_protocol::{Patches, PendingUpdate};
use serde::Deserialize;

use super::repomd::repomd_has_updateinfo;
use super::timestamp::parse_datetime;
use super::{command_failed, count, count_security, newest_mtime_in, reboot_fields};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::{CommandError, CommandOutput, SysRoot};

const LIST_UPDATES: [&str; 4] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "list-updates",
];
/// The packages applying the needed security patches would upgrade: the
/// security count is of packages, as on every manager (a patch often
/// fixes several). `--dry-run` resolves only; nothing is downloaded.
const SECURITY_PATCH_DRY_RUN: [&str; 7] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "patch",
    "--dry-run",
    "--category",
    "security",
];
const NEEDS_REBOOTING: [&str; 3] = ["--non-interactive", "--no-refresh", "needs-rebooting"];

/// libzypp's read-only promise. Without it every one of these commands
/// (`list-updates`, `patch --dry-run`, `needs-rebooting`: all but `ps` and
/// subcommands) takes the global zypp lock, `/run/zypp.pid`, and, while a
/// YaST or zypper transaction holds it, waits `ZYPP_LOCK_TIMEOUT` seconds
/// and fails (libzypp `zypp/zypp/ZYppFactory.cc`, `getZYpp`, at commit
/// 5adf0720), so the agent would both block an administrator's zypper and
/// report nothing. zypper calls `zypp_readonly_hack::IWantIt()` when
/// `ZYPP_READONLY_HACK` starts with `1` (zypper `src/Zypper.cc`,
/// `doCommand`, "=== ZYpp lock ==="), and libzypp skips the lock when the
/// variable is set at all (since libzypp commit 8a379ee8, 2013; the
/// zypp-rpm lock too since 17.31.18). In that mode libzypp also leaves
/// orphaned cache directories alone (`zypp/zypp/ng/repomanager.cc`,
/// bsc#1210740) and imports no keys (`zypp/zypp/target/rpm/RpmDb.cc`); a
/// dry run commits nothing, so reading is all these commands do.
const READ_ONLY: [(&str, &str); 1] = [("ZYPP_READONLY_HACK", "1")];

/// Runs zypper read-only ([`READ_ONLY`]) with the check's timeout.
fn zypper(ctx: &CheckContext<'_>, args: &[&str]) -> Result<CommandOutput, CommandError> {
    ctx.runner
        .run_with_env("zypper", args, &READ_ONLY, ctx.command_timeout)
}

/// zypper's exit codes that still come with a complete answer: 0, and the
/// informational 100 (updates needed), 101 (security updates needed), 102
/// (reboot needed), 103 (restart needed). 104 (capability not found), 105
/// (interrupted by a signal) and 106 (repositories skipped) leave the
/// answer missing or incomplete.
fn answered(out: &CommandOutput) -> bool {
    matches!(out.exit_code, Some(0 | 100..=103))
}

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    let out = match zypper(ctx, &LIST_UPDATES) {
        Err(CommandError::NotFound { .. }) => {
            return Ok(Collected::Unsupported("zypper is not installed".into()));
        }
        other => other?,
    };
    if !answered(&out) {
        return Err(command_failed("zypper list-updates", &out));
    }
    let mut pending =
        parse_list_updates(&out.stdout_text()).map_err(|detail| CheckError::Parse {
            what: "zypper --xmlout list-updates".into(),
            detail,
        })?;
    let root = ctx.root;
    let security_packages = match zypper(ctx, &SECURITY_PATCH_DRY_RUN) {
        Ok(o) if answered(&o) => parse_patch_dry_run_packages(&o.stdout_text()).ok(),
        Ok(_) | Err(CommandError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(names) = &security_packages {
        for p in &mut pending {
            p.security = names.contains(&p.name);
        }
    }
    // Tumbleweed's and most third-party repositories carry no patches: an
    // update from one of them says nothing about security.
    let every_source_has_patches = pending.iter().all(|p| {
        p.source
            .as_deref()
            .is_some_and(|alias| repository_has_patches(root, alias))
    });
    let pending_security = security_packages
        .filter(|_| every_source_has_patches)
        .map(|_| count_security(&pending));
    // 102 = ZYPPER_EXIT_INF_REBOOT_NEEDED; 0 = not needed; anything else
    // (an old zypper without the command, a failure) is unknown.
    let reboot = match zypper(ctx, &NEEDS_REBOOTING) {
        Ok(o) if o.exit_code == Some(102) => Some(true),
        Ok(o) if o.exit_code == Some(0) => Some(false),
        Ok(_) | Err(_) => None,
    };
    let (reboot_required, reboot_required_unknown) = reboot_fields(reboot);
    Ok(Collected::Ok(Patches {
        manager: "zypper".into(),
        pending_total: count(&pending),
        pending_security,
        pending,
        cache_updated_at: newest_mtime_in(root, "/var/cache/zypp/raw", "/repodata/repomd.xml")
            .or_else(|| newest_mtime_in(root, "/var/cache/zypp/solv", "/solv")),
        last_install_at: root
            .read_optional("/var/log/zypp/history")
            .ok()
            .flatten()
            .and_then(|t| parse_history_last_install(&t)),
        reboot_required,
        reboot_required_unknown,
        // libzypp touches /run/reboot-needed when it installs such a package.
        reboot_required_since: reboot_required
            .then(|| root.mtime("/run/reboot-needed").ok())
            .flatten(),
        ..Default::default()
    }))
}

/// True when the repository's cached metadata has an updateinfo (patches).
fn repository_has_patches(root: &SysRoot, alias: &str) -> bool {
    // An alias is a file name under the cache, never a path.
    if alias.contains('/') || alias.starts_with('.') {
        return false;
    }
    root.read_optional(&format!("/var/cache/zypp/raw/{alias}/repodata/repomd.xml"))
        .ok()
        .flatten()
        .is_some_and(|xml| repomd_has_updateinfo(&xml))
}

/// `<stream>` as zypper's `--xmlout` writes it (messages and progress
/// elements are ignored).
#[derive(Debug, Default, Deserialize)]
struct Stream {
    #[serde(rename = "update-status", default)]
    update_status: Option<UpdateStatus>,
    #[serde(rename = "install-summary", default)]
    install_summary: Option<InstallSummary>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateStatus {
    #[serde(rename = "update-list", default)]
    update_list: Option<UpdateList>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateList {
    #[serde(default)]
    update: Vec<Update>,
}

#[derive(Debug, Deserialize)]
struct Update {
    #[serde(rename = "@kind", default)]
    kind: Option<String>,
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@edition", default)]
    edition: Option<String>,
    #[serde(rename = "@edition-old", default)]
    edition_old: Option<String>,
    #[serde(default)]
    source: Option<Source>,
}

#[derive(Debug, Deserialize)]
struct Source {
    #[serde(rename = "@alias", default)]
    alias: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct InstallSummary {
    #[serde(rename = "to-upgrade", default)]
    to_upgrade: Option<Solvables>,
    #[serde(rename = "to-install", default)]
    to_install: Option<Solvables>,
}

#[derive(Debug, Default, Deserialize)]
struct Solvables {
    #[serde(default)]
    solvable: Vec<Solvable>,
}

#[derive(Debug, Deserialize)]
struct Solvable {
    #[serde(rename = "@type", default)]
    kind: Option<String>,
    #[serde(rename = "@name")]
    name: String,
}

fn parse_stream(xml: &str) -> Result<Stream, String> {
    quick_xml::de::from_str(xml).map_err(|e| e.to_string())
}

/// `<update kind="package" name=… edition=… edition-old=…>` elements with
/// their `<source alias=…/>`; an error when the XML is cut short or malformed.
pub(crate) fn parse_list_updates(xml: &str) -> Result<Vec<PendingUpdate>, String> {
    let stream = parse_stream(xml)?;
    let updates = stream
        .update_status
        .and_then(|s| s.update_list)
        .map(|l| l.update)
        .unwrap_or_default();
    Ok(updates
        .into_iter()
        .filter(|u| u.kind.as_deref().is_none_or(|k| k == "package"))
        .map(|u| PendingUpdate {
            name: u.name,
            installed_version: u.edition_old,
            candidate_version: u.edition,
            security: false,
            source: u.source.and_then(|s| s.alias),
        })
        .collect())
}

/// Names of the packages (not the patches) a `patch --dry-run` would
/// upgrade or install.
pub(crate) fn parse_patch_dry_run_packages(xml: &str) -> Result<BTreeSet<String>, String> {
    let summary = parse_stream(xml)?.install_summary.unwrap_or_default();
    Ok([summary.to_upgrade, summary.to_install]
        .into_iter()
        .flatten()
        .flat_map(|s| s.solvable)
        .filter(|s| s.kind.as_deref().is_none_or(|k| k == "package"))
        .map(|s| s.name)
        .collect())
}

/// Last `install` in `/var/log/zypp/history` (`2024-06-01 10:11:12|install|…`),
/// local time read as UTC.
pub(crate) fn parse_history_last_install(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('|');
            let when = cols.next()?;
            (cols.next()? == "install").then(|| parse_datetime(when))?
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recorded_list_updates() {
        let p = parse_list_updates(&recorded(
            "opensuse-noncompliant",
            "commands/zypper-list-updates.xml",
        ))
        .unwrap();
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "libopenssl-3-fips-provider",
                "libopenssl3",
                "libxml2-2",
                "openssl-3",
                "vim"
            ]
        );
        let openssl = &p[1];
        assert_eq!(
            openssl.installed_version.as_deref(),
            Some("3.1.4-150600.5.10.1")
        );
        assert_eq!(
            openssl.candidate_version.as_deref(),
            Some("3.1.4-150600.5.15.1")
        );
        assert_eq!(openssl.source.as_deref(), Some("repo-sle-update"));
        assert!(
            parse_list_updates(&recorded(
                "opensuse-compliant",
                "commands/zypper-list-updates.xml"
            ))
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn security_packages_not_patches() {
        // Two security patches fix four packages; the recommended vim
        // patch (listed by `list-patches --category security` all the same,
        // as zypper 1.14 does) is not among them.
        let names = parse_patch_dry_run_packages(&recorded(
            "opensuse-noncompliant",
            "commands/zypper-patch-dry-run-security.xml",
        ))
        .unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                "libopenssl-3-fips-provider",
                "libopenssl3",
                "libxml2-2",
                "openssl-3"
            ]
        );
        assert!(
            parse_patch_dry_run_packages(&recorded(
                "opensuse-compliant",
                "commands/zypper-patch-dry-run-security.xml"
            ))
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn cut_short_xml_is_an_error_not_an_empty_list() {
        let full = recorded("opensuse-noncompliant", "commands/zypper-list-updates.xml");
        let cut = &full[..full.len() / 2];
        assert!(parse_list_updates(cut).is_err());
    }

    #[test]
    fn exit_105_is_not_an_answer() {
        let out = |code| CommandOutput {
            exit_code: Some(code),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        for code in [0, 100, 101, 102, 103] {
            assert!(answered(&out(code)), "{code}");
        }
        for code in [1, 4, 7, 104, 105, 106] {
            assert!(!answered(&out(code)), "{code}");
        }
    }

    #[test]
    fn history() {
        let h = "# 2024-06-01 10:11:00 openssl-3.rpm installed ok\n\
                 2024-06-01 10:11:12|install|openssl-3|3.1.4-150600.5.15.1|x86_64|root@leap|repo-sle-update|abc|\n\
                 2024-06-01 10:12:00|command|root@leap|'zypper' 'up'|\n";
        assert_eq!(parse_history_last_install(h), Some(1_717_236_672));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_list_updates(&s);
            let _ = parse_list_updates(&format!("<stream><update {s}"));
            let _ = parse_patch_dry_run_packages(&s);
            let _ = parse_history_last_install(&s);
        }
    }
}
