//! borg: `list --json` for this host's archives (their recorded host name,
//! optionally a name glob), `info --json` of the newest for its size; the
//! passphrase comes through `BORG_PASSCOMMAND`.

use serde::Deserialize;

use super::{BackupJobConfig, JobContext, JobError, JobFacts};
use crate::checks::patches::timestamp::parse_datetime;

/// Environment borg needs to run unattended.
pub(super) fn env(job: &BackupJobConfig) -> Vec<(String, String)> {
    let mut env = vec![
        // The agent is not the user who made the repository: answer borg's
        // interactive "are you sure" questions, never prompt.
        (
            "BORG_RELOCATED_REPO_ACCESS_IS_OK".to_string(),
            "yes".to_string(),
        ),
        (
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".to_string(),
            "yes".to_string(),
        ),
        // borg 1.x prints archive times in local time without an offset.
        ("TZ".to_string(), "UTC".to_string()),
    ];
    if let Some(pw) = job.password_file.as_ref().and_then(|p| p.to_str()) {
        // borg splits the command shell-style; quote the path.
        let quoted = format!("'{}'", pw.replace('\'', r"'\''"));
        env.push(("BORG_PASSCOMMAND".to_string(), format!("cat {quoted}")));
    }
    if let Some(cache) = &job.cache_dir {
        // Under ProtectHome the default ~/.cache/borg and
        // ~/.config/borg/security are read-only, and borg refuses to start.
        for (key, dir) in [
            ("BORG_CACHE_DIR", "borg"),
            ("BORG_SECURITY_DIR", "borg-security"),
        ] {
            env.push((
                key.to_string(),
                cache.join(dir).to_string_lossy().into_owned(),
            ));
        }
    }
    env
}

pub(super) fn collect(job: &BackupJobConfig, jc: &JobContext<'_>) -> Result<JobFacts, JobError> {
    let repo = job
        .repository
        .as_deref()
        .ok_or_else(|| JobError::Config("borg job needs `repository`".into()))?;
    let host = jc.snapshot_host(job)?;
    let glob = job
        .archive_glob
        .as_ref()
        .map(|g| g.replace("{hostname}", jc.hostname));
    let filter = ArchiveFilter {
        host: host.map(str::to_string),
        glob: glob.clone(),
    };
    // --bypass-lock: a backup running right now holds the lock; reading the
    // manifest without it is safe and does not make the check wait.
    // `--format {hostname}` adds each archive's host to the JSON (borg 1.1+).
    let mut args = vec!["list", "--json", "--bypass-lock", "--format", "{hostname}"];
    if let Some(g) = &glob {
        // borg 1.x's name (1.1, 1.2, 1.4); borg 2 calls it --match-archives.
        args.extend(["--glob-archives", g.as_str()]);
    }
    args.push(repo);
    let out = jc.run_ok("borg list", "borg", &args)?;
    let listing = parse_list(&out.stdout_text(), &filter)?;
    let mut facts = JobFacts::from_snapshots(listing.count, listing.latest);
    if let Some(name) = &listing.newest {
        let archive = format!("{repo}::{name}");
        let args = ["info", "--json", "--bypass-lock", archive.as_str()];
        match jc.run_ok("borg info", "borg", &args) {
            Ok(o) => facts.size_bytes = parse_info_size(&o.stdout_text()),
            Err(e) => facts.warning = Some(format!("size unknown: {e}")),
        }
    }
    Ok(facts)
}

/// Which archives belong to the job: made on `host` (borg records it in
/// each archive) and named to match `glob`. borg applies the glob itself;
/// both are checked again on its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ArchiveFilter {
    /// Only archives made on this host (`None`: every host's).
    pub(crate) host: Option<String>,
    /// Only archives whose name matches this glob.
    pub(crate) glob: Option<String>,
}

impl ArchiveFilter {
    fn matches(&self, a: &Archive) -> bool {
        self.host
            .as_ref()
            .is_none_or(|h| a.hostname.as_deref() == Some(h.as_str()))
            && self
                .glob
                .as_ref()
                .is_none_or(|g| glob_matches(g, a.name.as_deref().unwrap_or("")))
    }
}

/// Shell-style `*` and `?` matching; a pattern with other wildcards
/// (`[...]`) is left to borg, which applied it already.
fn glob_matches(pattern: &str, name: &str) -> bool {
    if pattern.contains(['[', ']', '\\']) {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard match with one backtrack point.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Deserialize)]
struct Archive {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    start: Option<String>,
}

/// The job's archives in `borg list --json`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    /// How many match the filter.
    pub(crate) count: u64,
    /// The newest one's time.
    pub(crate) latest: Option<i64>,
    /// The newest one's name (for `borg info`).
    pub(crate) newest: Option<String>,
}

/// The archives of `borg list --json` that pass `filter`.
pub(crate) fn parse_list(json: &str, filter: &ArchiveFilter) -> Result<Listing, JobError> {
    #[derive(Deserialize)]
    struct List {
        archives: Vec<Archive>,
    }
    let list: List = serde_json::from_str(json.trim()).map_err(|e| JobError::Parse {
        command: "borg list".into(),
        detail: e.to_string(),
    })?;
    let mine: Vec<&Archive> = list.archives.iter().filter(|a| filter.matches(a)).collect();
    let newest = mine
        .iter()
        .filter_map(|a| {
            let t = a.time.as_deref().or(a.start.as_deref())?;
            Some((parse_datetime(t)?, a))
        })
        .max_by_key(|(t, _)| *t);
    Ok(Listing {
        count: mine.len() as u64,
        latest: newest.map(|(t, _)| t),
        newest: newest.and_then(|(_, a)| a.name.clone()),
    })
}

