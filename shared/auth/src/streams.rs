//! Open server streams, per key and in total. A stream holds a task and a Redis connection for as
//! long as the client keeps it, so without a bound one key (or all of them together) could open
//! streams until the service runs out of connections; beyond the bound a new stream is refused
//! with `RESOURCE_EXHAUSTED`, and the ones already open keep working.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use earshot_core::Tenant;
use tonic::Status;

use crate::Principal;

/// Why a stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamsExhausted {
    /// The key has as many streams open as it may.
    #[error("this key already has {0} streams open; close one before opening another")]
    PerKey(usize),
    /// The service has as many streams open as it may.
    #[error("the service has {0} streams open, its limit; retry later")]
    Total(usize),
}

impl From<StreamsExhausted> for Status {
    fn from(error: StreamsExhausted) -> Self {
        Status::resource_exhausted(error.to_string())
    }
}

/// The watch-stream bounds every service with a `Watch…` stream takes.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Most watch streams one key may keep open.
    #[arg(long, env = "EARSHOT_MAX_WATCHES_PER_KEY", default_value_t = 8)]
    pub max_watches_per_key: usize,
    /// Most watch streams open in all.
    #[arg(long, env = "EARSHOT_MAX_WATCHES", default_value_t = 1_024)]
    pub max_watches: usize,
}

impl Default for WatchArgs {
    fn default() -> Self {
        Self { max_watches_per_key: 8, max_watches: 1_024 }
    }
}

impl WatchArgs {
    /// A fresh count under these bounds.
    pub fn limits(&self) -> StreamLimits {
        StreamLimits::new(self.max_watches_per_key, self.max_watches)
    }
}

type Open = Arc<Mutex<HashMap<(Tenant, String), usize>>>;

/// Counts open streams; share one per service (cheap to clone).
#[derive(Debug, Clone)]
pub struct StreamLimits {
    per_key: usize,
    total: usize,
    open: Open,
}

/// An open stream's place in the count, given back when dropped (when the stream ends).
#[derive(Debug)]
pub struct StreamSlot {
    key: (Tenant, String),
    open: Open,
}

impl StreamLimits {
    /// At most `per_key` streams per key and `total` in all.
    pub fn new(per_key: usize, total: usize) -> Self {
        Self { per_key, total, open: Open::default() }
    }

    /// Takes a slot for a stream `principal` opens.
    pub fn open(&self, principal: &Principal) -> Result<StreamSlot, StreamsExhausted> {
        let key = (principal.tenant.clone(), principal.key_id.clone());
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.values().sum::<usize>() >= self.total {
            return Err(StreamsExhausted::Total(self.total));
        }
        let mine = open.entry(key.clone()).or_default();
        if *mine >= self.per_key {
            return Err(StreamsExhausted::PerKey(self.per_key));
        }
        *mine += 1;
        Ok(StreamSlot { key, open: self.open.clone() })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(tenant: &str, key_id: &str) -> Principal {
        Principal {
            tenant: Tenant::parse(tenant).unwrap_or_default(),
            roles: Vec::new(),
            key_id: key_id.into(),
            agent_id: None,
            limit: None,
        }
    }

    #[test]
    fn a_key_gets_its_share_and_a_closed_stream_frees_its_slot() {
        let limits = StreamLimits::new(2, 3);
        let (ana, bo, cy) = (principal("acme", "k_ana"), principal("acme", "k_bo"), principal("other", "k_cy"));
        let first = limits.open(&ana).unwrap_or_else(|e| panic!("{e}"));
        let _second = limits.open(&ana).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limits.open(&ana).unwrap_err(), StreamsExhausted::PerKey(2));
        let _bo = limits.open(&bo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limits.open(&cy).unwrap_err(), StreamsExhausted::Total(3));
        drop(first);
        assert!(limits.open(&cy).is_ok(), "a closed stream gives its slot back");
        assert_eq!(Status::from(StreamsExhausted::PerKey(2)).code(), tonic::Code::ResourceExhausted);
    }
}
