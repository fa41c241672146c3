//! The macOS deploy files: the launchd daemon plist is a valid property
//! list that starts the installed binary with the macOS config path, and
//! install.sh (run here with FLEETWATCH_ROOT, which skips launchctl)
//! installs the binary, a config the real agent accepts, the daemon, and
//! owner-only state; it keeps an edited config on upgrade and uninstalls.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fleetwatch_e2e::*;

const CONFIG: &str = "/Library/Application Support/fleetwatch/agent.toml";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn the_launchd_daemon_runs_the_installed_agent_with_the_macos_config() {
    let path = workspace_root().join("deploy/macos/org.fleetwatch.agent.plist");
    let daemon = plist::Value::from_file(&path).unwrap();
    let d = daemon.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some("org.fleetwatch.agent"));
    let args: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    assert_eq!(
        args,
        ["/usr/local/bin/fleetwatch-agent", "run", "--config", CONFIG]
    );
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    assert_eq!(d["KeepAlive"].as_boolean(), Some(true));
    // The same path is the agent's built-in default on macOS.
    let config_rs = std::fs::read_to_string(workspace_root().join("agent/src/config.rs")).unwrap();
    assert!(config_rs.contains(&format!("\"{CONFIG}\"")));
}

fn install(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg(workspace_root().join("deploy/macos/install.sh"))
        .args(args)
        .env("FLEETWATCH_ROOT", root)
        .output()
        .unwrap()
}

#[test]
fn install_sh_installs_keeps_the_config_and_uninstalls() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let agent = binary("fleetwatch-agent");
    let fp = format!("sha256:{}", "ab".repeat(32));
    let out = install(
        &root,
        &[
            "--binary",
            agent.to_str().unwrap(),
            "--collector",
            "https://collector.example.internal:8443",
            "--ca-fingerprint",
            &fp,
        ],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let bin = root.join("usr/local/bin/fleetwatch-agent");
    let config = root.join(CONFIG.trim_start_matches('/'));
    let state = root.join("Library/Application Support/fleetwatch/state");
    let daemon = root.join("Library/LaunchDaemons/org.fleetwatch.agent.plist");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&daemon), 0o644);
    assert!(root.join("Library/Logs/fleetwatch").is_dir());

    // The installed config is accepted by the real agent: collect from the
    // macOS fixture with it (nothing is sent by `collect`).
    let mac = workspace_root().join("tests/hosts/macos14-compliant");
    let out = run_agent(&[
        "collect",
        "--config",
        config.to_str().unwrap(),
        "--state-dir",
        tmp.path().join("state").to_str().unwrap(),
        "--root",
        mac.to_str().unwrap(),
        "--recorded-commands",
        mac.join("commands").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["inventory"]["data"]["os"]["id"], "macos");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("collector_url = \"https://collector.example.internal:8443\""));
    assert!(text.contains(&fp));

    // An upgrade keeps the edited config.
    std::fs::write(&config, "# edited\n").unwrap();
    let out = install(&root, &["--binary", agent.to_str().unwrap()]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# edited\n");

    let out = install(&root, &["--uninstall"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!bin.exists() && !daemon.exists());
    assert!(
        config.exists() && state.exists(),
        "config and node key survive"
    );

    let out = install(&root, &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}
