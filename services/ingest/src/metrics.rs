//! What ingest measures: posts accepted, duplicate and rejected (invalid or over the key's rate),
//! the pipeline's backlog (posts stored but not yet in a queue), posts it set aside as failed and each post's time from
//! accepted to offerable (stored → routed into a queue an agent can be offered from).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram};

/// Why a submission was refused, as the `reason` attribute of `earshot.posts.rejected`.
#[derive(Debug, Clone, Copy)]
pub enum Rejection {
    /// A field was invalid (`INVALID_ARGUMENT`).
    Invalid,
    /// The key's rate was spent (`RESOURCE_EXHAUSTED`).
    RateLimited,
}

/// The instruments; cheap to clone.
#[derive(Clone)]
pub struct IngestMetrics {
    accepted: Counter<u64>,
    duplicate: Counter<u64>,
    rejected: Counter<u64>,
    failed: Counter<u64>,
    backlog: Gauge<u64>,
    time_to_offer: Histogram<f64>,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let meter = earshot_telemetry::metrics::meter();
        Self {
            accepted: meter.u64_counter("earshot.posts.accepted").with_description("Posts stored as new").build(),
            duplicate: meter
                .u64_counter("earshot.posts.duplicate")
                .with_description(
                    "Posts submitted again (same tenant, channel and external id), answered with the original",
                )
                .build(),
            rejected: meter
                .u64_counter("earshot.posts.rejected")
                .with_description("Posts refused and not stored, by reason (invalid, rate_limited)")
                .build(),
            failed: meter
                .u64_counter("earshot.pipeline.failed")
                .with_description("Posts the pipeline set aside as failed (invalid, too large, or failing alone)")
                .build(),
            backlog: meter
                .u64_gauge("earshot.pipeline.backlog")
                .with_description("Posts stored but not yet routed into a queue")
                .build(),
            time_to_offer: earshot_telemetry::metrics::seconds_histogram(
                "earshot.post.time_to_offer",
                "From a post accepted to its case offerable in a queue",
            ),
        }
    }
}

impl IngestMetrics {
    /// Counts the outcome of one accepted submission.
    pub fn stored(&self, new: u64, duplicate: u64) {
        self.accepted.add(new, &[]);
        self.duplicate.add(duplicate, &[]);
    }

    /// Counts `posts` refused for `reason`.
    pub fn rejected(&self, reason: Rejection, posts: u64) {
        let reason = match reason {
            Rejection::Invalid => "invalid",
            Rejection::RateLimited => "rate_limited",
        };
        self.rejected.add(posts, &[KeyValue::new("reason", reason)]);
    }

    /// Counts a post set aside as failed.
    pub fn failed(&self) {
        self.failed.add(1, &[]);
    }

    /// Records the number of posts waiting for the pipeline.
    pub fn backlog(&self, waiting: u64) {
        self.backlog.record(waiting, &[]);
    }

    /// Records that a post accepted at `received_at_ms` became offerable at `routed_at_ms`.
    pub fn offered(&self, received_at_ms: i64, routed_at_ms: i64) {
        self.time_to_offer.record((routed_at_ms - received_at_ms).max(0) as f64 / 1000.0, &[]);
    }
}
