//! The pipeline worker: the transactional outbox of accepted posts. It takes posts that are not
//! yet routed, oldest first, classifies them in batches, routes them in batches (per tenant), and
//! records each step. A post is never lost: until it is `routed` it is picked up again, also after
//! a restart; `Route` is idempotent by post id, so a retry never queues it twice.
//!
//! A pass shares its batch among the tenants with waiting posts, so no tenant's backlog keeps
//! another's posts waiting. Nothing one post does stops the others: requests are sized to the
//! peers' message limit, a batch a peer refuses for anything but its own trouble (down,
//! overloaded, out of time) is halved until the post at fault is alone, and that post is set
//! aside as `failed` with its reason, at once when invalid or too large, after [`MAX_ATTEMPTS`]
//! otherwise.

use std::collections::BTreeMap;
use std::time::Duration;

use earshot_auth::AuthChannel;
use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_store::ingest::post;
use prost::Message;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::Instrument;

use crate::error::Result;
use crate::posts::{Posts, decode_classification, decode_post, states};

/// Longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// When idle, look for work this often even without a wake-up (e.g. after a restart).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Failed attempts after which a post that peers refuse on its own is set aside as `failed`.
pub const MAX_ATTEMPTS: i32 = 5;
/// Bytes a request spends on one post beyond its encoding (field tags, lengths).
const ITEM_OVERHEAD_BYTES: usize = 16;

/// Drives accepted posts through classify and routing.
pub struct Pipeline {
    posts: Posts,
    classify: ClassifierServiceClient<AuthChannel>,
    routing: RoutingServiceClient<AuthChannel>,
    batch: u64,
    /// Where the next pass starts in the turn of tenants with waiting posts.
    next_tenant: usize,
    /// Most bytes of posts in one request: half the peers' message limit, the rest headroom.
    batch_bytes: usize,
    wait: Duration,
}

/// What one pass achieved.
enum Pass {
    /// Nothing waits.
    Idle,
    /// Some posts moved on.
    Progress,
}

impl Pipeline {
    /// A pipeline over the post store and the two peers.
    pub fn new(posts: Posts, classify: AuthChannel, routing: AuthChannel, batch: u64, wait: Duration) -> Self {
        let batch_bytes = posts.limits.max_message_bytes / 2;
        Self {
            next_tenant: 0,
            batch_bytes,
            posts,
            classify: ClassifierServiceClient::new(classify).max_decoding_message_size(64 * 1024 * 1024),
            routing: RoutingServiceClient::new(routing).max_decoding_message_size(64 * 1024 * 1024),
            batch: batch.max(1),
            wait,
        }
    }

