//! Redis side of Earshot: live queues, offers under lease, agents' load, event streams, and what
//! replicas of a service share: leases on single work and wake-ups.
//!
//! Every key of a tenant starts with `es:{tenant}:` so a tenant's keys share one hash slot and the
//! multi-key Lua scripts run unchanged on Redis Cluster. Each atomic step is one script run by
//! `EVALSHA`, and time is an argument, never read inside a script, so tests control it.
//!
//! Order inside a queue is the effective key `enqueued_at_ms − priority × credit_ms`, lowest
//! first ([`effective_score`]): one priority point buys `credit_ms` of head start, so nothing
//! starves and ageing needs no background job.

mod connection;
mod events;
mod lease;
mod names;
mod queues;
mod wake;

pub use connection::Connection;
pub use events::{EventStream, StreamEvent};
pub use lease::{Leases, holder_id};
pub use names::tenant_prefix;
pub use queues::{AgentState, Assign, CaseEntry, NextCase, Queues, Settle};
pub use wake::{Wake, Wakeups};

/// What went wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis refused or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A script answered something this code does not understand (a bug, not bad input).
    #[error("unexpected reply from script {script}: {reply}")]
    Protocol {
        /// Script name.
        script: &'static str,
        /// What it answered.
        reply: String,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The queue score of a case: lower is served first.
pub fn effective_score(enqueued_at_ms: i64, priority: u32, credit_ms: i64) -> i64 {
    enqueued_at_ms - i64::from(priority) * credit_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_priority_point_is_one_credit_of_head_start() {
        let fresh_urgent = effective_score(100 * 60_000, 100, 60_000);
        let old_low = effective_score(0, 0, 60_000);
        assert_eq!(fresh_urgent, old_low, "a priority-0 case waits at most 100 credits behind");
        assert!(effective_score(1_000, 50, 60_000) < effective_score(0, 49, 60_000));
    }
}
