//! The static agent (x86_64-unknown-linux-musl) and its tarball: no dynamic
//! dependency, `collect` inside an empty chroot (only the binary and a
//! fixture `/etc`; no `/proc`, `/sys`, `/dev` or libc), and `install.sh`
//! into a temporary root.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fleetwatch_e2e::{require_tool, workspace_root};
use support::packages::{assert_static, find_artifact, host_mem_total_bytes, static_agent};

#[test]
fn the_static_agent_has_no_dynamic_dependency() {
    let agent = static_agent();
    assert_static(&agent);
    // ldd agrees (glibc's ldd: "statically linked" or "not a dynamic executable").
    let out = Command::new(require_tool("ldd"))
        .arg(&agent)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("statically linked") || text.contains("not a dynamic executable"),
        "ldd {}: {text}",
        agent.display()
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn collect_runs_in_an_empty_chroot() {
    let root = tempfile::tempdir().unwrap();
    // Copied by a `cp` child, not std::fs::copy: a write descriptor open in
    // this process leaks into the fork of any test thread spawning a command
    // at that moment, and executing the file then fails with ETXTBSY.
    let st = Command::new(require_tool("cp"))
        .arg(static_agent())
        .arg(root.path().join("fleetwatch-agent"))
        .status()
        .unwrap();
    assert!(st.success());
    copy_tree(
        &workspace_root().join("tests/hosts/inventory-debian12/etc"),
        &root.path().join("etc"),
    );
    let out = Command::new(require_tool("chroot"))
        .arg(root.path())
        .args(["/fleetwatch-agent", "collect"])
        .env_clear()
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "collect in the chroot failed: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}); stderr: {stderr}"));
    let inventory = &report["inventory"];
    assert_eq!(inventory["status"], "ok", "{inventory:#}");
    let data = &inventory["data"];
    // The fixture /etc was read ...
    assert_eq!(data["hostname"], "ws-0042");
    assert_eq!(data["os"]["id"], "debian");
    assert_eq!(data["machine_id"], "5f3c1a9e8b7d4c2a9e1f0b6d3c8a7e21");
    // ... and without /proc the kernel's own counters stand in for
    // /proc/meminfo and /proc/cpuinfo: never a zero that reads as a fact.
    let total = data["memory"]["total_bytes"].as_u64().unwrap();
    let host = host_mem_total_bytes();
    assert!(
        total.abs_diff(host) < 4096,
        "memory total {total} in the chroot, {host} on the host"
    );
    let cpus = data["cpu"]["logical_cpus"].as_u64().unwrap();
    let host_cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(cpus, host_cpus, "logical CPUs in the chroot");
}

fn untar(tarball: &Path, into: &Path) -> std::path::PathBuf {
    let st = Command::new(require_tool("tar"))
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
    let dirs: Vec<_> = std::fs::read_dir(into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one top directory in the tarball: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn install(dir: &Path, destdir: &Path, args: &[&str]) -> String {
    let out = Command::new(require_tool("sh"))
        .arg(dir.join("install.sh"))
        .args(args)
        .env("DESTDIR", destdir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_tarball_installs_into_a_destdir_and_keeps_the_config() {
    let tarball = find_artifact("tarball", "fleetwatch-agent-", "-x86_64-linux-musl.tar.gz");
    let unpacked = tempfile::tempdir().unwrap();
    let dir = untar(&tarball, unpacked.path());
    for f in [
        "fleetwatch-agent",
        "install.sh",
        "fleetwatch-agent.service",
        "agent.toml",
        "agent.example.toml",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing from the tarball");
    }
    assert_static(&dir.join("fleetwatch-agent"));

    let dest = tempfile::tempdir().unwrap();
    let fp = format!("sha256:{}", "ab".repeat(32));
    install(
        &dir,
        dest.path(),
        &[
            "--collector",
            "https://collector.example.internal:8443",
            "--ca-fingerprint",
            &fp,
        ],
    );
    let bin = dest.path().join("usr/local/bin/fleetwatch-agent");
    assert_eq!(mode(&bin), 0o755);
    let out = Command::new(&bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));

    // The packaged unit, hardening and all, with only ExecStart moved to /usr/local.
    let unit_path = dest
        .path()
        .join("etc/systemd/system/fleetwatch-agent.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let packaged =
        std::fs::read_to_string(workspace_root().join("deploy/systemd/fleetwatch-agent.service"))
            .unwrap();
    assert_eq!(
        unit,
        packaged.replace(
            "ExecStart=/usr/bin/fleetwatch-agent ",
            "ExecStart=/usr/local/bin/fleetwatch-agent "
        )
    );
    assert!(unit.contains("ExecStart=/usr/local/bin/fleetwatch-agent run "));

    let conf_path = dest.path().join("etc/fleetwatch/agent.toml");
    assert_eq!(mode(&conf_path), 0o600, "the config may name secrets");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    assert!(
        conf.contains("\ncollector_url = \"https://collector.example.internal:8443\"\n"),
        "{conf}"
    );
    assert!(
        conf.contains(&format!("\nca_fingerprint = \"{fp}\"\n")),
        "{conf}"
    );
    let parsed: toml::Table = conf.parse().expect("the written config is TOML");
    assert_eq!(
        parsed["collector_url"].as_str(),
        Some("https://collector.example.internal:8443")
    );
    assert_eq!(mode(&dest.path().join("var/lib/fleetwatch-agent")), 0o700);

    // The agent accepts the config it was given.
    let out = Command::new(&bin)
        .args(["collect", "--config"])
        .arg(&conf_path)
        .arg("--root")
        .arg(workspace_root().join("tests/hosts/inventory-debian12"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An upgrade keeps an edited config; --uninstall keeps config and state.
    std::fs::write(&conf_path, "# edited by the admin\n").unwrap();
    let said = install(
        &dir,
        dest.path(),
        &["--collector", "https://other.example:8443"],
    );
    assert!(said.contains("kept the existing"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&conf_path).unwrap(),
        "# edited by the admin\n"
    );
    install(&dir, dest.path(), &["--uninstall"]);
    assert!(!bin.exists() && !unit_path.exists());
    assert!(conf_path.exists() && dest.path().join("var/lib/fleetwatch-agent").exists());
}
