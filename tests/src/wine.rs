//! Running the Windows agent (`fleetwatch-agent.exe`, cross-built for
//! `x86_64-pc-windows-gnu`) under Debian's Wine, in a private prefix under
//! the target directory.
//!
//! Wine 8 has no `bcryptprimitives.dll`, whose `ProcessPrng` Rust's
//! standard library imports on Windows (a .exe exits with code 53 without
//! it): the prefix gets the stand-in built with mingw from
//! `tests/wine/processprng.c`. The prefix is made once (`wineboot -i`, about
//! a minute on a loaded machine) and reused by later runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{require_tool, target_dir, workspace_root};

/// The Rust target of the Windows agent.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// How long one agent run under Wine may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// The Cargo profile the tests build and run the `.exe` with: unoptimised,
/// because the optimised (`agent`) Windows build costs a cold CI run about
/// 10 more minutes; `scripts/package-windows.sh dev` packages this one.
pub const TEST_PROFILE: &str = "dev";

/// Path of the test run's `fleetwatch-agent.exe` ([`TEST_PROFILE`]),
/// building it once per test process with the same command as
/// `scripts/package-windows.sh dev`, so the tests run the very binary the
/// test MSI and zip carry and CI compiles the Windows target once.
pub fn agent_exe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "build",
                    "--locked",
                    "-p",
                    "fleetwatch-agent",
                    "--profile",
                    TEST_PROFILE,
                    "--target",
                    WINDOWS_TARGET,
                ])
                .current_dir(workspace_root())
                .status()
                .expect("run cargo build for the Windows target");
            assert!(status.success(), "building fleetwatch-agent.exe failed");
            // Cargo's directory for the dev profile is `debug`.
            let exe = target_dir()
                .join(WINDOWS_TARGET)
                .join("debug")
                .join("fleetwatch-agent.exe");
            assert!(exe.is_file(), "{} was not built", exe.display());
            exe
        })
        .clone()
}

/// The MSI and the zip `scripts/package-windows.sh dev` builds from
/// [`agent_exe`] into `target/windows/` (named `*-dev.*`), (re)building them when one is
/// missing or older than the `.exe`.
pub fn windows_packages() -> (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = agent_exe();
            let version = env!("CARGO_PKG_VERSION");
            let dir = target_dir().join("windows");
            let msi = dir.join(format!("fleetwatch-agent-{version}-x64-dev.msi"));
            let zip = dir.join(format!("fleetwatch-agent-{version}-x86_64-windows-dev.zip"));
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let fresh =
                |p: &Path| matches!((modified(p), modified(&exe)), (Some(a), Some(b)) if a >= b);
            if !fresh(&msi) || !fresh(&zip) {
                let status = Command::new("bash")
                    .arg(workspace_root().join("scripts/package-windows.sh"))
                    .arg(TEST_PROFILE)
                    .current_dir(workspace_root())
                    .status()
                    .expect("run scripts/package-windows.sh");
                assert!(status.success(), "scripts/package-windows.sh failed");
            }
            assert!(
                msi.is_file() && zip.is_file(),
                "no {} or {}",
                msi.display(),
                zip.display()
            );
            (msi, zip)
        })
        .clone()
}

