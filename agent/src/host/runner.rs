//! Running host commands: always with a timeout and a clean `LC_ALL=C`
//! environment; faked in tests by [`RecordedRunner`].

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Error messages quote at most this much of a command's stderr.
pub const STDERR_SUMMARY_CHARS: usize = 300;

/// What a finished command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    /// Standard output as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The first line of standard error, for error messages, with URL
    /// credentials removed (see [`CommandOutput::stderr_summary_redacted`]).
    pub fn stderr_summary(&self) -> String {
        self.stderr_summary_redacted(super::redact_url_userinfo)
    }

    /// The first line of standard error after `redact` ran over the whole
    /// text: redacting before the cut, so a secret straddling it cannot
    /// leave its first part behind.
    pub fn stderr_summary_redacted(&self, redact: impl Fn(&str) -> String) -> String {
        let text = redact(&String::from_utf8_lossy(&self.stderr));
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        line.chars().take(STDERR_SUMMARY_CHARS).collect()
    }

    /// True when the command exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A command that could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program is not installed.
    #[error("{program} is not installed")]
    NotFound {
        /// Program name.
        program: String,
    },
    /// The program ran longer than allowed and was killed.
    #[error("{program} did not finish within {}s and was killed", timeout.as_secs_f64())]
    Timeout {
        /// Program name.
        program: String,
        /// The limit it hit.
        timeout: Duration,
    },
    /// Spawning or waiting failed.
    #[error("could not run {program}: {source}")]
    Io {
        /// Program name.
        program: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Runs external commands for checks.
///
/// Implementations must never leave a child running past `timeout`.
pub trait CommandRunner: Send + Sync {
    /// Runs `program` with `args`, with `env` added to this one command's
    /// environment (zypper's `ZYPP_READONLY_HACK=1`, which no other tool
    /// should see); a non-zero exit is *not* an error (checks interpret exit
    /// codes, e.g. `dnf check-update` exits 100).
    ///
    /// Required, so every runner decides what `env` means for it instead of
    /// a default dropping it.
    fn run_with_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError>;

    /// [`CommandRunner::run_with_env`] with no added variables.
    fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        self.run_with_env(program, args, &[], timeout)
    }
}

/// Runs real commands on this machine.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    extra_env: Vec<(String, String)>,
}

impl SystemRunner {
    /// A runner with the clean default environment.
    pub fn new() -> Self {
        SystemRunner::default()
    }

    /// Adds an environment variable for every command (e.g. `RESTIC_PASSWORD_FILE`).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.extra_env.push((key.into(), value.into()));
        self
    }
}

/// PATH for commands: fixed, so a hostile environment cannot redirect them.
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables passed through from the agent's own environment: the unit
/// sets them so tools find a writable home/cache (restic and borg keep
/// their caches under `XDG_CACHE_HOME`).
const PASSED_THROUGH: [&str; 2] = ["HOME", "XDG_CACHE_HOME"];

/// How long the pipes may stay open after the command exited and its
/// process group was killed; only a process that left the group (setsid)
/// can hold them longer, and its output is not waited for.
const PIPE_GRACE: Duration = Duration::from_secs(1);

