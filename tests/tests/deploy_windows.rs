//! The Windows packages `scripts/package-windows.sh dev` builds from the
//! test run's one `fleetwatch-agent.exe` (unoptimised; the deployable
//! packages are the same script with the `agent`-profile build): the MSI (wixl),
//! inspected with `msiinfo`/`msiextract` and installed under Wine with
//! `msiexec /i ... /qn COLLECTOR_URL=... CA_FINGERPRINT=... ENROLL_SECRET=...`
//! against the real collector, and the zip with `install.ps1`.
//!
//! `install.ps1` is not run: Debian has no PowerShell and Wine ships none.
//! Its test checks the zip and the script's structure (balanced blocks, the
//! parameters, the agent commands it runs, that it checks every exit code
//! and never prints the secret).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fleetwatch_e2e::wine::{
    WinePrefix, agent_exe, wait_for_windows_device, win_path, windows_packages,
};
use fleetwatch_e2e::*;

/// `msiinfo export MSI TABLE` as rows of tab-separated cells (the three
/// header lines dropped).
fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let out = tool_stdout(
        "msiinfo",
        [OsStr::new("export"), msi.as_os_str(), OsStr::new(table)],
    );
    String::from_utf8_lossy(&out)
        .lines()
        .skip(3)
        .map(|l| {
            l.trim_end_matches('\r')
                .split('\t')
                .map(String::from)
                .collect()
        })
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

#[test]
fn the_msi_carries_the_built_exe_the_service_and_the_config_action() {
    let (msi, _) = windows_packages();
    let tables = String::from_utf8_lossy(&tool_stdout(
        "msiinfo",
        [OsStr::new("tables"), msi.as_os_str()],
    ))
    .to_string();
    for table in [
        "File",
        "Component",
        "Directory",
        "ServiceInstall",
        "ServiceControl",
        "CustomAction",
        "InstallExecuteSequence",
        "Property",
        "LaunchCondition",
    ] {
        assert!(tables.lines().any(|l| l == table), "no {table}: {tables}");
    }

    let exe = agent_exe();
    let exe_bytes = std::fs::read(&exe).unwrap();
    let files = msi_table(&msi, "File");
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert!(file[2].ends_with("fleetwatch-agent.exe"), "{file:?}");
    assert_eq!(file[3], exe_bytes.len().to_string(), "File.FileSize");
    let component = row(&msi_table(&msi, "Component"), &file[1]).to_vec();
    assert_eq!(component[2], "INSTALLDIR");
    let dirs = msi_table(&msi, "Directory");
    assert_eq!(row(&dirs, "INSTALLDIR")[1], "ProgramFiles64Folder");
    assert_eq!(row(&dirs, "INSTALLDIR")[2], "fleetwatch");

    // The service: own process, automatic start, LocalSystem, `service run`.
    let service = msi_table(&msi, "ServiceInstall");
    let service = row(&service, "AgentService");
    assert_eq!(service[1], "fleetwatch-agent");
    assert_eq!((service[3].as_str(), service[4].as_str()), ("16", "2"));
    assert_eq!(service[8], "LocalSystem");
    assert_eq!(
        service[10],
        r#"service run --config "[CommonAppDataFolder]fleetwatch\agent.toml""#
    );
    // Started on install, stopped on install and removal, deleted on removal
    // (msidbServiceControlEvent 1 + 2 + 32 + 128), waiting for each.
    let control = msi_table(&msi, "ServiceControl");
    let control = row(&control, "AgentServiceControl");
    assert_eq!(control[1], "fleetwatch-agent");
    assert_eq!(control[2], "163");
    assert_eq!(control[4], "1");

    // The config: the installed exe run as LocalSystem (deferred,
    // no impersonation), its command line hidden from the log.
    let actions = msi_table(&msi, "CustomAction");
    let action = row(&actions, "WriteAgentConfig");
    let kind: u32 = action[1].parse().unwrap();
    assert_eq!(kind & 0x3f, 18, "an EXE from the File table: {kind}");
    assert_ne!(kind & 0x400, 0, "deferred: {kind}");
    assert_ne!(kind & 0x800, 0, "no impersonation: {kind}");
    assert_ne!(kind & 0x2000, 0, "HideTarget: {kind}");
    assert_eq!(action[2], file[0]);
    for property in ["[COLLECTOR_URL]", "[CA_FINGERPRINT]", "[ENROLL_SECRET]"] {
        assert!(action[3].contains(property), "{action:?}");
    }
    assert!(
        action[3].starts_with(r#"service configure --dir "[CommonAppDataFolder]fleetwatch" "#),
        "{action:?}"
    );
    let sequence = msi_table(&msi, "InstallExecuteSequence");
    let at = |name: &str| -> u32 { row(&sequence, name)[2].parse().unwrap() };
    assert!(at("InstallFiles") < at("WriteAgentConfig"));
    assert!(at("WriteAgentConfig") < at("StartServices"));
    assert!(row(&sequence, "WriteAgentConfig")[1].contains("COLLECTOR_URL"));

    let properties = msi_table(&msi, "Property");
    assert_eq!(row(&properties, "MsiHiddenProperties")[1], "ENROLL_SECRET");
    assert_eq!(row(&properties, "ALLUSERS")[1], "1");
    let secure = &row(&properties, "SecureCustomProperties")[1];
    for p in ["COLLECTOR_URL", "CA_FINGERPRINT", "ENROLL_SECRET"] {
        assert!(secure.split(';').any(|s| s == p), "{secure}");
    }
    assert_eq!(
        row(&properties, "ProductVersion")[1],
        env!("CARGO_PKG_VERSION")
    );
    let launch = msi_table(&msi, "LaunchCondition");
    assert!(
        launch
            .iter()
            .any(|r| r[0].contains("COLLECTOR_URL") && r[1].contains("msiexec")),
        "{launch:?}"
    );

    // The exe inside is the one built.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(require_tool("msiextract"))
        .arg("-C")
        .arg(dir.path())
        .arg(&msi)
        .output()
        .unwrap();
    assert!(out.status.success(), "msiextract: {}", output_text(&out));
    let inside = find_file(dir.path(), "fleetwatch-agent.exe")
        .unwrap_or_else(|| panic!("no exe extracted: {}", output_text(&out)));
    assert!(
        std::fs::read(&inside).unwrap() == exe_bytes,
        "the MSI's exe differs from {}",
        exe.display()
    );
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

fn msiexec(prefix: &WinePrefix, args: &[&str]) -> std::process::Output {
    prefix
        .command("msiexec")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wine msiexec")
}

fn reg_query(prefix: &WinePrefix, key: &str) -> (bool, String) {
    let out = prefix
        .command("reg")
        .args(["query", key])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

const SERVICE_KEY: &str = r"HKLM\System\CurrentControlSet\Services\fleetwatch-agent";

/// Removes the product (and what the agent wrote) even when an assertion failed.
struct InstalledMsi<'p> {
    prefix: &'p WinePrefix,
    msi: String,
}

impl Drop for InstalledMsi<'_> {
    fn drop(&mut self) {
        let _ = msiexec(self.prefix, &["/x", &self.msi, "/qn"]);
        let _ = std::fs::remove_dir_all(self.prefix.drive_c().join("ProgramData/fleetwatch"));
    }
}

/// The files under `dir` that contain `needle`.
fn contains_anywhere(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            hits.extend(contains_anywhere(&path, needle));
        } else if kind.is_file()
            && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        {
            hits.push(path);
        }
    }
    hits
}

