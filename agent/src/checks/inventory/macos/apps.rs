//! Installed applications: every `/Applications/*.app` bundle (and those one
//! folder down, as suites such as `/Applications/Utilities/*.app` install
//! them), read from its `Contents/Info.plist`.

use fleetwatch_protocol::Package;
use serde::Deserialize;

use crate::checks::{CheckError, plist};
use crate::host::SysRoot;

/// Where applications live.
pub const APPLICATIONS: &str = "/Applications";

#[derive(Debug, Deserialize)]
struct InfoPlist {
    #[serde(rename = "CFBundleDisplayName")]
    display_name: Option<String>,
    #[serde(rename = "CFBundleName")]
    bundle_name: Option<String>,
    #[serde(rename = "CFBundleShortVersionString")]
    short_version: Option<String>,
    #[serde(rename = "CFBundleVersion")]
    bundle_version: Option<String>,
    #[serde(rename = "CFBundleIdentifier")]
    identifier: Option<String>,
}

/// The package entry of one bundle's Info.plist; `dir_name` (`Safari.app`)
/// names it when the plist does not.
fn package(info: InfoPlist, dir_name: &str) -> Package {
    let non_empty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Package {
        name: non_empty(info.display_name)
            .or(non_empty(info.bundle_name))
            .unwrap_or_else(|| dir_name.trim_end_matches(".app").to_string()),
        version: non_empty(info.short_version)
            .or(non_empty(info.bundle_version))
            .unwrap_or_default(),
        identifier: non_empty(info.identifier),
        ..Package::default()
    }
}

/// Every application bundle under `/Applications`, sorted. A bundle whose
/// Info.plist is missing or unreadable is skipped (logged): one damaged app
/// must not hide the others.
pub fn read_applications(root: &SysRoot) -> Result<Vec<Package>, CheckError> {
    let mut bundles = Vec::new();
    for entry in root.list_dir(APPLICATIONS)? {
        let path = format!("{APPLICATIONS}/{entry}");
        if entry.ends_with(".app") {
            bundles.push((path, entry));
        } else if !entry.starts_with('.') {
            for inner in root.list_dir(&path).unwrap_or_default() {
                if inner.ends_with(".app") {
                    bundles.push((format!("{path}/{inner}"), inner));
                }
            }
        }
    }
    let mut packages = Vec::new();
    for (path, dir_name) in bundles {
        let info_path = format!("{path}/Contents/Info.plist");
        match plist::read::<InfoPlist>(root, &info_path) {
            Ok(Some(info)) => packages.push(package(info, &dir_name)),
            Ok(None) => tracing::debug!(bundle = %path, "application without Info.plist"),
            Err(e) => tracing::debug!(bundle = %path, error = %e, "skipping unreadable bundle"),
        }
    }
    packages.sort();
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_fall_back_in_order() {
        let info = InfoPlist {
            display_name: Some(" ".into()),
            bundle_name: None,
            short_version: None,
            bundle_version: Some("1234".into()),
            identifier: Some("com.example.tool".into()),
        };
        let p = package(info, "Tool.app");
        assert_eq!((p.name.as_str(), p.version.as_str()), ("Tool", "1234"));
        assert_eq!(p.identifier.as_deref(), Some("com.example.tool"));
        assert_eq!(p.arch, None);
    }
}
