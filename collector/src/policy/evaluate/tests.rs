//! Evaluation and tracker tests: every check, unknown inputs, boundaries.

use super::*;
use crate::policy::compliance_facts::tests::full_report;
use fleetwatch_protocol::{BackupJob, BackupStatus, CheckResult, PasswordPolicy, Patches, Report};

const T: i64 = 1_700_000_000;
const H: i64 = 3_600;

fn facts(report: &Report) -> ComplianceFacts {
    ComplianceFacts::from_report(report, report.collected_at)
}

/// [`super::evaluate`], checking on every call (so in every test here) that
/// the reason-less judging of the fleet pass, [`evaluate_outcomes`], gives
/// the same outcomes and failing-since.
fn evaluate(facts: &ComplianceFacts, last_seen: i64, policy: &Policy, now: i64) -> Findings {
    let findings = super::evaluate(facts, last_seen, policy, now);
    let bare = evaluate_outcomes(facts, last_seen, policy, now);
    assert_eq!(bare.outcomes(), findings.outcomes());
    let mut failing_before = FailingSince::default();
    for check in PolicyCheck::ALL {
        failing_before.set(check, Some(1));
    }
    for previous in [FailingSince::default(), failing_before] {
        assert_eq!(
            bare.failing_since(&previous, now),
            CheckStateTracker::update(&previous, &findings, now)
        );
    }
    findings
}

fn eval(f: &ComplianceFacts, now: i64) -> Findings {
    evaluate(f, f.as_of, &Policy::default(), now)
}

fn verdict(f: &ComplianceFacts, check: PolicyCheck, now: i64) -> Verdict {
    eval(f, now).get(check).cloned().unwrap()
}

fn patches(r: &mut Report) -> &mut Patches {
    r.checks.patches.as_mut().unwrap().data.as_mut().unwrap()
}

fn password(r: &mut Report) -> &mut PasswordPolicy {
    r.checks
        .password_policy
        .as_mut()
        .unwrap()
        .data
        .as_mut()
        .unwrap()
}

fn assert_failing(v: &Verdict, contains: &str) {
    match v {
        Verdict::Failing { reason, .. } => {
            assert!(reason.contains(contains), "{reason:?} lacks {contains:?}")
        }
        other => panic!("expected failing ({contains}), got {other:?}"),
    }
}

fn assert_unknown(v: &Verdict, contains: &str) {
    match v {
        Verdict::Unknown { reason } => {
            assert!(reason.contains(contains), "{reason:?} lacks {contains:?}")
        }
        other => panic!("expected unknown ({contains}), got {other:?}"),
    }
}

#[test]
fn a_full_compliant_report_passes_everything() {
    let f = facts(&full_report(T));
    let findings = eval(&f, T + 60);
    for (check, v) in findings.iter() {
        if check == PolicyCheck::Antivirus {
            // Not required on Linux by default.
            assert_eq!(v.kind(), VerdictKind::NotApplicable, "{v:?}");
            continue;
        }
        assert!(v.is_passing(), "{check}: {v:?}");
    }
    assert_eq!(findings.compliant, Some(true));
    // patch_cache is off by default: no verdict at all.
    assert!(findings.get(PolicyCheck::PatchCache).is_none());
    assert_eq!(findings.iter().count(), PolicyCheck::COUNT - 1);
}

#[test]
fn reporting_boundary_and_never() {
    let f = facts(&full_report(T));
    let p = Policy::default();
    let at_limit = evaluate(&f, T, &p, T + p.stale_after_secs);
    assert!(at_limit.get(PolicyCheck::Reporting).unwrap().is_passing());
    let over = evaluate(&f, T, &p, T + p.stale_after_secs + 1);
    let v = over.get(PolicyCheck::Reporting).unwrap();
    assert_failing(v, "last report");
    assert!(matches!(v, Verdict::Failing { since: Some(s), .. } if *s == T + p.stale_after_secs));
    assert_eq!(over.compliant, Some(false));
    assert_unknown(
        evaluate(&ComplianceFacts::default(), 0, &p, T)
            .get(PolicyCheck::Reporting)
            .unwrap(),
        "never",
    );
    // Enrolled (last_seen = enrollment time) but silent: fails after stale_after.
    let silent = evaluate(
        &ComplianceFacts::default(),
        T,
        &p,
        T + p.stale_after_secs + 1,
    );
    assert_failing(silent.get(PolicyCheck::Reporting).unwrap(), "last report");
}

#[test]
fn stale_facts_are_unknown_not_passing() {
    let f = facts(&full_report(T));
    let p = Policy::default();
    // The device kept reporting (last_seen now) but without these sections.
    let later = T + p.stale_after_secs + 1;
    let findings = evaluate(&f, later, &p, later);
    assert!(findings.get(PolicyCheck::Reporting).unwrap().is_passing());
    assert_unknown(
        findings.get(PolicyCheck::Backup).unwrap(),
        "backup facts are",
    );
    assert_unknown(
        findings.get(PolicyCheck::PasswordLength).unwrap(),
        "stale after 2h",
    );
    assert_eq!(findings.compliant, None);
}

