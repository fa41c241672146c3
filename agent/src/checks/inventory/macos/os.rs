//! macOS version: `sw_vers`, else `/System/Library/CoreServices/SystemVersion.plist`
//! (the file `sw_vers` itself reads; it misses a Rapid Security Response's
//! "(a)" suffix, which only `sw_vers` reports).

use fleetwatch_protocol::{OsFamily, OsInfo};

/// What `sw_vers` and SystemVersion.plist say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwVers {
    /// `ProductName` (`macOS`, `Mac OS X` on old releases).
    pub product_name: Option<String>,
    /// `ProductVersion` (`14.4.1`).
    pub product_version: Option<String>,
    /// `ProductVersionExtra`, a Rapid Security Response suffix (`(a)`).
    pub product_version_extra: Option<String>,
    /// `BuildVersion` (`23E224`).
    pub build_version: Option<String>,
}

/// Parses `sw_vers` output: `Key:<tabs>value` lines.
pub fn parse_sw_vers(text: &str) -> SwVers {
    let mut v = SwVers::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match key.trim() {
            "ProductName" => &mut v.product_name,
            "ProductVersion" => &mut v.product_version,
            "ProductVersionExtra" => &mut v.product_version_extra,
            "BuildVersion" => &mut v.build_version,
            _ => continue,
        };
        *slot = Some(value.to_string());
    }
    v
}

/// The keys of SystemVersion.plist that matter here.
#[derive(Debug, serde::Deserialize)]
pub struct SystemVersionPlist {
    #[serde(rename = "ProductName")]
    product_name: Option<String>,
    #[serde(rename = "ProductVersion")]
    product_version: Option<String>,
    #[serde(rename = "ProductBuildVersion")]
    product_build_version: Option<String>,
}

impl From<SystemVersionPlist> for SwVers {
    fn from(p: SystemVersionPlist) -> Self {
        SwVers {
            product_name: p.product_name,
            product_version: p.product_version,
            product_version_extra: None,
            build_version: p.product_build_version,
        }
    }
}

/// The marketing name of a macOS major release, as Apple names them.
fn release_name(major: u32) -> Option<&'static str> {
    Some(match major {
        11 => "Big Sur",
        12 => "Monterey",
        13 => "Ventura",
        14 => "Sonoma",
        15 => "Sequoia",
        26 => "Tahoe",
        _ => return None,
    })
}

/// The OS identity of a Mac: `id = "macos"`, the version, the build, and a
/// Rapid Security Response suffix in `display_version` (`13.3.1 (a)`).
pub fn os_info(v: &SwVers) -> OsInfo {
    let major = v
        .product_version
        .as_deref()
        .and_then(|ver| ver.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    let release = major.and_then(release_name);
    let version_with_extra = v
        .product_version
        .as_ref()
        .map(|ver| match &v.product_version_extra {
            Some(extra) => format!("{ver} {extra}"),
            None => ver.clone(),
        });
    let name = v.product_name.clone().unwrap_or_else(|| "macOS".into());
    let pretty_name = version_with_extra.as_ref().map(|ver| match release {
        Some(r) => format!("{name} {r} {ver}"),
        None => format!("{name} {ver}"),
    });
    OsInfo {
        family: Some(OsFamily::Macos),
        id: "macos".into(),
        name: Some(name),
        version_id: v.product_version.clone(),
        version_codename: release.map(|r| r.to_ascii_lowercase().replace(' ', "_")),
        pretty_name,
        build: v.build_version.clone(),
        display_version: v
            .product_version_extra
            .is_some()
            .then_some(version_with_extra)
            .flatten(),
        ..OsInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sw_vers_with_a_rapid_security_response() {
        let v = parse_sw_vers(
            "ProductName:\t\tmacOS\nProductVersion:\t\t13.3.1\nProductVersionExtra:\t(a)\nBuildVersion:\t\t22E772610a\n",
        );
        let os = os_info(&v);
        assert_eq!(os.family, Some(OsFamily::Macos));
        assert_eq!(os.id, "macos");
        assert_eq!(os.version_id.as_deref(), Some("13.3.1"));
        assert_eq!(os.display_version.as_deref(), Some("13.3.1 (a)"));
        assert_eq!(os.build.as_deref(), Some("22E772610a"));
        assert_eq!(os.version_codename.as_deref(), Some("ventura"));
        assert_eq!(os.pretty_name.as_deref(), Some("macOS Ventura 13.3.1 (a)"));
    }

    #[test]
    fn an_unknown_release_keeps_its_number_and_nothing_is_invented() {
        let os = os_info(&parse_sw_vers("ProductName: macOS\nProductVersion: 99.1\n"));
        assert_eq!(os.pretty_name.as_deref(), Some("macOS 99.1"));
        assert_eq!(os.version_codename, None);
        assert_eq!(os.build, None);
        assert_eq!(os.display_version, None);
        let os = os_info(&SwVers::default());
        assert_eq!((os.version_id, os.pretty_name), (None, None));
    }
}
