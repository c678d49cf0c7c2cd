//! Credentials for every Earshot service: API keys carrying a tenant and roles, checked in one
//! tower layer ([`AuthLayer`]) against the access table ([`rules`]), rate-limited per key, and a
//! service credential for the calls the services make to each other, and a bound on the server
//! streams each key keeps open.
//!
//! The tenant of a request comes from its key. Only the service credential may name a tenant in
//! `x-earshot-tenant`; from anyone else that header is ignored.

mod client;
mod config;
mod directory;
pub mod key;
mod layer;
mod limit;
mod principal;
mod role;
pub mod rules;
mod streams;

pub use client::{AuthChannel, Bearer};
pub use config::{AuthArgs, load_or_create};
pub use directory::{DirectorySettings, KeyDirectory};
pub use key::{KeyGrant, MintedKey};
pub use layer::{AuthLayer, Authenticated};
pub use principal::Principal;
pub use role::Role;
pub use streams::{StreamLimits, StreamSlot, StreamsExhausted, WatchArgs};

/// Why a credential could not be checked or made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No live key has this secret.
    #[error("unknown or revoked API key")]
    UnknownKey,
    /// The secret cannot be sent as a header.
    #[error("the API key is not a valid header value")]
    MalformedSecret,
    /// The service credential named an invalid tenant.
    #[error(transparent)]
    Tenant(#[from] earshot_core::InvalidArgument),
    /// Redis, where grants are published, failed.
    #[error("key directory: {0}")]
    Redis(#[from] redis::RedisError),
    /// A published grant could not be read.
    #[error("key directory holds an unreadable grant: {0}")]
    Corrupt(String),
    /// The OS gave no randomness.
    #[error("no randomness for a new key: {0}")]
    Randomness(String),
    /// The service key file could not be read or written.
    #[error("service key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
}
