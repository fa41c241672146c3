//! The backup check: the state of each configured backup job.
//!
//! One module per kind (`restic`, `borg`, `marker`, `command`); each turns
//! a job's config into [`JobFacts`] or a [`JobError`]. A job's failure is
//! that job's `error`, never a failure of the whole check, and every error
//! text is scrubbed of the job's secrets before it leaves this module.

mod borg;
mod command;
mod config;
mod marker;
mod restic;
mod secrets;
mod time_machine;
pub mod tool_outputs;

use std::path::PathBuf;
use std::time::Duration;

use fleetwatch_protocol::{BackupJob, BackupResult, BackupStatus};

pub use config::{ANY_HOST, BackupJobConfig, BackupKind};

use super::{Check, CheckContext, CheckError, Collected};
use crate::host::{CommandError, CommandOutput, CommandRunner, HostError, SystemRunner};
use secrets::Secrets;

/// Reports every configured backup job.
#[derive(Debug, Clone, Default)]
pub struct BackupCheck {
    jobs: Vec<BackupJobConfig>,
    force_context_runner: bool,
}

impl BackupCheck {
    /// A check over these jobs.
    pub fn new(jobs: Vec<BackupJobConfig>) -> Self {
        BackupCheck {
            jobs,
            force_context_runner: false,
        }
    }

    /// Always runs tools through the context's runner, even on the live
    /// root (where each job normally gets its own [`SystemRunner`] carrying
    /// the job's environment: passwords, cloud credentials).
    pub fn with_context_runner(mut self) -> Self {
        self.force_context_runner = true;
        self
    }
}

/// Marker files to watch so a finished backup is reported at once.
pub fn marker_paths(jobs: &[BackupJobConfig]) -> Vec<PathBuf> {
    jobs.iter()
        .filter(|j| j.kind == BackupKind::Marker)
        .filter_map(|j| j.path.clone())
        .collect()
}

impl Check for BackupCheck {
    type Output = BackupStatus;
    const NAME: &'static str = "backup";
    fn collect(&self, ctx: &CheckContext<'_>) -> Result<Collected<BackupStatus>, CheckError> {
        if self.jobs.is_empty() {
            return Ok(Collected::Unsupported("no backup jobs configured".into()));
        }
        let hostname = local_hostname(ctx);
        let jobs = self
            .jobs
            .iter()
            .map(|job| self.collect_job(job, ctx, &hostname))
            .collect();
        Ok(Collected::Ok(BackupStatus { jobs }))
    }
}

/// The host name restic and borg record for this machine: the kernel's on
/// Unix (read through the root, so fixture roots work).
#[cfg(unix)]
fn local_hostname(ctx: &CheckContext<'_>) -> String {
    crate::checks::inventory::identity::read_hostname(ctx.root)
}

/// The host name restic and borg record for this machine: on Windows the
/// DNS host name (`GetComputerNameExW`, as Go's `os.Hostname` reads it).
#[cfg(not(unix))]
fn local_hostname(_ctx: &CheckContext<'_>) -> String {
    sysinfo::System::host_name().unwrap_or_default()
}

impl BackupCheck {
    fn collect_job(
        &self,
        job: &BackupJobConfig,
        ctx: &CheckContext<'_>,
        hostname: &str,
    ) -> BackupJob {
        let secrets = Secrets::for_job(job, ctx.root);
        let env = job_env(job);
        let own_runner;
        let runner: &dyn CommandRunner = if ctx.root.is_live() && !self.force_context_runner {
            own_runner = env
                .iter()
                .fold(SystemRunner::new(), |r, (k, v)| r.with_env(k, v));
            &own_runner
        } else {
            ctx.runner
        };
        let jc = JobContext {
            ctx,
            runner,
            secrets: &secrets,
            hostname,
            timeout: job
                .timeout_secs
                .map_or(ctx.command_timeout, Duration::from_secs),
        };
        let result = match job.kind {
            BackupKind::Restic => restic::collect(job, &jc),
            BackupKind::Borg => borg::collect(job, &jc),
            BackupKind::Marker => marker::collect(job, &jc),
            BackupKind::Command => command::collect(job, &jc),
            BackupKind::TimeMachine => time_machine::collect(&jc),
        };
        let mut out = BackupJob {
            name: job.name.clone(),
            kind: job.kind.as_str().into(),
            ..Default::default()
        };
        match result {
            Ok(facts) => {
                out.last_success_at = facts.last_success_at;
                out.last_attempt_at = facts.last_attempt_at;
                out.last_result = facts.last_result;
                out.size_bytes = facts.size_bytes;
                out.snapshot_count = facts.snapshot_count;
                out.error = facts.warning.map(|w| secrets.redact(&w));
            }
            Err(e) => {
                out.unsupported = matches!(e, JobError::Unsupported(_));
                let message = secrets.redact(&e.to_string());
                tracing::warn!(job = %job.name, error = %message, "backup job state unreadable");
                out.error = Some(message);
            }
        }
        out
    }
}

