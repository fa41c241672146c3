//! Judging devices against the policy in force, and keeping the verdicts.
//!
//! - At commit ([`Judge::prepare_batch`], on the writer thread): a report's
//!   facts are merged into the stored ones and its device judged, so the
//!   merged facts and failing-since are committed with the report and the
//!   next scrape shows fresh verdicts.
//! - Periodically ([`Judge::judge_fleet`], every alert evaluation interval
//!   and right after a reload): every device again, because staleness and
//!   ages change with time alone. Changed failing-since values are returned
//!   for persisting.
//!
//! Only the compact [`Outcomes`] and failing-since are kept per device
//! (`state::VerdictCells`); reasons are produced again on demand. Both
//! passes therefore judge without reasons ([`Judged`]): formatting a reason
//! for every failing check of every device was most of a fleet pass.

use std::collections::HashMap;
use std::sync::Arc;

use crate::policy::evaluate::evaluate_outcomes;
use crate::policy::{
    CheckStateTracker, ComplianceFacts, FailingSince, Findings, Outcomes, Policy, PolicyHandle,
    evaluate,
};
use crate::state::{DeviceMetrics, LiveState};
use crate::store::{ComplianceUpdate, WriteOp};

pub mod alerts;

/// Devices judged per hold of the state's read lock: short enough that the
/// writer never waits long for its write lock.
const CHUNK: usize = 256;

/// One device judged now.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// Every verdict with its reason.
    pub findings: Findings,
    /// The compact verdicts.
    pub outcomes: Outcomes,
    /// Failing-since after these verdicts.
    pub failing_since: FailingSince,
}

/// Judges `facts` (device last heard of at `last_heard`) under `policy` at
/// `now`, carrying `previous` failing-since forward.
pub fn judge(
    facts: &ComplianceFacts,
    last_heard: i64,
    previous: &FailingSince,
    policy: &Policy,
    now: i64,
) -> Judgement {
    let findings = evaluate(facts, last_heard, policy, now);
    let failing_since = CheckStateTracker::update(previous, &findings, now);
    Judgement {
        outcomes: findings.outcomes(),
        findings,
        failing_since,
    }
}

/// One device judged without reasons; [`Judged::findings`] produces them
/// on request (alert annotations need them for failing devices only).
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// The compact verdicts.
    pub outcomes: Outcomes,
    /// Failing-since after these verdicts.
    pub failing_since: FailingSince,
    facts: &'a ComplianceFacts,
    last_heard: i64,
    policy: &'a Policy,
    now: i64,
}

impl<'a> Judged<'a> {
    /// Judges `facts` (device last heard of at `last_heard`) under `policy`
    /// at `now`, carrying `previous` failing-since forward.
    pub fn of(
        facts: &'a ComplianceFacts,
        last_heard: i64,
        previous: &FailingSince,
        policy: &'a Policy,
        now: i64,
    ) -> Self {
        let bare = evaluate_outcomes(facts, last_heard, policy, now);
        Judged {
            outcomes: bare.outcomes(),
            failing_since: bare.failing_since(previous, now),
            facts,
            last_heard,
            policy,
            now,
        }
    }

    /// Every verdict with its reason. Evaluation is pure, so these are the
    /// verdicts `outcomes` was made from.
    pub fn findings(&self) -> Findings {
        evaluate(self.facts, self.last_heard, self.policy, self.now)
    }
}

/// Judges one live device now (API views; does not touch its cells).
pub fn judge_device(d: &DeviceMetrics, policy: &Policy, now: i64) -> Judgement {
    judge(
        d.compliance_facts(),
        d.last_heard(),
        &d.verdicts.failing_since(),
        policy,
        now,
    )
}

/// The policy in force plus the judging passes.
#[derive(Debug, Clone)]
pub struct Judge {
    policy: PolicyHandle,
}

fn failing_since_json(since: &FailingSince) -> String {
    // A map of check names to integers always serializes.
    serde_json::to_string(since).unwrap_or_else(|_| "{}".into())
}

impl Judge {
    /// A judge applying the policy in `policy` (hot-reloaded there).
    pub fn new(policy: PolicyHandle) -> Self {
        Judge { policy }
    }

    /// The policy handle (current policy and reload stats).
    pub fn policy(&self) -> &PolicyHandle {
        &self.policy
    }

