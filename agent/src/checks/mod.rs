//! The checks an agent runs. One module per check, each implementing
//! [`Check`]; [`run_check`] times a check and turns any failure (even a
//! panic in a parser) into a `failed` outcome, so one broken check never
//! hides the others.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use fleetwatch_protocol::CheckResult;

use crate::host::{CommandError, CommandOutput, CommandRunner, HostError, SysRoot};

// The Linux and macOS checks read Unix sources (files under the root,
// Unix commands): a Windows build leaves them out entirely, so the
// `.exe` under Wine can never report the Linux it finds on drive Z:.
pub mod backup;
#[cfg(unix)]
pub mod data_protection;
pub mod hardware_ids;
#[cfg(unix)]
pub mod inventory;
pub mod package_hash;
#[cfg(unix)]
pub mod password_policy;
#[cfg(unix)]
pub mod patches;
/// On Windows only the patch module's timestamp parser is built: backup
/// jobs parse their tools' dates with it.
#[cfg(windows)]
pub mod patches {
    pub mod timestamp;
}
pub mod plist;

/// What a check may use: the host root, the command runner, the clock.
pub struct CheckContext<'a> {
    /// Root for every file read.
    pub root: &'a SysRoot,
    /// Runner for every command.
    pub runner: &'a dyn CommandRunner,
    /// "Now" in Unix seconds (fixed in tests).
    pub now: i64,
    /// Limit for each external command.
    pub command_timeout: std::time::Duration,
}

impl CheckContext<'_> {
    /// Runs a command with the context's timeout; a non-zero exit is not an error.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        self.runner.run(program, args, self.command_timeout)
    }

    /// Runs a command that must exit 0; `what` names it in the error.
    pub fn run_ok(
        &self,
        what: &str,
        program: &str,
        args: &[&str],
    ) -> Result<CommandOutput, CheckError> {
        let out = self.run(program, args)?;
        if out.success() {
            Ok(out)
        } else {
            Err(CheckError::command_failed(what, &out))
        }
    }
}

/// A check's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Collected<T> {
    /// The section.
    Ok(T),
    /// The check does not apply to this host; the reason.
    Unsupported(String),
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A host file could not be read.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A command could not be run.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A command or file had content the parser could not understand.
    #[error("could not parse {what}: {detail}")]
    Parse {
        /// What was being parsed (a path or a command line).
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A Windows source (WMI, registry, COM) failed.
    #[error(transparent)]
    Windows(#[from] crate::platform::windows::host::WindowsError),
    /// A command exited unsuccessfully.
    #[error("{command} exited with {code}: {stderr}")]
    CommandFailed {
        /// Command line.
        command: String,
        /// Exit code (or "a signal").
        code: String,
        /// First line of stderr.
        stderr: String,
    },
}

impl CheckError {
    /// The error for a command that exited unsuccessfully.
    pub fn command_failed(command: &str, out: &CommandOutput) -> CheckError {
        CheckError::CommandFailed {
            command: command.into(),
            code: out
                .exit_code
                .map_or_else(|| "a signal".to_string(), |c| c.to_string()),
            stderr: out.stderr_summary(),
        }
    }
}

/// One check. `collect` must not panic on bad host data (but if it does,
/// [`run_check`] reports the panic as a failure).
pub trait Check {
    /// The section this check produces.
    type Output;
    /// Name used in logs and the `--check` filter.
    const NAME: &'static str;
    /// Collects the section from the host.
    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<Self::Output>, CheckError>;
}

/// Runs a check, timing it; never fails.
pub fn run_check<C: Check>(check: &C, ctx: &CheckContext<'_>) -> CheckResult<C::Output> {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check.collect(ctx)));
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(Ok(Collected::Ok(data))) => CheckResult::ok(elapsed, data),
        Ok(Ok(Collected::Unsupported(reason))) => CheckResult::unsupported(elapsed, reason),
        Ok(Err(e)) => {
            // Tool messages quote repository URLs, credentials included.
            let message = crate::host::redact_url_userinfo(&e.to_string());
            tracing::warn!(check = C::NAME, error = %message, "check failed");
            CheckResult::failed(elapsed, message)
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(check = C::NAME, panic = %msg, "check panicked");
            CheckResult::failed(
                elapsed,
                format!("internal error in {} check: {msg}", C::NAME),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::RecordedRunner;
    use fleetwatch_protocol::CheckStatus;

    struct Panics;
    impl Check for Panics {
        type Output = ();
        const NAME: &'static str = "panics";
        fn collect(&self, _: &CheckContext<'_>) -> Result<Collected<()>, CheckError> {
            panic!("parser bug")
        }
    }

    #[test]
    fn a_panicking_check_is_reported_as_failed() {
        let root = SysRoot::new("/nonexistent");
        let runner = RecordedRunner::new();
        let ctx = CheckContext {
            root: &root,
            runner: &runner,
            now: 0,
            command_timeout: std::time::Duration::from_secs(1),
        };
        let r = run_check(&Panics, &ctx);
        assert_eq!(r.status, CheckStatus::Failed);
        assert!(r.error.unwrap().contains("parser bug"));
    }
}