/// `original_size` of the archive in `borg info --json --last 1`.
pub(crate) fn parse_info_size(json: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Info {
        archives: Vec<InfoArchive>,
    }
    #[derive(Deserialize)]
    struct InfoArchive {
        stats: Stats,
    }
    #[derive(Deserialize)]
    struct Stats {
        original_size: u64,
    }
    let info: Info = serde_json::from_str(json.trim()).ok()?;
    info.archives.last().map(|a| a.stats.original_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any() -> ArchiveFilter {
        ArchiveFilter::default()
    }

    #[test]
    fn list_and_info() {
        let list = r#"{"archives":[{"archive":"h-2024-06-01","barchive":"h-2024-06-01","id":"ab","name":"h-2024-06-01","start":"2024-06-01T09:59:50.000000","time":"2024-06-01T10:00:00.000000"},
            {"archive":"h-2024-05-31","id":"cd","name":"h-2024-05-31","start":"2024-05-31T10:00:00.000000","time":"2024-05-31T10:00:00.000000"}],
            "encryption":{"mode":"repokey"},"repository":{"id":"x","last_modified":"2024-06-01T10:00:01.000000","location":"/srv/borg"}}"#;
        let l = parse_list(list, &any()).unwrap();
        assert_eq!((l.count, l.latest), (2, Some(1_717_236_000)));
        assert_eq!(l.newest.as_deref(), Some("h-2024-06-01"));
        assert_eq!(
            parse_list(r#"{"archives":[]}"#, &any()).unwrap(),
            Listing::default()
        );
        let info = r#"{"archives":[{"name":"a","stats":{"compressed_size":10,"deduplicated_size":5,"nfiles":3,"original_size":2048}}]}"#;
        assert_eq!(parse_info_size(info), Some(2048));
    }

    /// In the shape of borg 1.2.4's `list --json --format {hostname}` (the
    /// live test runs the real borg): two hosts share the repository.
    const SHARED: &str = r#"{"archives":[
        {"archive":"ws-1-2026-12-03","hostname":"ws-1","id":"a1","name":"ws-1-2026-12-03","start":"2026-12-03T07:20:00.000000","time":"2026-12-03T07:20:01.000000"},
        {"archive":"other-2026-12-03","hostname":"other","id":"b2","name":"other-2026-12-03","start":"2026-12-03T07:25:00.000000","time":"2026-12-03T07:25:09.000000"},
        {"archive":"ws-1-lookalike","hostname":"other","id":"c3","name":"ws-1-lookalike","start":"2026-12-03T07:26:00.000000","time":"2026-12-03T07:26:00.000000"}]}"#;

    #[test]
    fn another_hosts_fresher_archive_never_counts() {
        let mine = ArchiveFilter {
            host: Some("ws-1".into()),
            glob: None,
        };
        let l = parse_list(SHARED, &mine).unwrap();
        assert_eq!((l.count, l.latest), (1, Some(1_796_282_401)));
        assert_eq!(l.newest.as_deref(), Some("ws-1-2026-12-03"));
        // A name glob alone cannot tell the other host's look-alike apart.
        let by_name = ArchiveFilter {
            host: None,
            glob: Some("ws-1-*".into()),
        };
        assert_eq!(parse_list(SHARED, &by_name).unwrap().count, 2);
        let both = ArchiveFilter {
            host: Some("ws-1".into()),
            glob: Some("ws-1-2026-*".into()),
        };
        assert_eq!(parse_list(SHARED, &both).unwrap().count, 1);
        // An archive without a recorded host is nobody's.
        let bare = r#"{"archives":[{"name":"x","time":"2026-12-03T07:20:01.000000"}]}"#;
        assert_eq!(parse_list(bare, &mine).unwrap().count, 0);
    }

    #[test]
    fn glob_matching() {
        assert!(glob_matches("ws-1-*", "ws-1-2026"));
        assert!(glob_matches("*-2026-??", "a-2026-12"));
        assert!(!glob_matches("ws-1-*", "ws-10"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXbYbZc"));
        assert!(!glob_matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn passcommand_quotes_the_path() {
        let mut job = BackupJobConfig::new("b", super::super::BackupKind::Borg);
        job.repository = Some("/r".into());
        job.password_file = Some("/etc/it's/pw".into());
        job.cache_dir = Some("/var/cache/fleetwatch-agent".into());
        let env = env(&job);
        assert!(env.contains(&("BORG_PASSCOMMAND".into(), r"cat '/etc/it'\''s/pw'".into())));
        assert!(env.contains(&(
            "BORG_SECURITY_DIR".into(),
            "/var/cache/fleetwatch-agent/borg-security".into()
        )));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_list(&s, &any());
            let _ = glob_matches(&s, &s);
            let _ = parse_info_size(&s);
        }
    }
}
