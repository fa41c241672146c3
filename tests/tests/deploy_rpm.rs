//! The RPM packages (RHEL, Rocky, SUSE) built by rpmbuild (from `deploy/rpm/*/*.spec`) in
//! `scripts/packages.sh`, inspected with the real `rpm` (Debian's): file
//! lists, scriptlets, `%config(noreplace)`, and an install into a temporary
//! `--root`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fleetwatch_e2e::{require_tool, workspace_root};
use support::packages::{assert_static, find_artifact, tool_output};

fn rpm_file(package: &str) -> std::path::PathBuf {
    find_artifact("rpm", &format!("{package}-"), ".rpm")
}

fn query(rpm: &Path, args: &[&str]) -> String {
    let mut all = vec!["-qp"];
    all.extend_from_slice(args);
    tool_output("rpm", &all, rpm)
}

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(workspace_root().join(rel)).unwrap()
}

/// `path mode user group flags` per file (`flags`: `c` config, `n` noreplace, `d` doc).
fn file_table(rpm: &Path) -> Vec<(String, String, String, String, String)> {
    query(
        rpm,
        &["--qf", "[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}.\n]"],
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 5, "{l}");
        (
            f[0].to_string(),
            f[1].to_string(),
            f[2].to_string(),
            f[3].to_string(),
            f[4].trim_end_matches('.').to_string(),
        )
    })
    .collect()
}

fn entry<'a>(
    table: &'a [(String, String, String, String, String)],
    path: &str,
) -> &'a (String, String, String, String, String) {
    table
        .iter()
        .find(|e| e.0 == path)
        .unwrap_or_else(|| panic!("{path} not in the package: {table:#?}"))
}