#[test]
fn agent_checks() {
    let mut r = full_report(T);
    assert!(verdict(&facts(&r), PolicyCheck::AgentChecks, T).is_passing());
    r.checks.backup = Some(CheckResult::failed(2.0, "restic: wrong password"));
    r.checks.patches = Some(CheckResult::unsupported(0.0, "no package manager"));
    let f = facts(&r);
    assert_failing(
        &verdict(&f, PolicyCheck::AgentChecks, T),
        "backup: restic: wrong password",
    );
    assert_eq!(eval(&f, T).compliant, Some(false));
    // Unsupported or not-run checks are not agent failures.
    r.checks.backup = None;
    assert!(verdict(&facts(&r), PolicyCheck::AgentChecks, T).is_passing());
    assert_unknown(
        &verdict(&ComplianceFacts::default(), PolicyCheck::AgentChecks, T),
        "no report",
    );
    // A device silent for long: unknown, not passing.
    assert_unknown(
        &verdict(&facts(&full_report(T)), PolicyCheck::AgentChecks, T + 3 * H),
        "no report for",
    );
}

#[test]
fn section_failed_missing_unsupported_are_unknown_for_every_dependent_check() {
    let deps = [
        (PolicyCheck::SecurityUpdates, 0usize),
        (PolicyCheck::Reboot, 0),
        (PolicyCheck::Backup, 1),
        (PolicyCheck::PasswordLength, 2),
        (PolicyCheck::PasswordComplexity, 2),
        (PolicyCheck::PasswordHistory, 2),
        (PolicyCheck::PasswordLockout, 2),
        (PolicyCheck::PasswordMaxAge, 2),
        (PolicyCheck::EmptyPasswords, 2),
        (PolicyCheck::ExpiredPasswords, 2),
    ];
    for (check, section) in deps {
        for (how, want) in [
            ("failed", "could not collect"),
            ("missing", "has not reported"),
            ("unsupported", "unsupported"),
        ] {
            let mut r = full_report(T);
            fn set<S>(slot: &mut Option<CheckResult<S>>, how: &str) {
                *slot = match how {
                    "failed" => Some(CheckResult::failed(1.0, "boom")),
                    "missing" => None,
                    _ => Some(CheckResult::unsupported(0.0, "n/a")),
                };
            }
            match section {
                0 => set(&mut r.checks.patches, how),
                1 => set(&mut r.checks.backup, how),
                _ => set(&mut r.checks.password_policy, how),
            }
            let findings = eval(&facts(&r), T);
            assert_unknown(findings.get(check).unwrap(), want);
            assert_ne!(findings.compliant, Some(true), "{check} {how}");
        }
    }
}

#[test]
fn failed_section_after_good_one_is_unknown_even_with_retained_data() {
    let first = facts(&full_report(T));
    let mut r = full_report(T + 60);
    r.checks.backup = Some(CheckResult::failed(1.0, "borg: lock timeout"));
    let merged = ComplianceFacts::merge(Some(first), facts(&r));
    assert!(merged.backup.data.is_some());
    assert_unknown(
        &verdict(&merged, PolicyCheck::Backup, T + 60),
        "borg: lock timeout",
    );
    assert_failing(
        &verdict(&merged, PolicyCheck::AgentChecks, T + 60),
        "borg: lock timeout",
    );
}

#[test]
fn security_updates() {
    let day = 86_400;
    let mut r = full_report(T);
    patches(&mut r).pending_security = Some(2);
    let f = facts(&r);
    // Pending, but within 7 days (boundary inclusive).
    assert!(verdict(&f, PolicyCheck::SecurityUpdates, T).is_passing());
    // Exactly at 7 days passes, one second later fails (facts kept fresh by
    // a long stale_after here; the merge-based path is below).
    let lax = Policy {
        stale_after_secs: 30 * day,
        ..Policy::default()
    };
    let at = evaluate(&f, T + 7 * day, &lax, T + 7 * day);
    assert!(at.get(PolicyCheck::SecurityUpdates).unwrap().is_passing());
    let over = evaluate(&f, T + 7 * day + 1, &lax, T + 7 * day + 1);
    assert!(over.get(PolicyCheck::SecurityUpdates).unwrap().is_failing());
    // With the default stale_after, week-old facts are unknown, not failing.
    let p = Policy::default();
    let over = evaluate(&f, T + 7 * day + 1, &p, T + 7 * day + 1);
    assert_unknown(over.get(PolicyCheck::SecurityUpdates).unwrap(), "stale");
    let mut r2 = full_report(T + 7 * day + 1);
    patches(&mut r2).pending_security = Some(1);
    let merged = ComplianceFacts::merge(Some(f), facts(&r2));
    let v = verdict(&merged, PolicyCheck::SecurityUpdates, T + 7 * day + 1);
    assert_failing(&v, "1 security update(s) pending since 2023-11-14");
    assert!(matches!(v, Verdict::Failing { since: Some(s), .. } if s == T + 7 * day));
    // Zero pending passes; unknown count is unknown.
    patches(&mut r2).pending_security = Some(0);
    assert!(verdict(&facts(&r2), PolicyCheck::SecurityUpdates, T + 7 * day + 1).is_passing());
    patches(&mut r2).pending_security = None;
    assert_unknown(
        &verdict(&facts(&r2), PolicyCheck::SecurityUpdates, T + 7 * day + 1),
        "does not tell",
    );
}

