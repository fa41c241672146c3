//! Which alerts are firing, which resolved recently, and what to send.

use std::collections::{BTreeMap, HashMap};

use super::model::{AlertName, AlertSpec, AmAlert, WebhookAlert};
use crate::stable_hash::StableHasher;
use crate::time::rfc3339;

/// Identity of an alert: its full label set (incl. alertname).
type Key = BTreeMap<String, String>;

/// One tracked alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    /// Which alert.
    pub name: AlertName,
    /// Full labels incl. `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Unix seconds.
    pub starts_at: i64,
    /// Set once the condition cleared.
    pub resolved_at: Option<i64>,
}

/// What an update changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Alerts that started firing.
    pub new_firing: usize,
    /// Alerts that resolved.
    pub resolved: usize,
}

impl Changes {
    /// True when anything started or stopped firing.
    pub fn any(&self) -> bool {
        self.new_firing + self.resolved > 0
    }
}

/// Tracks firing and recently resolved alerts across evaluations.
#[derive(Debug)]
pub struct AlertTracker {
    alerts: HashMap<Key, AlertState>,
    resolved_retention: i64,
}

impl AlertTracker {
    /// A tracker that keeps re-sending resolved alerts for `resolved_retention_secs`.
    pub fn new(resolved_retention_secs: i64) -> Self {
        AlertTracker {
            alerts: HashMap::new(),
            resolved_retention: resolved_retention_secs,
        }
    }

    /// Makes exactly `desired` the firing set at `now`; labels get `alertname`
    /// and `severity` (from `severity_of`) added.
    pub fn update(
        &mut self,
        desired: impl IntoIterator<Item = AlertSpec>,
        severity_of: impl Fn(AlertName) -> String,
        now: i64,
    ) -> Changes {
        let mut changes = Changes::default();
        let mut seen: std::collections::HashSet<Key> = std::collections::HashSet::new();
        for spec in desired {
            let mut labels = spec.labels;
            labels.insert("alertname".into(), spec.name.as_str().into());
            labels.insert("severity".into(), severity_of(spec.name));
            seen.insert(labels.clone());
            match self.alerts.get_mut(&labels) {
                Some(state) if state.resolved_at.is_none() => {
                    state.annotations = spec.annotations;
                }
                _ => {
                    // New, or firing again after a resolve: a new alert instance.
                    changes.new_firing += 1;
                    let state = AlertState {
                        name: spec.name,
                        labels: labels.clone(),
                        annotations: spec.annotations,
                        starts_at: spec.starts_at.min(now),
                        resolved_at: None,
                    };
                    self.alerts.insert(labels, state);
                }
            }
        }
        for (key, state) in self.alerts.iter_mut() {
            if state.resolved_at.is_none() && !seen.contains(key) {
                state.resolved_at = Some(now);
                changes.resolved += 1;
            }
        }
        let retention = self.resolved_retention;
        self.alerts
            .retain(|_, s| s.resolved_at.is_none_or(|r| now - r <= retention));
        changes
    }

    /// Alerts firing now, sorted by labels.
    pub fn firing(&self) -> Vec<&AlertState> {
        let mut v: Vec<_> = self
            .alerts
            .values()
            .filter(|s| s.resolved_at.is_none())
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Resolved alerts still within the retention window.
    pub fn resolved(&self) -> Vec<&AlertState> {
        let mut v: Vec<_> = self
            .alerts
            .values()
            .filter(|s| s.resolved_at.is_some())
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The Alertmanager v2 body: every firing alert with `endsAt` =
    /// `now + valid_for`, every recently resolved one with its resolve time.
    pub fn alertmanager_body(&self, now: i64, valid_for: i64, generator_url: &str) -> Vec<AmAlert> {
        let mut all: Vec<&AlertState> = self.alerts.values().collect();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all.into_iter()
            .map(|s| AmAlert {
                labels: s.labels.clone(),
                annotations: s.annotations.clone(),
                starts_at: rfc3339(s.starts_at),
                ends_at: rfc3339(s.resolved_at.unwrap_or(now + valid_for)),
                generator_url: generator_url.into(),
            })
            .collect()
    }

    /// Webhook form of one alert.
    pub fn webhook_alert(state: &AlertState, generator_url: &str) -> WebhookAlert {
        WebhookAlert {
            status: if state.resolved_at.is_some() {
                "resolved"
            } else {
                "firing"
            },
            labels: state.labels.clone(),
            annotations: state.annotations.clone(),
            starts_at: rfc3339(state.starts_at),
            ends_at: state
                .resolved_at
                .map(rfc3339)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            generator_url: generator_url.into(),
            fingerprint: fingerprint(&state.labels),
        }
    }
}

/// Stable 16-hex-digit fingerprint ([`StableHasher`]) of a label set.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = StableHasher::default();
    for (k, v) in labels {
        h.write(k.as_bytes());
        h.write(&[0xff]);
        h.write(v.as_bytes());
        h.write(&[0xfe]);
    }
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(device: &str, starts_at: i64) -> AlertSpec {
        AlertSpec {
            name: AlertName::DeviceNotReporting,
            labels: [("device_id".to_string(), device.to_string())].into(),
            annotations: [("summary".to_string(), format!("{device} silent"))].into(),
            starts_at,
        }
    }

    fn sev(_: AlertName) -> String {
        "warning".into()
    }

    #[test]
    fn firing_then_resolved_then_forgotten() {
        let mut t = AlertTracker::new(900);
        let c = t.update([spec("a", 50), spec("b", 90)], sev, 100);
        assert_eq!(
            c,
            Changes {
                new_firing: 2,
                resolved: 0
            }
        );
        assert_eq!(t.firing().len(), 2);
        // Same set again: nothing changes.
        assert!(!t.update([spec("a", 50), spec("b", 90)], sev, 160).any());

        let body = t.alertmanager_body(160, 240, "http://c");
        assert_eq!(body.len(), 2);
        assert_eq!(body[0].starts_at, rfc3339(50));
        assert_eq!(
            body[0].ends_at,
            rfc3339(400),
            "firing: endsAt in the future"
        );
        assert_eq!(body[0].labels["alertname"], "FleetwatchDeviceNotReporting");
        assert_eq!(body[0].labels["severity"], "warning");

        let c = t.update([spec("a", 50)], sev, 200);
        assert_eq!(
            c,
            Changes {
                new_firing: 0,
                resolved: 1
            }
        );
        let body = t.alertmanager_body(220, 240, "http://c");
        let b = body.iter().find(|a| a.labels["device_id"] == "b").unwrap();
        assert_eq!(
            b.ends_at,
            rfc3339(200),
            "resolved: endsAt is the resolve time"
        );
        assert_eq!(t.resolved().len(), 1);

        // Past the retention window, the resolved alert is no longer sent.
        t.update([spec("a", 50)], sev, 200 + 901);
        assert!(t.resolved().is_empty());
        assert_eq!(t.alertmanager_body(1200, 240, "").len(), 1);
    }

    #[test]
    fn refiring_after_resolve_is_a_new_alert() {
        let mut t = AlertTracker::new(900);
        t.update([spec("a", 10)], sev, 100);
        t.update([], sev, 200);
        let c = t.update([spec("a", 250)], sev, 300);
        assert_eq!(c.new_firing, 1);
        assert_eq!(t.firing()[0].starts_at, 250);
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
        let b: BTreeMap<String, String> = [("ab".to_string(), String::new())].into();
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