    /// Runs until the task is dropped.
    pub async fn run_forever(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.pass().await {
                Ok(Pass::Progress) => backoff = Duration::from_millis(100),
                Ok(Pass::Idle) => {
                    let _ = tokio::time::timeout(IDLE_POLL, self.posts.accepted.notified()).await;
                    // Let a burst of submissions fill the batch.
                    tokio::time::sleep(self.wait).await;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "pipeline pass failed; will retry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Classifies and routes one batch of waiting posts.
    async fn pass(&mut self) -> std::result::Result<Pass, PassError> {
        let (waiting, everything) = self.waiting().await?;
        self.record_backlog(waiting.len(), everything).await?;
        if waiting.is_empty() {
            return Ok(Pass::Idle);
        }
        // Per tenant: a tenant may have cues of its own.
        let mut to_classify: BTreeMap<&str, Vec<&post::Model>> = BTreeMap::new();
        for row in waiting.iter().filter(|p| p.state == states::RECEIVED) {
            to_classify.entry(row.tenant.as_str()).or_default().push(row);
        }
        let mut pass = PassLog::default();
        for rows in to_classify.values() {
            let span = tracing::info_span!("pipeline.classify", posts = rows.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            self.classify(rows, &mut pass).instrument(span).await?;
        }
        // Reload: classification just changed these rows.
        let ids: Vec<String> = waiting.iter().map(|p| p.id.clone()).collect();
        let classified = post::Entity::find()
            .filter(post::Column::Id.is_in(ids))
            .filter(post::Column::State.eq(states::CLASSIFIED))
            .order_by_asc(post::Column::Id)
            .all(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        let mut by_tenant: BTreeMap<String, Vec<post::Model>> = BTreeMap::new();
        for row in classified {
            by_tenant.entry(row.tenant.clone()).or_default().push(row);
        }
        for (tenant, rows) in by_tenant {
            let span = tracing::info_span!("pipeline.route", posts = rows.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            self.route(&tenant, &rows, &mut pass).instrument(span).await?;
        }
        self.settle(pass).await?;
        Ok(Pass::Progress)
    }

    /// Up to a batch of waiting posts, shared among the tenants that have some: each tenant's
    /// oldest first, the tenants taken in turn from pass to pass, so one tenant's backlog holds
    /// another tenant's posts back by a pass at most. Also says whether that is every waiting post.
    async fn waiting(&mut self) -> std::result::Result<(Vec<post::Model>, bool), PassError> {
        let waiting = || post::Entity::find().filter(post::Column::State.is_in([states::RECEIVED, states::CLASSIFIED]));
        let tenants: Vec<String> = waiting()
            .select_only()
            .column(post::Column::Tenant)
            .distinct()
            .order_by_asc(post::Column::Tenant)
            .into_tuple()
            .all(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        let turns = tenants.len().clamp(1, usize::try_from(self.batch).unwrap_or(usize::MAX));
        let share = (self.batch / turns as u64).max(1);
        let start = self.next_tenant % tenants.len().max(1);
        self.next_tenant = (start + turns) % tenants.len().max(1);
        let mut rows = Vec::new();
        let mut everything = turns >= tenants.len();
        for tenant in tenants.iter().cycle().skip(start).take(turns) {
            let mut mine = waiting()
                .filter(post::Column::Tenant.eq(tenant.as_str()))
                .order_by_asc(post::Column::Id)
                .limit(share)
                .all(&self.posts.db)
                .await
                .map_err(crate::Error::from)?;
            everything &= (mine.len() as u64) < share;
            rows.append(&mut mine);
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((rows, everything))
    }

    /// Records how many posts wait: the posts just read when they are all, else a count.
    async fn record_backlog(&self, read: usize, everything: bool) -> std::result::Result<(), PassError> {
        use sea_orm::PaginatorTrait as _;
        let waiting = if everything {
            read as u64
        } else {
            post::Entity::find()
                .filter(post::Column::State.is_in([states::RECEIVED, states::CLASSIFIED]))
                .count(&self.posts.db)
                .await
                .map_err(crate::Error::from)?
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
                let classified =
                    rows.iter().map(|row| row.id.clone()).zip(classifications.iter().map(Message::encode_to_vec));
                post::Entity::update_many()
                    .col_expr(post::Column::Classification, per_post(classified))
                    .col_expr(post::Column::State, Expr::value(states::CLASSIFIED))
                    .filter(post::Column::Id.is_in(rows.iter().map(|row| row.id.clone())))
                    .exec(&self.posts.db)
                    .await
                    .map_err(crate::Error::from)?;
                pass.delivered[Peer::Classify as usize] += rows.len();
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
            refusal => self.refused(refusal, Peer::Classify, rows[0], status, pass).await,
        }
    }

    /// Routes classified rows of one tenant, in requests that fit the peers' message limit.
    async fn route(
        &mut self,
        tenant: &str,
        rows: &[post::Model],
        pass: &mut PassLog,
    ) -> std::result::Result<(), PassError> {
        let tenant = Tenant::parse(tenant).map_err(|e| PassError::Ingest(e.into()))?;
        let size = |row: &post::Model| {
            row.body.len() + row.classification.as_ref().map_or(0, Vec::len) + row.id.len() + ITEM_OVERHEAD_BYTES
        };
        for chunk in by_bytes(rows, self.batch_bytes, size) {
            self.route_batch(&tenant, chunk, pass).await?;
        }
        Ok(())
    }

    async fn route_batch(
        &mut self,
        tenant: &Tenant,
        rows: &[post::Model],
        pass: &mut PassLog,
    ) -> std::result::Result<(), PassError> {
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(pb::RouteItem {
                post_id: row.id.clone(),
                post: Some(decode_post(row)?),
                classification: decode_classification(row)?,
            });
        }
        let mut request = tonic::Request::new(pb::RouteRequest { items });
        tenant.attach(&mut request);
        let results = match self.routing.route(request).await {
            Ok(response) => response.into_inner().results,
            Err(status) => {
                return match Refusal::of(&status, rows.len()) {
                    Refusal::Split => {
                        let (left, right) = rows.split_at(rows.len() / 2);
                        Box::pin(self.route_batch(tenant, left, pass)).await?;
                        Box::pin(self.route_batch(tenant, right, pass)).await
                    }
                    refusal => self.refused(refusal, Peer::Routing, &rows[0], status, pass).await,
                };
            }
        };
        pass.delivered[Peer::Routing as usize] += rows.len();
        let routed_at_ms = self.posts.clock.now_ms();
        let received: std::collections::HashMap<&str, i64> =
            rows.iter().map(|row| (row.id.as_str(), row.received_at_ms)).collect();
        let offered: Vec<i64> =
            results.iter().filter_map(|result| received.get(result.post_id.as_str()).copied()).collect();
        let routed_ids: Vec<String> = results.iter().map(|result| result.post_id.clone()).collect();
        if routed_ids.is_empty() {
            return Ok(());
        }
        let cases = results.into_iter().map(|result| (result.post_id, result.case_id));
        post::Entity::update_many()
            .col_expr(post::Column::State, Expr::value(states::ROUTED))
            .col_expr(post::Column::RoutedAtMs, Expr::value(routed_at_ms))
            .col_expr(post::Column::CaseId, per_post(cases))
            .filter(post::Column::Id.is_in(routed_ids))
            .exec(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        for received_at_ms in offered {
            self.posts.metrics.offered(received_at_ms, routed_at_ms);
        }
        Ok(())
    }

    /// Acts on a refusal of `row` alone (or of the peer itself): wait, set it aside, or suspect it.
    async fn refused(
        &self,
        refusal: Refusal,
        peer: Peer,
        row: &post::Model,
        status: tonic::Status,
        pass: &mut PassLog,
    ) -> std::result::Result<(), PassError> {
        match refusal {
            Refusal::Transient | Refusal::Split => Err(PassError::Peer(status)),
            Refusal::Invalid => self.fail(row, status.message()).await,
            Refusal::Suspect => {
                pass.suspects.push((row.clone(), status, peer));
                Ok(())
            }
        }
    }

    /// Counts a failed attempt against each post a peer refused alone while that same peer served
    /// other posts, and sets aside the ones that reached [`MAX_ATTEMPTS`]. When a peer served
    /// nobody in the pass (its database down, say), the fault is not the posts': nothing is counted
    /// against them and the pass fails, to be retried after a pause.
    async fn settle(&self, pass: PassLog) -> std::result::Result<(), PassError> {
        use sea_orm::ExprTrait as _;
        let (blamed, unhealthy): (Vec<_>, Vec<_>) =
            pass.suspects.into_iter().partition(|(_, _, peer)| pass.delivered[*peer as usize] > 0);
        for (row, status, _) in blamed {
            if row.attempts + 1 >= MAX_ATTEMPTS {
                let reason = format!("{} attempts failed; the last: {}", row.attempts + 1, status.message());
                self.fail(&row, &reason).await?;
                continue;
            }
            tracing::warn!(post_id = %row.id, attempts = row.attempts + 1, code = ?status.code(), "post refused alone; will retry");
            post::Entity::update_many()
                .col_expr(post::Column::LastError, Expr::value(status.message().to_owned()))
                .col_expr(post::Column::Attempts, Expr::col(post::Column::Attempts).add(1))
                .filter(post::Column::Id.eq(row.id.clone()))
                .exec(&self.posts.db)
                .await
                .map_err(crate::Error::from)?;
        }
        match unhealthy.into_iter().next() {
            Some((_, status, _)) => Err(PassError::Peer(status)),
            None => Ok(()),
        }
    }

    /// Sets a post aside with the reason, for operators: a peer refused it as invalid, or it kept
    /// failing alone. It is never retried, so it blocks nothing.
    async fn fail(&self, row: &post::Model, reason: &str) -> std::result::Result<(), PassError> {
        // Scoped: ExprTrait is implemented for every type and shadows `Ord::max` elsewhere.
        use sea_orm::ExprTrait as _;
        let masked = earshot_core::pii::mask(reason);
        tracing::error!(post_id = %row.id, reason = %masked, "post set aside as failed");
        post::Entity::update_many()
            .col_expr(post::Column::State, Expr::value(states::FAILED))
            .col_expr(post::Column::LastError, Expr::value(reason.to_owned()))
            .col_expr(post::Column::Attempts, Expr::col(post::Column::Attempts).add(1))
            .filter(post::Column::Id.eq(row.id.clone()))
            .exec(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        self.posts.metrics.failed();
        Ok(())
    }
}

/// What a peer's refusal of a batch calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The peer is down, overloaded, out of time or refusing the credential: retry the pass later.
    Transient,
    /// Something in the batch: try each half, until the post at fault is alone.
    Split,
    /// The post alone is invalid or too large for the peer: set it aside now.
    Invalid,
    /// The post alone failed otherwise: count an attempt ([`Pipeline::settle`]).
    Suspect,
}

impl Refusal {
    fn of(status: &tonic::Status, posts: usize) -> Self {
        use tonic::Code;
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unauthenticated
            | Code::PermissionDenied => Self::Transient,
            _ if posts > 1 => Self::Split,
            Code::InvalidArgument | Code::OutOfRange => Self::Invalid,
            _ => Self::Suspect,
        }
    }
}

/// The peer a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Classify = 0,
    Routing = 1,
}

/// What the peers did in one pass: posts each served, and posts they refused alone.
#[derive(Default)]
struct PassLog {
    delivered: [usize; 2],
    suspects: Vec<(post::Model, tonic::Status, Peer)>,
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

/// A value per post in one `UPDATE` (`CASE WHEN id = … THEN … END`): a batch's rows change in one
/// statement, not one each.
fn per_post<V: Into<sea_orm::Value>>(values: impl IntoIterator<Item = (String, V)>) -> Expr {
    values
        .into_iter()
        .fold(sea_orm::sea_query::CaseStatement::new(), |case, (id, value)| {
            case.case(post::Column::Id.eq(id), Expr::value(value))
        })
        .into()
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

    #[test]
    fn runs_fit_the_budget_in_order_and_an_oversized_row_goes_alone() {
        let sizes = [3, 4, 2, 9, 1, 1, 5];
        let runs = by_bytes(&sizes, 7, |size| *size);
        assert_eq!(runs, [&[3, 4][..], &[2], &[9], &[1, 1, 5]]);
        assert!(by_bytes(&[] as &[usize], 7, |size| *size).is_empty());
    }

    #[test]
    fn only_a_post_alone_is_blamed_and_a_peer_in_trouble_is_waited_for() {
        let status = |code| tonic::Status::new(code, "x");
        assert_eq!(Refusal::of(&status(tonic::Code::OutOfRange), 256), Refusal::Split);
        assert_eq!(Refusal::of(&status(tonic::Code::Internal), 2), Refusal::Split);
        assert_eq!(Refusal::of(&status(tonic::Code::OutOfRange), 1), Refusal::Invalid);
        assert_eq!(Refusal::of(&status(tonic::Code::InvalidArgument), 1), Refusal::Invalid);
        assert_eq!(Refusal::of(&status(tonic::Code::Internal), 1), Refusal::Suspect);
        for code in [tonic::Code::Unavailable, tonic::Code::DeadlineExceeded, tonic::Code::ResourceExhausted] {
            assert_eq!(Refusal::of(&status(code), 256), Refusal::Transient);
            assert_eq!(Refusal::of(&status(code), 1), Refusal::Transient);
        }
    }
}
