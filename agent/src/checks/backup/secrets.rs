//! Scrubbing a job's secrets out of every text that leaves the backup check.

use super::BackupJobConfig;
use crate::host::SysRoot;
pub(crate) use crate::host::redact_url_userinfo;

/// Secrets are at least this long; shorter env values (`1`, `yes`) would
/// blank out ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// The secret values of one job: its env values, password-file contents and
/// status-command arguments (they may carry tokens).
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Collects the secrets of `job` (the password file is read through `root`).
    pub(crate) fn for_job(job: &BackupJobConfig, root: &SysRoot) -> Self {
        let mut values: Vec<String> = job.env.values().cloned().collect();
        if let Some(path) = job.password_file.as_ref().and_then(|p| p.to_str())
            && let Ok(Some(text)) = root.read_optional(path)
        {
            values.push(text.trim().to_string());
            values.extend(text.lines().map(|l| l.trim().to_string()));
        }
        if let Some(argv) = &job.command {
            values.extend(argv.iter().skip(1).cloned());
            // `--token=abc`: the value alone may be printed too.
            values.extend(
                argv.iter()
                    .skip(1)
                    .filter_map(|a| a.split_once('=').map(|(_, v)| v.to_string())),
            );
        }
        values.retain(|v| v.len() >= MIN_SECRET_LEN);
        // Longest first, so a secret containing another is removed whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// `text` with every secret and every URL password replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = redact_url_userinfo(text);
        for secret in &self.values {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_password_file_values_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "correct horse battery\n").unwrap();
        let mut job = BackupJobConfig::new("j", super::super::BackupKind::Restic);
        job.password_file = Some("/pw".into());
        job.env
            .insert("AWS_SECRET_ACCESS_KEY".into(), "AKIASECRET".into());
        let s = Secrets::for_job(&job, &SysRoot::new(dir.path()));
        assert_eq!(
            s.redact("pw correct horse battery, key AKIASECRET"),
            "pw ***, key ***"
        );
    }

    #[test]
    fn status_command_arguments_are_redacted() {
        let mut job = BackupJobConfig::new("j", super::super::BackupKind::Command);
        job.command = Some(vec![
            "/usr/local/bin/backup-status".into(),
            "--api-token=tok-123456".into(),
            "ARG-SECRET-99".into(),
        ]);
        let s = Secrets::for_job(&job, &SysRoot::new("/nonexistent"));
        assert_eq!(
            s.redact("/usr/local/bin/backup-status: bad token tok-123456 (ARG-SECRET-99)"),
            "/usr/local/bin/backup-status: bad token *** (***)"
        );
    }
}