#[test]
fn security_updates_zero_days_fails_at_once() {
    let mut r = full_report(T);
    patches(&mut r).pending_security = Some(1);
    let p = Policy {
        security_updates_max_pending_days: 0,
        ..Policy::default()
    };
    let f = facts(&r);
    assert!(
        evaluate(&f, T, &p, T)
            .get(PolicyCheck::SecurityUpdates)
            .unwrap()
            .is_passing()
    );
    assert!(
        evaluate(&f, T, &p, T + 1)
            .get(PolicyCheck::SecurityUpdates)
            .unwrap()
            .is_failing()
    );
}

#[test]
fn reboot_uses_agent_since() {
    let day = 86_400;
    let mut r = full_report(T);
    patches(&mut r).reboot_required = true;
    patches(&mut r).reboot_required_since = Some(T - 7 * day);
    assert!(verdict(&facts(&r), PolicyCheck::Reboot, T).is_passing());
    assert!(verdict(&facts(&r), PolicyCheck::Reboot, T + 1).is_failing());
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::Reboot, T + 1),
        "reboot required since",
    );
    // Without the agent's since, the first report showing it starts the clock.
    patches(&mut r).reboot_required_since = None;
    assert!(verdict(&facts(&r), PolicyCheck::Reboot, T + 1).is_passing());
    patches(&mut r).reboot_required = false;
    assert!(verdict(&facts(&r), PolicyCheck::Reboot, T).is_passing());
}

#[test]
fn patch_cache() {
    let p = Policy {
        patch_cache_max_age_secs: Some(86_400),
        ..Policy::default()
    };
    let mut r = full_report(T);
    patches(&mut r).cache_updated_at = Some(T - 86_400);
    let check = |r: &Report| {
        evaluate(&facts(r), T, &p, T)
            .get(PolicyCheck::PatchCache)
            .cloned()
            .unwrap()
    };
    assert!(check(&r).is_passing());
    patches(&mut r).cache_updated_at = Some(T - 86_401);
    assert_failing(&check(&r), "package cache refreshed 1d ago");
    patches(&mut r).cache_updated_at = None;
    assert_unknown(&check(&r), "does not know");
}

#[test]
fn backup() {
    let p = Policy::default();
    let max = p.backup_max_age_secs;
    let with_jobs = |jobs: Vec<BackupJob>| {
        let mut r = full_report(T);
        r.checks.backup = Some(CheckResult::ok(0.0, BackupStatus { jobs }));
        facts(&r)
    };
    let job = |name: &str, at: Option<i64>| BackupJob {
        name: name.into(),
        last_success_at: at,
        ..BackupJob::default()
    };
    let check = |f: &ComplianceFacts, policy: &Policy| {
        evaluate(f, T, policy, T)
            .get(PolicyCheck::Backup)
            .cloned()
            .unwrap()
    };
    assert!(
        check(&with_jobs(vec![job("a", Some(T - max))]), &p).is_passing(),
        "exactly at max age passes"
    );
    let v = check(
        &with_jobs(vec![job("a", Some(T - max)), job("b", Some(T - max - 1))]),
        &p,
    );
    assert_failing(&v, "\"b\" last succeeded");
    assert!(matches!(v, Verdict::Failing { since: Some(s), .. } if s == T - 1));
    assert_failing(
        &check(&with_jobs(vec![job("new", None)]), &p),
        "\"new\" never succeeded",
    );
    // No jobs: depends on require_backup.
    assert_failing(&check(&with_jobs(vec![]), &p), "no backup job configured");
    let lenient = Policy {
        require_backup: false,
        ..Policy::default()
    };
    assert!(check(&with_jobs(vec![]), &lenient).is_passing());
    // An unreadable job is unknown, unless another one already fails.
    let unreadable = BackupJob {
        error: Some("permission denied".into()),
        ..job("u", Some(T))
    };
    assert_unknown(
        &check(&with_jobs(vec![unreadable.clone(), job("a", Some(T))]), &p),
        "could not read",
    );
    assert!(check(&with_jobs(vec![unreadable, job("old", Some(0))]), &p).is_failing());
    // The last run failing while the last success is recent: still within policy.
    let recent_fail = BackupJob {
        last_result: fleetwatch_protocol::BackupResult::Failure,
        ..job("a", Some(T - 60))
    };
    assert!(check(&with_jobs(vec![recent_fail]), &p).is_passing());
}