impl CommandRunner for SystemRunner {
    fn run_with_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        let deadline = Instant::now() + timeout;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("PATH", SAFE_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Its own process group: on timeout the whole tree it started
        // (checkupdates' pacman, a status script's background job) dies with it.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CommandError::NotFound {
                program: program.into(),
            },
            _ => CommandError::Io {
                program: program.into(),
                source: e,
            },
        })?;
        // Drain both pipes on threads so a chatty child cannot block on a full pipe.
        let stdout = PipeReader::spawn(child.stdout.take());
        let stderr = PipeReader::spawn(child.stderr.take());
        let waited = wait_for_exit(&mut child, deadline);
        // Whatever happened, nothing the command started outlives it: the
        // leader is done or hung, and what is left of its group are
        // background children that would hold its pipes open.
        kill_tree(&mut child);
        let status = child.wait();
        match waited {
            Ok(true) => {}
            Ok(false) => {
                return Err(CommandError::Timeout {
                    program: program.into(),
                    timeout,
                });
            }
            Err(source) => {
                return Err(CommandError::Io {
                    program: program.into(),
                    source,
                });
            }
        }
        let status = status.map_err(|source| CommandError::Io {
            program: program.into(),
            source,
        })?;
        let grace_until = Instant::now() + PIPE_GRACE;
        let stdout = stdout.finish(grace_until);
        let stderr = stderr.finish(grace_until);
        if !stdout.complete || !stderr.complete {
            tracing::warn!(
                program,
                "a process that left the command's group still holds its output open; using what it printed so far"
            );
        }
        Ok(CommandOutput {
            exit_code: status.code(),
            stdout: stdout.bytes,
            stderr: stderr.bytes,
        })
    }
}

/// Polls until the child exits (`true`) or `deadline` passes (`false`).
/// On Unix the child is not reaped here, so its group id stays reserved
/// until [`kill_tree`] has signalled the group.
fn wait_for_exit(child: &mut std::process::Child, deadline: Instant) -> std::io::Result<bool> {
    let mut pause = Duration::from_millis(1);
    loop {
        if child_exited(child)? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn child_exited(child: &mut std::process::Child) -> std::io::Result<bool> {
    super::process_group::has_exited(child.id())
}

#[cfg(not(unix))]
fn child_exited(child: &mut std::process::Child) -> std::io::Result<bool> {
    child.try_wait().map(|s| s.is_some())
}

/// Kills the child's whole process group (the child alone where there are none).
#[cfg(unix)]
fn kill_tree(child: &mut std::process::Child) {
    if let Err(e) = super::process_group::kill_group(child.id()) {
        tracing::warn!(pid = child.id(), error = %e, "could not kill the command's process group");
        let _ = child.kill();
    }
}

#[cfg(not(unix))]
fn kill_tree(child: &mut std::process::Child) {
    let _ = child.kill();
}

/// One pipe drained on its own thread into a shared buffer, so the runner
/// can stop waiting at a deadline and keep what was read.
struct PipeReader {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

/// What a [`PipeReader`] collected.
struct PipeBytes {
    bytes: Vec<u8>,
    /// False when the pipe was still open at the deadline.
    complete: bool,
}

impl PipeReader {
    fn spawn<R: Read + Send + 'static>(pipe: Option<R>) -> Self {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let shared = buffer.clone();
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => match shared.lock() {
                            Ok(mut b) => b.extend_from_slice(&chunk[..n]),
                            Err(_) => break,
                        },
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send(());
        });
        PipeReader { buffer, done }
    }

    /// Waits for end of file until `deadline`, then hands over what was read.
    fn finish(self, deadline: Instant) -> PipeBytes {
        let wait = deadline.saturating_duration_since(Instant::now());
        let complete = self.done.recv_timeout(wait).is_ok();
        let bytes = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        PipeBytes { bytes, complete }
    }
}

/// Replays recorded outputs of real tools; a command it has no recording
/// for behaves as "not installed".
///
/// A recording directory holds `commands.toml`:
///
/// ```toml
/// [[command]]
/// argv = ["apt-get", "-s", "upgrade"]
/// exit = 0                          # omit for "killed by signal"
/// stdout_file = "apt-get-s-upgrade.out"   # relative to the directory
/// stderr = ""                       # optional literal
/// timeout = false                   # true: behave as a hung command
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordedRunner {
    recordings: HashMap<Vec<String>, Recording>,
}

