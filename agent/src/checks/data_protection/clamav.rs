//! ClamAV, the antivirus Linux machines have: the age of the signature
//! databases freshclam keeps, and whether on-access scanning (`clamonacc`)
//! runs. A host without ClamAV has no antivirus to report (not applicable).
//!
//! Every `.cvd`/`.cld` database starts with a 512-byte text header,
//! `ClamAV-VDB:<build time>:<version>:<signatures>:<functionality level>:<md5>:<digital signature>:<builder>:<build time, Unix seconds>`
//! (libclamav's `cl_cvdparse`); freshclam rewrites it whenever it applies
//! an update, so the newest build time is when the signatures were last
//! updated.

use fleetwatch_protocol::Antivirus;

use crate::host::{HostError, SysRoot};

/// freshclam's configuration: Debian/Ubuntu, then Fedora/RHEL/SUSE/Arch.
const FRESHCLAM_CONFS: [&str; 2] = ["/etc/clamav/freshclam.conf", "/etc/freshclam.conf"];
/// freshclam's default `DatabaseDirectory`.
const DEFAULT_DATABASE_DIR: &str = "/var/lib/clamav";
/// Programs whose presence means ClamAV is installed.
const CLAMAV_PROGRAMS: [&str; 4] = [
    "/usr/bin/clamscan",
    "/usr/bin/freshclam",
    "/usr/sbin/clamd",
    "/usr/bin/clamdscan",
];
/// Length of a database header.
const HEADER_LEN: usize = 512;

/// The parts of a database header the agent reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseHeader {
    /// Database version (`27480`).
    pub version: u32,
    /// Build time in Unix seconds.
    pub built_at: i64,
}

/// Parses a `.cvd`/`.cld` header; `None` when it is not one.
pub fn parse_header(bytes: &[u8]) -> Option<DatabaseHeader> {
    let head = &bytes[..bytes.len().min(HEADER_LEN)];
    let text = std::str::from_utf8(head).ok()?;
    let fields: Vec<&str> = text.trim_end_matches(['\0', ' ']).split(':').collect();
    if fields.first() != Some(&"ClamAV-VDB") || fields.len() < 9 {
        return None;
    }
    Some(DatabaseHeader {
        version: fields[2].trim().parse().ok()?,
        built_at: fields[8].trim().parse().ok()?,
    })
}

/// `DatabaseDirectory` from a freshclam.conf (last one wins, as in clamav's
/// config parser); `None` when unset.
pub fn parse_database_directory(conf: &str) -> Option<String> {
    conf.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.split_once(char::is_whitespace)?;
            (key == "DatabaseDirectory").then(|| value.trim().trim_matches('"').to_string())
        })
        .next_back()
}

/// ClamAV's state under `root`; `Ok(None)` when ClamAV is not installed.
pub fn read(root: &SysRoot) -> Result<Option<Antivirus>, HostError> {
    let mut dir = DEFAULT_DATABASE_DIR.to_string();
    let mut configured = false;
    for conf in FRESHCLAM_CONFS {
        if let Some(text) = root.read_optional(conf)? {
            configured = true;
            if let Some(d) = parse_database_directory(&text) {
                dir = d;
            }
            break;
        }
    }
    let databases: Vec<String> = root
        .list_dir(&dir)?
        .into_iter()
        .filter(|n| n.ends_with(".cvd") || n.ends_with(".cld"))
        .collect();
    let installed = configured || CLAMAV_PROGRAMS.iter().any(|p| root.exists(p));
    if databases.is_empty() && !installed {
        return Ok(None);
    }
    let mut newest: Option<i64> = None;
    let mut daily_version = None;
    let mut any_version = None;
    for name in &databases {
        let path = format!("{dir}/{name}");
        let Some(header) = parse_header(&root.read_prefix(&path, HEADER_LEN)?) else {
            tracing::debug!(path, "not a ClamAV database header");
            continue;
        };
        newest = newest.max(Some(header.built_at));
        if name.starts_with("daily.") {
            daily_version = Some(header.version);
        }
        any_version = any_version.or(Some(header.version));
    }
    Ok(Some(Antivirus {
        product: "clamav".into(),
        real_time_protection: on_access_scanning(root),
        signatures_updated_at: newest,
        // The daily database's version is the one `clamscan --version` shows.
        signature_version: daily_version.or(any_version).map(|v| v.to_string()),
    }))
}

/// Whether `clamonacc` (ClamAV's on-access scanner) runs; `None` when the
/// process table cannot be read.
fn on_access_scanning(root: &SysRoot) -> Option<bool> {
    let pids = root.list_dir("/proc").ok()?;
    let mut any = false;
    for pid in pids
        .iter()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        any = true;
        if root.read_value(&format!("/proc/{pid}/comm")).as_deref() == Some("clamonacc") {
            return Some(true);
        }
    }
    // A /proc without processes is not a process table.
    any.then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> SysRoot {
        SysRoot::new(format!(
            "{}/../tests/hosts/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    #[test]
    fn a_header_built_by_sigtool_parses() {
        let root = host("ubuntu2404-compliant");
        let bytes = root.read_prefix("/var/lib/clamav/daily.cld", 512).unwrap();
        assert_eq!(
            parse_header(&bytes),
            Some(DatabaseHeader {
                version: 27480,
                built_at: 1_795_316_400
            })
        );
    }

    #[test]
    fn other_files_are_not_headers() {
        assert_eq!(parse_header(b""), None);
        assert_eq!(parse_header(b"\x1f\x8b\x08\x00 gzip"), None);
        assert_eq!(
            parse_header(b"ClamAV-VDB:02 Dec 2026 06-12 +0000:27480:2"),
            None
        );
        assert_eq!(
            parse_header(b"ClamAV-VDB:t:x:2:216:md5:X:b:1796191962"),
            None,
            "a version that is no number"
        );
    }

    #[test]
    fn database_directory_from_freshclam_conf() {
        let conf = "# DatabaseDirectory /nope\nLogSyslog false\nDatabaseDirectory /srv/clamav\n";
        assert_eq!(
            parse_database_directory(conf).as_deref(),
            Some("/srv/clamav")
        );
        assert_eq!(parse_database_directory("Foreground false\n"), None);
    }

    #[test]
    fn fresh_databases_and_on_access_scanning() {
        let av = read(&host("ubuntu2404-compliant")).unwrap().unwrap();
        assert_eq!(av.product, "clamav");
        // daily.cld is newer than main.cvd.
        assert_eq!(av.signatures_updated_at, Some(1_795_316_400));
        assert_eq!(av.signature_version.as_deref(), Some("27480"));
        assert_eq!(av.real_time_protection, Some(true));
    }

    #[test]
    fn stale_databases_without_on_access_scanning() {
        let av = read(&host("ubuntu2404-noncompliant")).unwrap().unwrap();
        assert_eq!(av.signatures_updated_at, Some(1_795_334_400 - 19 * 86_400));
        assert_eq!(av.real_time_protection, Some(false));
    }

    #[test]
    fn no_clamav_is_no_antivirus() {
        assert_eq!(read(&host("debian12-compliant")).unwrap(), None);
    }

    #[test]
    fn installed_without_databases_has_no_signature_time() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("etc/clamav/freshclam.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, "DatabaseDirectory /var/lib/clamav\n").unwrap();
        let av = read(&SysRoot::new(dir.path())).unwrap().unwrap();
        assert_eq!(av.signatures_updated_at, None);
        assert_eq!(av.signature_version, None);
        // No /proc: not known, never "off".
        assert_eq!(av.real_time_protection, None);
    }
}
