//! Installed software from the registry's Uninstall keys (what "Apps &
//! features" lists): both machine views and per-user installs.

use std::collections::BTreeSet;

use fleetwatch_protocol::{Package, Packages};

use super::host::{UninstallEntry, UninstallView};
use super::values::yyyymmdd;
use crate::checks::package_hash::packages_hash;

/// `Packages::manager` for the Uninstall keys.
pub const UNINSTALL_MANAGER: &str = "windows_uninstall";

/// The packages an Uninstall listing describes, sorted and de-duplicated.
///
/// Entries without `DisplayName`, system components (`SystemComponent=1`)
/// and updates of another product (`ParentKeyName`, `ReleaseType` of an
/// update) are left out, as "Apps & features" leaves them out.
pub fn packages_from_uninstall(entries: &[UninstallEntry]) -> Vec<Package> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<Package> = entries
        .iter()
        .filter_map(package_of)
        .filter(|p| seen.insert((p.name.clone(), p.version.clone(), p.arch.clone())))
        .collect();
    out.sort();
    out
}

/// The `Packages` section for an Uninstall listing, with its hash.
pub fn packages_section(entries: &[UninstallEntry]) -> Packages {
    let items = packages_from_uninstall(entries);
    Packages {
        manager: UNINSTALL_MANAGER.into(),
        count: u32::try_from(items.len()).unwrap_or(u32::MAX),
        hash: packages_hash(&items),
        items: Some(items),
    }
}

fn package_of(entry: &UninstallEntry) -> Option<Package> {
    let value = |name: &str| {
        entry
            .values
            .get(name)
            .map(|v| v.text().trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let name = value("DisplayName")?;
    if entry.values.get("SystemComponent").and_then(|v| v.number()) == Some(1)
        || value("ParentKeyName").is_some()
        || value("ReleaseType").is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("update") || t == "hotfix"
        })
    {
        return None;
    }
    Some(Package {
        name,
        version: value("DisplayVersion").unwrap_or_default(),
        arch: match entry.view {
            UninstallView::Machine64 => Some("x64".into()),
            UninstallView::Machine32 => Some("x86".into()),
            UninstallView::User => None,
        },
        publisher: value("Publisher"),
        identifier: Some(entry.key.clone()),
        installed_at: value("InstallDate").and_then(|d| yyyymmdd(&d)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::host::RegValue;

    fn entry(key: &str, view: UninstallView, values: &[(&str, RegValue)]) -> UninstallEntry {
        UninstallEntry {
            key: key.into(),
            view,
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn text(s: &str) -> RegValue {
        RegValue::Text(s.into())
    }

    #[test]
    fn apps_and_features_rules() {
        let entries = vec![
            entry(
                "{23170F69-40C1-2702-2301-000001000000}",
                UninstallView::Machine64,
                &[
                    ("DisplayName", text("7-Zip 23.01 (x64 edition)")),
                    ("DisplayVersion", text("23.01.00.0")),
                    ("Publisher", text("Igor Pavlov")),
                    ("InstallDate", text("20240115")),
                ],
            ),
            entry(
                "Mozilla Firefox 121.0 (x86 en-US)",
                UninstallView::Machine32,
                &[
                    ("DisplayName", text("Mozilla Firefox (x86 en-US)")),
                    ("DisplayVersion", text("121.0")),
                ],
            ),
            entry(
                "Teams",
                UninstallView::User,
                &[("DisplayName", text("Microsoft Teams classic"))],
            ),
            // Left out: no name, a system component, an update of another product.
            entry("AddressBook", UninstallView::Machine64, &[]),
            entry(
                "Connection Manager",
                UninstallView::Machine64,
                &[
                    ("DisplayName", text("Connection Manager")),
                    ("SystemComponent", RegValue::Number(1)),
                ],
            ),
            entry(
                "KB5032007",
                UninstallView::Machine64,
                &[
                    ("DisplayName", text("Update for Office")),
                    ("ParentKeyName", text("Office16.PROPLUS")),
                ],
            ),
            // The same product listed twice in one view counts once.
            entry(
                "7zip-dup",
                UninstallView::Machine64,
                &[
                    ("DisplayName", text("7-Zip 23.01 (x64 edition)")),
                    ("DisplayVersion", text("23.01.00.0")),
                ],
            ),
        ];
        let packages = packages_from_uninstall(&entries);
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "7-Zip 23.01 (x64 edition)",
                "Microsoft Teams classic",
                "Mozilla Firefox (x86 en-US)"
            ]
        );
        let zip = &packages[0];
        assert_eq!(zip.arch.as_deref(), Some("x64"));
        assert_eq!(zip.publisher.as_deref(), Some("Igor Pavlov"));
        assert_eq!(zip.installed_at, Some(1_705_276_800));
        assert_eq!(
            zip.identifier.as_deref(),
            Some("{23170F69-40C1-2702-2301-000001000000}")
        );
        assert_eq!(packages[1].arch, None);
        assert_eq!(packages[1].version, "");
        assert_eq!(packages[2].arch.as_deref(), Some("x86"));

        let section = packages_section(&entries);
        assert_eq!(section.count, 3);
        assert_eq!(section.hash, packages_hash(&packages));
        // A version change changes the hash the collector compares.
        let mut newer = entries.clone();
        newer[1]
            .values
            .insert("DisplayVersion".into(), text("122.0"));
        assert_ne!(packages_section(&newer).hash, section.hash);
    }
}
