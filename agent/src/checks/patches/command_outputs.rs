//! The patch parsers by name, each on arbitrary text: the entry point of
//! the fuzz targets in `fuzz/` (the check itself reaches them through the
//! host's commands and files).

pub use super::version::VersionScheme;
use super::{apt, dnf, pacman, repomd, timestamp, zypper};

/// Which command output or file a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `apt-cache policy`.
    AptPolicy,
    /// `apt-get -s dist-upgrade`.
    AptSimulation,
    /// `/var/log/dpkg.log`.
    DpkgLog,
    /// `/var/run/reboot-required.pkgs`.
    RebootRequiredPkgs,
    /// `dnf -C check-update`.
    DnfCheckUpdate,
    /// `rpm -q --qf '%{NAME} %{EVR}\n'`.
    RpmVersions,
    /// `dnf -C updateinfo list --security`.
    DnfUpdateinfo,
    /// `needs-restarting -r`.
    NeedsRestarting,
    /// `/var/log/dnf.rpm.log`.
    RpmLog,
    /// zypper's XML `list-updates`.
    ZypperListUpdates,
    /// zypper's XML security `patch --dry-run`.
    ZypperPatchDryRun,
    /// `/var/log/zypp/history`.
    ZypperHistory,
    /// `pacman -Qu`.
    PacmanUpdates,
    /// `/var/log/pacman.log`.
    PacmanLog,
    /// A cached `repomd.xml`.
    Repomd,
    /// A date-time as the logs write it (`2024-05-14T10:12:33+0000`).
    Timestamp,
}

impl OutputKind {
    /// Every kind, in declaration order.
    pub const ALL: [OutputKind; 16] = [
        OutputKind::AptPolicy,
        OutputKind::AptSimulation,
        OutputKind::DpkgLog,
        OutputKind::RebootRequiredPkgs,
        OutputKind::DnfCheckUpdate,
        OutputKind::RpmVersions,
        OutputKind::DnfUpdateinfo,
        OutputKind::NeedsRestarting,
        OutputKind::RpmLog,
        OutputKind::ZypperListUpdates,
        OutputKind::ZypperPatchDryRun,
        OutputKind::ZypperHistory,
        OutputKind::PacmanUpdates,
        OutputKind::PacmanLog,
        OutputKind::Repomd,
        OutputKind::Timestamp,
    ];
}

/// Runs the parser for `kind` on `text`; what it found, in `Debug` form.
pub fn parse(kind: OutputKind, text: &str) -> String {
    match kind {
        OutputKind::AptPolicy => format!("{:?}", apt::has_security_source(text)),
        OutputKind::AptSimulation => format!("{:?}", apt::parse_simulation(text)),
        OutputKind::DpkgLog => format!("{:?}", apt::parse_dpkg_log_last_install(text)),
        OutputKind::RebootRequiredPkgs => format!("{:?}", apt::parse_reboot_pkgs(text)),
        OutputKind::DnfCheckUpdate => format!("{:?}", dnf::parse_check_update(text)),
        OutputKind::RpmVersions => format!("{:?}", dnf::parse_rpm_versions(text)),
        OutputKind::DnfUpdateinfo => format!("{:?}", dnf::parse_updateinfo_names(text)),
        OutputKind::NeedsRestarting => format!("{:?}", dnf::parse_needs_restarting(text)),
        OutputKind::RpmLog => format!("{:?}", dnf::parse_rpm_log_last_install(text)),
        OutputKind::ZypperListUpdates => format!("{:?}", zypper::parse_list_updates(text)),
        OutputKind::ZypperPatchDryRun => {
            format!("{:?}", zypper::parse_patch_dry_run_packages(text))
        }
        OutputKind::ZypperHistory => format!("{:?}", zypper::parse_history_last_install(text)),
        OutputKind::PacmanUpdates => format!("{:?}", pacman::parse_updates(text)),
        OutputKind::PacmanLog => format!("{:?}", pacman::parse_log_last_install(text)),
        OutputKind::Repomd => format!("{:?}", repomd::repomd_has_updateinfo(text)),
        OutputKind::Timestamp => format!("{:?}", timestamp::parse_datetime(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reaches_its_parser() {
        assert_eq!(
            parse(OutputKind::Timestamp, "2024-03-01 10:00:00"),
            "Some(1709287200)"
        );
        assert_eq!(
            parse(OutputKind::PacmanUpdates, "linux 6.8.1-1 -> 6.8.2-1\n"),
            format!("{:?}", pacman::parse_updates("linux 6.8.1-1 -> 6.8.2-1\n"))
        );
        assert!(parse(OutputKind::PacmanUpdates, "linux 6.8.1-1 -> 6.8.2-1\n").contains("linux"));
        assert_eq!(parse(OutputKind::RebootRequiredPkgs, ""), "[]");
    }
}
