//! Pure helpers for the compliance API: the `GET /api/v1/compliance` body
//! and the auditors' CSV export. The HTTP routes call these.

use serde::Serialize;

use super::checks::PolicyCheck;
use super::evaluate::{FailingSince, Findings, Verdict};
use crate::time::rfc3339;

/// One device's inputs to the API helpers (raw, unescaped strings).
#[derive(Debug, Clone, Copy)]
pub struct DeviceRow<'a> {
    /// Device id.
    pub device_id: &'a str,
    /// Host name from the latest inventory ("" when unknown).
    pub hostname: &'a str,
    /// OS family the device is judged as (`linux`, `macos`, `windows`).
    pub os_family: &'a str,
    /// Current findings.
    pub findings: &'a Findings,
    /// Stored failing-since state.
    pub failing_since: &'a FailingSince,
}

/// Body of `GET /api/v1/compliance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceSummary {
    /// Devices considered.
    pub devices: u64,
    /// Devices by overall verdict.
    pub compliant: CompliantCounts,
    /// One entry per enabled check, in the fixed check order.
    pub checks: Vec<CheckSummary>,
}

/// Devices by `compliant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompliantCounts {
    /// Every check passing.
    pub compliant: u64,
    /// At least one check failing.
    pub non_compliant: u64,
    /// Nothing failing, something unknown.
    pub unknown: u64,
}

/// One check across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSummary {
    /// Check name (the `check` label value).
    pub check: &'static str,
    /// Alert raised when failing, if any.
    pub alert: Option<&'static str>,
    /// Devices passing.
    pub passing: u64,
    /// Devices failing.
    pub failing: u64,
    /// Devices unknown.
    pub unknown: u64,
    /// Devices on which the check has no meaning (their OS, or the policy).
    pub not_applicable: u64,
    /// Failing devices, oldest failure first, at most the limit given.
    pub failing_devices: Vec<FailingDevice>,
    /// True when `failing_devices` was cut at the limit.
    pub failing_devices_truncated: bool,
}

/// A device failing a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingDevice {
    /// Device id.
    pub device_id: String,
    /// Host name.
    pub hostname: String,
    /// Failing since (Unix seconds), when tracked.
    pub since: Option<i64>,
    /// Failing since, ISO-8601 UTC.
    pub since_iso: Option<String>,
    /// Why it fails.
    pub reason: String,
}