#[test]
fn msiexec_under_wine_installs_the_service_and_a_private_config_that_reports() {
    let (msi, _) = windows_packages();
    let prefix = WinePrefix::shared();
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), &[]);
    let secret = std::fs::read_to_string(collector.enroll_secret_file())
        .unwrap()
        .trim()
        .to_string();
    let fingerprint = collector.logged_fingerprint();
    let msi_win = win_path(&msi);
    let log = tmp.path().join("install.log");

    let out = msiexec(
        &prefix,
        &[
            "/i",
            &msi_win,
            "/qn",
            "/l*v",
            &win_path(&log),
            &format!("COLLECTOR_URL={}", collector.url()),
            &format!("CA_FINGERPRINT={fingerprint}"),
            &format!("ENROLL_SECRET={secret}"),
        ],
    );
    let _installed = InstalledMsi {
        prefix: &prefix,
        msi: msi_win.clone(),
    };
    assert!(out.status.success(), "msiexec /i: {}", output_text(&out));

    // The binary under Program Files is the one built.
    let installed = prefix
        .drive_c()
        .join("Program Files/fleetwatch/fleetwatch-agent.exe");
    assert!(
        std::fs::read(&installed).ok() == std::fs::read(agent_exe()).ok(),
        "{} is not the built exe",
        installed.display()
    );

    // The service is registered as `service run` from there.
    let (exists, text) = reg_query(&prefix, SERVICE_KEY);
    assert!(exists, "no service key");
    assert!(
        text.contains(r"Program Files\fleetwatch\fleetwatch-agent.exe")
            && text.contains(r#"service run --config "C:\ProgramData\fleetwatch\agent.toml""#),
        "{text}"
    );

    // The config from the properties; the secret in a file of its own (its
    // ACL: service_configure_asks_windows_for_the_private_descriptor).
    let data = prefix.drive_c().join("ProgramData/fleetwatch");
    let config = std::fs::read_to_string(data.join("agent.toml")).unwrap();
    assert!(
        config.contains(&format!("collector_url = \"{}\"", collector.url())),
        "{config}"
    );
    assert!(config.contains(&fingerprint), "{config}");
    assert!(config.contains("enroll-secret"), "{config}");
    assert!(!config.contains(&secret), "the secret is in agent.toml");
    assert_eq!(
        std::fs::read_to_string(data.join("enroll-secret")).unwrap(),
        secret
    );

    // The service MSI started enrolls and reports on its own.
    let state = data.join("state");
    let id = wait_for_windows_device(&collector, &state, "the installed service");
    assert!(!id.is_empty());

    // The service logs to its rotated file under ProgramData.
    let log_file = data.join("logs/agent.log");
    let log_text = std::fs::read_to_string(&log_file)
        .unwrap_or_else(|e| panic!("{}: {e}", log_file.display()));
    assert!(log_text.contains("enrolled"), "{log_text}");

    // The secret is nowhere but its file: not in the MSI log, the registry
    // (the service's command line) or the service's own log.
    // Wine's msi ignores MsiHiddenProperties in the property dump it ends
    // its log with (Windows Installer writes `**********` there), so that
    // one line is allowed under Wine; the action's command line (HideTarget)
    // and every other line must not carry it.
    let needle = secret.as_bytes();
    let msi_log = std::fs::read(&log).expect("msiexec wrote its /l*v log");
    let msi_log = String::from_utf8_lossy(&msi_log);
    let leaks: Vec<&str> = msi_log
        .lines()
        .filter(|l| l.contains(&secret) && !l.starts_with("Property(S): ENROLL_SECRET = "))
        .collect();
    assert!(leaks.is_empty(), "the secret is in the MSI log: {leaks:?}");
    // Where an installer or a service leaves text: the registry hives, the
    // data and user folders, the temp and log folders (not the 700 MB of
    // Wine's own DLLs).
    let mut hits: Vec<PathBuf> = ["system.reg", "user.reg", "userdef.reg"]
        .iter()
        .map(|f| prefix.dir().join(f))
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .collect();
    for dir in [
        "drive_c/ProgramData",
        "drive_c/users",
        "drive_c/windows/temp",
        "drive_c/windows/logs",
        "drive_c/windows/Installer",
    ] {
        hits.extend(contains_anywhere(&prefix.dir().join(dir), needle));
    }
    hits.retain(|p| !p.ends_with("ProgramData/fleetwatch/enroll-secret"));
    assert!(hits.is_empty(), "the secret is in {hits:?}");

    // Removal stops and deletes the service and the binary.
    let out = msiexec(&prefix, &["/x", &msi_win, "/qn"]);
    assert!(out.status.success(), "msiexec /x: {}", output_text(&out));
    assert!(
        !reg_query(&prefix, SERVICE_KEY).0,
        "the service key is still there"
    );
    assert!(
        !installed.exists(),
        "{} is still there",
        installed.display()
    );
}

