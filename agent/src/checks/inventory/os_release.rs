//! `/etc/os-release` parsing (freedesktop os-release spec: shell-style
//! `KEY=value` lines, values optionally quoted, backslash escapes).

use std::collections::HashMap;

use fleetwatch_protocol::{OsFamily, OsInfo};

/// Parses os-release text into key/value pairs; malformed lines are skipped.
pub fn parse_os_release_pairs(text: &str) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        pairs.insert(key.to_string(), unquote(raw.trim()));
    }
    pairs
}

/// Undoes shell quoting as the spec allows it: `"..."` (with `\"`, `\\`,
/// `\$`, `` \` `` escapes), `'...'` (literal), and backslash escapes outside quotes.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let mut in_double = false;
    let mut in_single = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '\\' if !in_single => match chars.peek().copied() {
                Some(next) if !in_double || matches!(next, '"' | '\\' | '$' | '`') => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            // An unquoted `#` after whitespace starts a comment in shell; the
            // spec forbids trailing comments, so keep it literal.
            _ => out.push(c),
        }
    }
    out
}

/// Parses os-release text into the wire type.
pub fn parse_os_release(text: &str) -> OsInfo {
    let mut pairs = parse_os_release_pairs(text);
    let mut take = |k: &str| pairs.remove(k).filter(|v| !v.is_empty());
    OsInfo {
        // The spec's default for a missing ID is "linux".
        id: take("ID").unwrap_or_else(|| "linux".into()),
        id_like: take("ID_LIKE"),
        name: take("NAME"),
        version_id: take("VERSION_ID"),
        version_codename: take("VERSION_CODENAME"),
        pretty_name: take("PRETTY_NAME"),
        support_end: take("SUPPORT_END"),
        edition: take("VARIANT_ID"),
        family: Some(OsFamily::Linux),
        build: None,
        display_version: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_12() {
        let text = include_str!("../../../../tests/hosts/inventory-debian12/etc/os-release");
        let os = parse_os_release(text);
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os.support_end.as_deref(), Some("2028-06-30"));
        assert_eq!(os.id_like, None);
    }

    #[test]
    fn parses_ubuntu_with_unquoted_and_id_like() {
        let text = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n\
                    PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nVERSION_CODENAME=noble\n";
        let os = parse_os_release(text);
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.id_like.as_deref(), Some("debian"));
        assert_eq!(os.version_codename.as_deref(), Some("noble"));
        assert_eq!(os.support_end, None);
    }

    #[test]
    fn parses_rhel_with_single_quotes_and_multiple_id_like() {
        let text = "NAME='Red Hat Enterprise Linux'\nID=\"rhel\"\nID_LIKE=\"fedora\"\n\
                    VERSION_ID=\"9.4\"\n# a comment\n\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n";
        let os = parse_os_release(text);
        assert_eq!(os.id, "rhel");
        assert_eq!(os.name.as_deref(), Some("Red Hat Enterprise Linux"));
        assert_eq!(os.version_id.as_deref(), Some("9.4"));
    }

    #[test]
    fn handles_escapes_inside_and_outside_quotes() {
        let text = r#"PRETTY_NAME="My \"Quoted\" OS \$HOME \\ back\slash"
NAME=Plain\ Name
ID='single \ kept'
garbage line without equals
BAD KEY=x
"#;
        let pairs = parse_os_release_pairs(text);
        assert_eq!(pairs["PRETTY_NAME"], r#"My "Quoted" OS $HOME \ back\slash"#);
        assert_eq!(pairs["NAME"], "Plain Name");
        assert_eq!(pairs["ID"], r"single \ kept");
        assert!(!pairs.contains_key("BAD KEY"));
    }

    #[test]
    fn missing_id_defaults_to_linux_and_empty_values_are_none() {
        let os = parse_os_release("NAME=\"\"\n");
        assert_eq!(os.id, "linux");
        assert_eq!(os.name, None);
    }
}
