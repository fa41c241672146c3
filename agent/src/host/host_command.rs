//! Commands in container mode (`root = "/host"`): every command runs
//! against the host, never against the container, so a report never mixes
//! the host's files with the container's tools and package databases.
//!
//! The host's own binaries run with `chroot ROOT PROGRAM ARGS...` (the
//! container needs `CAP_SYS_CHROOT`, which Docker and Podman grant root by
//! default). Whether that works is probed once; when it does not, every
//! command fails with [`HostCommands::unavailable`]'s reason and the report
//! marks the checks that need commands `unsupported` with that reason.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{CommandError, CommandOutput, CommandRunner};

/// Longest the one-time probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs commands inside the host root through `chroot`.
pub struct HostCommands {
    root: PathBuf,
    inner: Arc<dyn CommandRunner>,
    probe: OnceLock<Option<String>>,
}

impl std::fmt::Debug for HostCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCommands")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl HostCommands {
    /// Commands for the host mounted at `root`, spawned by `inner` (the
    /// container's own `chroot` runs them).
    pub fn new(root: impl Into<PathBuf>, inner: Arc<dyn CommandRunner>) -> Self {
        HostCommands {
            root: root.into(),
            inner,
            probe: OnceLock::new(),
        }
    }

    /// The host root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Why commands cannot run on the host, or `None` when they can
    /// (probed once: `chroot ROOT true`).
    pub fn unavailable(&self) -> Option<String> {
        self.probe
            .get_or_init(|| {
                let root = self.root.to_string_lossy().into_owned();
                let why = match self.inner.run("chroot", &[&root, "true"], PROBE_TIMEOUT) {
                    Ok(out) if out.success() => return None,
                    Ok(out) => {
                        let stderr = out.stderr_summary();
                        if stderr.is_empty() {
                            format!("chroot {root} true exited with {:?}", out.exit_code)
                        } else {
                            stderr
                        }
                    }
                    Err(e) => e.to_string(),
                };
                let why = format!(
                    "container mode: commands cannot run on the host at {root} ({why}); \
                     give the agent CAP_SYS_CHROOT or run it on the host"
                );
                tracing::warn!(reason = %why, "checks that need host commands are unsupported");
                Some(why)
            })
            .clone()
    }
}

/// The runner for checks under `root`: `inner` itself on the live root
/// (`/`), else host commands through `inner` (also returned, for
/// [`HostCommands::unavailable`]).
pub fn runner_for_root(
    root: &Path,
    inner: Arc<dyn CommandRunner>,
) -> (Arc<dyn CommandRunner>, Option<Arc<HostCommands>>) {
    if root == Path::new("/") {
        return (inner, None);
    }
    let host = Arc::new(HostCommands::new(root, inner));
    (host.clone(), Some(host))
}

/// The `chroot` command line for `program args` under `root`.
fn chroot_args<'a>(root: &'a str, program: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut full = Vec::with_capacity(args.len() + 2);
    full.push(root);
    full.push(program);
    full.extend_from_slice(args);
    full
}

/// Errors name the host program, not `chroot`.
fn renamed(e: CommandError, program: &str) -> CommandError {
    let program = program.to_string();
    match e {
        CommandError::NotFound { .. } => CommandError::NotFound { program },
        CommandError::Timeout { timeout, .. } => CommandError::Timeout { program, timeout },
        CommandError::Io { source, .. } => CommandError::Io { program, source },
    }
}

