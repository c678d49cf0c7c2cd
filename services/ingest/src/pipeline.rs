//! The pipeline worker: the transactional outbox of accepted posts. It takes posts that are not
//! yet routed, oldest first, classifies them in batches, routes them in batches (per tenant), and
//! records each step. A post is never lost: until it is `routed` it is picked up again, also after
//! a restart; `Route` is idempotent by post id, so a retry never queues it twice.

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

/// Drives accepted posts through classify and routing.
pub struct Pipeline {
    posts: Posts,
    classify: ClassifierServiceClient<AuthChannel>,
    routing: RoutingServiceClient<AuthChannel>,
    batch: u64,
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
        Self {
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
        let waiting = post::Entity::find()
            .filter(post::Column::State.is_in([states::RECEIVED, states::CLASSIFIED]))
            .order_by_asc(post::Column::Id)
            .limit(self.batch)
            .all(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        self.record_backlog(waiting.len()).await?;
        if waiting.is_empty() {
            return Ok(Pass::Idle);
        }
        // Per tenant: a tenant may have cues of its own.
        let mut to_classify: BTreeMap<&str, Vec<&post::Model>> = BTreeMap::new();
        for row in waiting.iter().filter(|p| p.state == states::RECEIVED) {
            to_classify.entry(row.tenant.as_str()).or_default().push(row);
        }
        for rows in to_classify.values() {
            let span = tracing::info_span!("pipeline.classify", posts = rows.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            self.classify(rows).instrument(span).await?;
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
            self.route(&tenant, rows).instrument(span).await?;
        }
        Ok(Pass::Progress)
    }

    /// Records how many posts wait: the batch just read, or a count when the batch is full.
    async fn record_backlog(&self, read: usize) -> std::result::Result<(), PassError> {
        use sea_orm::PaginatorTrait as _;
        let waiting = if (read as u64) < self.batch {
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

    /// Classifies rows of one tenant.
    async fn classify(&mut self, rows: &[&post::Model]) -> std::result::Result<(), PassError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let tenant = Tenant::parse(&first.tenant).map_err(|e| PassError::Ingest(e.into()))?;
        let posts = rows.iter().map(|row| decode_post(row)).collect::<Result<Vec<_>>>()?;
        let mut request = tonic::Request::new(pb::ClassifyBatchRequest { posts });
        tenant.attach(&mut request);
        match self.classify.classify_batch(request).await {
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
                Ok(())
            }
            // One bad post must not hold back the rest: find it alone and set it aside.
            Err(status) if status.code() == tonic::Code::InvalidArgument && rows.len() > 1 => {
                for row in rows {
                    Box::pin(self.classify(&[*row])).await?;
                }
                Ok(())
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                self.fail(rows[0], &status).await?;
                Ok(())
            }
            Err(status) => Err(PassError::Peer(status)),
        }
    }

    async fn route(&mut self, tenant: &str, rows: Vec<post::Model>) -> std::result::Result<(), PassError> {
        let tenant = Tenant::parse(tenant).map_err(|e| PassError::Ingest(e.into()))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
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
            Err(status) if status.code() == tonic::Code::InvalidArgument && rows.len() > 1 => {
                for row in rows {
                    Box::pin(self.route(tenant.as_str(), vec![row])).await?;
                }
                return Ok(());
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                self.fail(&rows[0], &status).await?;
                return Ok(());
            }
            Err(status) => return Err(PassError::Peer(status)),
        };
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

    /// Sets a post aside that a peer rejected as invalid, with the reason, for operators.
    async fn fail(&self, row: &post::Model, status: &tonic::Status) -> std::result::Result<(), PassError> {
        // Scoped: ExprTrait is implemented for every type and shadows `Ord::max` elsewhere.
        use sea_orm::ExprTrait as _;
        let message = earshot_core::pii::mask(status.message());
        tracing::error!(post_id = %row.id, %message, "post rejected downstream; set aside");
        post::Entity::update_many()
            .col_expr(post::Column::State, Expr::value(states::FAILED))
            .col_expr(post::Column::LastError, Expr::value(status.message().to_owned()))
            .col_expr(post::Column::Attempts, Expr::col(post::Column::Attempts).add(1))
            .filter(post::Column::Id.eq(row.id.clone()))
            .exec(&self.posts.db)
            .await
            .map_err(crate::Error::from)?;
        Ok(())
    }
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