#[test]
fn password_length_complexity_history_lockout() {
    let mut r = full_report(T);
    let s = &mut password(&mut r).settings;
    s.min_length = Some(13);
    s.min_classes = None;
    s.dcredit = Some(-1);
    s.ucredit = Some(-1);
    s.lcredit = Some(0);
    s.history = None;
    s.lockout_threshold = Some(6);
    let f = facts(&r);
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordLength, T),
        "minimum password length is 13; policy: at least 14",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordComplexity, T),
        "2 character class(es)",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordHistory, T),
        "remembered passwords is 0",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordLockout, T),
        "lockout after 6",
    );

    let s = &mut password(&mut r).settings;
    s.min_length = None;
    s.ocredit = Some(-2); // three negative credits satisfy 3 classes without minclass
    s.history = Some(5);
    s.lockout_threshold = Some(0);
    let f = facts(&r);
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordLength, T),
        "not configured",
    );
    assert!(verdict(&f, PolicyCheck::PasswordComplexity, T).is_passing());
    assert!(verdict(&f, PolicyCheck::PasswordHistory, T).is_passing());
    assert_failing(&verdict(&f, PolicyCheck::PasswordLockout, T), "no lockout");
    password(&mut r).settings.lockout_threshold = None;
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::PasswordLockout, T),
        "no lockout",
    );
    password(&mut r).settings.lockout_threshold = Some(5);
    assert!(
        verdict(&facts(&r), PolicyCheck::PasswordLockout, T).is_passing(),
        "exactly at the limit passes"
    );
}

#[test]
fn a_configured_but_not_enforced_setting_fails() {
    use fleetwatch_protocol::{SettingOrigin, SettingSource};
    let mut r = full_report(T);
    for check in [
        PolicyCheck::PasswordLength,
        PolicyCheck::PasswordComplexity,
        PolicyCheck::PasswordHistory,
        PolicyCheck::PasswordLockout,
    ] {
        assert!(verdict(&facts(&r), check, T).is_passing(), "{check:?}");
    }
    let warn_only = |why: &str| SettingOrigin {
        source: SettingSource::File,
        path: Some("/etc/security/pwquality.conf".into()),
        module: Some("pam_pwquality".into()),
        enforced: Some(false),
        not_enforced_reason: Some(why.into()),
        enforce_for_root: Some(false),
    };
    let origins = &mut password(&mut r).origins;
    let why = "pam_pwquality only warns: enforcing=0 in /etc/security/pwquality.conf";
    origins.insert("min_length".into(), warn_only(why));
    origins.insert("min_classes".into(), warn_only(why));
    origins.insert("history".into(), warn_only("pam_pwhistory is `optional`"));
    origins.insert(
        "lockout_threshold".into(),
        warn_only("pam_faillock is `optional`"),
    );
    // Enforced origins change nothing.
    origins.insert(
        "max_days".into(),
        SettingOrigin {
            enforced: Some(true),
            ..SettingOrigin::default()
        },
    );
    let f = facts(&r);
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordLength, T),
        "min_length is configured but not enforced: pam_pwquality only warns: enforcing=0",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordComplexity, T),
        "min_classes is configured but not enforced",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordHistory, T),
        "pam_pwhistory is `optional`",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::PasswordLockout, T),
        "pam_faillock is `optional`",
    );
    assert!(verdict(&f, PolicyCheck::PasswordMaxAge, T).is_passing());
}

#[test]
fn password_max_age() {
    let mut r = full_report(T);
    assert!(verdict(&facts(&r), PolicyCheck::PasswordMaxAge, T).is_passing());
    password(&mut r).settings.max_days = Some(99_999);
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::PasswordMaxAge, T),
        "PASS_MAX_DAYS is 99999",
    );
    password(&mut r).settings.max_days = None;
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::PasswordMaxAge, T),
        "not set",
    );
    password(&mut r).settings.max_days = Some(90);
    // An existing account keeps its own (longer) maximum.
    password(&mut r).accounts.as_mut().unwrap()[1].max_days = Some(99_999);
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::PasswordMaxAge, T),
        "account \"alice\" has no maximum",
    );
    // Shadow unreadable: the per-account part is unknown.
    password(&mut r).accounts = None;
    password(&mut r).accounts_error = Some("permission denied".into());
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::PasswordMaxAge, T),
        "permission denied",
    );
}

