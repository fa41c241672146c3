//! Policy findings → the alerts that should fire ([`AlertSpec`]s).
//!
//! - Each failing check raises its [`PolicyCheck::alert_name`] with labels
//!   `device_id`, `hostname` (raw) and `check`; a failing backup check raises
//!   one alert per overdue job, labelled `backup`.
//! - `reporting` raises `FleetwatchDeviceNotReporting` only once
//!   `startup_grace` has passed since the collector started: right after a
//!   restart every device looks silent until it reports again.
//! - Inhibition: while `FleetwatchManyDevicesNotReporting` fires (at least
//!   `many_devices_not_reporting_fraction` of at least
//!   `many_devices_min_devices` devices not reporting), the per-device
//!   `FleetwatchDeviceNotReporting` alerts are held: those already firing
//!   keep firing (never a false "resolved" for a device still silent), new
//!   ones are not started: one page for an outage (network, collector
//!   certificate), not thousands. The fleet alert has hysteresis: once
//!   firing it clears only below [`CLEAR_RATIO`] of the threshold, so a
//!   fleet hovering at the threshold does not flap. During the start-up
//!   grace the same hold applies (a restart neither resolves nor starts
//!   staleness alerts). Alertmanager users get the same effect from an
//!   inhibit rule, but the collector also feeds plain webhooks.

use std::collections::BTreeMap;

use crate::alerts::{AlertName, AlertSpec, AlertsConfig};
use crate::policy::remediation::remediation;
use crate::policy::{Policy, PolicyCheck, Verdict};
use crate::state::DeviceMetrics;

use super::Judged;

/// Once firing, the fleet alert clears only when the silent share drops
/// below this fraction of its threshold.
pub const CLEAR_RATIO: f64 = 0.75;

/// Collects alert specs while the fleet is judged.
pub struct AlertBuilder<'a> {
    config: &'a AlertsConfig,
    policy: &'a Policy,
    now: i64,
    judge_staleness: bool,
    fleet_alert_firing: bool,
    retire_after_secs: i64,
    total: usize,
    specs: Vec<AlertSpec>,
    not_reporting: Vec<AlertSpec>,
}

impl<'a> AlertBuilder<'a> {
    /// A builder for an evaluation at `now` of a collector started at
    /// `started_at`; devices silent longer than `retire_after_secs` (or
    /// retired) raise nothing, as they left the metrics too.
    /// `fleet_alert_firing`: whether `FleetwatchManyDevicesNotReporting`
    /// fires now (for its hysteresis).
    pub fn new(
        config: &'a AlertsConfig,
        policy: &'a Policy,
        now: i64,
        started_at: i64,
        retire_after_secs: i64,
        fleet_alert_firing: bool,
    ) -> Self {
        AlertBuilder {
            config,
            policy,
            now,
            judge_staleness: now - started_at >= config.startup_grace,
            fleet_alert_firing,
            retire_after_secs,
            total: 0,
            specs: Vec::new(),
            not_reporting: Vec::new(),
        }
    }

    /// Adds one judged device.
    pub fn add(&mut self, d: &DeviceMetrics, j: &Judged<'_>) {
        if d.retired || self.now - d.last_heard() > self.retire_after_secs {
            return;
        }
        self.total += 1;
        // Reasons (the alert descriptions) are formatted only for devices
        // that raise an alert: most of a healthy fleet raises none.
        let raises = PolicyCheck::ALL
            .into_iter()
            .any(|c| j.outcomes.is_failing(c) && c.alert_name().is_some());
        if !raises {
            return;
        }
        let family = d.compliance_facts().os_family();
        for (check, verdict) in j.findings().iter() {
            let Verdict::Failing { reason, .. } = verdict else {
                continue;
            };
            // The description ends with the setting to change on this OS.
            let description = match remediation(check, family) {
                Some(fix) => format!("{reason}. Fix ({}): {fix}", family.as_str()),
                None => reason.clone(),
            };
            let Some(name) = check.alert_name().and_then(AlertName::parse) else {
                continue;
            };
            let starts_at = j.failing_since.get(check).unwrap_or(self.now);
            let spec = |extra: Option<&str>, summary: String| {
                let mut labels = BTreeMap::from([
                    ("device_id".to_string(), d.device_id.to_string()),
                    ("hostname".to_string(), d.hostname.to_string()),
                    ("check".to_string(), check.as_str().to_string()),
                ]);
                if let Some(job) = extra {
                    labels.insert("backup".into(), job.to_string());
                }
                AlertSpec {
                    name,
                    labels,
                    annotations: BTreeMap::from([
                        ("summary".to_string(), summary),
                        ("description".to_string(), description.clone()),
                    ]),
                    starts_at,
                    hold: false,
                }
            };
            let host = if d.hostname.is_empty() {
                d.device_id.as_ref()
            } else {
                d.hostname.as_ref()
            };
            match check {
                PolicyCheck::Reporting => self
                    .not_reporting
                    .push(spec(None, format!("{host} has stopped reporting"))),
                PolicyCheck::Backup => {
                    let jobs = self.overdue_jobs(d);
                    if jobs.is_empty() {
                        self.specs
                            .push(spec(None, format!("{host}: backup check failing")));
                    }
                    for job in jobs {
                        self.specs
                            .push(spec(Some(job), format!("{host}: backup {job:?} overdue")));
                    }
                }
                _ => self
                    .specs
                    .push(spec(None, format!("{host}: {check} check failing"))),
            }
        }
    }

