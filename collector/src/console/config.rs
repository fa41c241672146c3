//! `[console]` (session length, read-only viewer tokens) and `[licences]`
//! (software title -> licences owned), raw and validated.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::ConfigError;

/// Shortest viewer token accepted: a guessable token would open the fleet.
pub const MIN_TOKEN_LEN: usize = 16;

/// Sign-in attempts a minute per source address unless configured: enough
/// for people mistyping, far too few to guess a token.
pub const DEFAULT_SIGN_IN_PER_MINUTE: u64 = 10;

/// `[console]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    /// Minutes a session lasts after sign-in (default 480).
    pub session_minutes: Option<u64>,
    /// Read-only tokens: they see every page but cannot retire devices.
    pub viewer_tokens: Option<Vec<String>>,
    /// Sign-in attempts a minute per source address (default 10; 0: no limit).
    pub sign_in_per_minute: Option<u64>,
}

/// The validated console settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// Session lifetime, seconds.
    pub session_secs: i64,
    /// Read-only sign-in tokens.
    pub viewer_tokens: Vec<String>,
    /// Licences owned per software title (exact title as inventoried).
    pub licences: BTreeMap<String, u64>,
    /// Sign-in attempts a minute per source address (0: no limit).
    pub sign_in_per_minute: u64,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are secrets: only their number is shown.
        f.debug_struct("ConsoleConfig")
            .field("session_secs", &self.session_secs)
            .field("viewer_tokens", &self.viewer_tokens.len())
            .field("licences", &self.licences)
            .field("sign_in_per_minute", &self.sign_in_per_minute)
            .finish()
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_secs: 480 * 60,
            viewer_tokens: Vec::new(),
            licences: BTreeMap::new(),
            sign_in_per_minute: DEFAULT_SIGN_IN_PER_MINUTE,
        }
    }
}

impl ConsoleConfig {
    /// Validates `[console]` and `[licences]`.
    pub fn build(
        raw: Option<RawConsole>,
        licences: Option<BTreeMap<String, u64>>,
    ) -> Result<Self, ConfigError> {
        let raw = raw.unwrap_or_default();
        let minutes = match raw.session_minutes {
            Some(m) if !(1..=7 * 24 * 60).contains(&m) => {
                return Err(ConfigError::Invalid {
                    key: "console.session_minutes",
                    message: "must be between 1 and 10080 (one week)".into(),
                });
            }
            Some(m) => m,
            None => 480,
        };
        let viewer_tokens = raw.viewer_tokens.unwrap_or_default();
        if let Some(i) = viewer_tokens
            .iter()
            .position(|t| t.trim().len() < MIN_TOKEN_LEN || t.trim() != t)
        {
            return Err(ConfigError::Invalid {
                key: "console.viewer_tokens",
                message: format!(
                    "token #{} must be at least {MIN_TOKEN_LEN} characters without surrounding spaces",
                    i + 1
                ),
            });
        }
        let licences = licences.unwrap_or_default();
        if licences.keys().any(|t| t.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                key: "licences",
                message: "a title must not be empty".into(),
            });
        }
        Ok(ConsoleConfig {
            session_secs: minutes as i64 * 60,
            viewer_tokens,
            licences,
            sign_in_per_minute: raw.sign_in_per_minute.unwrap_or(DEFAULT_SIGN_IN_PER_MINUTE),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_and_bad_session_lengths_are_refused() {
        let short = RawConsole {
            viewer_tokens: Some(vec!["short".into()]),
            ..RawConsole::default()
        };
        assert!(ConsoleConfig::build(Some(short), None).is_err());
        let zero = RawConsole {
            session_minutes: Some(0),
            ..RawConsole::default()
        };
        assert!(ConsoleConfig::build(Some(zero), None).is_err());
        let ok = ConsoleConfig::build(None, None).unwrap();
        assert_eq!(ok.session_secs, 480 * 60);
        assert!(!format!("{ok:?}").contains("token\""));
    }
}
