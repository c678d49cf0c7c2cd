//! Accepting posts: validate and normalise, deduplicate on (tenant, channel, external id), and
//! store before answering.

use earshot_core::ids::check_id;
use earshot_core::{Limits, Post, SharedClock, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::Wakeups;
use sea_orm::DatabaseConnection;

use crate::error::{Error, Result};
use crate::metrics::{IngestMetrics, Rejection};
use crate::stored::{self, record};

/// The post store and the signal that wakes the pipeline.
#[derive(Clone)]
pub struct Posts {
    /// Database.
    pub db: DatabaseConnection,
    /// Reads of it outside transactions (the pipeline's reads, `GetPost`), beside the writer: see
    /// [`earshot_store::readers`].
    pub reads: DatabaseConnection,
    /// Time.
    pub clock: SharedClock,
    /// Input limits.
    pub limits: Limits,
    /// Woken whenever posts are accepted, in this replica and the others (whichever works the
    /// tenant's backlog).
    pub accepted: Wakeups,
    /// What is counted of posts.
    pub metrics: IngestMetrics,
    /// Where accepted posts are written.
    pub writer: crate::writer::Writer,
}

impl Posts {
    /// Validates one post; errors name fields under `field` (e.g. `post.text`).
    pub fn validate_one(&self, post: pb::Post, field: &str) -> Result<Post> {
        let valid = self.check_one(post, field);
        if valid.is_err() {
            self.metrics.rejected(Rejection::Invalid, 1);
        }
        valid
    }

    fn check_one(&self, post: pb::Post, field: &str) -> Result<Post> {
        Post::from_wire(post, &self.limits, self.clock.now_ms()).map_err(|e| e.within(field).into())
    }

    /// Validates a batch; nothing is stored if any post is invalid. A post repeated within the
    /// batch (same channel and external id) is a client bug, refused like any invalid field.
    pub fn validate(&self, posts: Vec<pb::Post>, field: &str) -> Result<Vec<Post>> {
        let count = posts.len() as u64;
        let valid = self.check(posts, field);
        if valid.is_err() {
            self.metrics.rejected(Rejection::Invalid, count);
        }
        valid
    }

    fn check(&self, posts: Vec<pb::Post>, field: &str) -> Result<Vec<Post>> {
        earshot_core::InvalidArgument::check_count(field, posts.len(), self.limits.max_batch)?;
        let posts: Vec<Post> = posts
            .into_iter()
            .enumerate()
            .map(|(i, post)| self.check_one(post, &format!("{field}[{i}]")))
            .collect::<Result<_>>()?;
        let mut seen = std::collections::HashMap::with_capacity(posts.len());
        for (index, post) in posts.iter().enumerate() {
            if let Some(first) = seen.insert((post.channel, post.external_id.as_str()), index) {
                return Err(earshot_core::InvalidArgument::new(
                    format!("{field}[{index}].external_id"),
                    format!("repeats {field}[{first}] (same channel and external id)"),
                )
                .into());
            }
        }
        Ok(posts)
    }

    /// Stores validated posts (with concurrent submissions, in one transaction: see
    /// [`crate::writer`]); a post already accepted answers with the original's id and `duplicate`.
    #[tracing::instrument(name = "ingest.accept", skip_all, fields(%tenant, posts = posts.len()))]
    pub async fn accept(&self, tenant: &Tenant, posts: Vec<Post>) -> Result<Vec<pb::SubmitPostResponse>> {
        let trace_parent = earshot_trace::current_traceparent();
        self.writer.write(tenant.clone(), posts, trace_parent).await
    }

    /// A stored post of the tenant with its pipeline state.
    pub async fn get(&self, tenant: &Tenant, post_id: &str) -> Result<pb::PostRecord> {
        check_id("post_id", 'p', post_id)?;
        let row = stored::find(&self.reads, tenant, post_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("post {post_id} not found")))?;
        record(row)
    }
}
