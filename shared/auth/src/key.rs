//! API key secrets: minted from the OS's randomness, shown once, remembered only as a SHA-256
//! hash. A secret reads `esk_<key id>_<64 hex>`: the key id is public (lists, revocation, logs),
//! the rest is the secret.

use sha2::{Digest, Sha256};

use crate::{AuthError, Role};

/// What Earshot remembers of a live key, as the directory publishes it to every service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyGrant {
    /// Public id.
    pub key_id: String,
    /// Tenant it acts for.
    pub tenant: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The agent it acts as (keys with the agent role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Calls and posts per second per service; 0 means the service's default.
    #[serde(default)]
    pub rate_per_second: u32,
}

/// A freshly minted key: its public id and its secret.
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// Public id.
    pub key_id: String,
    /// The whole secret, to hand to the caller once.
    pub secret: String,
}

fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|error| AuthError::Randomness(error.to_string()))?;
    Ok(hex::encode(buffer))
}

/// Mints a new key.
pub fn mint() -> Result<MintedKey, AuthError> {
    let key_id = random_hex(6)?;
    let secret = format!("esk_{key_id}_{}", random_hex(32)?);
    Ok(MintedKey { key_id, secret })
}

/// Mints a service credential (not a key: it is configured, never stored).
pub fn mint_service_secret() -> Result<String, AuthError> {
    Ok(format!("esk_service_{}", random_hex(32)?))
}

/// The hash a secret is remembered by.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_distinct_and_carry_their_id() {
        let a = mint().unwrap();
        let b = mint().unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(&format!("esk_{}_", a.key_id)));
        assert_eq!(a.secret.len(), 4 + 12 + 1 + 64);
        assert_eq!(hash(&a.secret).len(), 64);
        assert_ne!(hash(&a.secret), hash(&b.secret));
    }
}
