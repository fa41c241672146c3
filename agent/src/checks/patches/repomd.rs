//! rpm-md `repomd.xml`, the index of a repository's metadata files, as dnf,
//! yum and zypper cache it: whether the repository publishes advisories.

/// True when `repomd.xml` has a `<data type="updateinfo">` entry.
pub(crate) fn repomd_has_updateinfo(xml: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Repomd {
        #[serde(default)]
        data: Vec<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(rename = "@type")]
        kind: String,
    }
    quick_xml::de::from_str::<Repomd>(xml)
        .map(|r| r.data.iter().any(|d| d.kind == "updateinfo"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updateinfo_entry_or_not() {
        let with = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
<data type="primary"><location href="repodata/p.xml.gz"/></data>
<data type="updateinfo"><location href="repodata/u.xml.gz"/></data></repomd>"#;
        assert!(repomd_has_updateinfo(with));
        assert!(!repomd_has_updateinfo(&with.replace("updateinfo", "other")));
        assert!(!repomd_has_updateinfo("<repomd"));
        assert!(!repomd_has_updateinfo(""));
    }
}
