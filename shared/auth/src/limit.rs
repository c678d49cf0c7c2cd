//! The per-key rate limit: one token bucket per key and service in Redis, shared by every replica
//! of the service, refilled at the key's rate and holding one second of it (`lua/token_bucket.lua`).
//! A call costs one token and a post one more; a batch may overdraw the bucket (and then waits it
//! out), so a batch bigger than the rate still goes through, but no faster on average.
//!
//! A process does not ask Redis on every call: it takes a slice of tokens and spends it locally
//! for at most a tenth of a second. A slice is twice what the process spent from its last one
//! (the cost of the call at first, a tenth of the rate at most), so a busy key costs Redis about
//! ten calls a second per replica and a quiet one a call per call; what a slice leaves unspent
//! goes back to the bucket with the next take. The replicas together never spend more than the
//! key's rate. When Redis cannot be reached, calls are let through (logged): a missing limit is
//! better than refusing every caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use earshot_queue::Connection;

/// Slices a second of a key's rate is taken from Redis in.
const SLICES_PER_SECOND: u32 = 10;
/// How long a slice taken from Redis may be spent locally.
const SLICE_LIFETIME: Duration = Duration::from_millis(1_000 / SLICES_PER_SECOND as u64);
/// Most slices kept; beyond it every slice is dropped (they last a tenth of a second anyway).
const MAX_SLICES: usize = 100_000;

/// The keys' buckets in Redis, and the slices of them this process holds.
pub struct RateLimiter {
    redis: Connection,
    service: &'static str,
    bucket: redis::Script,
    slices: Mutex<HashMap<String, Slice>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

/// Tokens taken from a key's bucket, to spend here until `until`.
#[derive(Debug)]
struct Slice {
    tokens: u64,
    spent: u64,
    until: Instant,
}

/// Where a key's bucket for `service` lives in Redis.
fn bucket_key(service: &str, key_id: &str) -> String {
    format!("es:rate:{service}:{key_id}")
}

impl RateLimiter {
    /// A limiter over `service`'s buckets in `redis`.
    pub fn new(redis: Connection, service: &'static str) -> Self {
        Self {
            redis,
            service,
            bucket: redis::Script::new(include_str!("lua/token_bucket.lua")),
            slices: Mutex::default(),
        }
    }

    fn slices(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slice>> {
        self.slices.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes `cost` tokens of `key_id`'s budget of `rate` per second; false when it is spent.
    pub async fn try_spend(&self, key_id: &str, rate: u32, cost: u64) -> bool {
        let now = Instant::now();
        // Spent from the slice held, or the slice handed back (what it has left) for a new one.
        let (unspent, spent) = {
            let mut slices = self.slices();
            match slices.get_mut(key_id) {
                Some(slice) if slice.until > now && slice.tokens >= cost => {
                    slice.tokens -= cost;
                    slice.spent += cost;
                    return true;
                }
                Some(slice) => (std::mem::take(&mut slice.tokens), std::mem::take(&mut slice.spent)),
                None => (0, 0),
            }
        };
        let rate = rate.max(1);
        let want = cost.max((2 * spent).min(u64::from(rate.div_ceil(SLICES_PER_SECOND))));
        let given: redis::RedisResult<u64> = self
            .bucket
            .key(bucket_key(self.service, key_id))
            .arg(rate)
            .arg(want)
            .arg(unspent)
            .invoke_async(&mut self.redis.clone())
            .await;
        let given = match given {
            Ok(given) => given,
            Err(error) => {
                tracing::warn!(%error, key_id, "cannot reach the rate limit in redis; letting the call through");
                return true;
            }
        };
        let mut slices = self.slices();
        if slices.len() >= MAX_SLICES {
            slices.clear();
        }
        let slice = slices.entry(key_id.to_owned()).or_insert(Slice { tokens: 0, spent: 0, until: now });
        if given == 0 {
            return false;
        }
        slice.tokens += given.saturating_sub(cost);
        slice.spent += cost;
        slice.until = now + SLICE_LIFETIME;
        true
    }
}

/// A principal's share of the limiter.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub(crate) limiter: std::sync::Arc<RateLimiter>,
    pub(crate) rate: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replicas_share_one_budget_and_a_batch_may_overdraw_it() {
        let redis = earshot_testkit::TestRedis::single().await.unwrap();
        let connect = || async { RateLimiter::new(Connection::open(&redis.url()).await.unwrap(), "ingest") };
        let (here, there) = (connect().await, connect().await);
        assert!(here.try_spend("k", 1, 1).await, "one a second");
        assert!(!there.try_spend("k", 1, 1).await, "the other replica finds this second's budget spent");
        assert!(!here.try_spend("k", 1, 1).await);
        assert!(here.try_spend("other", 1, 500).await, "a big batch goes through once");
        assert!(!there.try_spend("other", 1, 1).await, "and then the key waits out its debt everywhere");
        let routing = RateLimiter::new(Connection::open(&redis.url()).await.unwrap(), "routing");
        assert!(routing.try_spend("other", 1, 1).await, "each service has its own budget for the key");
    }

    #[tokio::test]
    async fn calls_well_under_the_rate_pass_however_they_are_spread_over_replicas() {
        let redis = earshot_testkit::TestRedis::single().await.unwrap();
        let connect = || async { RateLimiter::new(Connection::open(&redis.url()).await.unwrap(), "ingest") };
        let replicas = [connect().await, connect().await, connect().await];
        // 100 a second allowed; 60 calls spread over three replicas, whatever their timing, are well
        // within it: no replica may hold back more than it spends.
        for call in 0..60 {
            assert!(replicas[call % 3].try_spend("k", 100, 1).await, "call {call} was refused");
        }
    }
}
