//! pacman (Arch): `pacman -Qu` against the local sync databases (no
//! network: unlike `checkupdates`, which syncs its own copy from the
//! mirrors; no lock: a query does not take pacman's), sync-db age,
//! `pacman.log`. Arch has no security metadata and no reboot flag, so a
//! running kernel whose modules are gone counts as "reboot required".

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::timestamp::parse_datetime;
use super::{command_failed, count, newest_mtime_in, reboot_fields, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::{CommandError, SysRoot};

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    let pending = match run(ctx, "pacman", &["-Qu"]) {
        Ok(o) if o.success() => parse_updates(&o.stdout_text()),
        // -Qu exits 1 when there is nothing to list.
        Ok(o) if o.exit_code == Some(1) && o.stdout.is_empty() => Vec::new(),
        Ok(o) => return Err(command_failed("pacman -Qu", &o)),
        Err(CommandError::NotFound { .. }) => {
            return Ok(Collected::Unsupported("pacman is not installed".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let root = ctx.root;
    let (reboot_required, reboot_required_unknown) = reboot_fields(running_kernel_removed(root));
    Ok(Collected::Ok(Patches {
        manager: "pacman".into(),
        pending_total: count(&pending),
        pending_security: None,
        pending,
        cache_updated_at: newest_sync_db(root),
        last_install_at: root
            .read_optional("/var/log/pacman.log")
            .ok()
            .flatten()
            .and_then(|t| parse_log_last_install(&t)),
        reboot_required,
        reboot_required_unknown,
        ..Default::default()
    }))
}

fn newest_sync_db(root: &SysRoot) -> Option<i64> {
    let dbs = root.list_dir("/var/lib/pacman/sync").ok()?;
    dbs.iter()
        .filter(|n| n.ends_with(".db"))
        .filter_map(|n| root.mtime(&format!("/var/lib/pacman/sync/{n}")).ok())
        .max()
        .or_else(|| newest_mtime_in(root, "/var/lib/pacman", ""))
}

/// An upgraded kernel package removes the running kernel's modules
/// directory: `Some(true)` then, `Some(false)` while it is there, `None`
/// when the running release or the modules are unknown.
fn running_kernel_removed(root: &SysRoot) -> Option<bool> {
    let running = root.read_value("/proc/sys/kernel/osrelease")?;
    let installed = root.list_dir("/usr/lib/modules").unwrap_or_default();
    (!installed.is_empty()).then(|| !installed.contains(&running))
}

/// `name old -> new` rows of `pacman -Qu`.
pub(crate) fn parse_updates(text: &str) -> Vec<PendingUpdate> {
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            match cols[..] {
                [name, old, "->", new, ..] => Some(PendingUpdate {
                    name: name.into(),
                    installed_version: Some(old.into()),
                    candidate_version: Some(new.into()),
                    security: false,
                    source: None,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Last `installed`/`upgraded` line of pacman.log:
/// `[2024-06-10T09:12:44+0200] [ALPM] upgraded linux (a -> b)`; the old
/// `[2019-01-01 10:00]` form is local time, read as UTC.
pub(crate) fn parse_log_last_install(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| l.contains("] installed ") || l.contains("] upgraded "))
        .filter_map(|l| {
            let when = l.strip_prefix('[')?.split_once(']')?.0;
            parse_datetime(when)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recorded_query() {
        let text = recorded("arch-noncompliant", "commands/pacman-Qu.out");
        let p = parse_updates(&text);
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].name, "python-fwtool");
        assert_eq!(p[3].installed_version.as_deref(), Some("1:1.0-1"));
        assert_eq!(p[3].candidate_version.as_deref(), Some("1:1.1-1"));
    }

    #[test]
    fn update_rows() {
        let p = parse_updates(
            "linux 6.9.3.arch1-1 -> 6.9.7.arch1-1\nopenssl 3.3.0-1 -> 3.3.1-1\nnoise\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "linux");
        assert_eq!(p[0].installed_version.as_deref(), Some("6.9.3.arch1-1"));
        assert_eq!(p[1].candidate_version.as_deref(), Some("3.3.1-1"));
    }

    #[test]
    fn log_last_install() {
        let log = "[2024-06-10T09:12:44+0200] [PACMAN] Running 'pacman -Syu'\n\
                   [2024-06-10T09:12:50+0200] [ALPM] upgraded linux (6.9.2.arch1-1 -> 6.9.3.arch1-1)\n\
                   [2024-06-10T09:13:00+0200] [ALPM] transaction completed\n";
        assert_eq!(parse_log_last_install(log), Some(1_718_003_570));
        assert_eq!(
            parse_log_last_install("[2019-01-01 10:00] [ALPM] installed x (1-1)\n"),
            Some(1_546_336_800)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_updates(&s);
            let _ = parse_log_last_install(&s);
        }
    }
}
