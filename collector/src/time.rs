//! The collector's one duration grammar and its one date/time formatter:
//! humane durations ("15m", "2h", "7d", "1h30m", or a number of seconds) for
//! every duration key of the config, RFC 3339 UTC timestamps for every API,
//! CSV and alert, and the ISO dates agents report (os-release SUPPORT_END).
//! No date crate is needed for these few functions.

use std::fmt;

use serde::Deserialize;

/// A duration as written in the config: seconds as an integer
/// (`stale_after = 7200`), or a humane string (`stale_after = "2h"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawDuration {
    /// `7200`
    Seconds(i64),
    /// `"2h"`
    Text(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"15m\", \"2h\", \"7d\" or a number of seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl RawDuration {
    /// The duration in seconds if it is one and lies in `min..=max`
    /// (seconds); otherwise why not, naming the value and the range.
    pub fn seconds_in(&self, min: i64, max: i64) -> Result<i64, String> {
        let secs = match self {
            RawDuration::Seconds(s) => *s,
            RawDuration::Text(t) => parse_duration(t)
                .and_then(|s| i64::try_from(s).ok())
                .ok_or_else(|| {
                    format!(
                        "{t:?} is not a duration (use e.g. \"90s\", \"15m\", \"2h\", \"7d\", \"1h30m\" or seconds)"
                    )
                })?,
        };
        if secs < min || secs > max {
            let shown = u64::try_from(secs)
                .map(format_duration)
                .unwrap_or_else(|_| secs.to_string());
            return Err(format!(
                "must be between {} and {}, got {shown}",
                format_duration(min.max(0) as u64),
                format_duration(max.max(0) as u64)
            ));
        }
        Ok(secs)
    }
}

/// Parses a humane duration into seconds: an integer count of seconds
/// (`"3600"`), or number+unit groups with units `s`, `m`, `h`, `d`, `w`
/// (`"90s"`, `"15m"`, `"1h30m"`, `"7d"`). Returns `None` on anything else,
/// on zero-length input and on overflow.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        // A unit must follow a number: "h" or "1hh" are typos, not zero.
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    // Trailing digits without a unit ("1h30") are ambiguous: refuse.
    if number.is_some() {
        return None;
    }
    Some(total)
}

/// Formats seconds the way a human would write them back ("26h", "7d", "90s").
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    for (unit, len) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs.is_multiple_of(len) {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

/// Formats Unix seconds as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (proleptic
/// Gregorian).
pub fn rfc3339(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DD` into Unix seconds at midnight UTC.
pub fn parse_iso_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("1w"), Some(604_800));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration(" 26h "), Some(93_600));
        for bad in [
            "",
            "h",
            "1hh",
            "1h30",
            "-5m",
            "1.5h",
            "7 days",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(93_600), "26h");
        assert_eq!(format_duration(604_800), "1w");
        assert_eq!(format_duration(90), "90s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn iso_dates_parse_to_utc_midnight() {
        assert_eq!(parse_iso_date("1970-01-01"), Some(0));
        assert_eq!(parse_iso_date("2028-06-10"), Some(1_844_208_000));
        assert_eq!(parse_iso_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_iso_date("soon"), None);
        assert_eq!(parse_iso_date("2024-13-01"), None);
    }

    #[test]
    fn raw_durations_are_integers_or_text_in_range() {
        let ok = |v: &str| {
            toml::from_str::<toml::Table>(&format!("d = {v}")).unwrap()["d"]
                .clone()
                .try_into::<RawDuration>()
                .unwrap()
                .seconds_in(1, 86_400)
        };
        assert_eq!(ok("7200"), Ok(7200));
        assert_eq!(ok("\"2h\""), Ok(7200));
        assert!(ok("\"2 hours\"").unwrap_err().contains("is not a duration"));
        assert_eq!(ok("0").unwrap_err(), "must be between 1s and 1d, got 0s");
        assert!(ok("-60").unwrap_err().contains("got -60"));
        assert!(
            toml::from_str::<toml::Table>("d = true").unwrap()["d"]
                .clone()
                .try_into::<RawDuration>()
                .is_err()
        );
    }
}