#[test]
fn empty_and_expired_passwords_and_unreadable_shadow() {
    let mut r = full_report(T);
    {
        let accounts = password(&mut r).accounts.as_mut().unwrap();
        accounts[0].empty_password = true;
        accounts[0].has_password = false;
        accounts[1].expired = true;
    }
    let f = facts(&r);
    assert_failing(
        &verdict(&f, PolicyCheck::EmptyPasswords, T),
        "1 account(s) with an empty password: root",
    );
    assert_failing(
        &verdict(&f, PolicyCheck::ExpiredPasswords, T),
        "1 account(s) with an expired password: alice",
    );
    // Locked accounts do not count.
    password(&mut r).accounts.as_mut().unwrap()[0].locked = true;
    password(&mut r).accounts.as_mut().unwrap()[1].locked = true;
    assert!(verdict(&facts(&r), PolicyCheck::EmptyPasswords, T).is_passing());
    assert!(verdict(&facts(&r), PolicyCheck::ExpiredPasswords, T).is_passing());
    password(&mut r).accounts = None;
    password(&mut r).accounts_error = Some("/etc/shadow: permission denied".into());
    let f = facts(&r);
    assert_unknown(
        &verdict(&f, PolicyCheck::EmptyPasswords, T),
        "permission denied",
    );
    assert_unknown(
        &verdict(&f, PolicyCheck::ExpiredPasswords, T),
        "permission denied",
    );
    // Settings-based checks are still judged.
    assert!(verdict(&f, PolicyCheck::PasswordLength, T).is_passing());
    assert_eq!(eval(&f, T).compliant, None);
}

#[test]
fn disabled_checks_have_no_verdict_and_do_not_count() {
    let mut r = full_report(T);
    r.checks.backup = None;
    let f = facts(&r);
    assert_eq!(eval(&f, T).compliant, None);
    let p = Policy::default().with_check_enabled(PolicyCheck::Backup, false);
    let findings = evaluate(&f, T, &p, T);
    assert!(findings.get(PolicyCheck::Backup).is_none());
    assert_eq!(findings.compliant, Some(true));
    let p = Policy {
        forbid_empty_passwords: false,
        ..Policy::default()
    };
    assert!(
        evaluate(&f, T, &p, T)
            .get(PolicyCheck::EmptyPasswords)
            .is_none()
    );
}

#[test]
fn findings_serialize_for_the_device_api() {
    let mut r = full_report(T);
    r.checks.backup = Some(CheckResult::failed(1.0, "x"));
    let json = serde_json::to_value(eval(&facts(&r), T)).unwrap();
    assert_eq!(json["compliant"], serde_json::json!(false));
    assert_eq!(
        json["checks"]["reporting"],
        serde_json::json!({"result": "passing"})
    );
    assert_eq!(json["checks"]["backup"]["result"], "unknown");
    assert_eq!(json["checks"]["agent_checks"]["result"], "failing");
}

fn findings_with(check: PolicyCheck, v: Option<Verdict>) -> Findings {
    let mut verdicts: [Option<Verdict>; PolicyCheck::COUNT] = Default::default();
    verdicts[check.index()] = v;
    Findings::from_verdicts(verdicts)
}

#[test]
fn tracker_keeps_earliest_while_failing_and_clears_on_pass() {
    let c = PolicyCheck::Backup;
    let failing = |since| {
        Some(Verdict::Failing {
            reason: "x".into(),
            since,
        })
    };
    let s0 = FailingSince::default();
    let s1 = CheckStateTracker::update(&s0, &findings_with(c, failing(None)), 100);
    assert_eq!(s1.get(c), Some(100));
    let s2 = CheckStateTracker::update(&s1, &findings_with(c, failing(None)), 200);
    assert_eq!(s2.get(c), Some(100), "the earliest since is kept");
    let s3 = CheckStateTracker::update(&s2, &findings_with(c, failing(Some(50))), 300);
    assert_eq!(s3.get(c), Some(50), "an earlier hint from the facts wins");
    let s4 = CheckStateTracker::update(
        &s3,
        &findings_with(c, Some(Verdict::Unknown { reason: "x".into() })),
        400,
    );
    assert_eq!(s4.get(c), Some(50), "unknown keeps the previous value");
    let s5 = CheckStateTracker::update(&s4, &findings_with(c, Some(Verdict::Passing)), 500);
    assert_eq!(s5.get(c), None);
    assert!(s5.is_empty());
    let s6 = CheckStateTracker::update(&s4, &findings_with(c, None), 500);
    assert_eq!(s6.get(c), None, "disabling a check clears it");
    let s7 = CheckStateTracker::update(
        &s0,
        &findings_with(c, Some(Verdict::Unknown { reason: "x".into() })),
        1,
    );
    assert!(s7.is_empty(), "unknown never starts a clock");
    let s8 = CheckStateTracker::update(&s0, &findings_with(c, failing(Some(10_000))), 600);
    assert_eq!(s8.get(c), Some(600), "a future hint is clamped to now");
}