#[derive(Debug, Clone)]
enum Recording {
    Output(CommandOutput),
    Timeout,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordingFile {
    #[serde(default)]
    command: Vec<RecordedCommand>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedCommand {
    argv: Vec<String>,
    exit: Option<i32>,
    #[serde(default)]
    stdout_file: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: String,
    #[serde(default)]
    timeout: bool,
}

impl RecordedRunner {
    /// An empty runner: every command is "not installed".
    pub fn new() -> Self {
        RecordedRunner::default()
    }

    /// Loads `dir/commands.toml`; a missing file gives an empty runner.
    pub fn from_dir(dir: &Path) -> std::io::Result<Self> {
        let manifest = dir.join("commands.toml");
        let text = match std::fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(e) => return Err(e),
        };
        let file: RecordingFile = toml::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", manifest.display()),
            )
        })?;
        let mut runner = Self::new();
        for c in file.command {
            if c.timeout {
                runner.recordings.insert(c.argv, Recording::Timeout);
                continue;
            }
            let stdout = match (&c.stdout_file, c.stdout) {
                (Some(f), _) => std::fs::read(dir.join(f))?,
                (None, Some(s)) => s.into_bytes(),
                (None, None) => Vec::new(),
            };
            let output = CommandOutput {
                exit_code: c.exit,
                stdout,
                stderr: c.stderr.into_bytes(),
            };
            runner.recordings.insert(c.argv, Recording::Output(output));
        }
        Ok(runner)
    }

    /// Records one command's output.
    pub fn with(mut self, argv: &[&str], exit_code: i32, stdout: &str) -> Self {
        let output = CommandOutput {
            exit_code: Some(exit_code),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        };
        self.recordings.insert(
            argv.iter().map(|s| s.to_string()).collect(),
            Recording::Output(output),
        );
        self
    }

    /// Records one command's exit code and standard error.
    pub fn with_stderr(mut self, argv: &[&str], exit_code: i32, stderr: &str) -> Self {
        let output = CommandOutput {
            exit_code: Some(exit_code),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        };
        self.recordings.insert(
            argv.iter().map(|s| s.to_string()).collect(),
            Recording::Output(output),
        );
        self
    }

    /// Records a command that hangs until killed.
    pub fn with_timeout(mut self, argv: &[&str]) -> Self {
        self.recordings.insert(
            argv.iter().map(|s| s.to_string()).collect(),
            Recording::Timeout,
        );
        self
    }
}