/// The `set_security_object` requests in a `WINEDEBUG=+server` trace.
fn set_security_requests(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter(|l| l.contains("set_security_object( "))
        .collect()
}

#[test]
fn service_configure_asks_windows_for_the_private_descriptor() {
    // Upstream Wine 8 keeps no DACL on files (it folds a DACL into Unix
    // mode bits and reads back one made from them), so what the agent
    // asked for is read from the wineserver protocol trace instead: the
    // owner, the protected flag and the ACEs of each SetNamedSecurityInfoW.
    let prefix = WinePrefix::shared();
    let dir = prefix.drive_c().join("fleetwatch-acl-test");
    let _ = std::fs::remove_dir_all(&dir);
    let out = prefix
        .command(agent_exe())
        .args([
            "service",
            "configure",
            "--collector",
            "https://collector.example:8443",
            "--enroll-secret",
            "acl-test-secret",
            "--dir",
            r"C:\fleetwatch-acl-test",
        ])
        .env("WINEDEBUG", "+server")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "service configure: {}",
        output_text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("enroll-secret")).unwrap(),
        "acl-test-secret"
    );
    let requests = set_security_requests(&trace);
    // The directory, once before each of the two files is written.
    assert!(requests.len() >= 2, "{requests:#?}");
    for request in requests {
        // PROTECTED_DACL (0x80000000) | DACL (4) | OWNER (1).
        assert!(request.contains("security_info=80000005"), "{request}");
        assert!(request.contains("owner=S-1-5-32-544"), "{request}");
        let dacl = &request[request.find("dacl={").expect("a DACL") + 6..];
        // The agent's own ACEs come first: full control (1f01ff) for
        // SYSTEM and Administrators, inherited by files and folders
        // (OI|CI = 3). Wine's advapi32 appends the parent's ACEs marked
        // inherited (flags 0x13) although the DACL is protected; Windows
        // does not (PROTECTED_DACL_SECURITY_INFORMATION).
        assert!(
            dacl.starts_with(
                "{type=ACCESS_ALLOWED,flags=3,mask=1f01ff,sid=S-1-5-18},{type=ACCESS_ALLOWED,flags=3,mask=1f01ff,sid=S-1-5-32-544}"
            ),
            "{request}"
        );
        let own: Vec<&str> = dacl
            .split("},{")
            .filter(|ace| !ace.contains("flags=13"))
            .collect();
        assert_eq!(
            own.len(),
            2,
            "an ACE of the agent's beyond SYSTEM and Administrators: {request}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The names in a zip (`unzip -Z1`).
fn zip_names(zip: &Path) -> Vec<String> {
    String::from_utf8_lossy(&tool_stdout("unzip", [OsStr::new("-Z1"), zip.as_os_str()]))
        .lines()
        .map(String::from)
        .collect()
}

fn unzip_file(zip: &Path, name: &str) -> Vec<u8> {
    tool_stdout(
        "unzip",
        [OsStr::new("-p"), zip.as_os_str(), OsStr::new(name)],
    )
}

/// PowerShell text without comments and with every string literal
/// replaced by `''`, so braces and keywords are checked on code only.
fn powershell_code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' if b.get(i + 1) == Some(&b'#') => {
                let end = text[i..].find("#>").expect("unterminated block comment");
                i += end + 2;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    // A backtick escapes the next character in "...".
                    i += if q == b'"' && b[i] == b'`' { 2 } else { 1 };
                }
                assert!(i < b.len(), "unterminated string");
                out.extend_from_slice(b"''");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_zip_carries_the_built_exe_and_a_well_formed_install_script() {
    let (_, zip) = windows_packages();
    let names = zip_names(&zip);
    let root = format!(
        "fleetwatch-agent-{}-x86_64-windows-dev/",
        env!("CARGO_PKG_VERSION")
    );
    for name in ["fleetwatch-agent.exe", "install.ps1", "agent.example.toml"] {
        assert!(names.contains(&format!("{root}{name}")), "{names:?}");
    }
    assert!(
        unzip_file(&zip, &format!("{root}fleetwatch-agent.exe"))
            == std::fs::read(agent_exe()).unwrap(),
        "the zip's exe is not the built one"
    );
    let script =
        String::from_utf8(unzip_file(&zip, &format!("{root}install.ps1"))).expect("UTF-8 script");
    assert!(script.contains("\r\n"), "CRLF line ends for Windows");
    let code = powershell_code(&script);
    for (open, close) in [('{', '}'), ('(', ')'), ('[', ']')] {
        assert_eq!(
            code.matches(open).count(),
            code.matches(close).count(),
            "unbalanced {open}{close}"
        );
    }
    assert!(script.contains("#Requires -RunAsAdministrator"));
    assert!(code.contains("Set-StrictMode -Version Latest"));
    assert!(code.contains("$ErrorActionPreference = ''"), "{code}");
    for param in [
        "$CollectorUrl",
        "$CaFingerprint",
        "$CaFile",
        "$EnrollSecret",
        "$InstallDir",
        "[switch] $Uninstall",
        "[switch] $RemoveData",
    ] {
        assert!(code.contains(param), "no parameter {param}");
    }
    // The agent commands it runs, each through Invoke-Agent, which throws on
    // a non-zero exit code.
    assert!(code.contains("if ($LASTEXITCODE -ne 0)"));
    for command in ["configure", "install", "start", "stop", "uninstall"] {
        assert!(
            script.contains(&format!("@('service', '{command}'")),
            "no `service {command}`"
        );
    }
    // Empty values are not passed (Windows PowerShell 5.1 drops empty
    // native arguments, which would shift the next flag into their place).
    for flag in ["--ca-fingerprint", "--ca'", "--enroll-secret"] {
        let at = script.find(flag).unwrap_or_else(|| panic!("no {flag}"));
        let line_start = script[..at].rfind('\n').unwrap();
        assert!(
            script[line_start..at].contains("if ("),
            "{flag} is passed unconditionally"
        );
    }
    // The secret never goes to the console.
    for line in script
        .lines()
        .filter(|l| l.contains("Write-Host") || l.contains("throw"))
    {
        assert!(!line.contains("$EnrollSecret"), "{line}");
    }
}
