//! Running host commands: always with a timeout and a clean `LC_ALL=C`
//! environment; faked in tests by [`RecordedRunner`].

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

    /// The first line of standard error, for error messages.
    pub fn stderr_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        line.chars().take(300).collect()
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
    /// Runs `program` with `args`; a non-zero exit is *not* an error (checks
    /// interpret exit codes, e.g. `dnf check-update` exits 100).
    fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError>;
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

impl CommandRunner for SystemRunner {
    fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("PATH", SAFE_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(home) = std::env::var_os("HOME") {
            cmd.env("HOME", home);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
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
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CommandError::Timeout {
                        program: program.into(),
                        timeout,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    return Err(CommandError::Io {
                        program: program.into(),
                        source: e,
                    });
                }
            }
        };
        Ok(CommandOutput {
            exit_code: status.code(),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
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
    fn run(
        &self,
        program: &str,
        args: &[&str],
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