#[test]
fn tracker_keeps_the_earliest_since_and_json_round_trips() {
    let mut prev = FailingSince::default();
    prev.set(PolicyCheck::Reporting, Some(10));
    let findings = findings_with(
        PolicyCheck::Reporting,
        Some(Verdict::Failing {
            reason: "x".into(),
            since: None,
        }),
    );
    let f = CheckStateTracker::update(&prev, &findings, 20);
    assert_eq!(f.get(PolicyCheck::Reporting), Some(10));
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(json, r#"{"reporting":10}"#);
    let back: FailingSince = serde_json::from_str(r#"{"reporting":10,"retired_check":5}"#).unwrap();
    assert_eq!(back, f);
}

#[test]
fn failing_since_survives_a_restart_via_json() {
    // What the store does: persist the JSON, load it after a restart, keep tracking.
    let mut r = full_report(T);
    password(&mut r).settings.min_length = Some(8);
    let f = facts(&r);
    let s1 = CheckStateTracker::update(&FailingSince::default(), &eval(&f, T), T);
    let stored = serde_json::to_string(&s1).unwrap();
    let loaded: FailingSince = serde_json::from_str(&stored).unwrap();
    let s2 = CheckStateTracker::update(&loaded, &eval(&f, T + 600), T + 600);
    assert_eq!(s2.get(PolicyCheck::PasswordLength), Some(T));
}

#[test]
fn outcomes_keep_every_verdict_and_compliance() {
    let policy = Policy::default().with_check_enabled(PolicyCheck::PasswordHistory, false);
    // Never reported, enrolled long ago: reporting fails, the rest unknown.
    let findings = evaluate(&ComplianceFacts::default(), 1, &policy, 1_000_000);
    let o = findings.outcomes();
    assert_eq!(Outcomes::from_bits(o.to_bits()), o);
    for check in PolicyCheck::ALL {
        assert_eq!(
            o.get(check),
            findings.get(check).map(Verdict::kind),
            "{check}"
        );
    }
    assert_eq!(o.get(PolicyCheck::PasswordHistory), None);
    assert!(o.is_failing(PolicyCheck::Reporting));
    assert_eq!(o.compliant(), Some(false));
    assert!(o.any_failing());
    assert_eq!(Outcomes::default().compliant(), None);
    assert_eq!(Outcomes::default().iter().count(), 0);
}

// ---- data protection and OS families ----

fn protection(r: &mut Report) -> &mut fleetwatch_protocol::DataProtection {
    r.checks
        .data_protection
        .as_mut()
        .unwrap()
        .data
        .as_mut()
        .unwrap()
}

fn with_family(r: &mut Report, family: fleetwatch_protocol::OsFamily) {
    r.inventory.data.as_mut().unwrap().os.family = Some(family);
}

fn volume(
    mount: &str,
    state: fleetwatch_protocol::EncryptionState,
    on: Option<bool>,
    system: bool,
) -> fleetwatch_protocol::VolumeEncryption {
    fleetwatch_protocol::VolumeEncryption {
        mount_point: mount.into(),
        state,
        protection_on: on,
        system_volume: system,
        ..Default::default()
    }
}

#[test]
fn disk_encryption_judges_every_fixed_volume_but_the_boot_partitions() {
    use fleetwatch_protocol::EncryptionState::*;
    let mut r = full_report(T);
    // full_report's /boot is plain: excluded by default.
    assert!(verdict(&facts(&r), PolicyCheck::DiskEncryption, T).is_passing());
    protection(&mut r).volumes.extend([
        volume("/home", EncryptionInProgress, Some(false), false),
        volume("[SWAP]", NotEncrypted, Some(false), false),
    ]);
    let v = verdict(&facts(&r), PolicyCheck::DiskEncryption, T);
    assert_failing(&v, "/home is still being encrypted");
    assert_failing(&v, "[SWAP] is not encrypted");
    assert_failing(&v, "policy: every fixed volume encrypted");
    // Scope "system": only / counts.
    let p = Policy {
        disk_encryption_scope: crate::policy::config::DiskEncryptionScope::System,
        ..Policy::default()
    };
    assert!(
        evaluate(&facts(&r), T, &p, T)
            .get(PolicyCheck::DiskEncryption)
            .unwrap()
            .is_passing()
    );
    // Nothing excluded: /boot fails too.
    let p = Policy {
        disk_encryption_exclude: Vec::new(),
        ..Policy::default()
    };
    let v = evaluate(&facts(&full_report(T)), T, &p, T);
    assert_failing(
        v.get(PolicyCheck::DiskEncryption).unwrap(),
        "/boot is not encrypted",
    );
}

#[test]
fn disk_encryption_unknown_never_passes() {
    use fleetwatch_protocol::EncryptionState::*;
    let mut r = full_report(T);
    protection(&mut r).volumes[0] = volume("/", Encrypted, None, true);
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::DiskEncryption, T),
        "encryption unknown for /",
    );
    protection(&mut r).volumes = vec![volume("C:", Unknown, None, true)];
    assert_unknown(&verdict(&facts(&r), PolicyCheck::DiskEncryption, T), "C:");
    // A known violation beside an unknown still fails.
    protection(&mut r)
        .volumes
        .push(volume("D:", Encrypted, Some(false), false));
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::DiskEncryption, T),
        "D: has its protection off",
    );
    protection(&mut r).volumes.clear();
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::DiskEncryption, T),
        "no volume",
    );
    // No section at all (an older agent): unknown.
    let mut r = full_report(T);
    r.checks.data_protection = None;
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::DiskEncryption, T),
        "has not reported the data_protection check",
    );
}

