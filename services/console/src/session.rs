//! Signed-in users. A session is a random id in an `HttpOnly`, `SameSite=Strict` cookie, mapped
//! in memory to the user's API key and what `WhoAmI` said of it; the key never reaches the
//! browser again. Every form carries the session's CSRF token, checked in constant time. The
//! sign-in form, before any session exists, pairs a cookie with a hidden field the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use axum::http::HeaderMap;
use earshot_proto::v1 as pb;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "earshot_session";
/// Name of the cookie that pairs with the sign-in form's token.
pub const SIGNIN_COOKIE: &str = "earshot_signin";
/// Most sessions kept at once; the oldest unused goes first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// A random token: 32 bytes, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a request can cause or recover from.
    getrandom::fill(&mut bytes).unwrap_or_else(|error| panic!("the system random source failed: {error}"));
    hex::encode(bytes)
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Who is signed in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The API key the user signed in with.
    pub secret: String,
    /// The key as Earshot knows it: tenant, roles, agent.
    pub key: pb::ApiKey,
    /// The token every form of this session must carry.
    pub csrf: String,
    last_used: Instant,
}

impl Session {
    /// Whether the key has `role`.
    pub fn has(&self, role: &str) -> bool {
        self.key.roles.iter().any(|r| r == role || r == "service")
    }

    /// This session, if its key has `role`.
    pub fn require(self, role: &'static str) -> Result<Session, MissingRole> {
        if self.has(role) { Ok(self) } else { Err(MissingRole(role)) }
    }
}

/// The signed-in key lacks this role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingRole(pub &'static str);

/// Every session, by id.
#[derive(Debug, Clone)]
pub struct Sessions {
    idle: Duration,
    by_id: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    /// Sessions that end after `idle` unused.
    pub fn new(idle: Duration) -> Self {
        Self { idle, by_id: Arc::default() }
    }

    /// Starts a session for `key`; returns its id.
    pub fn start(&self, secret: String, key: pb::ApiKey) -> String {
        let id = token();
        let session = Session { secret, key, csrf: token(), last_used: Instant::now() };
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        by_id.retain(|_, s| s.last_used.elapsed() < self.idle);
        if by_id.len() >= MAX_SESSIONS
            && let Some(oldest) = by_id.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session);
        id
    }

    /// The live session of the request's cookie, if any.
    pub fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let session = by_id.get_mut(&id)?;
        if session.last_used.elapsed() >= self.idle {
            by_id.remove(&id);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }

    /// Ends the request's session.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.by_id.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        }
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, the whole site, `Secure` when asked.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(max_age) = max_age {
        cookie += &format!("; Max-Age={}", max_age.as_secs());
    }
    if secure {
        cookie += "; Secure";
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_compared_whole() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..63]));
    }

    #[test]
    fn a_cookie_is_found_among_others_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; earshot_session=abc; b=2".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
        let set = set_cookie(SESSION_COOKIE, "abc", true, None);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.ends_with("Secure"), "{set}");
    }
}
