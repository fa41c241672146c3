//! Scrubbing credentials out of texts that leave the machine (tool
//! messages quoting a repository URL such as `https://user:token@host/`).

/// `rest:https://user:pass@host/` → `rest:https://***@host/`.
pub fn redact_url_userinfo(text: &str) -> String {
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

    proptest! {
        #[test]
        fn redaction_never_panics(s in "\\PC*") {
            let _ = redact_url_userinfo(&s);
        }
    }
}