#[test]
fn firewall_on_off_and_unknown() {
    use fleetwatch_protocol::{Firewall, FirewallProfile};
    let mut r = full_report(T);
    assert!(verdict(&facts(&r), PolicyCheck::Firewall, T).is_passing());
    protection(&mut r).firewall = Some(Firewall {
        product: "windows_firewall".into(),
        enabled: Some(false),
        profiles: vec![
            FirewallProfile {
                name: "domain".into(),
                enabled: Some(true),
            },
            FirewallProfile {
                name: "public".into(),
                enabled: Some(false),
            },
        ],
    });
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::Firewall, T),
        "windows_firewall is off for the public profile(s)",
    );
    protection(&mut r).firewall = Some(Firewall {
        product: "ufw".into(),
        enabled: None,
        profiles: Vec::new(),
    });
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::Firewall, T),
        "ufw state unknown",
    );
    protection(&mut r).firewall = None;
    protection(&mut r).firewall_error = Some("ufw: ufw status exited with 1".into());
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::Firewall, T),
        "firewall state unknown: ufw: ufw status exited with 1",
    );
}

#[test]
fn antivirus_real_time_and_signature_age() {
    use fleetwatch_protocol::{Antivirus, OsFamily};
    let mut r = full_report(T);
    with_family(&mut r, OsFamily::Windows);
    // Required on Windows: none found fails, an unreadable one is unknown.
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::Antivirus, T),
        "no antivirus found",
    );
    protection(&mut r).antivirus_error = Some("MSFT_MpComputerStatus: access denied".into());
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::Antivirus, T),
        "access denied",
    );
    let max = Policy::default().antivirus_signature_max_age_secs;
    protection(&mut r).antivirus = Some(Antivirus {
        product: "microsoft_defender".into(),
        real_time_protection: Some(true),
        signatures_updated_at: Some(T - max),
        signature_version: Some("1.403.1".into()),
    });
    // Exactly at the limit still passes.
    assert!(verdict(&facts(&r), PolicyCheck::Antivirus, T).is_passing());
    let v = verdict(&facts(&r), PolicyCheck::Antivirus, T + 1);
    assert_failing(&v, "signatures updated 3d ago");
    assert!(matches!(v, Verdict::Failing { since: Some(s), .. } if s == T));
    protection(&mut r)
        .antivirus
        .as_mut()
        .unwrap()
        .real_time_protection = Some(false);
    assert_failing(
        &verdict(&facts(&r), PolicyCheck::Antivirus, T),
        "real-time protection is off",
    );
    protection(&mut r)
        .antivirus
        .as_mut()
        .unwrap()
        .real_time_protection = None;
    assert_unknown(
        &verdict(&facts(&r), PolicyCheck::Antivirus, T),
        "real-time protection state unknown",
    );
    let p = Policy {
        antivirus_require_real_time: false,
        ..Policy::default()
    };
    assert!(
        evaluate(&facts(&r), T, &p, T)
            .get(PolicyCheck::Antivirus)
            .unwrap()
            .is_passing()
    );
    protection(&mut r)
        .antivirus
        .as_mut()
        .unwrap()
        .signatures_updated_at = None;
    assert_unknown(
        evaluate(&facts(&r), T, &p, T)
            .get(PolicyCheck::Antivirus)
            .unwrap(),
        "signature age unknown",
    );
    // XProtect has no real-time switch: it is on whenever macOS runs.
    with_family(&mut r, OsFamily::Macos);
    protection(&mut r).antivirus = Some(Antivirus {
        product: "xprotect".into(),
        real_time_protection: None,
        signatures_updated_at: Some(T - 3_600),
        signature_version: Some("5281".into()),
    });
    assert!(verdict(&facts(&r), PolicyCheck::Antivirus, T).is_passing());
}

