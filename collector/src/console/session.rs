//! Console sessions: sign-in with the admin token or a viewer token gives a
//! random session id (a cookie) and a CSRF token; both expire.
//!
//! Only the SHA-256 of a session id is kept, so a memory dump or a log line
//! of the table never holds a usable cookie.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "fleetwatch_session";

/// Most live sessions; past it the oldest is dropped (a sign-in needs a
/// valid token, so this only bounds a token holder signing in in a loop).
pub const MAX_SESSIONS: usize = 10_000;

/// What a signed-in person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Signed in with the admin token: may retire devices.
    Admin,
    /// Signed in with a viewer token: reads only.
    Viewer,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// One signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its rights.
    pub role: Role,
    /// Token every state-changing form must carry.
    pub csrf: String,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
}

/// The live sessions.
#[derive(Debug)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
    lifetime_secs: i64,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Sessions lasting `lifetime_secs`.
    pub fn new(lifetime_secs: i64) -> Self {
        Sessions {
            by_hash: Mutex::default(),
            lifetime_secs,
        }
    }

    /// Session lifetime (the cookie's Max-Age).
    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// Starts a session; returns its id (the cookie value) and the session.
    pub fn create(&self, role: Role, now: i64) -> (String, Session) {
        let id = random_token();
        let session = Session {
            role,
            csrf: random_token(),
            expires_at: now + self.lifetime_secs,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(hash(&id), session.clone());
        (id, session)
    }

    /// The live session with this id, if any (expired ones are removed).
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let key = hash(id);
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&hash(id));
    }
}

/// Constant-time equality of two secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The role a presented sign-in token grants, if any.
pub fn role_for_token(presented: &str, admin: &str, viewers: &[String]) -> Option<Role> {
    if presented.is_empty() {
        return None;
    }
    // Every token is compared, so timing tells nothing about which matched.
    let is_admin = secret_eq(presented, admin);
    let is_viewer = viewers
        .iter()
        .fold(false, |acc, v| acc | secret_eq(presented, v));
    if is_admin {
        Some(Role::Admin)
    } else if is_viewer {
        Some(Role::Viewer)
    } else {
        None
    }
}

/// The session cookie's value in a `Cookie` header, if present.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::new(60);
        let (id, created) = s.create(Role::Viewer, 1_000);
        assert_eq!(s.get(&id, 1_059).unwrap().csrf, created.csrf);
        assert!(s.get(&id, 1_060).is_none(), "expired");
        let (id, _) = s.create(Role::Admin, 1_000);
        s.remove(&id);
        assert!(s.get(&id, 1_001).is_none(), "signed out");
        assert!(s.get("made-up", 1_001).is_none());
    }

    #[test]
    fn tokens_grant_roles() {
        let viewers = vec!["viewer-token-0123456789".to_string()];
        assert_eq!(
            role_for_token("admin-secret", "admin-secret", &viewers),
            Some(Role::Admin)
        );
        assert_eq!(
            role_for_token("viewer-token-0123456789", "admin-secret", &viewers),
            Some(Role::Viewer)
        );
        assert_eq!(role_for_token("nope", "admin-secret", &viewers), None);
        assert_eq!(role_for_token("", "", &viewers), None);
    }

    #[test]
    fn cookie_values_are_found_by_name() {
        assert_eq!(
            cookie_value("a=1; fleetwatch_session=abc; b=2", COOKIE_NAME),
            Some("abc")
        );
        assert_eq!(cookie_value("xfleetwatch_session=abc", COOKIE_NAME), None);
    }
}
