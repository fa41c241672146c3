//! Tiny calendar helpers shared by the compliance checks: log timestamps and
//! RFC 3339 times to Unix seconds, without pulling in a date crate.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD?HH:MM[:SS[.frac]][Z|±HH[:]MM]` where `?` is `T` or a
/// space; a missing offset means UTC (callers document when that is an
/// assumption about local time). Fractions are truncated.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.len() < 16 || !text.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let mut parts = date.split('-');
    let year: i64 = num(parts.next()?)?;
    let month: u32 = num(parts.next()?)?;
    let day: u32 = num(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // The clock part ends where the offset begins.
    let clock_end = rest.find(['Z', 'z', '+', '-', ' ']).unwrap_or(rest.len());
    let (clock, offset) = rest.split_at(clock_end);
    let clock = clock.split('.').next()?;
    let mut hms = clock.split(':');
    let hour: i64 = num(hms.next()?)?;
    let minute: i64 = num(hms.next()?)?;
    let second: i64 = match hms.next() {
        Some(s) => num(s)?,
        None => 0,
    };
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_seconds = parse_offset(offset.trim())?;
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds)
}

fn parse_offset(offset: &str) -> Option<i64> {
    if offset.is_empty() || offset.eq_ignore_ascii_case("z") || offset == "UTC" {
        return Some(0);
    }
    let (sign, digits) = match offset.as_bytes()[0] {
        b'+' => (1, &offset[1..]),
        b'-' => (-1, &offset[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = num(&digits[..2])?;
    let minutes: i64 = num(&digits[2..])?;
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2024-06-01T10:00:00Z"), Some(1_717_236_000));
        assert_eq!(
            parse_datetime("2024-06-01T12:00:00.123456789+02:00"),
            Some(1_717_236_000)
        );
        assert_eq!(
            parse_datetime("2024-06-01T05:30:00-04:30"),
            Some(1_717_236_000)
        );
        assert_eq!(parse_datetime("2024-06-01 10:00:00"), Some(1_717_236_000));
        assert_eq!(
            parse_datetime("2024-06-01T10:00:00+0000"),
            Some(1_717_236_000)
        );
        assert_eq!(parse_datetime("2024-06-01 10:00"), Some(1_717_236_000));
        assert_eq!(parse_datetime("2000-02-29T00:00:00Z"), Some(951_782_400));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024",
            "2024-13-01T00:00:00Z",
            "2024-06-01X10:00:00",
            "yesterday",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_datetime(&s);
        }
    }
}
