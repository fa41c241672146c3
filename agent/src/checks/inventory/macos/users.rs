//! Local accounts from the directory service:
//! `dscl -plist . -readall /Users RecordName UniqueID PrimaryGroupID NFSHomeDirectory UserShell`.
//! Only these public attributes are asked for, so no password data
//! (`ShadowHashData`, `AuthenticationAuthority`) ever reaches the agent.

use std::collections::HashMap;

use fleetwatch_protocol::LocalUser;

use crate::checks::inventory::passwd::is_login_shell;

/// The `dscl` arguments (after the program name).
pub const DSCL_ARGS: &[&str] = &[
    "-plist",
    ".",
    "-readall",
    "/Users",
    "RecordName",
    "UniqueID",
    "PrimaryGroupID",
    "NFSHomeDirectory",
    "UserShell",
];

/// One record: attribute name → values (`dsAttrTypeStandard:UniqueID` → `["501"]`).
type Record = HashMap<String, Vec<String>>;

/// Accounts from the parsed `dscl -plist` array; records without a name
/// or a numeric uid are skipped. Human accounts are uid 0 and uids from
/// 501 up (macOS creates users from 501; system accounts are `_name`s below 500).
pub fn users_from_records(records: Vec<Record>) -> Vec<LocalUser> {
    let first = |r: &Record, key: &str| {
        r.get(&format!("dsAttrTypeStandard:{key}"))
            .and_then(|v| v.first())
            .cloned()
    };
    let mut users: Vec<LocalUser> = records
        .iter()
        .filter_map(|r| {
            let name = first(r, "RecordName")?;
            // uids are signed in the directory (nobody is -2): keep them in u32 space.
            let uid = first(r, "UniqueID")?.parse::<i64>().ok()?;
            let uid = u32::try_from(uid).unwrap_or(u32::MAX);
            let gid = first(r, "PrimaryGroupID")
                .and_then(|g| g.parse::<i64>().ok())
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or(0);
            let shell = first(r, "UserShell").unwrap_or_default();
            let human = uid == 0 || ((501..u32::MAX).contains(&uid) && !name.starts_with('_'));
            Some(LocalUser {
                interactive: human && is_login_shell(&shell),
                name,
                uid,
                gid,
                home: first(r, "NFSHomeDirectory").unwrap_or_default(),
                shell,
            })
        })
        .collect();
    users.sort_by(|a, b| a.uid.cmp(&b.uid).then_with(|| a.name.cmp(&b.name)));
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs
            .iter()
            .map(|(k, v)| (format!("dsAttrTypeStandard:{k}"), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn system_accounts_are_not_interactive() {
        let users = users_from_records(vec![
            record(&[
                ("RecordName", "alice"),
                ("UniqueID", "501"),
                ("UserShell", "/bin/zsh"),
            ]),
            record(&[
                ("RecordName", "_spotlight"),
                ("UniqueID", "89"),
                ("UserShell", "/usr/bin/false"),
            ]),
            record(&[
                ("RecordName", "nobody"),
                ("UniqueID", "-2"),
                ("UserShell", "/usr/bin/false"),
            ]),
            record(&[
                ("RecordName", "root"),
                ("UniqueID", "0"),
                ("UserShell", "/bin/sh"),
            ]),
            record(&[("RecordName", "nouid")]),
        ]);
        let names: Vec<_> = users
            .iter()
            .map(|u| (u.name.as_str(), u.interactive))
            .collect();
        assert_eq!(
            names,
            [
                ("root", true),
                ("_spotlight", false),
                ("alice", true),
                ("nobody", false)
            ]
        );
    }

    #[test]
    fn the_argument_list_asks_for_public_attributes_only() {
        let args = DSCL_ARGS;
        assert!(
            !args
                .iter()
                .any(|a| a.contains("Shadow") || a.contains("Authentication"))
        );
        assert_eq!(args[..4], ["-plist", ".", "-readall", "/Users"]);
    }
}
