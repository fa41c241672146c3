//! The host firewall on Linux: firewalld, ufw and the kernel's nftables
//! ruleset under both.
//!
//! Each source answers on, off, unknown or absent:
//! - firewalld: `firewall-cmd --state` (exit 0 "running", 252 "not running");
//!   without a system D-Bus socket firewalld cannot run, so it is off;
//! - ufw: `ufw status` ("Status: active" / "Status: inactive");
//! - nftables: `nft -j list ruleset`, judged by [`nftables::filters_input`].
//!
//! The firewall is on when any source says so (the front-end's product name
//! first). It is off only when the ruleset itself was read and filters
//! nothing and no front-end could not be read: a firewall that cannot be
//! read is unknown, never off.

use fleetwatch_protocol::Firewall;

use super::nftables;
use crate::checks::CheckContext;
use crate::host::{CommandError, CommandOutput};

/// What one source says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// Filtering incoming traffic.
    On,
    /// Installed and not filtering.
    Off,
    /// Installed, state not readable: why.
    Unknown(String),
    /// Not installed.
    Absent,
}

/// firewalld's exit code for "not running" (firewall-cmd(1)).
const FIREWALLD_NOT_RUNNING: i32 = 252;
/// The system bus firewalld needs to run at all.
const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// The firewall state, or why it is not known.
pub fn read(ctx: &CheckContext<'_>) -> (Option<Firewall>, Option<String>) {
    let probes = [
        ("firewalld", firewalld(ctx)),
        ("ufw", ufw(ctx)),
        ("nftables", nftables_ruleset(ctx)),
    ];
    decide(&probes)
}

/// Combines the sources' answers (see the module doc).
fn decide(probes: &[(&str, Probe)]) -> (Option<Firewall>, Option<String>) {
    let firewall = |product: &str, enabled: bool| Firewall {
        product: product.into(),
        enabled: Some(enabled),
        profiles: Vec::new(),
    };
    if let Some((product, _)) = probes.iter().find(|(_, p)| *p == Probe::On) {
        return (Some(firewall(product, true)), None);
    }
    let unknown: Vec<String> = probes
        .iter()
        .filter_map(|(product, p)| match p {
            Probe::Unknown(why) => Some(format!("{product}: {why}")),
            _ => None,
        })
        .collect();
    if !unknown.is_empty() {
        return (None, Some(unknown.join("; ")));
    }
    let ruleset_read = probes
        .iter()
        .any(|(product, p)| *product == "nftables" && *p == Probe::Off);
    if !ruleset_read {
        let installed: Vec<&str> = probes
            .iter()
            .filter(|(_, p)| *p == Probe::Off)
            .map(|(product, _)| *product)
            .collect();
        let why = if installed.is_empty() {
            "no firewall found: none of firewalld, ufw or nftables (nft) is installed".to_string()
        } else {
            format!(
                "{} not active, and the kernel ruleset could not be read: nft is not installed",
                installed.join(" and ")
            )
        };
        return (None, Some(why));
    }
    // Off: name the front-end the machine has, else nftables itself.
    let product = probes
        .iter()
        .find(|(_, p)| *p == Probe::Off)
        .map_or("nftables", |(product, _)| product);
    (Some(firewall(product, false)), None)
}

fn firewalld(ctx: &CheckContext<'_>) -> Probe {
    let root = ctx.root;
    if !root.exists("/etc/firewalld/firewalld.conf") && !root.exists("/usr/sbin/firewalld") {
        return Probe::Absent;
    }
    if !root.exists(SYSTEM_BUS_SOCKET) {
        return Probe::Off;
    }
    match ctx
        .runner
        .run("firewall-cmd", &["--state"], ctx.command_timeout)
    {
        Ok(out) if out.success() && out.stdout_text().trim() == "running" => Probe::On,
        Ok(out) if out.exit_code == Some(FIREWALLD_NOT_RUNNING) => Probe::Off,
        Ok(out) => Probe::Unknown(failure("firewall-cmd --state", &out)),
        Err(e) => Probe::Unknown(e.to_string()),
    }
}