/// Installs into a fresh root without running scriptlets (the root has no
/// shell or useradd to run them with) and without dependency checks.
fn install_into_root(rpm: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(require_tool("rpm"))
        .args([
            "-i",
            "--nodeps",
            "--noscripts",
            "--force-debian",
            "--dbpath",
            "/var/lib/rpm",
            "--root",
        ])
        .arg(root.path())
        .arg(rpm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpm -i --root: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn agent_rpm_has_the_static_binary_unit_and_a_noreplace_private_config() {
    let rpm = rpm_file("fleetwatch-agent");
    assert_eq!(query(&rpm, &["--qf", "%{NAME}"]), "fleetwatch-agent");
    let list = query(&rpm, &["-l"]);
    for path in [
        "/usr/bin/fleetwatch-agent",
        "/usr/lib/systemd/system/fleetwatch-agent.service",
        "/etc/fleetwatch/agent.toml",
        "/usr/share/doc/fleetwatch-agent/examples/agent.example.toml",
    ] {
        assert!(list.lines().any(|l| l == path), "{path} missing:\n{list}");
    }
    let files = file_table(&rpm);
    let conf = entry(&files, "/etc/fleetwatch/agent.toml");
    assert_eq!(
        (conf.1.as_str(), conf.2.as_str()),
        ("-rw-------", "root"),
        "{conf:?}"
    );
    assert_eq!(conf.4, "cn", "agent.toml is %config(noreplace)");
    assert_eq!(
        query(&rpm, &["--configfiles"]).trim(),
        "/etc/fleetwatch/agent.toml"
    );
    // Static binary: nothing but the scriptlets' shell is required.
    let requires = query(&rpm, &["-R"]);
    assert!(!requires.contains(".so"), "{requires}");

    // The scriptlets are deploy/rpm/agent/*.sh (not a path taken as text).
    let scripts = query(&rpm, &["--scripts"]);
    for (section, file) in [
        ("postinstall", "post_install.sh"),
        ("preuninstall", "pre_uninstall.sh"),
        ("postuninstall", "post_uninstall.sh"),
    ] {
        let body = repo_file(&format!("deploy/rpm/agent/{file}"));
        assert!(
            scripts.contains(&format!("{section} scriptlet")),
            "{scripts}"
        );
        assert!(
            scripts.contains(body.trim()),
            "{section} is not {file}:\n{scripts}"
        );
    }
    assert!(scripts.contains("install -d -o root -g root -m 0700 /var/lib/fleetwatch-agent"));

    let root = install_into_root(&rpm);
    let bin = root.path().join("usr/bin/fleetwatch-agent");
    assert_static(&bin);
    let out = Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    // The same unit, so the same hardening, as the .deb.
    assert_eq!(
        std::fs::read_to_string(
            root.path()
                .join("usr/lib/systemd/system/fleetwatch-agent.service")
        )
        .unwrap(),
        repo_file("deploy/systemd/fleetwatch-agent.service")
    );
    let conf = root.path().join("etc/fleetwatch/agent.toml");
    assert_eq!(mode(&conf), 0o600);

    // noreplace at work: a reinstall keeps the admin's edit.
    std::fs::write(&conf, "# edited by the admin\n").unwrap();
    let out = Command::new(require_tool("rpm"))
        .args([
            "-U",
            "--replacepkgs",
            "--nodeps",
            "--noscripts",
            "--force-debian",
            "--dbpath",
            "/var/lib/rpm",
            "--root",
        ])
        .arg(root.path())
        .arg(&rpm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "# edited by the admin\n"
    );
}

#[test]
fn collector_rpm_has_user_scripts_noreplace_config_rules_and_dashboards() {
    let rpm = rpm_file("fleetwatch-collector");
    let list = query(&rpm, &["-l"]);
    for path in [
        "/usr/bin/fleetwatch-collector",
        "/usr/lib/systemd/system/fleetwatch-collector.service",
        "/etc/fleetwatch/collector.toml",
        "/usr/share/fleetwatch/prometheus/fleetwatch-alerts.rules.yml",
        "/usr/share/fleetwatch/prometheus/fleetwatch-recording.rules.yml",
        "/usr/share/fleetwatch/alertmanager/alertmanager.example.yml",
        "/usr/share/fleetwatch/dashboards/fleet-overview.json",
        "/usr/share/doc/fleetwatch-collector/examples/policy.example.toml",
    ] {
        assert!(list.lines().any(|l| l == path), "{path} missing:\n{list}");
    }
    let files = file_table(&rpm);
    let conf = entry(&files, "/etc/fleetwatch/collector.toml");
    assert_eq!(
        (
            conf.1.as_str(),
            conf.2.as_str(),
            conf.3.as_str(),
            conf.4.as_str()
        ),
        ("-rw-r-----", "root", "fleetwatch", "cn"),
        "collector.toml: root:fleetwatch 0640, %config(noreplace)"
    );
    assert_eq!(
        query(&rpm, &["--configfiles"]).trim(),
        "/etc/fleetwatch/collector.toml"
    );

    let scripts = query(&rpm, &["--scripts"]);
    for (section, file) in [
        ("preinstall", "pre_install.sh"),
        ("postinstall", "post_install.sh"),
        ("preuninstall", "pre_uninstall.sh"),
        ("postuninstall", "post_uninstall.sh"),
    ] {
        let body = repo_file(&format!("deploy/rpm/collector/{file}"));
        assert!(
            scripts.contains(&format!("{section} scriptlet")),
            "{scripts}"
        );
        assert!(
            scripts.contains(body.trim()),
            "{section} is not {file}:\n{scripts}"
        );
    }
    // The system user, created before the files are laid down.
    let pre = repo_file("deploy/rpm/collector/pre_install.sh");
    assert!(pre.contains("groupadd --system fleetwatch"));
    assert!(pre.contains("useradd --system --gid fleetwatch"));
    // Every scriptlet is valid sh.
    for file in [
        "pre_install.sh",
        "post_install.sh",
        "pre_uninstall.sh",
        "post_uninstall.sh",
    ] {
        let st = Command::new(require_tool("sh"))
            .arg("-n")
            .arg(workspace_root().join("deploy/rpm/collector").join(file))
            .status()
            .unwrap();
        assert!(st.success(), "{file} is not valid sh");
    }

    let root = install_into_root(&rpm);
    assert_eq!(
        std::fs::read_to_string(
            root.path()
                .join("usr/lib/systemd/system/fleetwatch-collector.service")
        )
        .unwrap(),
        repo_file("deploy/systemd/fleetwatch-collector.service")
    );
    assert!(
        root.path()
            .join("usr/share/fleetwatch/dashboards/fleet-overview.json")
            .is_file()
    );
    let out = Command::new(root.path().join("usr/bin/fleetwatch-collector"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn agent_scriptlets_are_valid_sh() {
    for file in ["post_install.sh", "pre_uninstall.sh", "post_uninstall.sh"] {
        let st = Command::new(require_tool("sh"))
            .arg("-n")
            .arg(workspace_root().join("deploy/rpm/agent").join(file))
            .status()
            .unwrap();
        assert!(st.success(), "{file} is not valid sh");
    }
}
