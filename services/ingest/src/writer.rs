//! Group commit of accepted posts. Every commit is a flush to disk and clients submit one call at
//! a time, so one task writes all the submissions that are waiting in one transaction and answers
//! each when it commits: a lone submission is written at once (nothing waits for company), and
//! under load the calls that arrive during one commit share the next. A group that fails is
//! written again one submission at a time, so no submission fails because of another.

use earshot_core::ids::new_id;
use earshot_core::{Post, SharedClock, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::Wakeups;
use earshot_store::ingest::post::{self, PostState};
use prost::Message;
use sea_orm::{ActiveValue::Set, DatabaseConnection, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::metrics::IngestMetrics;
use crate::stored::{self, find_by_key};

/// Most posts one commit takes; more wait for the next.
const MAX_GROUP_POSTS: usize = 5_000;
/// Submissions waiting for the writer at most; a caller beyond it waits to hand its posts over.
const QUEUE: usize = 1_024;

/// Hands posts to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Submission>,
}

/// One call's posts and where its answer goes.
struct Submission {
    tenant: Tenant,
    posts: Vec<Post>,
    trace_parent: Option<String>,
    answer: oneshot::Sender<Result<Vec<pb::SubmitPostResponse>>>,
}

impl Writer {
    /// Starts the writer task over `db`; it stops when the guard is dropped. `accepted` is woken
    /// after each commit that stored a new post.
    pub fn start(
        db: DatabaseConnection,
        clock: SharedClock,
        metrics: IngestMetrics,
        accepted: Wakeups,
    ) -> (Self, earshot_telemetry::TaskGuard) {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let store = Store { db, clock, metrics, accepted };
        (Self { queue }, earshot_telemetry::TaskGuard::spawn(store.run(waiting)))
    }

    /// Stores `posts` of `tenant`, answering per post in order (`duplicate` with the original's
    /// id for a post already stored), once they are committed.
    pub async fn write(
        &self,
        tenant: Tenant,
        posts: Vec<Post>,
        trace_parent: Option<String>,
    ) -> Result<Vec<pb::SubmitPostResponse>> {
        let (answer, answered) = oneshot::channel();
        let submission = Submission { tenant, posts, trace_parent, answer };
        self.queue.send(submission).await.map_err(|_| Error::Stopping)?;
        answered.await.map_err(|_| Error::Stopping)?
    }
}

struct Store {
    db: DatabaseConnection,
    clock: SharedClock,
    metrics: IngestMetrics,
    accepted: Wakeups,
}

impl Store {
    async fn run(self, mut waiting: mpsc::Receiver<Submission>) {
        while let Some(first) = waiting.recv().await {
            let mut posts = first.posts.len();
            let mut group = vec![first];
            while posts < MAX_GROUP_POSTS {
                let Ok(next) = waiting.try_recv() else { break };
                posts += next.posts.len();
                group.push(next);
            }
            self.commit(group).await;
        }
    }

    async fn commit(&self, group: Vec<Submission>) {
        match self.insert(&group).await {
            Ok(results) => {
                for (submission, results) in group.into_iter().zip(results) {
                    let _ = submission.answer.send(Ok(results));
                }
            }
            Err(error) if group.len() == 1 => {
                if let Some(submission) = group.into_iter().next() {
                    let _ = submission.answer.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, submissions = group.len(), "group commit failed; writing each alone");
                for submission in group {
                    let alone = self.insert(std::slice::from_ref(&submission)).await;
                    let _ = submission.answer.send(alone.map(|mut results| results.pop().unwrap_or_default()));
                }
            }
        }
    }

    /// Inserts every post of `group` in one transaction; the answers per submission.
    async fn insert(&self, group: &[Submission]) -> Result<Vec<Vec<pb::SubmitPostResponse>>> {
        let now = self.clock.now_ms();
        let mut ids = Vec::with_capacity(group.len());
        let mut rows = Vec::new();
        for submission in group {
            let submission_ids: Vec<String> = submission.posts.iter().map(|_| new_id('p')).collect();
            for (post, id) in submission.posts.iter().zip(&submission_ids) {
                rows.push(post::ActiveModel {
                    id: Set(id.clone()),
                    tenant: Set(submission.tenant.as_str().to_owned()),
                    channel: Set(post.channel.as_str().to_owned()),
                    external_id: Set(post.external_id.clone()),
                    body: Set(post.to_wire().encode_to_vec()),
                    state: Set(PostState::Received),
                    classification: Set(None),
                    case_id: Set(None),
                    received_at_ms: Set(now),
                    attempts: Set(0),
                    last_error: Set(None),
                    trace_parent: Set(submission.trace_parent.clone()),
                    routed_at_ms: Set(None),
                });
            }
            ids.push(submission_ids);
        }
        let txn = self.db.begin().await?;
        let stored = stored::insert_first_wins(&txn, rows, &ids.concat()).await?;
        let mut answers = Vec::with_capacity(group.len());
        for (submission, ids) in group.iter().zip(ids) {
            let mut results = Vec::with_capacity(ids.len());
            for (post, id) in submission.posts.iter().zip(ids) {
                if stored.contains(&id) {
                    results.push(pb::SubmitPostResponse { post_id: id, duplicate: false });
                } else {
                    let original = find_by_key(&txn, &submission.tenant, post).await?;
                    results.push(pb::SubmitPostResponse { post_id: original.id, duplicate: true });
                }
            }
            answers.push(results);
        }
        txn.commit().await?;
        let total: usize = answers.iter().map(Vec::len).sum();
        let duplicates = answers.iter().flatten().filter(|result| result.duplicate).count();
        self.metrics.stored((total - duplicates) as u64, duplicates as u64);
        if duplicates < total {
            self.accepted.wake();
        }
        Ok(answers)
    }
}
