//! The Debian packages: built with cargo-deb (the test command builds them
//! before the tests; this test builds them itself when they are missing),
//! then inspected with dpkg-deb and their binaries run from an extraction.

use std::path::PathBuf;
use std::process::Command;

use fleetwatch_e2e::{require_tool, target_dir, workspace_root};

fn deb(package: &str) -> PathBuf {
    let dir = target_dir().join("debian");
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("{package}_")) && name.ends_with(".deb")
            })
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    };
    if let Some(p) = find() {
        return p;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The agent ships built for size (see [profile.agent] in Cargo.toml).
    let profile: &[&str] = if package == "fleetwatch-agent" {
        &["--profile", "agent"]
    } else {
        &[]
    };
    let status = Command::new(cargo)
        .args(["deb", "--locked", "-p", package])
        .args(profile)
        .current_dir(workspace_root())
        .status()
        .expect("run cargo deb (scripts/test.sh installs cargo-deb)");
    assert!(status.success(), "cargo deb -p {package} failed");
    find().expect("cargo deb produced a package")
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

fn runs_from_extraction(deb: &PathBuf, binary: &str) {
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
    runs_from_extraction(&deb, "fleetwatch-agent");
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
