//! The Debian packages: built with cargo-deb by `scripts/packages.sh` (the
//! test command runs it before the tests; these tests run it themselves
//! when a package is missing), then inspected with dpkg-deb and their
//! binaries run from an extraction. The agent's is the static musl build.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fleetwatch_e2e::require_tool;
use support::packages::{assert_static, find_artifact, static_agent};

fn deb(package: &str) -> PathBuf {
    find_artifact("debian", &format!("{package}_"), ".deb")
}

fn contents(deb: &PathBuf) -> String {
    let out = Command::new(require_tool("dpkg-deb"))
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn field(deb: &PathBuf, name: &str) -> String {
    let out = Command::new(require_tool("dpkg-deb"))
        .args(["-f"])
        .arg(deb)
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Extracts the package, runs `binary --version` from it and returns the
/// extraction (for further inspection).
fn runs_from_extraction(deb: &PathBuf, binary: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let st = Command::new(require_tool("dpkg-deb"))
        .arg("-x")
        .arg(deb)
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(tmp.path().join("usr/bin").join(binary))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{binary} --version from the package");
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    tmp
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn agent_package_has_binary_unit_and_private_config() {
    let deb = deb("fleetwatch-agent");
    let c = contents(&deb);
    assert!(c.contains("./usr/bin/fleetwatch-agent"), "{c}");
    assert!(
        c.contains("./usr/lib/systemd/system/fleetwatch-agent.service"),
        "{c}"
    );
    let config = c
        .lines()
        .find(|l| l.ends_with("./etc/fleetwatch/agent.toml"))
        .expect("config file");
    assert!(
        config.starts_with("-rw-------"),
        "agent config is 0600 (it may name secrets): {config}"
    );
    assert_eq!(field(&deb, "Package"), "fleetwatch-agent");
    // One static binary for every distribution: no libc dependency.
    let depends = field(&deb, "Depends");
    assert!(!depends.contains("libc6"), "Depends: {depends}");
    let extracted = runs_from_extraction(&deb, "fleetwatch-agent");
    let bin = extracted.path().join("usr/bin/fleetwatch-agent");
    assert_static(&bin);
    assert!(
        same_bytes(&bin, &static_agent()),
        "the .deb carries the musl build of scripts/packages.sh"
    );
}

#[test]
fn collector_package_has_binary_unit_user_rules_and_dashboards() {
    let deb = deb("fleetwatch-collector");
    let c = contents(&deb);
    for path in [
        "./usr/bin/fleetwatch-collector",
        "./usr/lib/systemd/system/fleetwatch-collector.service",
        "./etc/fleetwatch/collector.toml",
        "./usr/share/fleetwatch/prometheus/fleetwatch-alerts.rules.yml",
        "./usr/share/fleetwatch/dashboards/fleet-overview.json",
    ] {
        assert!(
            c.contains(path),
            "{path} missing from the collector package:\n{c}"
        );
    }
    assert!(field(&deb, "Depends").contains("adduser"));
    let tmp = tempfile::tempdir().unwrap();
    let st = Command::new(require_tool("dpkg-deb"))
        .arg("-e")
        .arg(&deb)
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let postinst = std::fs::read_to_string(tmp.path().join("postinst")).unwrap();
    assert!(
        postinst.contains("fleetwatch"),
        "postinst creates the system user:\n{postinst}"
    );
    runs_from_extraction(&deb, "fleetwatch-collector");
}
