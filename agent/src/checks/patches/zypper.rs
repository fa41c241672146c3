//! zypper (openSUSE, SLES): `list-updates` and security `list-patches` as
//! XML from the local cache (`--no-refresh`), `needs-rebooting`, zypp history.

use fleetwatch_protocol::{Patches, PendingUpdate};

use super::timestamp::parse_datetime;
use super::{command_failed, count, newest_mtime_in, run};
use crate::checks::{CheckContext, CheckError, Collected};
use crate::host::{CommandError, CommandOutput};

const LIST_UPDATES: [&str; 4] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "list-updates",
];
const LIST_SECURITY_PATCHES: [&str; 6] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "list-patches",
    "--category",
    "security",
];

/// zypper's informational exit codes (100–107: updates/patches needed,
/// reboot needed, repos skipped…) still come with a complete answer.
fn answered(out: &CommandOutput) -> bool {
    matches!(out.exit_code, Some(0) | Some(100..=107))
}

pub(super) fn collect(ctx: &CheckContext<'_>) -> Result<Collected<Patches>, CheckError> {
    let out = match run(ctx, "zypper", &LIST_UPDATES) {
        Err(CommandError::NotFound { .. }) => {
            return Ok(Collected::Unsupported("zypper is not installed".into()));
        }
        other => other?,
    };
    if !answered(&out) {
        return Err(command_failed("zypper list-updates", &out));
    }
    let pending = parse_list_updates(&out.stdout_text());
    // Patches name the advisory, not the packages it fixes, so the count
    // is of security patches still needed, and packages stay unflagged.
    let pending_security = match run(ctx, "zypper", &LIST_SECURITY_PATCHES) {
        Ok(o) if answered(&o) => Some(count_needed_patches(&o.stdout_text())),
        Ok(_) | Err(CommandError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    // 102 = ZYPPER_EXIT_INF_REBOOT_NEEDED.
    let reboot_required = match run(ctx, "zypper", &["needs-rebooting"]) {
        Ok(o) => o.exit_code == Some(102),
        Err(CommandError::NotFound { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    let root = ctx.root;
    Ok(Collected::Ok(Patches {
        manager: "zypper".into(),
        pending_total: count(&pending),
        pending_security,
        pending,
        cache_updated_at: newest_mtime_in(root, "/var/cache/zypp/raw", "/repodata/repomd.xml")
            .or_else(|| newest_mtime_in(root, "/var/cache/zypp/solv", "/solv")),
        last_install_at: root
            .read_optional("/var/log/zypp/history")
            .ok()
            .flatten()
            .and_then(|t| parse_history_last_install(&t)),
        reboot_required,
        // libzypp touches /run/reboot-needed when it installs such a package.
        reboot_required_since: reboot_required
            .then(|| root.mtime("/run/reboot-needed").ok())
            .flatten(),
        ..Default::default()
    }))
}

/// `<update kind="package" name=… edition=… edition-old=…>` elements with
/// their `<source alias=…/>`.
pub(crate) fn parse_list_updates(xml: &str) -> Vec<PendingUpdate> {
    elements(xml, "update")
        .filter(|(attrs, _)| attr(attrs, "kind").is_none_or(|k| k == "package"))
        .filter_map(|(attrs, body)| {
            Some(PendingUpdate {
                name: attr(attrs, "name")?,
                installed_version: attr(attrs, "edition-old"),
                candidate_version: attr(attrs, "edition"),
                security: false,
                source: elements(body, "source")
                    .next()
                    .and_then(|(a, _)| attr(a, "alias")),
            })
        })
        .collect()
}

/// Patches of `list-patches` that are still needed (status needed or not given).
pub(crate) fn count_needed_patches(xml: &str) -> u32 {
    let n = elements(xml, "update")
        .filter(|(attrs, _)| attr(attrs, "kind").is_none_or(|k| k == "patch"))
        .filter(|(attrs, _)| attr(attrs, "status").is_none_or(|s| s == "needed"))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Iterates `<tag attrs…>body</tag>` (or `<tag attrs…/>`) without nesting of the same tag.
fn elements<'a>(xml: &'a str, tag: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = xml;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(&open)?;
            let after = &rest[start + open.len()..];
            // `<update-list>` also starts with `<update`.
            if !after.starts_with([' ', '\t', '\n', '\r', '/', '>']) {
                rest = after;
                continue;
            }
            let end = after.find('>')?;
            let attrs = &after[..end];
            let after_tag = &after[end + 1..];
            if let Some(attrs) = attrs.strip_suffix('/') {
                rest = after_tag;
                return Some((attrs, ""));
            }
            let body_end = after_tag.find(&close).unwrap_or(after_tag.len());
            let body = &after_tag[..body_end];
            rest = &after_tag[body_end..];
            return Some((attrs, body));
        }
    })
}

/// Value of `name="…"` (or single-quoted) in an attribute list, unescaped.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        let i = rest.find(name)?;
        let before_ok = i == 0 || rest[..i].ends_with([' ', '\t', '\n', '\r']);
        let after = &rest[i + name.len()..];
        let after_eq = after.trim_start().strip_prefix('=').map(str::trim_start);
        if let (true, Some(v)) = (before_ok, after_eq) {
            let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let v = &v[1..];
            let end = v.find(quote)?;
            return Some(unescape(&v[..end]));
        }
        rest = after;
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Last `install` in `/var/log/zypp/history` (`2024-06-01 10:11:12|install|…`),
/// local time read as UTC.
pub(crate) fn parse_history_last_install(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('|');
            let when = cols.next()?;
            (cols.next()? == "install").then(|| parse_datetime(when))?
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UPDATES: &str = r#"<?xml version='1.0'?>
<stream>
<message type="info">Loading repository data...</message>
<update-status version="0.6">
<update-list>
<update kind="package" name="libopenssl3" edition="3.1.4-150600.5.15.1" arch="x86_64" edition-old="3.1.4-150600.5.10.1" >
<summary>Secure Sockets &amp; Transport Layer Security</summary>
<source url="http://download.opensuse.org/update/leap/15.6/sle" alias="repo-sle-update"/>
</update>
<update kind="package" name="vim" edition="9.1.0330-150500.20.12.1" arch="x86_64" edition-old="9.1.0111-150500.20.9.1" >
<source url="http://x" alias="repo-update"/>
</update>
</update-list>
</update-status>
</stream>
"#;

    #[test]
    fn list_updates_xml() {
        let p = parse_list_updates(UPDATES);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "libopenssl3");
        assert_eq!(
            p[0].installed_version.as_deref(),
            Some("3.1.4-150600.5.10.1")
        );
        assert_eq!(
            p[0].candidate_version.as_deref(),
            Some("3.1.4-150600.5.15.1")
        );
        assert_eq!(p[0].source.as_deref(), Some("repo-sle-update"));
        assert_eq!(p[1].source.as_deref(), Some("repo-update"));
    }

    #[test]
    fn needed_security_patches() {
        let xml = r#"<stream><update-status version="0.6"><update-list>
<update kind="patch" name="openSUSE-SLE-15.6-2024-3241" edition="1" arch="noarch" status="needed" category="security" severity="important"><summary>x</summary></update>
<update kind="patch" name="openSUSE-SLE-15.6-2024-3000" edition="1" arch="noarch" status="applied" category="security"/>
</update-list></update-status></stream>"#;
        assert_eq!(count_needed_patches(xml), 1);
        assert_eq!(count_needed_patches(""), 0);
    }

    #[test]
    fn history() {
        let h = "# 2024-06-01 10:11:00 openssl-3.rpm installed ok\n\
                 2024-06-01 10:11:12|install|openssl-3|3.1.4-150600.5.15.1|x86_64|root@leap|repo-sle-update|abc|\n\
                 2024-06-01 10:12:00|command|root@leap|'zypper' 'up'|\n";
        assert_eq!(parse_history_last_install(h), Some(1_717_236_672));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_list_updates(&s);
            let _ = parse_list_updates(&format!("<update {s}"));
            let _ = count_needed_patches(&s);
            let _ = parse_history_last_install(&s);
        }
    }
}