impl CommandRunner for HostCommands {
    /// `chroot` hands its environment on to the program it runs.
    fn run_with_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        if let Some(why) = self.unavailable() {
            return Err(CommandError::Io {
                program: program.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::Unsupported, why),
            });
        }
        let root = self.root.to_string_lossy();
        let out = self
            .inner
            .run_with_env("chroot", &chroot_args(&root, program, args), env, timeout)
            .map_err(|e| renamed(e, program))?;
        // GNU chroot: 127 when the program is missing in the new root
        // (126 when it cannot be executed), with its own message.
        let chroot_said = String::from_utf8_lossy(&out.stderr).starts_with("chroot: ");
        if chroot_said && out.exit_code == Some(127) {
            return Err(CommandError::NotFound {
                program: program.to_string(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers `chroot` with a scripted output and records every argv.
    struct Scripted {
        calls: Mutex<Vec<Vec<String>>>,
        answer: fn(&[&str]) -> CommandOutput,
    }

    impl CommandRunner for Scripted {
        /// Answers by argv alone; the real `chroot` test below covers `env`.
        fn run_with_env(
            &self,
            program: &str,
            args: &[&str],
            _env: &[(&str, &str)],
            _: Duration,
        ) -> Result<CommandOutput, CommandError> {
            let mut argv = vec![program.to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            self.calls.lock().unwrap().push(argv);
            Ok((self.answer)(args))
        }
    }

    /// The per-command variables (zypper's read-only promise) survive the
    /// `chroot`: a real chroot into `/`, as root.
    #[test]
    fn run_with_env_reaches_the_host_command() {
        let host = HostCommands::new("/", Arc::new(crate::host::SystemRunner::new()));
        if let Some(why) = host.unavailable() {
            // Not root (no CAP_SYS_CHROOT): nothing to run the real chroot with.
            eprintln!("skipped: {why}");
            return;
        }
        let script = ["-c", "printf '%s' \"${ZYPP_READONLY_HACK-unset}\""];
        let out = host
            .run_with_env(
                "sh",
                &script,
                &[("ZYPP_READONLY_HACK", "1")],
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(out.stdout_text(), "1");
        let out = host.run("sh", &script, Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout_text(), "unset");
    }

    fn exit(code: i32, stderr: &str) -> CommandOutput {
        CommandOutput {
            exit_code: Some(code),
            stdout: b"out".to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn commands_run_in_the_host_root_and_a_missing_host_tool_is_not_found() {
        let inner = Arc::new(Scripted {
            calls: Mutex::default(),
            answer: |args| match args[1] {
                "true" => exit(0, ""),
                "dnf" => exit(
                    127,
                    "chroot: failed to run command 'dnf': No such file or directory\n",
                ),
                _ => exit(100, "some tool's own error"),
            },
        });
        let host = HostCommands::new("/host", inner.clone());
        assert_eq!(host.unavailable(), None);
        let out = host
            .run("apt-get", &["-s", "upgrade"], Duration::from_secs(1))
            .unwrap();
        assert_eq!(out.exit_code, Some(100));
        let err = host
            .run("dnf", &["-C"], Duration::from_secs(1))
            .unwrap_err();
        assert!(
            matches!(err, CommandError::NotFound { ref program } if program == "dnf"),
            "{err}"
        );
        let calls = inner.calls.lock().unwrap();
        assert_eq!(calls[0], ["chroot", "/host", "true"]);
        assert_eq!(calls[1], ["chroot", "/host", "apt-get", "-s", "upgrade"]);
        // Probed once.
        assert_eq!(calls.iter().filter(|c| c[2] == "true").count(), 1);
    }

    #[test]
    fn without_chroot_rights_no_command_runs_and_the_reason_says_why() {
        let inner = Arc::new(Scripted {
            calls: Mutex::default(),
            answer: |_| {
                exit(
                    125,
                    "chroot: cannot change root directory to '/host': Operation not permitted\n",
                )
            },
        });
        let host = HostCommands::new("/host", inner.clone());
        let why = host.unavailable().unwrap();
        assert!(
            why.contains("Operation not permitted") && why.contains("CAP_SYS_CHROOT"),
            "{why}"
        );
        let err = host
            .run("apt-get", &["-s"], Duration::from_secs(1))
            .unwrap_err();
        assert!(err.to_string().contains("Operation not permitted"), "{err}");
        // Only the probe ran: the container's apt-get never does.
        assert_eq!(inner.calls.lock().unwrap().len(), 1);
    }
}