/// Builds the compliance summary; `max_failing_devices` caps each check's
/// device list (a 100k fleet failing one check must not make a 10 MB answer).
pub fn compliance_summary<'a>(
    devices: impl IntoIterator<Item = DeviceRow<'a>>,
    max_failing_devices: usize,
) -> ComplianceSummary {
    let mut total = 0u64;
    let mut compliant = CompliantCounts::default();
    let mut seen = [false; PolicyCheck::COUNT];
    let mut checks: Vec<CheckSummary> = PolicyCheck::ALL
        .iter()
        .map(|c| CheckSummary {
            check: c.as_str(),
            alert: c.alert_name(),
            passing: 0,
            failing: 0,
            unknown: 0,
            not_applicable: 0,
            failing_devices: Vec::new(),
            failing_devices_truncated: false,
        })
        .collect();
    for d in devices {
        total += 1;
        match d.findings.compliant {
            Some(true) => compliant.compliant += 1,
            Some(false) => compliant.non_compliant += 1,
            None => compliant.unknown += 1,
        }
        for (check, verdict) in d.findings.iter() {
            seen[check.index()] = true;
            let s = &mut checks[check.index()];
            match verdict {
                Verdict::Passing => s.passing += 1,
                Verdict::Unknown { .. } => s.unknown += 1,
                Verdict::NotApplicable { .. } => s.not_applicable += 1,
                Verdict::Failing { reason, .. } => {
                    s.failing += 1;
                    let since = d.failing_since.get(check);
                    s.failing_devices.push(FailingDevice {
                        device_id: d.device_id.to_string(),
                        hostname: d.hostname.to_string(),
                        since,
                        since_iso: since.map(rfc3339),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }
    for s in &mut checks {
        // Oldest failures first: what an operator should look at first.
        s.failing_devices.sort_by(|a, b| {
            (a.since.unwrap_or(i64::MAX), &a.device_id)
                .cmp(&(b.since.unwrap_or(i64::MAX), &b.device_id))
        });
        if s.failing_devices.len() > max_failing_devices {
            s.failing_devices.truncate(max_failing_devices);
            s.failing_devices_truncated = true;
        }
    }
    // Checks disabled on every device (i.e. by policy) are left out.
    let checks = checks
        .into_iter()
        .zip(seen)
        .filter_map(|(s, seen)| seen.then_some(s))
        .collect();
    ComplianceSummary {
        devices: total,
        compliant,
        checks,
    }
}

/// One device's findings for `GET /api/v1/devices/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceFindings {
    /// `true`, `false`, or `null` when unknown.
    pub compliant: Option<bool>,
    /// Enabled checks in the fixed order.
    pub checks: Vec<DeviceCheck>,
}

/// One check on one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceCheck {
    /// Check name.
    pub check: &'static str,
    /// `passing`, `failing`, `unknown` or `not_applicable`.
    pub result: &'static str,
    /// Why failing, unknown or not applicable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Failing since (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<i64>,
    /// Failing since, ISO-8601 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since_iso: Option<String>,
    /// Alert raised while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<&'static str>,
}

/// Builds the per-device findings view.
pub fn device_findings(findings: &Findings, failing_since: &FailingSince) -> DeviceFindings {
    let checks = findings
        .iter()
        .map(|(check, verdict)| {
            let since = failing_since.get(check).filter(|_| verdict.is_failing());
            DeviceCheck {
                check: check.as_str(),
                result: verdict.as_str(),
                reason: verdict.reason().map(str::to_string),
                failing_since: since,
                failing_since_iso: since.map(rfc3339),
                alert: check.alert_name(),
            }
        })
        .collect();
    DeviceFindings {
        compliant: findings.compliant,
        checks,
    }
}

/// Content type of the CSV export.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// Writes the CSV header row: device_id, hostname, os_family, compliant,
/// then per check `<check>` and `<check>_failing_since`.
pub fn csv_header(out: &mut String) {
    out.push_str("device_id,hostname,os_family,compliant");
    for c in PolicyCheck::ALL {
        out.push(',');
        out.push_str(c.as_str());
        out.push(',');
        out.push_str(c.as_str());
        out.push_str("_failing_since");
    }
    out.push_str("\r\n");
}

/// Writes one device's CSV row (RFC 4180, CRLF). Check cells are
/// `passing`/`failing`/`unknown`/`not_applicable`/`disabled`; failing-since
/// is ISO-8601 UTC or empty.
pub fn csv_row(out: &mut String, d: &DeviceRow<'_>) {
    csv_field(out, d.device_id);
    out.push(',');
    csv_field(out, d.hostname);
    out.push(',');
    csv_field(out, d.os_family);
    out.push(',');
    out.push_str(match d.findings.compliant {
        Some(true) => "true",
        Some(false) => "false",
        None => "unknown",
    });
    for c in PolicyCheck::ALL {
        out.push(',');
        let verdict = d.findings.get(c);
        out.push_str(verdict.map_or("disabled", Verdict::as_str));
        out.push(',');
        if let Some(since) = d
            .failing_since
            .get(c)
            .filter(|_| verdict.is_some_and(Verdict::is_failing))
        {
            out.push_str(&rfc3339(since));
        }
    }
    out.push_str("\r\n");
}

/// The whole CSV export.
pub fn compliance_csv<'a>(devices: impl IntoIterator<Item = DeviceRow<'a>>) -> String {
    let mut out = String::new();
    csv_header(&mut out);
    for d in devices {
        csv_row(&mut out, &d);
    }
    out
}

/// One CSV field: quoted when needed, and defused against spreadsheet formula
/// injection (a hostname like `=HYPERLINK(...)` is agent-controlled and
/// auditors open this in a spreadsheet): such a value gets a leading `'`.
fn csv_field(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compliance_facts::{ComplianceFacts, tests::full_report};
    use crate::policy::config::Policy;
    use crate::policy::evaluate::{CheckStateTracker, evaluate};
    use fleetwatch_protocol::CheckResult;

    const T: i64 = 1_700_000_000;

    fn fixture() -> Vec<(String, String, Findings, FailingSince)> {
        let mut out = Vec::new();
        for (i, host) in ["ok-host", "evil,\"host\"\nx", "=cmd|' /C calc'!A0"]
            .iter()
            .enumerate()
        {
            let mut r = full_report(T);
            if i >= 1 {
                r.checks.backup = Some(CheckResult::ok(0.0, Default::default()));
            }
            if i == 2 {
                r.checks.password_policy = Some(CheckResult::failed(1.0, "boom"));
            }
            let facts = ComplianceFacts::from_report(&r, T);
            let findings = evaluate(&facts, T, &Policy::default(), T);
            let since =
                CheckStateTracker::update(&FailingSince::default(), &findings, T - i as i64);
            out.push((format!("d{i}"), host.to_string(), findings, since));
        }
        out
    }

    fn rows(f: &[(String, String, Findings, FailingSince)]) -> impl Iterator<Item = DeviceRow<'_>> {
        f.iter().map(|(id, host, findings, since)| DeviceRow {
            device_id: id,
            hostname: host,
            os_family: "linux",
            findings,
            failing_since: since,
        })
    }

    #[test]
    fn summary_counts_and_failing_devices() {
        let f = fixture();
        let s = compliance_summary(rows(&f), 1);
        assert_eq!(s.devices, 3);
        assert_eq!(
            s.compliant,
            CompliantCounts {
                compliant: 1,
                non_compliant: 2,
                unknown: 0
            }
        );
        let backup = s.checks.iter().find(|c| c.check == "backup").unwrap();
        assert_eq!((backup.passing, backup.failing, backup.unknown), (1, 2, 0));
        assert_eq!(backup.alert, Some("FleetwatchBackupOverdue"));
        // Oldest first, capped at 1.
        assert_eq!(backup.failing_devices.len(), 1);
        assert!(backup.failing_devices_truncated);
        assert_eq!(backup.failing_devices[0].device_id, "d2");
        assert_eq!(
            backup.failing_devices[0].since_iso.as_deref(),
            Some("2023-11-14T22:13:18Z")
        );
        let length = s
            .checks
            .iter()
            .find(|c| c.check == "password_length")
            .unwrap();
        assert_eq!((length.passing, length.failing, length.unknown), (2, 0, 1));
        // patch_cache is disabled by default and left out.
        assert!(!s.checks.iter().any(|c| c.check == "patch_cache"));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["checks"][0]["check"], "reporting");
        assert_eq!(json["compliant"]["non_compliant"], 2);
    }

    #[test]
    fn device_view() {
        let f = fixture();
        let (_, _, findings, since) = &f[1];
        let json = serde_json::to_value(device_findings(findings, since)).unwrap();
        assert_eq!(json["compliant"], false);
        let backup = json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "backup")
            .unwrap();
        assert_eq!(backup["result"], "failing");
        assert_eq!(backup["failing_since_iso"], "2023-11-14T22:13:19Z");
        assert_eq!(backup["alert"], "FleetwatchBackupOverdue");
        assert!(backup["reason"].as_str().unwrap().contains("no backup job"));
        let reporting = &json["checks"][0];
        assert_eq!(reporting["result"], "passing");
        assert!(reporting.get("reason").is_none());
    }

    #[test]
    fn csv_quotes_hostile_hostnames_and_defuses_formulas() {
        let f = fixture();
        let csv = compliance_csv(rows(&f));
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with(
            "device_id,hostname,os_family,compliant,reporting,reporting_failing_since,agent_checks,"
        ));
        assert_eq!(lines[0].split(',').count(), 4 + 2 * PolicyCheck::COUNT);
        assert!(lines[1].starts_with("d0,ok-host,linux,true,passing,,passing,,"));
        assert!(csv.contains("d1,\"evil,\"\"host\"\"\nx\",linux,false,"));
        assert!(lines[2].contains(",failing,2023-11-14T22:13:19Z,"), "{csv}");
        assert!(csv.contains("d2,\"'=cmd|' /C calc'!A0\",linux,false,"));
        assert!(csv.contains(",patch_cache,patch_cache_failing_since,"));
        assert!(
            lines[1].contains(",disabled,,"),
            "patch_cache is disabled by default"
        );
        assert!(csv.ends_with("\r\n"));
    }

    #[test]
    fn csv_parses_back_with_a_strict_reader() {
        // A tiny RFC 4180 reader: every row must have the header's width.
        let f = fixture();
        let csv = compliance_csv(rows(&f));
        let mut rows_out: Vec<Vec<String>> = vec![vec![String::new()]];
        let mut chars = csv.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            let row = rows_out.last_mut().unwrap();
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    row.last_mut().unwrap().push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => row.last_mut().unwrap().push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(String::new()),
                (false, '\r') => {}
                (false, '\n') => rows_out.push(vec![String::new()]),
                (false, c) => row.last_mut().unwrap().push(c),
            }
        }
        rows_out.pop(); // after the final CRLF
        assert_eq!(rows_out.len(), 4);
        for row in &rows_out {
            assert_eq!(row.len(), 4 + 2 * PolicyCheck::COUNT, "{row:?}");
        }
        assert_eq!(rows_out[2][1], "evil,\"host\"\nx");
    }
}
