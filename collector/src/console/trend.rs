//! The daily compliance snapshot behind the 30-day trend: after every
//! evaluation the fleet's counts per check are computed from the verdict
//! cells and, when they changed, saved as today's row (the day's last
//! save wins), so the trend survives restarts.

use crate::policy::{PolicyCheck, VerdictKind};
use crate::state::FleetState;
use crate::store::DailyCompliance;

/// The `check` value of the overall verdict row.
pub const OVERALL: &str = "compliant";

/// Days the trend shows.
pub const TREND_DAYS: i64 = 30;

/// Days since the epoch (UTC) of a Unix time.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(86_400)
}

/// Today's counts: overall compliant / not / unknown, then per check
/// passing / failing / unknown, over the visible (not retired, not past
/// retirement) devices. Checks no device is judged on are left out.
pub fn fleet_counts(fleet: &FleetState, now: i64, retire_after_secs: i64) -> Vec<DailyCompliance> {
    let day = day_of(now);
    let mut overall = [0u64; 3];
    let mut per_check = [[0u64; 3]; PolicyCheck::COUNT];
    let mut seen = [false; PolicyCheck::COUNT];
    for d in fleet.devices_after(None, usize::MAX) {
        if d.retired || now - d.last_heard() > retire_after_secs {
            continue;
        }
        let o = d.verdicts.outcomes();
        overall[match o.compliant() {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        }] += 1;
        for (check, verdict) in o.iter() {
            let i = match verdict {
                VerdictKind::Passing => 0,
                VerdictKind::Failing => 1,
                VerdictKind::Unknown => 2,
                VerdictKind::NotApplicable => continue,
            };
            seen[check.index()] = true;
            per_check[check.index()][i] += 1;
        }
    }
    let row = |check: &str, c: [u64; 3]| DailyCompliance {
        day,
        check: check.to_string(),
        passing: c[0],
        failing: c[1],
        unknown: c[2],
    };
    let mut rows = vec![row(OVERALL, overall)];
    for check in PolicyCheck::ALL {
        if seen[check.index()] {
            rows.push(row(check.as_str(), per_check[check.index()]));
        }
    }
    rows
}

/// Percent of `passing` among the devices judged (unknown counted as not
/// passing: unknown is never compliance); `None` with no device.
pub fn percent(row: &DailyCompliance) -> Option<f64> {
    let total = row.passing + row.failing + row.unknown;
    (total > 0).then(|| row.passing as f64 * 100.0 / total as f64)
}
