//! Property lists (XML or binary, as macOS writes them) read through the
//! [`SysRoot`] or from a command's output, with the `plist` crate.

use serde::de::DeserializeOwned;

pub use ::plist::{Date, Value};

use super::CheckError;
use crate::host::{HostError, SysRoot};

/// Parses a property list (XML or binary) into `T`; `what` names the
/// source in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, CheckError> {
    ::plist::from_bytes(bytes).map_err(|e| CheckError::Parse {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// Reads and parses the property list at host `path`; `Ok(None)` when the
/// file does not exist. A file that exists but cannot be read is a
/// [`CheckError::Host`] (permission denied stays recognisable).
pub fn read<T: DeserializeOwned>(root: &SysRoot, path: &str) -> Result<Option<T>, CheckError> {
    match root.read_bytes(path) {
        Ok(bytes) => parse(&bytes, path).map(Some),
        Err(HostError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A property-list date as Unix seconds.
pub fn unix_seconds(date: Date) -> i64 {
    crate::host::unix_seconds(date.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        #[serde(rename = "When")]
        when: Date,
        #[serde(rename = "Name")]
        name: String,
    }

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>Name</key><string>x</string><key>When</key><date>2024-03-01T12:00:00Z</date></dict></plist>"#;

    #[test]
    fn xml_and_binary_plists_parse_and_dates_are_unix_seconds() {
        let doc: Doc = parse(XML.as_bytes(), "t").unwrap();
        assert_eq!(
            (doc.name.as_str(), unix_seconds(doc.when)),
            ("x", 1_709_294_400)
        );
        let value: Value = parse(XML.as_bytes(), "t").unwrap();
        let mut binary = Vec::new();
        value.to_writer_binary(&mut binary).unwrap();
        assert!(binary.starts_with(b"bplist00"));
        let doc: Doc = parse(&binary, "t").unwrap();
        assert_eq!(doc.name, "x");
    }

    #[test]
    fn garbage_is_a_parse_error_naming_the_source() {
        let err = parse::<Doc>(b"not a plist", "/Library/x.plist").unwrap_err();
        assert!(err.to_string().contains("/Library/x.plist"), "{err}");
    }

    #[test]
    fn a_missing_file_is_none_and_an_unreadable_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = SysRoot::new(dir.path());
        assert!(read::<Doc>(&root, "/nope.plist").unwrap().is_none());
    }
}
