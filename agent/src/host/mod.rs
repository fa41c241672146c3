//! Access to the host: every file read goes through a [`SysRoot`], every
//! command through a [`CommandRunner`], so checks run unchanged against a
//! fixture tree and recorded command outputs.

#[cfg(unix)]
mod process_group;
mod host_command;
mod redact;
mod root;
mod runner;

pub use host_command::{HostCommands, runner_for_root};
pub use redact::redact_url_userinfo;
pub use root::{HostError, SysRoot, unix_seconds};
pub use runner::{
    CommandError, CommandOutput, CommandRunner, RecordedRunner, STDERR_SUMMARY_CHARS, SystemRunner,
};
