//! Shared helpers of the fuzz targets: a strict reader of the Prometheus
//! text format 0.0.4 (what the collector's exposition must always be),
//! and the splitting of one fuzz input into several texts.

use std::collections::HashSet;

/// Splits `data` into at most `n` parts at NUL bytes (the last part keeps
/// any further NULs), each as lossy UTF-8, missing parts empty.
pub fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// Panics, naming the line, unless `text` is valid exposition text: every
/// line a `# HELP`/`# TYPE` comment or a sample `name{label="value",…} value`
/// with legal names, escapes and numbers, and no series twice (Prometheus
/// refuses a scrape with a duplicate series).
pub fn check_exposition(text: &[u8]) {
    let text = std::str::from_utf8(text).expect("exposition is not UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "exposition does not end with a newline"
    );
    let mut series = HashSet::new();
    let mut typed = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "bad family name in {line:?}");
            match keyword {
                "HELP" => {}
                "TYPE" => {
                    assert!(
                        matches!(
                            tail,
                            "counter" | "gauge" | "histogram" | "summary" | "untyped"
                        ),
                        "bad type in {line:?}"
                    );
                    assert!(
                        typed.insert(name.to_string()),
                        "family typed twice: {line:?}"
                    );
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let key = sample_key(line);
        assert!(series.insert(key.to_string()), "duplicate series {key:?}");
    }
}

/// The `name{labels}` part of a sample line, checked; panics on bad syntax.
fn sample_key(line: &str) -> &str {
    let name_end = line
        .find(|c: char| c == '{' || c == ' ')
        .unwrap_or_else(|| panic!("sample without value: {line:?}"));
    assert!(
        is_metric_name(&line[..name_end]),
        "bad metric name in {line:?}"
    );
    let mut rest = &line[name_end..];
    if rest.starts_with('{') {
        rest = &rest[1..];
        let mut labels = HashSet::new();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest
                .find('=')
                .unwrap_or_else(|| panic!("label without value in {line:?}"));
            let label = &rest[..eq];
            assert!(is_label_name(label), "bad label name {label:?} in {line:?}");
            assert!(labels.insert(label), "label {label:?} twice in {line:?}");
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\' | '"' | 'n')) => {}
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some((i, '"')) => break i,
                    Some(_) => {}
                    None => panic!("unterminated label value in {line:?}"),
                }
            };
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                assert!(rest.starts_with('}'), "label list broken in {line:?}");
            }
        }
    }
    let key = &line[..line.len() - rest.len()];
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    let mut fields = value.split(' ');
    let number = fields.next().unwrap_or("");
    assert!(
        matches!(number, "NaN" | "+Inf" | "-Inf")
            || number.parse::<f64>().is_ok_and(f64::is_finite),
        "bad sample value in {line:?}"
    );
    if let Some(ts) = fields.next() {
        assert!(ts.parse::<i64>().is_ok(), "bad timestamp in {line:?}");
    }
    assert!(fields.next().is_none(), "trailing fields in {line:?}");
    key
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_text_passes() {
        check_exposition(
            b"# HELP a_b Help text.\n# TYPE a_b gauge\na_b{x=\"q\\\"\\n\\\\\",y=\"\"} 1.5\na_b{x=\"r\"} NaN\nc 3 17\n",
        );
    }

    #[test]
    #[should_panic(expected = "duplicate series")]
    fn duplicate_series_fail() {
        check_exposition(b"a{x=\"1\"} 1\na{x=\"1\"} 2\n");
    }

    #[test]
    #[should_panic(expected = "bad escape")]
    fn bad_escape_fails() {
        check_exposition(b"a{x=\"\\t\"} 1\n");
    }

    #[test]
    #[should_panic(expected = "bad sample value")]
    fn bad_value_fails() {
        check_exposition(b"a 1e999\n");
    }

    #[test]
    fn parts_split_at_nul() {
        assert_eq!(parts(b"a\0b\0c\0d", 3), ["a", "b", "c\0d"]);
        assert_eq!(parts(b"a", 3), ["a", "", ""]);
    }
}
