//! Config reload: the whole file is validated, an edit made while the
//! collector was starting is applied.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::files;
use fleetwatch_collector::config::{Config, Overrides};
use fleetwatch_collector::http::App;

fn overrides(dir: &Path) -> Overrides {
    Overrides {
        data_dir: Some(dir.join("data")),
        ..Overrides::default()
    }
}

/// Writes like an editor: a temp file renamed over the target.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_typo_anywhere_in_the_file_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(&path, "[policy]\nstale_after = \"2h\"\n").unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let config = Config::load(&path, overrides(dir.path())).unwrap();
    let app = App::open(&config, &files(None)).unwrap();
    let _watcher = app.watch_config(&path).unwrap();
    let policy = app.judge.policy();

    // The policy part is fine; a key elsewhere is not.
    replace_file(
        &path,
        "lisen = \"0.0.0.0:1\"\n[policy]\nstale_after = \"30m\"\n",
    );
    wait_for("the refusal", || policy.stats().reload_errors_total() == 1);
    assert_eq!(policy.current().stale_after_secs, 7200, "nothing applied");
    let err = policy.stats().last_error().unwrap();
    assert!(err.contains("lisen"), "{err}");

    replace_file(
        &path,
        "report_interval_secs = 0\n[policy]\nstale_after = \"30m\"\n",
    );
    wait_for("the second refusal", || {
        policy.stats().reload_errors_total() == 2
    });
    let err = policy.stats().last_error().unwrap();
    assert!(err.contains("report_interval_secs"), "{err}");
    assert_eq!(policy.current().stale_after_secs, 7200);

    // Fixed: applied, the error cleared.
    replace_file(&path, "[policy]\nstale_after = \"45m\"\n");
    wait_for("the fix", || policy.current().stale_after_secs == 2700);
    assert_eq!(policy.stats().last_error(), None);
    app.writer.shutdown();
}

#[test]
fn an_edit_made_while_starting_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(&path, "[policy]\nstale_after = \"2h\"\n").unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let config = Config::load(&path, overrides(dir.path())).unwrap();
    // Saved after the config was read, before the watch began (loading a
    // large database takes a while).
    std::fs::write(&path, "[policy]\nstale_after = \"30m\"\n").unwrap();
    let app = App::open(&config, &files(None)).unwrap();
    assert_eq!(app.judge.policy().current().stale_after_secs, 7200);
    let _watcher = app.watch_config(&path).unwrap();
    wait_for("the edit", || {
        app.judge.policy().current().stale_after_secs == 1800
    });
    app.writer.shutdown();
}