/// Waits (up to 120 s) until the agent whose state dir is `state` has
/// enrolled and `collector` exports it as a Windows device; returns its id.
/// `what` names the agent in the failure message.
pub fn wait_for_windows_device(collector: &crate::Collector, state: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(id) = crate::enrolled_device_id(state) {
            let reported = collector.scrape().lines().any(|l| {
                l.starts_with("fleetwatch_device_info{")
                    && l.contains(&id)
                    && l.contains("os_family=\"windows\"")
            });
            if reported {
                return id;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not report within 120 s:\n{}",
            collector.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The Windows path of a Linux path: Wine maps `/` to drive `Z:`.
pub fn win_path(path: &Path) -> String {
    let abs = std::path::absolute(path).expect("absolute path");
    format!("Z:{}", abs.display()).replace('/', "\\")
}

/// A Wine prefix ready to run the agent.
#[derive(Debug, Clone)]
pub struct WinePrefix {
    dir: PathBuf,
}

impl WinePrefix {
    /// The shared prefix `target/wine/prefix`, made on first use. Several
    /// test processes may race: each builds in a directory of its own and
    /// the first rename wins.
    pub fn shared() -> WinePrefix {
        static PREFIX: OnceLock<WinePrefix> = OnceLock::new();
        PREFIX
            .get_or_init(|| {
                let base = target_dir().join("wine");
                let dir = base.join("prefix");
                if !dir.join(READY_MARK).exists() {
                    std::fs::create_dir_all(&base).unwrap();
                    let scratch = base.join(format!("prefix.tmp-{}", std::process::id()));
                    let _ = std::fs::remove_dir_all(&scratch);
                    make_prefix(&scratch, &base);
                    if std::fs::rename(&scratch, &dir).is_err() {
                        // Another process finished first (or a stale, unready
                        // prefix is in the way: replace it).
                        if dir.join(READY_MARK).exists() {
                            let _ = std::fs::remove_dir_all(&scratch);
                        } else {
                            let _ = std::fs::remove_dir_all(&dir);
                            std::fs::rename(&scratch, &dir).expect("install the Wine prefix");
                        }
                    }
                }
                WinePrefix { dir }
            })
            .clone()
    }

    /// The prefix directory (`WINEPREFIX`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Linux path of `C:\` in this prefix.
    pub fn drive_c(&self) -> PathBuf {
        self.dir.join("drive_c")
    }

    /// A `wine` command in this prefix, quiet and without Mono/Gecko prompts.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(require_tool("wine"));
        cmd.arg(program);
        wine_env(&mut cmd, &self.dir);
        cmd
    }

    /// Runs `wine reg add KEY /v NAME /t TYPE /d DATA /f` (the real registry
    /// of the prefix, which the agent then reads through winreg).
    pub fn reg_add(&self, key: &str, name: &str, kind: &str, data: &str) {
        let out = self
            .command("reg")
            .args(["add", key, "/v", name, "/t", kind, "/d", data, "/f"])
            .stdin(Stdio::null())
            .output()
            .expect("run wine reg");
        assert!(
            out.status.success(),
            "wine reg add {key} {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `fleetwatch-agent.exe args` under Wine (killed after a timeout).
    pub fn run_agent(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(agent_exe());
        cmd.args(args).env("RUST_LOG", "info");
        run_with_timeout(cmd, RUN_TIMEOUT)
    }
}

/// Written into a prefix once it is fully set up.
const READY_MARK: &str = ".fleetwatch-ready";

fn wine_env(cmd: &mut Command, prefix: &Path) {
    cmd.env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko download prompts: the agent needs neither.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
}

/// `wineboot -i` in `dir`, then the ProcessPrng stand-in in its system32.
fn make_prefix(dir: &Path, scratch: &Path) {
    let dll = build_processprng_dll(scratch);
    let mut boot = Command::new(require_tool("wineboot"));
    boot.arg("-i");
    wine_env(&mut boot, dir);
    let out = run_with_timeout(boot, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "wineboot -i failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // wineboot returns before the prefix's wineserver has written the
    // registry: wait for it.
    let mut wait = Command::new(require_tool("wineserver"));
    wait.arg("-w");
    wine_env(&mut wait, dir);
    let _ = run_with_timeout(wait, Duration::from_secs(120));
    let system32 = dir.join("drive_c/windows/system32");
    assert!(system32.is_dir(), "wineboot made no {}", system32.display());
    std::fs::copy(&dll, system32.join("bcryptprimitives.dll")).expect("install the stand-in DLL");
    std::fs::write(dir.join(READY_MARK), "").unwrap();
}

/// Builds `tests/wine/processprng.c` into `bcryptprimitives.dll` with mingw.
fn build_processprng_dll(out_dir: &Path) -> PathBuf {
    let src = workspace_root().join("tests/wine");
    let dll = out_dir.join(format!("bcryptprimitives-{}.dll", std::process::id()));
    let out = Command::new(require_tool("x86_64-w64-mingw32-gcc"))
        .args(["-shared", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&dll)
        .arg(src.join("processprng.c"))
        .arg(src.join("processprng.def"))
        .arg("-ladvapi32")
        .output()
        .expect("run x86_64-w64-mingw32-gcc");
    assert!(
        out.status.success(),
        "building the ProcessPrng stand-in failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dll
}

/// Runs `cmd` with piped output; kills it when it outlives `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a Wine process");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || read_bytes(stdout));
    let err_reader = std::thread::spawn(move || read_bytes(stderr));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn read_bytes(mut r: impl std::io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}
