//! The Linux data-protection check on every fixture host
//! (`tests/hosts/<scenario>/`, recordings under `tests/hosts/recordings/`),
//! snapshot-tested, and against this machine: its real mounts, and the real
//! `nft` in a network namespace of the test's own with a ruleset loaded.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fleetwatch_agent::checks::data_protection::LinuxDataProtectionCheck;
use fleetwatch_agent::checks::inventory::disks;
use fleetwatch_agent::checks::{CheckContext, run_check};
use fleetwatch_agent::host::{RecordedRunner, SysRoot, SystemRunner};
use fleetwatch_protocol::{CheckStatus, DataProtection, EncryptionState, VolumeEncryption};

/// "Now" for every fixture: 2026-11-22T08:00:00Z.
const NOW: i64 = 1_795_334_400;

fn scenario_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/hosts")
        .join(name)
}

fn collect(name: &str) -> DataProtection {
    let dir = scenario_dir(name);
    let root = SysRoot::new(&dir);
    let runner = RecordedRunner::from_dir(&dir.join("commands")).unwrap();
    let ctx = CheckContext {
        root: &root,
        runner: &runner,
        now: NOW,
        command_timeout: Duration::from_secs(5),
    };
    let mut result = run_check(&LinuxDataProtectionCheck, &ctx);
    assert_eq!(result.status, CheckStatus::Ok, "{name}: {:?}", result.error);
    result.duration_seconds = 0.0;
    let json = serde_json::to_string(&result).unwrap();
    // Nothing of the LUKS headers but their version and state: no salt,
    // no digest, no key-slot detail.
    for word in ["Salt", "Digest", "salt", "digest", "Iterations", "UUID:"] {
        assert!(!json.contains(word), "{name}: {word} leaked: {json}");
    }
    insta::assert_json_snapshot!(name.to_string(), result);
    result.data.unwrap()
}

fn volume<'a>(d: &'a DataProtection, mount_point: &str) -> &'a VolumeEncryption {
    d.volumes
        .iter()
        .find(|v| v.mount_point == mount_point)
        .unwrap_or_else(|| panic!("no volume {mount_point} in {:?}", d.volumes))
}

fn firewall(d: &DataProtection) -> (&str, Option<bool>) {
    let fw = d.firewall.as_ref().expect("a firewall");
    (fw.product.as_str(), fw.enabled)
}

#[test]
fn debian12_compliant_luks2_under_lvm_and_ufw() {
    let d = collect("debian12-compliant");
    let root = volume(&d, "/");
    assert_eq!(
        root.device.as_deref(),
        Some("/dev/mapper/ws--0042--vg-root")
    );
    assert_eq!(
        (root.method.as_deref(), root.state),
        (Some("luks2"), EncryptionState::Encrypted)
    );
    assert_eq!((root.protection_on, root.system_volume), (Some(true), true));
    // The swap LV sits on the same LUKS container.
    assert_eq!(volume(&d, "[SWAP]").state, EncryptionState::Encrypted);
    // The boot partitions are plain, as every GRUB install has them.
    assert_eq!(volume(&d, "/boot").state, EncryptionState::NotEncrypted);
    assert_eq!(volume(&d, "/boot/efi").protection_on, Some(false));
    assert_eq!(firewall(&d), ("ufw", Some(true)));
    assert_eq!(
        (d.antivirus.as_ref(), d.antivirus_error.as_ref()),
        (None, None)
    );
}

#[test]
fn debian12_noncompliant_plain_disks_and_an_accepting_ruleset() {
    let d = collect("debian12-noncompliant");
    for mount in ["/", "/home", "[SWAP]"] {
        let v = volume(&d, mount);
        assert_eq!(
            (v.state, v.method.as_ref()),
            (EncryptionState::NotEncrypted, None),
            "{mount}"
        );
    }
    // ufw inactive, Debian's stock nftables.conf accepts everything.
    assert_eq!(firewall(&d), ("ufw", Some(false)));
}

#[test]
fn ubuntu2404_compliant_clamav_with_on_access_scanning() {
    let d = collect("ubuntu2404-compliant");
    assert_eq!(volume(&d, "/").method.as_deref(), Some("luks2"));
    // The swap file is judged with its file system, squashfs snaps not at all.
    assert_eq!(d.volumes.len(), 3, "{:?}", d.volumes);
    let av = d.antivirus.as_ref().unwrap();
    assert_eq!(av.product, "clamav");
    assert_eq!(av.real_time_protection, Some(true));
    assert_eq!(av.signatures_updated_at, Some(NOW - 5 * 3600));
}

#[test]
fn ubuntu2404_noncompliant_unreadable_firewall_is_unknown_not_off() {
    let d = collect("ubuntu2404-noncompliant");
    assert_eq!(d.firewall, None);
    let why = d.firewall_error.as_deref().unwrap();
    assert!(why.contains("You need to be root"), "{why}");
    assert!(why.contains("Operation not permitted"), "{why}");
    // cryptsetup cannot read the header: the dm uuid still names LUKS2.
    let root = volume(&d, "/");
    assert_eq!(
        (root.method.as_deref(), root.state),
        (Some("luks2"), EncryptionState::Encrypted)
    );
    let av = d.antivirus.as_ref().unwrap();
    assert_eq!(av.signatures_updated_at, Some(NOW - 19 * 86_400));
    assert_eq!(av.real_time_protection, Some(false));
}