#[test]
fn checks_without_meaning_on_an_os_are_not_applicable_and_do_not_count() {
    use fleetwatch_protocol::OsFamily;
    let mut r = full_report(T);
    with_family(&mut r, OsFamily::Windows);
    protection(&mut r).antivirus = Some(fleetwatch_protocol::Antivirus {
        product: "microsoft_defender".into(),
        real_time_protection: Some(true),
        signatures_updated_at: Some(T - 3_600),
        signature_version: None,
    });
    patches(&mut r).cache_updated_at = None;
    let p = Policy {
        patch_cache_max_age_secs: Some(86_400),
        ..Policy::default()
    };
    let f = facts(&r);
    let findings = evaluate(&f, T, &p, T);
    let v = findings.get(PolicyCheck::PatchCache).unwrap();
    assert_eq!(v.kind(), VerdictKind::NotApplicable);
    assert!(v.reason().unwrap().starts_with("not applicable on windows"));
    assert!(findings.get(PolicyCheck::Antivirus).unwrap().is_passing());
    assert_eq!(
        findings.compliant,
        Some(true),
        "not applicable counts neither way"
    );
    // The same facts from a Linux device: the cache age is unknown.
    with_family(&mut r, OsFamily::Linux);
    assert_unknown(
        evaluate(&facts(&r), T, &p, T)
            .get(PolicyCheck::PatchCache)
            .unwrap(),
        "does not know when the package cache",
    );
    // macOS: empty passwords cannot be read without the hash.
    with_family(&mut r, OsFamily::Macos);
    password(&mut r).accounts = None;
    let findings = evaluate(&facts(&r), T, &p, T);
    assert_eq!(
        findings.get(PolicyCheck::EmptyPasswords).unwrap().kind(),
        VerdictKind::NotApplicable
    );
    assert_eq!(
        findings.get(PolicyCheck::ExpiredPasswords).unwrap().kind(),
        VerdictKind::Unknown
    );
    // Failing-since never starts on a not-applicable check.
    let mut before = FailingSince::default();
    before.set(PolicyCheck::EmptyPasswords, Some(T - 10));
    let after = CheckStateTracker::update(&before, &findings, T);
    assert_eq!(after.get(PolicyCheck::EmptyPasswords), None);
    // An agent older than the family field is Linux: everything applies.
    let mut r = full_report(T);
    r.inventory.data.as_mut().unwrap().os.family = None;
    assert_eq!(facts(&r).os_family(), OsFamily::Linux);
}

#[test]
fn outcomes_keep_not_applicable_apart() {
    let findings = findings_with(
        PolicyCheck::Antivirus,
        Some(Verdict::NotApplicable { reason: "x".into() }),
    );
    let o = findings.outcomes();
    assert_eq!(
        o.get(PolicyCheck::Antivirus),
        Some(VerdictKind::NotApplicable)
    );
    assert_eq!(o.get(PolicyCheck::Firewall), None);
    assert_eq!(o.compliant(), Some(true));
    assert_eq!(Outcomes::from_bits(o.to_bits()), o);
    // Every check and kind round-trips through the packed form.
    for kind in VerdictKind::ALL {
        let o = Outcomes::new(PolicyCheck::ALL.into_iter().map(|c| (c, kind)), Some(false));
        assert!(PolicyCheck::ALL.into_iter().all(|c| o.get(c) == Some(kind)));
        assert_eq!(o.compliant(), Some(false));
    }
}

/// Agent timestamps at the ends of `i64` (fuzzing: `report_pipeline`)
/// judged without overflow: one from before time began is as old as can
/// be (failing), one from the end of time not yet due.
#[test]
fn timestamps_at_the_ends_of_i64_never_overflow() {
    use fleetwatch_protocol::{Antivirus, OsFamily};
    let p = Policy {
        patch_cache_max_age_secs: Some(86_400),
        ..Policy::default()
    };
    let judged =
        |r: &Report, check: PolicyCheck| evaluate(&facts(r), T, &p, T).get(check).cloned().unwrap();
    let mut r = full_report(T);
    patches(&mut r).cache_updated_at = Some(i64::MIN);
    assert_failing(
        &judged(&r, PolicyCheck::PatchCache),
        "package cache refreshed",
    );
    patches(&mut r).cache_updated_at = Some(i64::MAX);
    assert!(judged(&r, PolicyCheck::PatchCache).is_passing());

    patches(&mut r).reboot_required = true;
    patches(&mut r).reboot_required_since = Some(i64::MIN);
    assert_failing(&judged(&r, PolicyCheck::Reboot), "reboot required since");
    patches(&mut r).reboot_required_since = Some(i64::MAX);
    assert!(judged(&r, PolicyCheck::Reboot).is_passing());

    let mut r = full_report(T);
    r.checks.backup = Some(CheckResult::ok(
        0.0,
        BackupStatus {
            jobs: vec![BackupJob {
                name: "ancient".into(),
                last_success_at: Some(i64::MIN),
                ..BackupJob::default()
            }],
        },
    ));
    assert_failing(
        &judged(&r, PolicyCheck::Backup),
        "\"ancient\" last succeeded",
    );

    let mut r = full_report(T);
    with_family(&mut r, OsFamily::Windows);
    protection(&mut r).antivirus = Some(Antivirus {
        product: "microsoft_defender".into(),
        real_time_protection: Some(true),
        signatures_updated_at: Some(i64::MIN),
        signature_version: None,
    });
    assert_failing(&judged(&r, PolicyCheck::Antivirus), "signatures updated");
}