impl CommandRunner for RecordedRunner {
    /// Replays by argv alone: a recording does not depend on `env`.
    fn run_with_env(
        &self,
        program: &str,
        args: &[&str],
        _env: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        let mut argv = vec![program.to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        match self.recordings.get(&argv) {
            Some(Recording::Output(o)) => Ok(o.clone()),
            Some(Recording::Timeout) => Err(CommandError::Timeout {
                program: program.into(),
                timeout,
            }),
            None => Err(CommandError::NotFound {
                program: program.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-command variables reach the command, and only that one.
    #[test]
    fn system_runner_run_with_env_sets_the_variables() {
        let script = ["-c", "printf '%s' \"${ZYPP_READONLY_HACK-unset}\""];
        let runner = SystemRunner::new();
        let timeout = Duration::from_secs(5);
        let with = runner
            .run_with_env("sh", &script, &[("ZYPP_READONLY_HACK", "1")], timeout)
            .unwrap();
        assert_eq!(with.stdout_text(), "1");
        let without = runner.run("sh", &script, timeout).unwrap();
        assert_eq!(without.stdout_text(), "unset");
    }

    #[test]
    fn system_runner_captures_output_and_exit_code() {
        let out = SystemRunner::new()
            .run(
                "sh",
                &["-c", "echo hi; echo err >&2; exit 3"],
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(out.stdout_text(), "hi\n");
        assert_eq!(out.stderr_summary(), "err");
        assert_eq!(out.exit_code, Some(3));
    }

    #[test]
    fn system_runner_uses_c_locale() {
        let out = SystemRunner::new()
            .run("sh", &["-c", "echo $LC_ALL"], Duration::from_secs(5))
            .unwrap();
        assert_eq!(out.stdout_text(), "C\n");
    }

    #[test]
    fn system_runner_kills_a_hanging_command() {
        let started = Instant::now();
        let err = SystemRunner::new()
            .run("sleep", &["30"], Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[cfg(target_os = "linux")]
    /// True while `pid` is a live process (a zombie is not: it is dead,
    /// only waiting for its parent to reap it).
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
                !matches!(state, Some(Some('Z' | 'X')))
            }
            Err(_) => false,
        }
    }

    #[cfg(target_os = "linux")]
    /// Waits a little for the kernel to finish killing `pid`.
    fn gone_soon(pid: u32) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[cfg(target_os = "linux")]
    fn read_pid(path: &Path) -> u32 {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(Instant::now() < until, "no pid in {}", path.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_background_child_holding_stdout_does_not_block_and_is_killed() {
        let started = Instant::now();
        let out = SystemRunner::new()
            .run(
                "sh",
                &["-c", "sleep 300 & echo $!; echo '{}'"],
                Duration::from_secs(30),
            )
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited {:?} for the background child",
            started.elapsed()
        );
        assert_eq!(out.exit_code, Some(0));
        let text = out.stdout_text();
        let mut lines = text.lines();
        let grandchild: u32 = lines.next().unwrap().parse().unwrap();
        assert_eq!(lines.next(), Some("{}"));
        assert!(
            gone_soon(grandchild),
            "sleep {grandchild} outlived its command"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_hung_command_takes_its_grandchildren_with_it() {
        // Stands in for a hung `checkupdates` waiting on its `pacman`.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pacman.pid");
        let script = dir.path().join("checkupdates");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep 300 &\necho $! > '{}'\nwait\n",
                pid_file.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let started = Instant::now();
        let err = SystemRunner::new()
            .run(script.to_str().unwrap(), &[], Duration::from_millis(500))
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let grandchild = read_pid(&pid_file);
        assert!(
            gone_soon(grandchild),
            "the hung command's child {grandchild} is still running"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn output_is_complete_after_a_normal_exit() {
        // Killing the group after the exit must not lose what is still in the pipe.
        let out = SystemRunner::new()
            .run(
                "sh",
                &["-c", "head -c 1000000 /dev/zero | tr '\\0' x"],
                Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(out.stdout.len(), 1_000_000);
        assert!(out.stdout.iter().all(|b| *b == b'x'));
    }

    #[test]
    fn the_summary_is_redacted_before_it_is_cut() {
        // The password starts 10 characters before the 300-character cut.
        let head = "x".repeat(STDERR_SUMMARY_CHARS - 10);
        let secret = "PW-STRADDLING-THE-CUT";
        let out = CommandOutput {
            exit_code: Some(1),
            stdout: Vec::new(),
            stderr: format!("{head}{secret} rest\n").into_bytes(),
        };
        let summary = out.stderr_summary_redacted(|t| t.replace(secret, "***"));
        assert!(!summary.contains("PW-STR"), "{summary}");
        assert!(summary.contains("***"), "{summary}");
        let url = CommandOutput {
            stderr: format!("{head}https://deploy:glpat-abcdefgh@repo.example/x\n").into_bytes(),
            ..out
        };
        let summary = url.stderr_summary();
        assert!(
            !summary.contains("deploy") && !summary.contains("glpat"),
            "{summary}"
        );
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = SystemRunner::new()
            .run("fleetwatch-no-such-tool", &[], Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(err, CommandError::NotFound { .. }));
    }

    #[test]
    fn recorded_runner_replays() {
        let r = RecordedRunner::new()
            .with(&["dnf", "check-update"], 100, "x")
            .with_timeout(&["apt-get"]);
        let out = r
            .run("dnf", &["check-update"], Duration::from_secs(1))
            .unwrap();
        assert_eq!(out.exit_code, Some(100));
        assert!(matches!(
            r.run("apt-get", &[], Duration::from_secs(1)),
            Err(CommandError::Timeout { .. })
        ));
        assert!(matches!(
            r.run("zypper", &[], Duration::from_secs(1)),
            Err(CommandError::NotFound { .. })
        ));
    }
}