    /// Names of the jobs that make the backup check fail.
    fn overdue_jobs<'d>(&self, d: &'d DeviceMetrics) -> Vec<&'d str> {
        let Some(backup) = d.facts.as_deref().and_then(|f| f.backup.data.as_ref()) else {
            return Vec::new();
        };
        backup
            .jobs
            .iter()
            .filter(|j| j.is_overdue(self.now, self.policy.backup_max_age_secs))
            .map(|j| j.name.as_ref())
            .collect()
    }

    /// The alerts that should fire now.
    pub fn finish(mut self) -> Vec<AlertSpec> {
        let stale = self.not_reporting.len();
        let c = self.config;
        let threshold = if self.fleet_alert_firing {
            c.many_devices_not_reporting_fraction * CLEAR_RATIO
        } else {
            c.many_devices_not_reporting_fraction
        };
        let many = self.total >= c.many_devices_min_devices
            && self.total > 0
            && stale as f64 / self.total as f64 >= threshold;
        let fleet_alert = |hold: bool| AlertSpec {
            name: AlertName::ManyDevicesNotReporting,
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([
                (
                    "summary".to_string(),
                    format!("{stale} of {} devices are not reporting", self.total),
                ),
                (
                    "description".to_string(),
                    format!(
                        "{stale} of {} devices have not reported within the policy's stale_after; \
                         per-device FleetwatchDeviceNotReporting alerts already firing keep firing, \
                         new ones are held back while this fires",
                        self.total
                    ),
                ),
            ]),
            starts_at: self.now,
            hold,
        };
        // Start-up grace, or a fleet-wide outage: hold the per-device ones.
        let hold = !self.judge_staleness || many;
        if !self.judge_staleness {
            if self.fleet_alert_firing {
                self.specs.push(fleet_alert(true));
            }
        } else if many {
            self.specs.push(fleet_alert(false));
        }
        for mut spec in self.not_reporting.drain(..) {
            spec.hold = hold;
            self.specs.push(spec);
        }
        self.specs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Judged;
    use crate::policy::FailingSince;
    use crate::state::FleetState;
    use crate::store::StoredDevice;

    fn fleet(n: usize, silent: usize) -> FleetState {
        let mut fleet = FleetState::default();
        for i in 0..n {
            fleet.insert_stored(&StoredDevice {
                device_id: format!("dev-{i:02}"),
                hostname: format!("h\"{i}"),
                enrolled_at: 0,
                last_seen: if i < silent { 1_000 } else { 10_000 },
                retired: false,
                node_key_hash: [i as u8; 32],
                inventory: None,
                report: None,
                compliance: None,
                failing_since: FailingSince::default(),
            });
        }
        fleet
    }

    fn build(fleet: &FleetState, config: &AlertsConfig, started_at: i64) -> Vec<AlertSpec> {
        build_with(fleet, config, started_at, false)
    }

    fn build_with(
        fleet: &FleetState,
        config: &AlertsConfig,
        started_at: i64,
        fleet_alert_firing: bool,
    ) -> Vec<AlertSpec> {
        let policy = Policy {
            stale_after_secs: 600,
            ..Policy::default()
        };
        let mut b = AlertBuilder::new(
            config,
            &policy,
            10_000,
            started_at,
            86_400,
            fleet_alert_firing,
        );
        for d in fleet.snapshot() {
            let since = d.verdicts.failing_since();
            b.add(
                &d,
                &Judged::of(
                    d.compliance_facts(),
                    d.last_heard(),
                    &since,
                    &policy,
                    10_000,
                ),
            );
        }
        b.finish()
    }

    /// The fleet alert at half the fleet, from ten devices on.
    fn half_of_ten() -> AlertsConfig {
        AlertsConfig::from_table(
            toml::from_str(
                "many_devices_not_reporting_fraction = 0.5\nmany_devices_min_devices = 10",
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn names(specs: &[AlertSpec], name: AlertName) -> usize {
        specs.iter().filter(|s| s.name == name && !s.hold).count()
    }

    #[test]
    fn silent_devices_alert_after_the_grace_period_only() {
        let config =
            AlertsConfig::from_table(toml::from_str("startup_grace = \"10m\"").unwrap()).unwrap();
        let fleet = fleet(20, 1);
        assert_eq!(
            names(
                &build(&fleet, &config, 9_900),
                AlertName::DeviceNotReporting
            ),
            0
        );
        let specs = build(&fleet, &config, 0);
        assert_eq!(names(&specs, AlertName::DeviceNotReporting), 1);
        let s = specs
            .iter()
            .find(|s| s.name == AlertName::DeviceNotReporting)
            .unwrap();
        assert_eq!(s.labels["hostname"], "h\"0", "raw, unescaped");
        assert_eq!(s.labels["check"], "reporting");
        assert_eq!(
            s.starts_at, 1_600,
            "failing since last report + stale_after"
        );
    }

    #[test]
    fn many_silent_devices_raise_one_fleet_alert_and_inhibit_the_rest() {
        let config = half_of_ten();
        let specs = build(&fleet(20, 10), &config, 0);
        assert_eq!(names(&specs, AlertName::ManyDevicesNotReporting), 1);
        assert_eq!(names(&specs, AlertName::DeviceNotReporting), 0);
        // Below the minimum fleet size: per-device alerts only.
        let specs = build(&fleet(4, 4), &config, 0);
        assert_eq!(names(&specs, AlertName::ManyDevicesNotReporting), 0);
        assert_eq!(names(&specs, AlertName::DeviceNotReporting), 4);
    }

    #[test]
    fn while_the_fleet_alert_fires_device_alerts_are_held_not_resolved() {
        use crate::alerts::AlertTracker;
        let config = half_of_ten();
        let mut tracker = AlertTracker::new(900);
        let severity = |_| "warning".to_string();
        let firing = |t: &AlertTracker, name: AlertName| {
            t.firing().iter().filter(|a| a.name == name).count()
        };
        // 5 of 20 silent: five device alerts.
        let c = tracker.update(build(&fleet(20, 5), &config, 0), severity, 10_000);
        assert_eq!(c.new_firing, 5);
        // 12 of 20: the fleet alert fires; the five keep firing (no false
        // "resolved"), the seven new ones are held back.
        let c = tracker.update(build(&fleet(20, 12), &config, 0), severity, 10_015);
        assert_eq!(
            c.resolved, 0,
            "nothing is resolved while the devices are silent"
        );
        assert_eq!(c.new_firing, 1, "only the fleet alert starts");
        assert_eq!(firing(&tracker, AlertName::DeviceNotReporting), 5);
        assert_eq!(firing(&tracker, AlertName::ManyDevicesNotReporting), 1);
    }

    #[test]
    fn the_fleet_alert_clears_only_well_below_its_threshold() {
        use crate::alerts::AlertTracker;
        let config = half_of_ten();
        let mut tracker = AlertTracker::new(900);
        let severity = |_| "warning".to_string();
        let step = |silent: usize, t: i64, tracker: &mut AlertTracker| {
            let firing = tracker.is_firing(AlertName::ManyDevicesNotReporting);
            tracker.update(
                build_with(&fleet(20, silent), &config, 0, firing),
                severity,
                t,
            );
            tracker.is_firing(AlertName::ManyDevicesNotReporting)
        };
        assert!(step(10, 100, &mut tracker), "50 %: fires");
        assert!(
            step(9, 200, &mut tracker),
            "45 %: still fires (clears below 37.5 %)"
        );
        assert!(step(8, 300, &mut tracker), "40 %: still fires");
        assert!(!step(7, 400, &mut tracker), "35 %: clears");
        assert!(!step(9, 500, &mut tracker), "45 %: does not fire again yet");
    }

    #[test]
    fn a_restart_holds_staleness_alerts_through_the_grace_period() {
        use crate::alerts::AlertTracker;
        let config =
            AlertsConfig::from_table(toml::from_str("startup_grace = \"10m\"").unwrap()).unwrap();
        let mut tracker = AlertTracker::new(900);
        let severity = |_| "warning".to_string();
        tracker.update(build(&fleet(20, 2), &config, 0), severity, 10_000);
        assert_eq!(tracker.firing().len(), 2);
        // Restarted at 9_900 (tracker restored): within the grace, 3 look silent.
        let c = tracker.update(build(&fleet(20, 3), &config, 9_900), severity, 10_000);
        assert_eq!((c.new_firing, c.resolved), (0, 0));
        // A device that reports again is resolved at once.
        let c = tracker.update(build(&fleet(20, 1), &config, 9_900), severity, 10_000);
        assert_eq!((c.new_firing, c.resolved), (0, 1));
    }
}
