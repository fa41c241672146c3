//! Scrubbing a job's secrets out of every text that leaves the backup check.

use super::BackupJobConfig;
use crate::host::SysRoot;

/// Secrets are at least this long; shorter env values (`1`, `yes`) would
/// blank out ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// The secret values of one job: its env values and password-file contents.
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

/// `rest:https://user:pass@host/` → `rest:https://***@host/`.
pub(crate) fn redact_url_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn url_userinfo_is_redacted() {
        assert_eq!(
            redact_url_userinfo("Fatal: rest:https://bob:hunter2@backup.example/repo gone"),
            "Fatal: rest:https://***@backup.example/repo gone"
        );
        assert_eq!(
            redact_url_userinfo("s3:https://s3.example/b"),
            "s3:https://s3.example/b"
        );
    }

    #[test]
    fn env_and_password_file_values_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "correct horse battery\n").unwrap();
        let job = BackupJobConfig {
            name: "j".into(),
            kind: super::super::BackupKind::Restic,
            repository: None,
            password_file: Some("/pw".into()),
            env: [(
                "AWS_SECRET_ACCESS_KEY".to_string(),
                "AKIASECRET".to_string(),
            )]
            .into(),
            path: None,
            command: None,
            timeout_secs: None,
        };
        let s = Secrets::for_job(&job, &SysRoot::new(dir.path()));
        assert_eq!(
            s.redact("pw correct horse battery, key AKIASECRET"),
            "pw ***, key ***"
        );
    }

    proptest! {
        #[test]
        fn redaction_never_panics(s in "\\PC*") {
            let _ = redact_url_userinfo(&s);
        }
    }
}
