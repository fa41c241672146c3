//! The company policy: configuration, the fixed list of checks, compact
//! per-device compliance facts, pure evaluation, failing-since tracking, hot
//! reload and the compliance API. (The compliance families' Prometheus
//! rendering is `exposition::compliance`.)
//!
//! Agents report facts; this module judges them. The flow the collector
//! follows for every accepted report:
//!
//! 1. `facts = ComplianceFacts::from_report(&report, received_at)`, then
//!    `facts = ComplianceFacts::merge(stored_facts, facts)` and persist
//!    `facts` (it is serde JSON, ≤ ~1 KiB).
//! 2. Judge: `findings = evaluate(&facts, last_seen, &policy_handle.current(), now)`
//!    at commit (the report's own device) and for every device on each
//!    periodic pass; keep the compact [`Findings::outcomes`].
//! 3. Then `failing_since = CheckStateTracker::update(&stored, &findings, now)`
//!    and persist it when it changed, so "since when" survives restarts.
//! 4. At scrape time `exposition::compliance` renders the compliance
//!    families from the facts and the compact verdicts. Reasons are not
//!    kept: the API evaluates again when it needs them.
//!
//! ```
//! use fleetwatch_collector::policy::{evaluate, Policy, PolicyCheck, ComplianceFacts};
//! let policy = Policy::default();
//! let facts = ComplianceFacts::default(); // an agent that reported nothing yet
//! let findings = evaluate(&facts, 1_000, &policy, 1_000);
//! assert!(findings.get(PolicyCheck::Reporting).unwrap().is_passing());
//! assert_eq!(findings.compliant, None); // everything else is unknown
//! ```

pub mod api;
pub mod checks;
pub mod compliance_facts;
pub mod config;
pub mod evaluate;
pub mod outcomes;
pub mod protection_facts;
pub mod reload;
pub mod remediation;

pub use checks::PolicyCheck;
pub use compliance_facts::ComplianceFacts;
pub use config::{Policy, PolicyError, RawPolicy};
pub use evaluate::{CheckStateTracker, FailingSince, Findings, Verdict, evaluate};
pub use outcomes::{Outcomes, VerdictKind};
pub use reload::{PolicyHandle, PolicyWatcher, ReloadStats};
