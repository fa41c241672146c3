//! Report assembly: runs the enabled checks of the host's platform, each
//! timed, and builds the [`Report`]. A failing check never fails the report.

use std::sync::Arc;

use fleetwatch_protocol::{CheckResult, Checks, Report, SCHEMA_VERSION};
use rand::RngCore;

use crate::checks::CheckContext;
use crate::checks::backup::{BackupJobConfig, BackupKind};
use crate::config::{AgentConfig, ChecksConfig, MacosConfig};
use crate::host::{CommandRunner, HostCommands, SysRoot, unix_seconds};
use crate::platform::{self, CheckPlan, Collection, Platform};

/// Version of this agent, sent in every report.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything needed to collect a report; cheap to clone into a blocking task.
#[derive(Clone)]
pub struct ReportBuilder {
    /// Host root.
    pub root: SysRoot,
    /// Command runner.
    pub runner: Arc<dyn CommandRunner>,
    /// Enabled checks.
    pub checks: ChecksConfig,
    /// Backup jobs.
    pub backup: Vec<BackupJobConfig>,
    /// macOS-only settings.
    pub macos: MacosConfig,
    /// Limit per external command.
    pub command_timeout: std::time::Duration,
    /// Container mode: the host commands `runner` goes through, asked
    /// whether commands can run on the host at all.
    pub host_commands: Option<Arc<HostCommands>>,
}

impl ReportBuilder {
    /// A builder for the configured host and runner.
    pub fn from_config(cfg: &AgentConfig) -> Self {
        let (runner, host_commands) = cfg.command_runners();
        ReportBuilder {
            root: SysRoot::new(&cfg.root),
            runner,
            host_commands,
            checks: cfg.checks,
            backup: cfg.backup.clone(),
            macos: cfg.macos,
            command_timeout: cfg.command_timeout,
        }
    }

    /// Runs the checks (blocking: call from a blocking thread).
    pub fn collect(&self, device_id: &str, acknowledged_packages_hash: Option<&str>) -> Report {
        let ctx = CheckContext {
            root: &self.root,
            runner: self.runner.as_ref(),
            now: unix_seconds(std::time::SystemTime::now()),
            command_timeout: self.command_timeout,
        };
        let plan = CheckPlan {
            checks: self.checks,
            backup: &self.backup,
            macos: self.macos,
        };
        let unavailable = self.host_commands.as_ref().and_then(|h| h.unavailable());
        let Collection {
            mut inventory,
            mut checks,
        } = platform::collect(Platform::detect(&self.root), &ctx, plan);
        if let Some(why) = unavailable {
            commands_unsupported(&mut checks, &self.backup, &why);
        }
        strip_unchanged_packages(&mut inventory, acknowledged_packages_hash);
        Report {
            schema_version: SCHEMA_VERSION,
            report_id: new_report_id(),
            device_id: device_id.to_string(),
            agent_version: AGENT_VERSION.to_string(),
            collected_at: ctx.now,
            inventory,
            checks,
        }
    }

    /// Runs [`collect`](Self::collect) on a blocking thread.
    pub async fn collect_async(
        &self,
        device_id: String,
        acknowledged_packages_hash: Option<String>,
    ) -> Report {
        let builder = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            builder.collect(&device_id, acknowledged_packages_hash.as_deref())
        });
        task.await
            .expect("report collection does not panic: run_check catches panics")
    }
}

/// Marks the sections that need host commands `unsupported` with `why`
/// (container mode without chroot): patches (the package manager), data
/// protection (firewall and LUKS tools), backup when a job runs a tool.
/// Their file-based parts are dropped too, so a section never mixes the
/// host's files with a failed or foreign command.
pub fn commands_unsupported(checks: &mut Checks, backup: &[BackupJobConfig], why: &str) {
    if checks.patches.is_some() {
        checks.patches = Some(CheckResult::unsupported(0.0, why));
    }
    if checks.data_protection.is_some() {
        checks.data_protection = Some(CheckResult::unsupported(0.0, why));
    }
    let needs_commands = backup.iter().any(|j| !matches!(j.kind, BackupKind::Marker));
    if checks.backup.is_some() && needs_commands {
        checks.backup = Some(CheckResult::unsupported(0.0, why));
    }
}

/// A random 128-bit report id, hex.
pub fn new_report_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Drops the package list when the collector already holds this exact set.
pub fn strip_unchanged_packages(
    inventory: &mut CheckResult<fleetwatch_protocol::Inventory>,
    acknowledged_hash: Option<&str>,
) {
    if let Some(packages) = inventory.data.as_mut().and_then(|i| i.packages.as_mut())
        && acknowledged_hash == Some(packages.hash.as_str())
    {
        packages.items = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::RecordedRunner;
    use fleetwatch_protocol::CheckStatus;

    fn builder(checks: ChecksConfig) -> ReportBuilder {
        ReportBuilder {
            root: SysRoot::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/hosts/inventory-debian12"
            )),
            runner: Arc::new(RecordedRunner::new()),
            checks,
            backup: Vec::new(),
            macos: MacosConfig::default(),
            command_timeout: std::time::Duration::from_secs(5),
            host_commands: None,
        }
    }

    #[test]
    fn report_has_ids_versions_and_every_enabled_check() {
        let b = builder(ChecksConfig::default());
        let r = b.collect("dev-1", None);
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert_eq!(r.device_id, "dev-1");
        assert_eq!(r.agent_version, AGENT_VERSION);
        assert_eq!(r.report_id.len(), 32);
        assert!(r.report_id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(r.report_id, b.collect("dev-1", None).report_id);
        assert!(r.collected_at > 1_600_000_000);
        assert_eq!(r.inventory.status, CheckStatus::Ok);
        assert!(r.checks.patches.is_some());
        assert!(r.checks.backup.is_some());
        assert!(r.checks.password_policy.is_some());
        assert!(
            r.inventory
                .data()
                .unwrap()
                .packages
                .as_ref()
                .unwrap()
                .items
                .is_some()
        );
    }

    #[test]
    fn disabled_checks_are_left_out() {
        let b = builder(ChecksConfig {
            inventory: false,
            patches: false,
            backup: false,
            password_policy: true,
            data_protection: false,
        });
        let r = b.collect("", None);
        assert_eq!(r.inventory.status, CheckStatus::Unsupported);
        assert!(r.checks.patches.is_none() && r.checks.backup.is_none());
        assert!(r.checks.password_policy.is_some());
    }

    #[test]
    fn package_list_is_sent_only_when_the_hash_changed() {
        let b = builder(ChecksConfig::default());
        let full = b.collect("d", Some("some-older-hash"));
        let pkgs = full.inventory.data().unwrap().packages.clone().unwrap();
        assert!(pkgs.items.is_some());
        let again = b.collect("d", Some(&pkgs.hash));
        let pkgs2 = again.inventory.data().unwrap().packages.clone().unwrap();
        assert_eq!(pkgs2.items, None);
        assert_eq!((pkgs2.hash, pkgs2.count), (pkgs.hash, pkgs.count));
    }

    #[test]
    fn the_serialized_report_holds_no_shadow_hash() {
        let b = builder(ChecksConfig::default());
        let json = serde_json::to_string(&b.collect("d", None)).unwrap();
        let shadow = b.root.read_to_string("/etc/shadow").unwrap();
        let mut checked = 0;
        for field in shadow.lines().filter_map(|l| l.split(':').nth(1)) {
            if field.starts_with('$') {
                assert!(!json.contains(field), "report leaks {field}");
                checked += 1;
            }
        }
        assert!(checked >= 3);
    }
}