    /// Fills in the compliance state of every report in a batch about to be
    /// committed, and refreshes queued failing-since rows to the newest
    /// values. Runs on the writer thread, which alone changes facts.
    pub fn prepare_batch(&self, live: &LiveState, ops: &mut [WriteOp], now: i64) {
        let policy = self.policy.current();
        let fleet = live.read();
        // Reports of one device in one batch build on each other.
        let mut pending: HashMap<String, (Arc<ComplianceFacts>, FailingSince)> = HashMap::new();
        for op in ops.iter_mut() {
            match op {
                WriteOp::Ingest(op) => {
                    let Some(entry) = fleet.device(&op.device_id) else {
                        continue; // not enrolled: the store refuses it
                    };
                    let (previous, since) = match pending.get(&op.device_id) {
                        Some((f, s)) => (Some((**f).clone()), *s),
                        None => (
                            entry.facts.as_deref().cloned(),
                            entry.verdicts.failing_since(),
                        ),
                    };
                    let facts = ComplianceFacts::merge(previous, op.compliance_facts.clone());
                    let last_heard = entry.last_heard().max(op.received_at);
                    let j = Judged::of(&facts, last_heard, &since, &policy, now);
                    let (outcomes, failing_since) = (j.outcomes, j.failing_since);
                    let facts_json = match serde_json::to_string(&facts) {
                        Ok(json) => json,
                        Err(e) => {
                            tracing::error!(error = %e, device_id = %op.device_id, "serializing compliance facts failed");
                            continue;
                        }
                    };
                    let facts = Arc::new(facts);
                    pending.insert(op.device_id.clone(), (facts.clone(), failing_since));
                    op.compliance = Some(ComplianceUpdate {
                        facts,
                        facts_json,
                        outcomes,
                        failing_since_json: failing_since_json(&failing_since),
                        failing_since,
                        policy: policy.clone(),
                    });
                }
                WriteOp::SaveFailingSince(rows) => {
                    for (device_id, json) in rows.iter_mut() {
                        let since = match pending.get(device_id.as_str()) {
                            Some((_, s)) => *s,
                            None => match fleet.device(device_id) {
                                Some(d) => d.verdicts.failing_since(),
                                None => continue,
                            },
                        };
                        *json = failing_since_json(&since);
                    }
                }
                WriteOp::Enroll(_)
                | WriteOp::Retire(_)
                | WriteOp::SaveAlerts { .. }
                | WriteOp::StorePackages(..)
                | WriteOp::SaveDailyCompliance(_) => {}
            }
        }
    }

    /// Judges one device again under `policy` and updates its cells (a
    /// report judged before a reload is committed after it).
    pub fn rejudge(&self, d: &DeviceMetrics, policy: &Policy, now: i64) {
        let since = d.verdicts.failing_since();
        let j = Judged::of(d.compliance_facts(), d.last_heard(), &since, policy, now);
        d.verdicts.set(j.outcomes, &j.failing_since);
    }

    /// Judges every device at `now`, updates its verdict cells, calls
    /// `visit` with each device and its judgement, and returns the devices
    /// whose failing-since changed (`(device_id, JSON)`, for persisting).
    pub fn judge_fleet(
        &self,
        live: &LiveState,
        now: i64,
        mut visit: impl FnMut(&DeviceMetrics, &Judged<'_>),
    ) -> Vec<(String, String)> {
        let mut changed = Vec::new();
        let mut after: Option<Box<str>> = None;
        loop {
            // The read lock excludes the writer's post-commit update, so a
            // device's cells are never judged from facts being replaced.
            let fleet = live.read();
            // Per chunk: a reload during the pass applies to the rest of it,
            // and never does an old policy overwrite verdicts of a new one.
            let policy = self.policy.current();
            let mut last = None;
            for d in fleet.devices_after(after.as_deref(), CHUNK) {
                let old_since = d.verdicts.failing_since();
                let j = Judged::of(
                    d.compliance_facts(),
                    d.last_heard(),
                    &old_since,
                    &policy,
                    now,
                );
                if j.outcomes != d.verdicts.outcomes() || j.failing_since != old_since {
                    d.verdicts.set(j.outcomes, &j.failing_since);
                }
                if j.failing_since != old_since {
                    changed.push((
                        d.device_id.to_string(),
                        failing_since_json(&j.failing_since),
                    ));
                }
                visit(d, &j);
                last = Some(d);
            }
            // Only the chunk's last id is kept (one copy per chunk, not per
            // device): it is where the next chunk starts.
            match last {
                Some(d) => after = Some(d.device_id.clone()),
                None => return changed,
            }
            drop(fleet);
        }
    }
}
