//! Where every service finds the keys: routing keeps them in its database (the record) and
//! publishes each live key's grant to the Redis hash `es:keys` under the hash of its secret, so
//! any service can check a key with one `HGET`. Grants are cached in-process for a few seconds;
//! a revoked key stops working at once in routing and within the cache time elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use earshot_core::Tenant;
use earshot_queue::Connection;
use redis::AsyncCommands;

use crate::limit::{Limit, RateLimiter};
use crate::{AuthError, KeyGrant, Principal, key};

/// The Redis hash of live grants, by secret hash. Global: the tenant is what a key tells.
const KEYS: &str = "es:keys";
/// Most cached grants before the cache is emptied.
const MAX_CACHED: usize = 50_000;

/// How a directory caches and limits.
#[derive(Debug, Clone, Copy)]
pub struct DirectorySettings {
    /// How long a grant is trusted without asking Redis again.
    pub cache_for: Duration,
    /// Calls and posts per second per key when the key does not say.
    pub default_rate: u32,
    /// The service whose budgets this process spends: a key's rate is a budget per service,
    /// shared by all of its replicas.
    pub service: &'static str,
}

/// Finds the principal behind a secret.
#[derive(Clone)]
pub struct KeyDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Connection,
    service_hash: String,
    settings: DirectorySettings,
    cache: Mutex<HashMap<String, (KeyGrant, Instant)>>,
    limiter: Arc<RateLimiter>,
}

impl KeyDirectory {
    /// A directory over `redis`, accepting `service_secret` as the service credential.
    pub fn new(redis: Connection, service_secret: &str, settings: DirectorySettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                limiter: Arc::new(RateLimiter::new(redis.clone(), settings.service)),
                redis,
                service_hash: key::hash(service_secret),
                settings,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (KeyGrant, Instant)>> {
        self.inner.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal for `secret`; `tenant` is the tenant a service credential names.
    pub async fn principal(&self, secret: &str, tenant: Option<&str>) -> Result<Principal, AuthError> {
        let hash = key::hash(secret);
        if hash == self.inner.service_hash {
            let tenant = match tenant {
                Some(name) => Tenant::parse(name)?,
                None => Tenant::default(),
            };
            return Ok(Principal::service(tenant));
        }
        let grant = self.grant(&hash).await?.ok_or(AuthError::UnknownKey)?;
        let rate = if grant.rate_per_second == 0 { self.inner.settings.default_rate } else { grant.rate_per_second };
        Ok(Principal {
            tenant: Tenant::parse(&grant.tenant)?,
            roles: grant.roles,
            key_id: grant.key_id,
            agent_id: grant.agent_id,
            limit: Some(Limit { limiter: self.inner.limiter.clone(), rate }),
        })
    }

    async fn grant(&self, hash: &str) -> Result<Option<KeyGrant>, AuthError> {
        if let Some((grant, at)) = self.cache().get(hash)
            && at.elapsed() < self.inner.settings.cache_for
        {
            return Ok(Some(grant.clone()));
        }
        let mut redis = self.inner.redis.clone();
        let stored: Option<String> = redis.hget(KEYS, hash).await?;
        let Some(stored) = stored else {
            self.cache().remove(hash);
            return Ok(None);
        };
        let grant: KeyGrant = serde_json::from_str(&stored).map_err(|error| AuthError::Corrupt(error.to_string()))?;
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(hash.to_owned(), (grant.clone(), Instant::now()));
        Ok(Some(grant))
    }

    /// Publishes a live key's grant under the hash of its secret.
    pub async fn publish(&self, hash: &str, grant: &KeyGrant) -> Result<(), AuthError> {
        let value = serde_json::to_string(grant).map_err(|error| AuthError::Corrupt(error.to_string()))?;
        let mut redis = self.inner.redis.clone();
        let () = redis.hset(KEYS, hash, value).await?;
        Ok(())
    }

    /// Withdraws a key: it fails from now on here, and elsewhere once their caches expire.
    pub async fn withdraw(&self, hash: &str) -> Result<(), AuthError> {
        let mut redis = self.inner.redis.clone();
        let _: i64 = redis.hdel(KEYS, hash).await?;
        self.cache().remove(hash);
        Ok(())
    }

    /// Makes Redis hold exactly `live` (after a restart, or a Redis that lost its data).
    pub async fn sync(&self, live: &[(String, KeyGrant)]) -> Result<(), AuthError> {
        let mut redis = self.inner.redis.clone();
        let published: Vec<String> = redis.hkeys(KEYS).await?;
        for stale in published.iter().filter(|hash| !live.iter().any(|(live_hash, _)| live_hash == *hash)) {
            self.withdraw(stale).await?;
        }
        for (hash, grant) in live {
            self.publish(hash, grant).await?;
        }
        Ok(())
    }
}
