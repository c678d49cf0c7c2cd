//! The pipeline worker: the transactional outbox of accepted posts. It takes posts that are not
//! yet routed, oldest first, classifies them in batches, routes them in batches (per tenant), and
//! records each step. A post is never lost: until it is `routed` it is picked up again, also after
//! a restart; `Route` is idempotent by post id, so a retry never queues it twice.
//!
//! Two stages overlap: the reader classifies batch n+1 while the router routes batch n. The
//! router takes batches in the order they were read, so a customer's later post never reaches
//! routing before an earlier one; when a batch cannot be routed, the batches read after it are
//! dropped too (a new epoch) and read again from the oldest waiting post.
//!
//! A pass shares its batch among the tenants with waiting posts, so no tenant's backlog keeps
//! another's posts waiting. Nothing one post does stops the others: requests are sized to the
//! peers' message limit, a batch a peer refuses for anything but its own trouble (down,
//! overloaded, out of time) is halved until the post at fault is alone, and that post is set
//! aside as `failed` with its reason, at once when invalid or too large, after [`MAX_ATTEMPTS`]
//! otherwise.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use earshot_auth::AuthChannel;
use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_queue::Leases;
use earshot_store::ingest::post::{self, PostState};
use earshot_telemetry::retry::Backoff;
use prost::Message;
use tracing::Instrument;

use crate::error::Result;
use crate::posts::Posts;
use crate::stored::{self, decode_post};

mod refusal;
mod router;

use refusal::{PassLog, Peer, Refusal, refused, settle};

/// Longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// When idle, look for work this often even without a wake-up (e.g. after a restart).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Failed attempts after which a post that peers refuse on its own is set aside as `failed`.
pub const MAX_ATTEMPTS: i32 = 5;
/// Bytes a request spends on one post beyond its encoding (field tags, lengths).
const ITEM_OVERHEAD_BYTES: usize = 16;
/// Under a backlog, how often it is counted for the backlog metric, in milliseconds.
const BACKLOG_COUNT_EVERY_MS: i64 = 1_000;
/// The leases on tenants' backlogs (`ingest:pipeline:<tenant>`), and the group that shares them.
const PIPELINE_LEASE: &str = "ingest:pipeline";
/// Classified batches that wait for the router at most: the reader stays this far ahead.
const ROUTE_AHEAD: usize = 2;

/// Drives accepted posts through classify and routing: the reader stage (read, classify), which
/// hands classified batches to the router stage.
pub struct Pipeline {
    reader: Reader,
    router: Router,
    handed: tokio::sync::mpsc::Receiver<Handed>,
}

/// The posts handed to the router and not yet done with, and the epoch that tells the router
/// which handed batches still count. One lock over both: voiding frees every handed post at
/// once, so the reader's next read starts again from the oldest waiting post, and a batch read
/// before the void can no longer be handed over.
#[derive(Default)]
struct Handover {
    state: Mutex<InFlight>,
}

#[derive(Default)]
struct InFlight {
    epoch: u64,
    posts: HashSet<String>,
}

impl Handover {
    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// The router could not route a batch: every batch read before now is void, and its posts
    /// are free to be read again.
    fn void_earlier(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.posts.clear();
    }

    fn in_flight(&self) -> Vec<String> {
        self.lock().posts.iter().cloned().collect()
    }

    /// Marks `rows`, read in `epoch`, as handed over; `false` (and nothing marked) when that
    /// epoch was voided meanwhile: the batch must be dropped.
    fn hand(&self, epoch: u64, rows: &[post::Model]) -> bool {
        let mut state = self.lock();
        if state.epoch != epoch {
            return false;
        }
        state.posts.extend(rows.iter().map(|row| row.id.clone()));
        true
    }

