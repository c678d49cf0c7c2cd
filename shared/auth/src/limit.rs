//! The per-key rate limit: a token bucket per key and service process, refilled at the key's
//! rate and holding one second of it. A call costs one token and a post one more; a batch may
//! overdraw the bucket (and then waits it out), so a batch bigger than the rate still goes
//! through, but no faster on average.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Buckets of every key seen by this process.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Most buckets kept; beyond it idle ones (full again) are forgotten.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// Takes `cost` tokens from `key_id`'s bucket refilled at `rate` per second; false when the
    /// bucket is empty.
    pub fn try_spend(&self, key_id: &str, rate: u32, cost: u64) -> bool {
        let rate = f64::from(rate.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, bucket| now.duration_since(bucket.updated).as_secs_f64() < 1.0);
        }
        let bucket = buckets.entry(key_id.to_owned()).or_insert(Bucket { tokens: rate, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.updated = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= cost as f64;
        true
    }
}

/// A principal's share of the limiter.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) rate: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_one_second_and_a_batch_may_overdraw_it() {
        let limiter = RateLimiter::default();
        for _ in 0..10 {
            assert!(limiter.try_spend("k", 10, 1));
        }
        assert!(!limiter.try_spend("k", 10, 1));
        assert!(limiter.try_spend("other", 10, 500), "a big batch goes through once");
        assert!(!limiter.try_spend("other", 10, 1), "and then waits out its debt");
    }
}
