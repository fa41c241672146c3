//! Hot reload of the collector config's policy.
//!
//! [`PolicyHandle`] is what the hot path reads (`current()` is one read lock
//! and an `Arc` clone). [`PolicyWatcher`] watches the file's *parent
//! directory*, because editors and config managers replace files (write a
//! temp file, rename it over) and a watch on the old inode would go deaf.
//! Events are debounced (~300 ms), the file is re-read, and:
//! - unchanged content: nothing happens;
//! - a valid policy: it takes effect at once, `info!` log, reload counter +1;
//! - an invalid one: refused with an `error!` log naming the key and line,
//!   the last good policy stays in force, error counter +1, `last_error` set.
//!
//! The rest of the file (the collector's `[alerts]`) is reloaded together
//! with the policy through a companion ([`PolicyWatcher::start`]): both are
//! validated before either is applied, so a file with one bad section keeps
//! both old ones.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::unix_now;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{error, info, warn};

use super::config::{Policy, PolicyError};

/// Default quiet time after the last file event before re-reading.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(300);

/// Reads and validates the `[policy]` of the collector config at `path`.
fn parse_policy(path: &Path, text: &str) -> Result<Policy, PolicyError> {
    Policy::from_collector_config_str(text, &path.display().to_string())
}

/// Reload outcomes, for the collector's self-metrics.
#[derive(Debug, Default)]
pub struct ReloadStats {
    reloads: AtomicU64,
    errors: AtomicU64,
    last_success: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl ReloadStats {
    /// Policy changes applied since start.
    pub fn reloads_total(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Policy changes refused since start.
    pub fn reload_errors_total(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Unix time of the last applied change (0 = none since start).
    pub fn last_success_timestamp(&self) -> i64 {
        self.last_success.load(Ordering::Relaxed)
    }

    /// Why the file on disk is refused right now; `None` once a valid
    /// version is applied again.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set_error(&self, e: Option<String>) {
        match self.last_error.lock() {
            Ok(mut g) => *g = e,
            Err(p) => *p.into_inner() = e,
        }
    }
}

/// The policy in force, shared by everything that evaluates. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<RwLock<Arc<Policy>>>,
    stats: Arc<ReloadStats>,
}

impl PolicyHandle {
    /// A handle holding `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyHandle {
            current: Arc::new(RwLock::new(Arc::new(policy))),
            stats: Arc::default(),
        }
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        // A poisoned lock still holds a valid Arc: a panic elsewhere must not
        // stop evaluation.
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Puts `policy` in force.
    pub fn replace(&self, policy: Policy) {
        let policy = Arc::new(policy);
        match self.current.write() {
            Ok(mut g) => *g = policy,
            Err(p) => *p.into_inner() = policy,
        }
    }

    /// Reload counters and the last error.
    pub fn stats(&self) -> &ReloadStats {
        &self.stats
    }
}

/// Applies a validated companion change; returns whether it changed anything.
pub type CompanionApply = Box<dyn FnOnce() -> bool + Send>;

/// Validates the companion section in the new file text and returns how to
/// apply it, or why it is refused (naming the key).
pub type CompanionPrepare = Box<dyn Fn(&str) -> Result<CompanionApply, String> + Send>;

/// Could not start watching.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The path has no parent directory or file name.
    #[error("policy file {0}: not a file path")]
    BadPath(PathBuf),
    /// notify refused.
    #[error("watching {dir} for policy changes: {source}")]
    Notify {
        /// Watched directory.
        dir: PathBuf,
        /// The notify error.
        source: notify::Error,
    },
    /// The reload thread could not be spawned.
    #[error("starting the policy reload thread: {0}")]
    Thread(std::io::Error),
}