#[test]
fn rocky9_compliant_firewalld_running() {
    let d = collect("rocky9-compliant");
    assert_eq!(volume(&d, "/").state, EncryptionState::Encrypted);
    assert_eq!(firewall(&d), ("firewalld", Some(true)));
}

#[test]
fn rocky9_noncompliant_encryption_in_progress_and_firewalld_stopped() {
    let d = collect("rocky9-noncompliant");
    assert_eq!(volume(&d, "/").state, EncryptionState::NotEncrypted);
    let home = volume(&d, "/home");
    assert_eq!(home.state, EncryptionState::EncryptionInProgress);
    assert_eq!(
        (home.protection_on, home.method.as_deref()),
        (Some(false), Some("luks2"))
    );
    assert_eq!(firewall(&d), ("firewalld", Some(false)));
}

#[test]
fn arch_compliant_luks1_and_nftables() {
    let d = collect("arch-compliant");
    assert_eq!(volume(&d, "/").method.as_deref(), Some("luks1"));
    assert_eq!(firewall(&d), ("nftables", Some(true)));
}

#[test]
fn arch_noncompliant_without_any_firewall_tool() {
    let d = collect("arch-noncompliant");
    assert_eq!(volume(&d, "/").state, EncryptionState::NotEncrypted);
    assert_eq!(d.firewall, None);
    assert!(d.firewall_error.unwrap().starts_with("no firewall found"));
}

#[test]
fn opensuse_compliant_key_change_keeps_the_volume_encrypted() {
    let d = collect("opensuse-compliant");
    // / and /home are subvolumes of one LUKS2 container: one volume.
    assert_eq!(d.volumes.len(), 2, "{:?}", d.volumes);
    assert_eq!(volume(&d, "/").state, EncryptionState::Encrypted);
    assert_eq!(firewall(&d), ("firewalld", Some(true)));
}

#[test]
fn opensuse_noncompliant_firewalld_that_cannot_be_asked_is_unknown() {
    let d = collect("opensuse-noncompliant");
    assert_eq!(d.firewall, None);
    assert!(d.firewall_error.as_deref().unwrap().contains("DBUS_ERROR"));
    assert_eq!(volume(&d, "[SWAP]").state, EncryptionState::NotEncrypted);
}

/// The check on this machine, as the agent runs it.
#[test]
fn live_volumes_match_sysfs() {
    let root = SysRoot::live();
    let runner = SystemRunner::new();
    let ctx = CheckContext {
        root: &root,
        runner: &runner,
        now: 0,
        command_timeout: Duration::from_secs(30),
    };
    let result = run_check(&LinuxDataProtectionCheck, &ctx);
    assert_eq!(result.status, CheckStatus::Ok, "{:?}", result.error);
    let d = result.data.unwrap();
    let system = d
        .volumes
        .iter()
        .find(|v| v.system_volume)
        .expect("the / volume");
    assert_eq!(system.mount_point, "/");
    let expected = match disks::is_dm_crypt(&root, system.device.as_deref().unwrap()) {
        Some(true) => EncryptionState::Encrypted,
        Some(false) => EncryptionState::NotEncrypted,
        None => EncryptionState::Unknown,
    };
    assert_eq!(system.state, expected, "{:?}", d.volumes);
    // Unknown always says why.
    assert!(d.firewall.is_some() || d.firewall_error.is_some());
}

/// Runs `script` as root in a new network namespace of its own (so the
/// machine's own ruleset is never touched) and returns the firewall the
/// agent binary reports from inside it.
fn firewall_in_namespace(script: &str) -> (Option<fleetwatch_protocol::Firewall>, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[checks]\ninventory = false\npatches = false\nbackup = false\npassword_policy = false\ndata_protection = true\n",
            dir.path().join("state")
        ),
    )
    .unwrap();
    let agent = env!("CARGO_BIN_EXE_fleetwatch-agent");
    let full = format!(
        "{script}\nexec {agent} collect --config {}",
        config.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "sh", "-ec", &full])
        .output()
        .expect("unshare (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let section = &report["checks"]["data_protection"];
    assert_eq!(section["status"], "ok", "{section}");
    let d: DataProtection = serde_json::from_value(section["data"].clone()).unwrap();
    (d.firewall, d.firewall_error)
}

#[test]
fn live_nftables_ruleset_in_a_network_namespace() {
    let rules = scenario_dir("recordings/nft/server-drop.nft");
    let (fw, why) = firewall_in_namespace(&format!("nft -f {}", rules.display()));
    let fw = fw.unwrap_or_else(|| panic!("firewall unknown: {why:?}"));
    assert_eq!(fw.enabled, Some(true), "{fw:?}");
    // An empty namespace: the kernel ruleset filters nothing. (A machine
    // whose firewalld runs answers for its own bus, whatever the namespace.)
    let (fw, why) = firewall_in_namespace("true");
    let fw = fw.unwrap_or_else(|| panic!("firewall unknown: {why:?}"));
    assert!(
        fw.enabled == Some(false) || fw.product == "firewalld",
        "{fw:?}"
    );
}