/// The environment a job's tool runs with: the configured extras plus what
/// the kind needs (borg reads its passphrase through `BORG_PASSCOMMAND`).
fn job_env(job: &BackupJobConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = job
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if job.kind == BackupKind::Borg {
        env.extend(
            borg::env(job)
                .into_iter()
                .filter(|(k, _)| !job.env.contains_key(k)),
        );
    }
    env
}

/// What a backend may use for one job.
pub(crate) struct JobContext<'a> {
    ctx: &'a CheckContext<'a>,
    runner: &'a dyn CommandRunner,
    timeout: Duration,
    /// Scrubs the job's secrets from tool messages before they are cut.
    secrets: &'a Secrets,
    /// This host's name (the default snapshot filter).
    hostname: &'a str,
}

impl JobContext<'_> {
    /// Runs a tool; a non-zero exit becomes [`JobError::Failed`] named by `what`.
    fn run_ok(&self, what: &str, program: &str, args: &[&str]) -> Result<CommandOutput, JobError> {
        let out = self.runner.run(program, args, self.timeout)?;
        if !out.success() {
            return Err(JobError::Failed {
                command: what.into(),
                code: out
                    .exit_code
                    .map_or_else(|| "a signal".to_string(), |c| c.to_string()),
                stderr: out.stderr_summary_redacted(|t| self.secrets.redact(t)),
            });
        }
        Ok(out)
    }

    /// The host whose snapshots count for `job`, `None` for every host's;
    /// an unknown host name is an error, never "every host".
    fn snapshot_host<'j>(&'j self, job: &'j BackupJobConfig) -> Result<Option<&'j str>, JobError> {
        match job.snapshot_host(self.hostname) {
            Some("") => Err(JobError::Config(
                "this host's name is unknown, so its snapshots cannot be told apart: set `host`"
                    .into(),
            )),
            other => Ok(other),
        }
    }
}

/// What a backend learned about a job.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct JobFacts {
    last_success_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_result: BackupResult,
    size_bytes: Option<u64>,
    snapshot_count: Option<u64>,
    /// A partial problem worth reporting next to the facts.
    warning: Option<String>,
}

impl JobFacts {
    /// Facts from a repository listing (restic snapshots, borg archives).
    /// Both tools record only finished runs, so the newest snapshot is both
    /// the last success and the newest attempt known.
    fn from_snapshots(count: u64, latest: Option<i64>) -> Self {
        JobFacts {
            snapshot_count: Some(count),
            last_success_at: latest,
            last_attempt_at: latest,
            last_result: if latest.is_some() {
                BackupResult::Success
            } else {
                BackupResult::Unknown
            },
            ..Default::default()
        }
    }
}

/// Why one job's state could not be read. Messages never include the
/// repository location or credentials (they are scrubbed again anyway).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// The tool could not be run (missing, hung).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The tool exited unsuccessfully.
    #[error("{command} exited with {code}: {stderr}")]
    Failed {
        command: String,
        code: String,
        stderr: String,
    },
    /// The tool's answer was not understood.
    #[error("could not parse the output of {command}: {detail}")]
    Parse { command: String, detail: String },
    /// The job's configuration is incomplete.
    #[error("invalid job configuration: {0}")]
    Config(String),
    /// A host file could not be read.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The job's state cannot be read on this host (the reason says why).
    #[error("{0}")]
    Unsupported(String),
}

/// A time given either as Unix seconds or as an RFC 3339 string.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum TimeValue {
    /// Unix seconds.
    Unix(i64),
    /// RFC 3339 text.
    Text(String),
}

impl TimeValue {
    fn to_unix(&self) -> Option<i64> {
        match self {
            TimeValue::Unix(s) => Some(*s),
            TimeValue::Text(t) => super::patches::timestamp::parse_datetime(t),
        }
    }
}

/// `success`/`failure` words used by status bodies.
fn parse_result(word: &str) -> BackupResult {
    match word.trim().to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "ok" => BackupResult::Success,
        "failure" | "failed" | "error" => BackupResult::Failure,
        _ => BackupResult::Unknown,
    }
}
