//! The credential flags every service shares, and the service credential's zero-configuration
//! default: a random secret in `data/service.key` (mode 0600), created by whichever service starts
//! first, read by the others on the same machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{AuthError, Bearer, DirectorySettings, KeyDirectory, key};

/// Credential settings of a service.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// The credential Earshot's services present to each other; also the operator's on the host.
    #[arg(long, env = "EARSHOT_SERVICE_KEY", hide_env_values = true)]
    pub service_key: Option<String>,
    /// Where the service credential is kept when --service-key is not given (created if missing).
    #[arg(long, env = "EARSHOT_SERVICE_KEY_FILE", default_value = "data/service.key")]
    pub service_key_file: PathBuf,
    /// How long a key's grant is trusted before Redis is asked again, in milliseconds.
    #[arg(long, env = "EARSHOT_KEY_CACHE_MS", default_value_t = 5_000)]
    pub key_cache_ms: u64,
    /// Calls and posts per second a key may make to this service, unless the key says otherwise.
    #[arg(long, env = "EARSHOT_RATE_PER_KEY", default_value_t = 2_000)]
    pub rate_per_key: u32,
}

impl AuthArgs {
    /// Settings for services embedded in one process, sharing `service_key`.
    pub fn local(service_key: &str) -> Self {
        Self {
            service_key: Some(service_key.to_owned()),
            service_key_file: PathBuf::from("data/service.key"),
            key_cache_ms: 5_000,
            rate_per_key: 2_000,
        }
    }

    /// Settings with a service credential of their own, minted now: for an embedded service
    /// until it is told the credential it shares with its peers.
    pub fn private() -> Self {
        let secret = key::mint_service_secret().unwrap_or_default();
        Self::local(&secret)
    }

    /// The service credential: the configured one, or the key file's (created when missing).
    pub fn service_secret(&self) -> Result<String, AuthError> {
        match &self.service_key {
            Some(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_owned()),
            _ => load_or_create(&self.service_key_file),
        }
    }

    /// The key directory on Redis at `redis_url`, and the credential for calls to other services.
    pub async fn open(&self, redis_url: &str, service: &'static str) -> Result<(KeyDirectory, Bearer), AuthError> {
        let secret = self.service_secret()?;
        let redis = earshot_queue::Connection::open(redis_url).await?;
        Ok((KeyDirectory::new(redis, &secret, self.directory_settings(service)), Bearer::new(&secret)?))
    }

    /// The directory's cache and rate settings for `service`.
    pub fn directory_settings(&self, service: &'static str) -> DirectorySettings {
        DirectorySettings {
            cache_for: Duration::from_millis(self.key_cache_ms),
            default_rate: self.rate_per_key,
            service,
        }
    }
}

fn io_error(path: &Path, error: std::io::Error) -> AuthError {
    AuthError::KeyFile { path: path.to_owned(), reason: error.to_string() }
}

/// Reads the secret in `path`, or writes a new one there. Several services may start at once: the
/// secret is written to a temporary file and linked into place, so a reader never sees half of
/// it, and the first link wins.
pub fn load_or_create(path: &Path) -> Result<String, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => return Err(AuthError::KeyFile { path: path.to_owned(), reason: "is empty".into() }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(path, error)),
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|error| io_error(folder, error))?;
    let mut temporary = tempfile::NamedTempFile::new_in(folder).map_err(|error| io_error(folder, error))?;
    temporary.write_all(key::mint_service_secret()?.as_bytes()).map_err(|error| io_error(path, error))?;
    temporary.as_file().sync_all().map_err(|error| io_error(path, error))?;
    match std::fs::hard_link(temporary.path(), path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error(path, error)),
    }
    let secret = std::fs::read_to_string(path).map_err(|error| io_error(path, error))?;
    Ok(secret.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/service.key");
        let first = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
