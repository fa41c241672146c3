//! The artifacts `scripts/packages.sh` builds (static and aarch64 agents,
//! .deb, .rpm, tarball) and the ELF inspection the deploy tests share.
//!
//! `scripts/test.sh` runs `scripts/packages.sh` before the tests; a test
//! that finds an artifact missing runs it itself (once per test process),
//! so `cargo test` alone works too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use fleetwatch_e2e::{target_dir, workspace_root};

/// The static agent's Rust target.
pub const MUSL: &str = "x86_64-unknown-linux-musl";
/// The ARM agent's Rust target.
pub const AARCH64: &str = "aarch64-unknown-linux-gnu";

static PACKAGES: Once = Once::new();

fn run_packages_sh() {
    PACKAGES.call_once(|| {
        let status = Command::new("bash")
            .arg(workspace_root().join("scripts/packages.sh"))
            .current_dir(workspace_root())
            .status()
            .expect("run scripts/packages.sh");
        assert!(status.success(), "scripts/packages.sh failed");
    });
}

/// An artifact under the target directory, building the packages when it is missing.
pub fn artifact(rel: &str) -> PathBuf {
    let path = target_dir().join(rel);
    if !path.exists() {
        run_packages_sh();
    }
    assert!(
        path.exists(),
        "scripts/packages.sh did not produce {}",
        path.display()
    );
    path
}

/// The newest file in `dir` (under the target directory) named `prefix*suffix`,
/// building the packages when there is none.
pub fn find_artifact(dir: &str, prefix: &str, suffix: &str) -> PathBuf {
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(target_dir().join(dir))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && name.ends_with(suffix)
            })
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    };
    if let Some(p) = find() {
        return p;
    }
    run_packages_sh();
    find().unwrap_or_else(|| panic!("scripts/packages.sh produced no {dir}/{prefix}*{suffix}"))
}

/// The static (musl) agent binary.
pub fn static_agent() -> PathBuf {
    artifact(&format!("{MUSL}/agent/fleetwatch-agent"))
}

/// The cross-compiled aarch64 agent binary (dev profile: what the tests
/// need is the cross-build and its behaviour, not the size-optimised code).
pub fn aarch64_agent() -> PathBuf {
    artifact(&format!("{AARCH64}/debug/fleetwatch-agent"))
}

/// Output of a tool that must succeed, run on `path` (the last argument).
pub fn tool_output(tool: &str, args: &[&str], path: &Path) -> String {
    let args = args
        .iter()
        .map(std::ffi::OsStr::new)
        .chain([path.as_os_str()]);
    String::from_utf8(fleetwatch_e2e::tool_stdout(tool, args)).unwrap()
}

/// Asserts that an ELF file needs no shared library and no program
/// interpreter: it runs on any Linux kernel, whatever libc the host has.
pub fn assert_static(binary: &Path) {
    let dynamic = tool_output("readelf", &["-d", "-W"], binary);
    assert!(
        !dynamic.contains("(NEEDED)"),
        "{} needs shared libraries:\n{dynamic}",
        binary.display()
    );
    let headers = tool_output("readelf", &["-l", "-W"], binary);
    assert!(
        !headers.contains("INTERP"),
        "{} asks for a program interpreter:\n{headers}",
        binary.display()
    );
}

/// `MemTotal` of this machine in bytes, from its `/proc/meminfo`.
pub fn host_mem_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kb * 1024
}