fn ufw(ctx: &CheckContext<'_>) -> Probe {
    if !ctx.root.exists("/etc/ufw/ufw.conf") {
        return Probe::Absent;
    }
    match ctx.runner.run("ufw", &["status"], ctx.command_timeout) {
        Ok(out) if out.success() => match out.stdout_text().lines().next().map(str::trim) {
            Some("Status: active") => Probe::On,
            Some("Status: inactive") => Probe::Off,
            other => Probe::Unknown(format!(
                "ufw status printed {:?}",
                other.unwrap_or_default()
            )),
        },
        Ok(out) => Probe::Unknown(failure("ufw status", &out)),
        Err(CommandError::NotFound { .. }) => Probe::Absent,
        Err(e) => Probe::Unknown(e.to_string()),
    }
}

fn nftables_ruleset(ctx: &CheckContext<'_>) -> Probe {
    match ctx
        .runner
        .run("nft", &["-j", "list", "ruleset"], ctx.command_timeout)
    {
        Ok(out) if out.success() => match nftables::filters_input(&out.stdout_text()) {
            Ok(true) => Probe::On,
            Ok(false) => Probe::Off,
            Err(e) => Probe::Unknown(format!("could not parse nft -j list ruleset: {e}")),
        },
        Ok(out) => Probe::Unknown(failure("nft -j list ruleset", &out)),
        Err(CommandError::NotFound { .. }) => Probe::Absent,
        Err(e) => Probe::Unknown(e.to_string()),
    }
}

/// "`command` exited with N: first stderr line" for an unsuccessful command.
fn failure(command: &str, out: &CommandOutput) -> String {
    let code = out
        .exit_code
        .map_or_else(|| "a signal".to_string(), |c| c.to_string());
    let mut why = out.stderr_summary();
    if why.is_empty() {
        why = out.stdout_text().lines().next().unwrap_or("").to_string();
    }
    format!("{command} exited with {code}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Probe::*;

    fn state(probes: &[(&str, Probe)]) -> (Option<(String, Option<bool>)>, Option<String>) {
        let (fw, why) = decide(probes);
        (fw.map(|f| (f.product, f.enabled)), why)
    }

    #[test]
    fn any_source_on_is_on_and_names_the_front_end() {
        let (fw, why) = state(&[("firewalld", Off), ("ufw", On), ("nftables", On)]);
        assert_eq!(fw, Some(("ufw".into(), Some(true))));
        assert_eq!(why, None);
        // On beats an unreadable neighbour.
        let (fw, _) = state(&[
            ("firewalld", Unknown("x".into())),
            ("ufw", Absent),
            ("nftables", On),
        ]);
        assert_eq!(fw, Some(("nftables".into(), Some(true))));
    }

    #[test]
    fn off_needs_the_ruleset_read_and_every_front_end_read() {
        let (fw, _) = state(&[("firewalld", Absent), ("ufw", Off), ("nftables", Off)]);
        assert_eq!(fw, Some(("ufw".into(), Some(false))));
        let (fw, _) = state(&[("firewalld", Absent), ("ufw", Absent), ("nftables", Off)]);
        assert_eq!(fw, Some(("nftables".into(), Some(false))));
        // ufw off but no nft to read the kernel ruleset: unknown, not off.
        let (fw, why) = state(&[("firewalld", Absent), ("ufw", Off), ("nftables", Absent)]);
        assert_eq!(fw, None);
        assert!(why.unwrap().contains("nft is not installed"));
    }

    #[test]
    fn an_unreadable_source_makes_the_firewall_unknown_never_off() {
        let (fw, why) = state(&[
            ("firewalld", Absent),
            (
                "ufw",
                Unknown(
                    "ufw status exited with 1: ERROR: You need to be root to run this script"
                        .into(),
                ),
            ),
            ("nftables", Off),
        ]);
        assert_eq!(fw, None);
        assert_eq!(
            why.as_deref(),
            Some("ufw: ufw status exited with 1: ERROR: You need to be root to run this script")
        );
    }

    #[test]
    fn nothing_installed_is_unknown() {
        let (fw, why) = state(&[("firewalld", Absent), ("ufw", Absent), ("nftables", Absent)]);
        assert_eq!(fw, None);
        assert!(why.unwrap().starts_with("no firewall found"));
    }
}