    /// The router is done with `rows`, handed in `epoch` (a voided epoch's posts are free already).
    fn done(&self, epoch: u64, rows: &[post::Model]) {
        let mut state = self.lock();
        if state.epoch == epoch {
            for row in rows {
                state.posts.remove(&row.id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Classified posts for the router, read in `epoch`.
struct Handed {
    epoch: u64,
    rows: Vec<post::Model>,
}

/// The router stage: routes handed batches in order and records them routed.
struct Router {
    posts: Posts,
    routing: RoutingServiceClient<AuthChannel>,
    batch_bytes: usize,
    handover: Arc<Handover>,
}

/// What one pass achieved.
enum Pass {
    /// Nothing waits.
    Idle,
    /// Some posts moved on.
    Progress,
}

impl Pipeline {
    /// A pipeline over the post store and the two peers, working the backlogs of the tenants
    /// whose `leases` it holds.
    pub fn new(
        posts: Posts,
        classify: AuthChannel,
        routing: AuthChannel,
        leases: Leases,
        batch: u64,
        wait: Duration,
    ) -> Self {
        let batch_bytes = posts.limits.max_message_bytes / 2;
        let handover = Arc::new(Handover::default());
        let (to_router, handed) = tokio::sync::mpsc::channel(ROUTE_AHEAD);
        let router = Router {
            posts: posts.clone(),
            routing: RoutingServiceClient::new(routing).max_decoding_message_size(64 * 1024 * 1024),
            batch_bytes,
            handover: Arc::clone(&handover),
        };
        let reader = Reader {
            posts,
            classify: ClassifierServiceClient::new(classify).max_decoding_message_size(64 * 1024 * 1024),
            leases,
            batch: batch.max(1),
            next_tenant: 0,
            batch_bytes,
            wait,
            handover,
            to_router,
            counted_at_ms: 0,
        };
        Self { reader, router, handed }
    }

    /// Runs both stages until the task is dropped.
    pub async fn run_forever(self) {
        let Self { reader, router, handed } = self;
        tokio::join!(reader.run(), router.run(handed));
    }
}

/// The reader stage: reads waiting posts not yet handed over, classifies them and hands them on.
struct Reader {
    posts: Posts,
    classify: ClassifierServiceClient<AuthChannel>,
    /// The tenants whose backlogs this replica works: its share of those with waiting posts.
    leases: Leases,
    batch: u64,
    /// Where the next pass starts in the turn of tenants with waiting posts.
    next_tenant: usize,
    /// Most bytes of posts in one request: half the peers' message limit, the rest headroom.
    batch_bytes: usize,
    wait: Duration,
    handover: Arc<Handover>,
    to_router: tokio::sync::mpsc::Sender<Handed>,
    /// When the backlog was last counted (a count of a backlog is a scan of it).
    counted_at_ms: i64,
}

impl Reader {
    async fn run(mut self) {
        let mut backoff = Backoff::up_to(MAX_BACKOFF);
        loop {
            match self.pass().await {
                Ok(Pass::Progress) => backoff.succeeded(),
                Ok(Pass::Idle) => {
                    let _ = tokio::time::timeout(IDLE_POLL, self.posts.accepted.notified()).await;
                    // Let a burst of submissions fill the batch.
                    tokio::time::sleep(self.wait).await;
                }
                Err(error) => backoff.failed("pipeline pass failed", error).await,
            }
        }
    }

    /// Classifies one batch of waiting posts and hands what is classified to the router.
    async fn pass(&mut self) -> std::result::Result<Pass, PassError> {
        // Before the read: a batch the router voids meanwhile is read under the old epoch.
        let epoch = self.handover.epoch();
        let (mut waiting, everything, in_flight) = self.waiting().await?;
        self.record_backlog(waiting.len() + in_flight, everything).await?;
        if waiting.is_empty() {
            return Ok(Pass::Idle);
        }
        // Per tenant: a tenant may have cues of its own.
        let mut to_classify: BTreeMap<&str, Vec<&post::Model>> = BTreeMap::new();
        for row in waiting.iter().filter(|p| p.state == PostState::Received) {
            to_classify.entry(row.tenant.as_str()).or_default().push(row);
        }
        let mut pass = PassLog::default();
        for rows in to_classify.values() {
            let span = tracing::info_span!("pipeline.classify", posts = rows.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            self.classify(rows, &mut pass).instrument(span).await?;
        }
        let PassLog { classified, .. } = &mut pass;
        for row in &mut waiting {
            if let Some(classification) = classified.remove(&row.id) {
                row.classification = Some(classification);
                row.state = PostState::Classified;
            }
        }
        settle(&self.posts, pass).await?;
        waiting.retain(|row| row.state == PostState::Classified);
        if !waiting.is_empty() {
            if !self.handover.hand(epoch, &waiting) {
                // Routing failed meanwhile: the posts are read again, in order, from the oldest.
                return Ok(Pass::Progress);
            }
            if self.to_router.send(Handed { epoch, rows: waiting }).await.is_err() {
                return Err(PassError::Ingest(crate::Error::Stopping));
            }
        }
        Ok(Pass::Progress)
    }

    /// Up to a batch of waiting posts, shared among the tenants that have some: each tenant's
    /// oldest first, the tenants taken in turn from pass to pass, so one tenant's backlog holds
    /// another tenant's posts back by a pass at most. Also says whether that is every waiting post
    /// (of every tenant) not handed over, and how many are handed over.
    async fn waiting(&mut self) -> std::result::Result<(Vec<post::Model>, bool, usize), PassError> {
        let in_flight = self.handover.in_flight();
        // A tenant whose waiting posts are all handed over reads nothing this pass.
        let waiting_tenants = post::tenants_waiting(&self.posts.reads).await.map_err(crate::Error::from)?;
        let every_tenant = waiting_tenants.len();
        let tenants = self.my_share(waiting_tenants).await?;
        let turns = tenants.len().clamp(1, usize::try_from(self.batch).unwrap_or(usize::MAX));
        let share = (self.batch / turns as u64).max(1);
        let start = self.next_tenant % tenants.len().max(1);
        self.next_tenant = (start + turns) % tenants.len().max(1);
        let mut rows = Vec::new();
        // Every waiting post, when this replica works every waiting tenant and read them all: the
        // backlog is then known without counting it (the gauge is every tenant's, whoever holds them).
        let mut everything = tenants.len() == every_tenant && turns >= tenants.len();
        for tenant in tenants.iter().cycle().skip(start).take(turns) {
            let mut mine = stored::oldest_waiting(&self.posts.reads, tenant, &in_flight, share).await?;
            everything &= (mine.len() as u64) < share;
            rows.append(&mut mine);
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((rows, everything, in_flight.len()))
    }

    /// The tenants of `waiting` whose backlogs this replica works now: its share of them among
    /// the ingest replicas (a lease per tenant, renewed every pass). One replica at a time works a
    /// tenant, so a customer's posts reach routing in order; a replica that took over a backlog
    /// reads it from its oldest waiting post, so posts its predecessor had in flight go first.
    async fn my_share(&self, waiting: Vec<String>) -> std::result::Result<Vec<String>, PassError> {
        let names: Vec<String> = waiting.iter().map(|tenant| format!("{PIPELINE_LEASE}:{tenant}")).collect();
        let held = self.leases.hold_share(PIPELINE_LEASE, &names).await.map_err(crate::Error::from)?;
        Ok(waiting.into_iter().zip(held).filter_map(|(tenant, held)| held.then_some(tenant)).collect())
    }

    /// Records how many posts wait: the ones known (just read, plus those handed over) when that is
    /// all of them, else a count, at most once every [`BACKLOG_COUNT_EVERY_MS`].
    async fn record_backlog(&mut self, known: usize, everything: bool) -> std::result::Result<(), PassError> {
        let now = self.posts.clock.now_ms();
        let waiting = if everything {
            known as u64
        } else if (0..BACKLOG_COUNT_EVERY_MS).contains(&(now - self.counted_at_ms)) {
            return Ok(());
        } else {
            self.counted_at_ms = now;
            stored::count_waiting(&self.posts.reads).await?
        };
        self.posts.metrics.backlog(waiting);
        Ok(())
    }

    /// Classifies rows of one tenant, in requests that fit the peers' message limit.
    async fn classify(&mut self, rows: &[&post::Model], pass: &mut PassLog) -> std::result::Result<(), PassError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let tenant = Tenant::parse(&first.tenant).map_err(|e| PassError::Ingest(e.into()))?;
        for chunk in by_bytes(rows, self.batch_bytes, |row| row.body.len() + ITEM_OVERHEAD_BYTES) {
            self.classify_batch(&tenant, chunk, pass).await?;
        }
        Ok(())
    }

    async fn classify_batch(
        &mut self,
        tenant: &Tenant,
        rows: &[&post::Model],
        pass: &mut PassLog,
    ) -> std::result::Result<(), PassError> {
        let posts = rows.iter().map(|row| decode_post(row)).collect::<Result<Vec<_>>>()?;
        let mut request = tonic::Request::new(pb::ClassifyBatchRequest { posts });
        tenant.attach(&mut request);
        let status = match self.classify.classify_batch(request).await {
            Ok(response) => {
                let classifications = response.into_inner().classifications;
                if classifications.len() != rows.len() {
                    return Err(PassError::Peer(tonic::Status::internal(
                        "classify answered a different number of posts",
                    )));
                }
                let classified: Vec<(String, Vec<u8>)> = rows
                    .iter()
                    .map(|row| row.id.clone())
                    .zip(classifications.iter().map(Message::encode_to_vec))
                    .collect();
                stored::mark_classified(&self.posts.db, &classified).await?;
                pass.delivered[Peer::Classify as usize] += rows.len();
                pass.classified.extend(classified);
                return Ok(());
            }
            Err(status) => status,
        };
        match Refusal::of(&status, rows.len()) {
            Refusal::Split => {
                let (left, right) = rows.split_at(rows.len() / 2);
                Box::pin(self.classify_batch(tenant, left, pass)).await?;
                Box::pin(self.classify_batch(tenant, right, pass)).await
            }
            refusal => refused(&self.posts, refusal, Peer::Classify, rows[0], status, pass).await,
        }
    }
}

/// Cuts `rows` into runs, in order, whose sizes add up to at most `budget` (a row larger than the
/// budget goes alone, and the peer decides).
fn by_bytes<T>(rows: &[T], budget: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (at, row) in rows.iter().enumerate() {
        let row_bytes = size(row);
        if at > start && bytes + row_bytes > budget {
            runs.push(&rows[start..at]);
            (start, bytes) = (at, 0);
        }
        bytes += row_bytes;
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Ingest(#[from] crate::Error),
    #[error("peer: {0}")]
    Peer(tonic::Status),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> post::Model {
        post::Model {
            id: id.to_owned(),
            tenant: "default".to_owned(),
            channel: "twitter".to_owned(),
            external_id: id.to_owned(),
            body: Vec::new(),
            state: PostState::Classified,
            classification: None,
            case_id: None,
            received_at_ms: 0,
            attempts: 0,
            last_error: None,
            trace_parent: None,
            routed_at_ms: None,
        }
    }

    #[test]
    fn a_routing_failure_frees_every_handed_post_and_refuses_batches_read_before_it() {
        let handover = Handover::default();
        let read_before = handover.epoch();
        assert!(handover.hand(read_before, &[row("p1")]));
        assert!(handover.hand(read_before, &[row("p2")]));
        handover.void_earlier();
        assert!(handover.in_flight().is_empty(), "the reader reads p1 and p2 again, oldest first");
        assert!(!handover.hand(read_before, &[row("p3")]), "a batch read before the failure is dropped");
        let now = handover.epoch();
        assert!(handover.hand(now, &[row("p1")]));
        handover.done(read_before, &[row("p1")]);
        assert_eq!(handover.in_flight(), ["p1"], "the voided batch's end frees nothing of the new one");
        handover.done(now, &[row("p1")]);
        assert!(handover.in_flight().is_empty());
    }

    #[test]
    fn runs_fit_the_budget_in_order_and_an_oversized_row_goes_alone() {
        let sizes = [3, 4, 2, 9, 1, 1, 5];
        let runs = by_bytes(&sizes, 7, |size| *size);
        assert_eq!(runs, [&[3, 4][..], &[2], &[9], &[1, 1, 5]]);
        assert!(by_bytes(&[] as &[usize], 7, |size| *size).is_empty());
    }
}
