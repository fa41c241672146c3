//! Reading WMI property values: WMI hands 64-bit integers over as strings
//! (CIM_UINT64 travels as a BSTR) and dates as CIM_DATETIME strings.

use crate::checks::patches::timestamp::days_from_civil;
use serde_json::Value;

use super::host::WmiRow;

/// A property by name. WMI property names are case-insensitive (Wine names
/// `Win32_LogicalDisk.DeviceID` `DeviceId`), so a row is searched without case
/// when the documented spelling is not there.
pub fn property<'r>(row: &'r WmiRow, key: &str) -> Option<&'r Value> {
    row.get(key).or_else(|| {
        row.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A trimmed, non-empty string property.
pub fn text(row: &WmiRow, key: &str) -> Option<String> {
    match property(row, key)? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An unsigned integer property, given as a number or a decimal string.
pub fn unsigned(row: &WmiRow, key: &str) -> Option<u64> {
    match property(row, key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean property.
pub fn boolean(row: &WmiRow, key: &str) -> Option<bool> {
    match property(row, key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// An array-of-strings property (`IPAddress`); a lone string is one item.
pub fn strings(row: &WmiRow, key: &str) -> Vec<String> {
    match property(row, key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

/// Unix seconds of a CIM_DATETIME (`yyyymmddHHMMSS.mmmmmmsUUU`, local time
/// with the offset from UTC in minutes), `None` when malformed or a wildcard
/// (`*`) date.
pub fn cim_datetime(raw: &str) -> Option<i64> {
    let b = raw.trim().as_bytes();
    if b.len() < 14 || !b[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> i64 {
        b[r].iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let offset_minutes = match b.get(21) {
        Some(sign @ (b'+' | b'-')) if b.len() >= 25 && b[22..25].iter().all(u8::is_ascii_digit) => {
            let m = num(22..25);
            if *sign == b'-' { -m } else { m }
        }
        _ => 0,
    };
    // Month and day were range-checked above: the casts are exact.
    let local = days_from_civil(year, month as u32, day as u32)? * 86_400
        + hour * 3600
        + minute * 60
        + second;
    Some(local - offset_minutes * 60)
}

/// Unix seconds of midnight UTC of a `YYYYMMDD` date (the Uninstall keys'
/// `InstallDate`).
pub fn yyyymmdd(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if t.len() != 8 || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let year: i64 = t[..4].parse().ok()?;
    let month: i64 = t[4..6].parse().ok()?;
    let day: i64 = t[6..].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    // Month and day were range-checked above: the casts are exact.
    Some(days_from_civil(year, month as u32, day as u32)? * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cim_datetimes_with_offsets() {
        // 2023-12-12 10:00:00 at UTC+01:00 is 09:00:00 UTC.
        assert_eq!(
            cim_datetime("20231212100000.000000+060"),
            Some(1_702_371_600)
        );
        assert_eq!(
            cim_datetime("20231212090000.000000+000"),
            Some(1_702_371_600)
        );
        assert_eq!(
            cim_datetime("20231212040000.000000-300"),
            Some(1_702_371_600)
        );
        assert_eq!(cim_datetime("19700101000000.000000+000"), Some(0));
        assert_eq!(cim_datetime("****1212100000.000000+060"), None);
        assert_eq!(cim_datetime("20231312100000.000000+060"), None);
        assert_eq!(cim_datetime(""), None);
    }

    #[test]
    fn install_dates() {
        assert_eq!(yyyymmdd("20240229"), Some(1_709_164_800));
        assert_eq!(yyyymmdd("2024-02-29"), None);
        assert_eq!(yyyymmdd("20241301"), None);
    }

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        let row: WmiRow = [
            ("Size".to_string(), json!("499963174912")),
            ("Cores".to_string(), json!(8)),
            ("Bad".to_string(), json!("n/a")),
            ("On".to_string(), json!(true)),
            ("IP".to_string(), json!(["192.0.2.4", "fe80::1", ""])),
        ]
        .into_iter()
        .collect();
        assert_eq!(unsigned(&row, "Size"), Some(499_963_174_912));
        assert_eq!(unsigned(&row, "Cores"), Some(8));
        assert_eq!(unsigned(&row, "Bad"), None);
        assert_eq!(unsigned(&row, "Missing"), None);
        assert_eq!(boolean(&row, "On"), Some(true));
        assert_eq!(strings(&row, "IP"), vec!["192.0.2.4", "fe80::1"]);
    }
}