/// Watches the policy file and applies valid changes; stops when dropped.
pub struct PolicyWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl PolicyWatcher {
    /// Starts watching the collector config at `path`: its `[policy]` and a
    /// companion section that reloads with it (see the module docs);
    /// `debounce` is the quiet time before re-reading.
    pub fn start(
        path: PathBuf,
        handle: PolicyHandle,
        debounce: Duration,
        companion: CompanionPrepare,
    ) -> Result<Self, WatchError> {
        let bad_path = || WatchError::BadPath(path.clone());
        let file_name = path.file_name().ok_or_else(bad_path)?.to_owned();
        let dir = match path.parent() {
            Some(d) if d.as_os_str().is_empty() => PathBuf::from("."),
            Some(d) => d.to_path_buf(),
            None => return Err(bad_path()),
        };
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(move |event| {
            // The receiver is gone only while shutting down.
            let _ = tx.send(event);
        })
        .map_err(|source| WatchError::Notify {
            dir: dir.clone(),
            source,
        })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError::Notify {
                dir: dir.clone(),
                source,
            })?;
        // What is on disk now is what the handle was loaded from (or refused
        // at start): only later changes count.
        let last_seen = std::fs::read(&path).ok();
        let thread = std::thread::Builder::new()
            .name("policy-reload".into())
            .spawn(move || {
                let target = ReloadTarget {
                    path,
                    handle,
                    companion,
                };
                reload_loop(rx, &target, file_name, debounce, last_seen)
            })
            .map_err(WatchError::Thread)?;
        Ok(PolicyWatcher {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        // Dropping the watcher drops the channel's sender, which ends the loop.
        drop(self.watcher.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relevant(
    event: &notify::Result<notify::Event>,
    file_name: &std::ffi::OsStr,
    is_symlink: bool,
) -> bool {
    match event {
        // Symlinked configs (e.g. Kubernetes ConfigMaps) change by swapping a
        // directory link, so any event in the directory may matter.
        Ok(e) => is_symlink || e.paths.iter().any(|p| p.file_name() == Some(file_name)),
        Err(e) => {
            warn!(error = %e, "policy file watcher reported an error");
            false
        }
    }
}

/// What a reload reads and updates.
struct ReloadTarget {
    path: PathBuf,
    handle: PolicyHandle,
    companion: CompanionPrepare,
}

fn reload_loop(
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    target: &ReloadTarget,
    file_name: std::ffi::OsString,
    debounce: Duration,
    mut last_seen: Option<Vec<u8>>,
) {
    let is_symlink = |p: &Path| {
        p.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
    };
    while let Ok(event) = rx.recv() {
        if !relevant(&event, &file_name, is_symlink(&target.path)) {
            continue;
        }
        // Debounce: wait until the directory has been quiet for `debounce`.
        loop {
            match rx.recv_timeout(debounce) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        apply_file(target, &mut last_seen);
    }
}

/// Re-reads the file and applies it when it changed and is valid.
fn apply_file(target: &ReloadTarget, last_seen: &mut Option<Vec<u8>>) {
    let (path, handle) = (&target.path, &target.handle);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            if last_seen.is_some() {
                let err = PolicyError::Io {
                    path: path.clone(),
                    source: e,
                };
                error!(error = %err, "policy file unreadable; the last good policy stays in force");
                handle.stats.errors.fetch_add(1, Ordering::Relaxed);
                handle.stats.set_error(Some(err.to_string()));
                *last_seen = None;
            }
            return;
        }
    };
    if last_seen.as_deref() == Some(bytes.as_slice()) {
        return;
    }
    *last_seen = Some(bytes.clone());
    let result = match String::from_utf8(bytes) {
        Ok(text) => parse_policy(path, &text)
            .map_err(|e| e.to_string())
            .and_then(|policy| (target.companion)(&text).map(|apply| (policy, apply))),
        Err(_) => Err(PolicyError::Toml {
            origin: path.display().to_string(),
            line: None,
            message: "not valid UTF-8".into(),
        }
        .to_string()),
    };
    match result {
        Ok((policy, companion)) => {
            let mut changed = *handle.current() != policy;
            handle.replace(policy);
            // After the policy, so whatever the companion triggers sees it.
            changed |= companion();
            handle.stats.set_error(None);
            if changed {
                handle.stats.reloads.fetch_add(1, Ordering::Relaxed);
                handle
                    .stats
                    .last_success
                    .store(unix_now(), Ordering::Relaxed);
                info!(path = %path.display(), "policy reloaded");
            }
        }
        Err(e) => {
            error!(error = %e, "config change refused; the last good policy and alerts stay in force");
            handle.stats.errors.fetch_add(1, Ordering::Relaxed);
            handle.stats.set_error(Some(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Writes like an editor: a temp file renamed over the target.
    fn replace_file(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn load(path: &Path) -> Policy {
        parse_policy(path, &std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A companion that accepts everything and changes nothing.
    fn no_companion() -> CompanionPrepare {
        Box::new(|_| Ok(Box::new(|| false) as CompanionApply))
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after 10 s waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn valid_change_applies_invalid_is_refused_then_fix_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(&path, "[server]\nx = 1\n\n[policy]\nstale_after = \"2h\"\n").unwrap();
        let handle = PolicyHandle::new(load(&path));
        assert_eq!(handle.current().stale_after_secs, 7200);
        let _watcher = PolicyWatcher::start(
            path.clone(),
            handle.clone(),
            DEFAULT_DEBOUNCE,
            no_companion(),
        )
        .unwrap();

        replace_file(
            &path,
            "[server]\nx = 1\n\n[policy]\nstale_after = \"30m\"\n",
        );
        wait_for("the valid change", || {
            handle.current().stale_after_secs == 1800
        });
        assert_eq!(handle.stats().reloads_total(), 1);
        assert!(handle.stats().last_success_timestamp() > 0);

        // Invalid: refused, old policy kept, the error names key and line.
        replace_file(
            &path,
            "[server]\nx = 1\n\n[policy]\nstale_after = \"30m\"\npassword_min_length = 0\n",
        );
        wait_for("the refusal", || handle.stats().reload_errors_total() == 1);
        assert_eq!(handle.current().stale_after_secs, 1800);
        assert_eq!(handle.current().password_min_length, 14);
        let err = handle.stats().last_error().unwrap();
        assert!(
            err.contains("policy.password_min_length (line 6): must be between 1 and 128, got 0"),
            "{err}"
        );

        // Fixed again (written in place this time): applied.
        std::fs::write(
            &path,
            "[policy]\nstale_after = \"45m\"\npassword_min_length = 12\n",
        )
        .unwrap();
        wait_for("the fix", || handle.current().stale_after_secs == 2700);
        assert_eq!(handle.current().password_min_length, 12);
        assert_eq!(handle.stats().last_error(), None);
        assert_eq!(handle.stats().reloads_total(), 2);
    }

    #[test]
    fn a_bad_companion_section_keeps_the_old_policy_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(&path, "[policy]\nstale_after = \"2h\"\n[other]\nv = 1\n").unwrap();
        let handle = PolicyHandle::new(load(&path));
        let value = Arc::new(AtomicI64::new(1));
        let seen = value.clone();
        let prepare: CompanionPrepare = Box::new(move |text: &str| {
            let doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
            let v = doc["other"]["v"]
                .as_integer()
                .ok_or("other.v: not an integer")?;
            let target = seen.clone();
            Ok(Box::new(move || target.swap(v, Ordering::SeqCst) != v) as CompanionApply)
        });
        let _watcher = PolicyWatcher::start(
            path.clone(),
            handle.clone(),
            Duration::from_millis(50),
            prepare,
        )
        .unwrap();

        // Policy valid, companion invalid: neither changes.
        replace_file(
            &path,
            "[policy]\nstale_after = \"1h\"\n[other]\nv = \"x\"\n",
        );
        wait_for("the refusal", || handle.stats().reload_errors_total() == 1);
        assert_eq!(handle.current().stale_after_secs, 7200);
        assert_eq!(value.load(Ordering::SeqCst), 1);
        assert!(handle.stats().last_error().unwrap().contains("other.v"));

        // Only the companion changes: applied and counted as a reload.
        replace_file(&path, "[policy]\nstale_after = \"2h\"\n[other]\nv = 2\n");
        wait_for("the companion change", || value.load(Ordering::SeqCst) == 2);
        assert_eq!(handle.stats().reloads_total(), 1);
        assert_eq!(handle.stats().last_error(), None);
    }

    #[test]
    fn unrelated_files_in_the_directory_do_not_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[policy]\n").unwrap();
        let handle = PolicyHandle::new(load(&path));
        let watcher = PolicyWatcher::start(
            path.clone(),
            handle.clone(),
            Duration::from_millis(50),
            no_companion(),
        )
        .unwrap();
        std::fs::write(dir.path().join("other.toml"), "[policy]\nstale_after = 1\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(handle.stats().reload_errors_total(), 0);
        assert_eq!(*handle.current(), Policy::default());
        // Dropping the watcher stops its thread (joins without hanging).
        drop(watcher);
    }
}
