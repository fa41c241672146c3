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
//!   `FleetwatchDeviceNotReporting` alerts are withheld: one page for an
//!   outage (network, collector certificate), not thousands. Alertmanager
//!   users get the same effect from an inhibit rule, but the collector
//!   also feeds plain webhooks.

use std::collections::BTreeMap;

use crate::alerts::{AlertName, AlertSpec, AlertsConfig};
use crate::policy::remediation::remediation;
use crate::policy::{Policy, PolicyCheck, Verdict};
use crate::state::DeviceMetrics;

use super::Judged;

/// Collects alert specs while the fleet is judged.
pub struct AlertBuilder<'a> {
    config: &'a AlertsConfig,
    policy: &'a Policy,
    now: i64,
    judge_staleness: bool,
    retire_after_secs: i64,
    total: usize,
    specs: Vec<AlertSpec>,
    not_reporting: Vec<AlertSpec>,
}

impl<'a> AlertBuilder<'a> {
    /// A builder for an evaluation at `now` of a collector started at
    /// `started_at`; devices silent longer than `retire_after_secs` (or
    /// retired) raise nothing, as they left the metrics too.
    pub fn new(
        config: &'a AlertsConfig,
        policy: &'a Policy,
        now: i64,
        started_at: i64,
        retire_after_secs: i64,
    ) -> Self {
        AlertBuilder {
            config,
            policy,
            now,
            judge_staleness: now - started_at >= config.startup_grace,
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
        let many = self.total >= c.many_devices_min_devices
            && self.total > 0
            && stale as f64 / self.total as f64 >= c.many_devices_not_reporting_fraction;
        if many && self.judge_staleness {
            self.specs.push(AlertSpec {
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
                             per-device FleetwatchDeviceNotReporting alerts are withheld while this fires",
                            self.total
                        ),
                    ),
                ]),
                starts_at: self.now,
            });
        } else if self.judge_staleness {
            self.specs.append(&mut self.not_reporting);
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
        let policy = Policy {
            stale_after_secs: 600,
            ..Policy::default()
        };
        let mut b = AlertBuilder::new(config, &policy, 10_000, started_at, 86_400);
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

    fn names(specs: &[AlertSpec], name: AlertName) -> usize {
        specs.iter().filter(|s| s.name == name).count()
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
        let config = AlertsConfig::from_table(
            toml::from_str(
                "many_devices_not_reporting_fraction = 0.5\nmany_devices_min_devices = 10",
            )
            .unwrap(),
        )
        .unwrap();
        let specs = build(&fleet(20, 10), &config, 0);
        assert_eq!(names(&specs, AlertName::ManyDevicesNotReporting), 1);
        assert_eq!(names(&specs, AlertName::DeviceNotReporting), 0);
        // Below the minimum fleet size: per-device alerts only.
        let specs = build(&fleet(4, 4), &config, 0);
        assert_eq!(names(&specs, AlertName::ManyDevicesNotReporting), 0);
        assert_eq!(names(&specs, AlertName::DeviceNotReporting), 4);
    }
}
