//! The aarch64 agent, cross-compiled by `scripts/packages.sh` (Debian's
//! gcc-aarch64-linux-gnu; linker and runner in `.cargo/config.toml`), run
//! under qemu-user: `--version`, and `collect` against a fixture root.

mod support;

use std::process::Command;

use fleetwatch_e2e::{require_tool, workspace_root};
use support::packages::{aarch64_agent, tool_output};

fn qemu(args: &[&str]) -> std::process::Output {
    Command::new(require_tool("qemu-aarch64"))
        .args(["-L", "/usr/aarch64-linux-gnu"])
        .arg(aarch64_agent())
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

#[test]
fn the_aarch64_agent_is_an_arm64_binary() {
    let header = tool_output("readelf", &["-h"], &aarch64_agent());
    assert!(header.contains("AArch64"), "{header}");
}

#[test]
fn the_aarch64_agent_runs_under_qemu() {
    let out = qemu(&["--version"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_aarch64_agent_collects_a_fixture_root_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    // Inventory only: the other checks would run this machine's x86 tools.
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[checks]\npatches = false\nbackup = false\npassword_policy = false\ndata_protection = false\n",
    )
    .unwrap();
    let root = workspace_root().join("tests/hosts/inventory-debian12");
    let out = qemu(&[
        "collect",
        "--config",
        config.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inv = &report["inventory"];
    assert_eq!(inv["status"], "ok", "{inv:#}");
    assert_eq!(inv["data"]["hostname"], "ws-0042");
    assert_eq!(inv["data"]["cpu"]["logical_cpus"], 4);
    assert_eq!(inv["data"]["memory"]["total_bytes"], 16_303_372u64 * 1024);
    assert_eq!(inv["data"]["packages"]["manager"], "dpkg");
}
