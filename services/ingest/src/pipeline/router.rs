//! The router stage: classified batches routed in the order they were read, per tenant, in
//! requests that fit the peers' message limit, and recorded as routed.

use std::collections::BTreeMap;

use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use earshot_store::ingest::post;
use earshot_telemetry::retry::Backoff;
use tracing::Instrument;

use super::refusal::{PassLog, Peer, Refusal, refused, settle};
use super::{Handed, ITEM_OVERHEAD_BYTES, MAX_BACKOFF, PassError, Router, by_bytes};
use crate::stored::{self, decode_classification, decode_post};

impl Router {
    /// Routes handed batches in order until the reader stops.
    pub(super) async fn run(self, mut handed: tokio::sync::mpsc::Receiver<Handed>) {
        let mut backoff = Backoff::up_to(MAX_BACKOFF);
        while let Some(Handed { epoch, mut rows }) = handed.recv().await {
            if epoch != self.handover.epoch() {
                // Read before a batch that could not be routed: its posts are free again and the
                // reader reads them anew, after that one.
                self.posts.accepted.wake_here();
                continue;
            }
            // Batches that became ready while the last one was routed go together, in order: the
            // busier the pipeline, the fewer (and larger) the calls.
            while let Ok(next) = handed.try_recv() {
                rows.extend(next.rows);
            }
            match self.route_all(&rows).await {
                Ok(()) => {
                    self.handover.done(epoch, &rows);
                    backoff.succeeded();
                }
                Err(error) => {
                    self.handover.void_earlier();
                    backoff.failed("pipeline routing failed", error).await;
                }
            }
            // What was not routed waits again: the reader looks for it.
            self.posts.accepted.wake_here();
        }
    }

    /// Routes a handed batch, per tenant, and settles the posts routing refused alone.
    async fn route_all(&self, rows: &[post::Model]) -> std::result::Result<(), PassError> {
        let mut by_tenant: BTreeMap<&str, Vec<&post::Model>> = BTreeMap::new();
        for row in rows {
            by_tenant.entry(row.tenant.as_str()).or_default().push(row);
        }
        let mut pass = PassLog::default();
        for (tenant, rows) in by_tenant {
            let span = tracing::info_span!("pipeline.route", posts = rows.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            self.route(tenant, &rows, &mut pass).instrument(span).await?;
        }
        settle(&self.posts, pass).await
    }

    /// Routes classified rows of one tenant, in requests that fit the peers' message and batch
    /// limits.
    async fn route(
        &self,
        tenant: &str,
        rows: &[&post::Model],
        pass: &mut PassLog,
    ) -> std::result::Result<(), PassError> {
        let tenant = Tenant::parse(tenant).map_err(|e| PassError::Ingest(e.into()))?;
        let size = |row: &&post::Model| {
            row.body.len() + row.classification.as_ref().map_or(0, Vec::len) + row.id.len() + ITEM_OVERHEAD_BYTES
        };
        for chunk in by_bytes(rows, self.batch_bytes, size) {
            for items in chunk.chunks(self.posts.limits.max_batch.max(1)) {
                self.route_batch(&tenant, items, pass).await?;
            }
        }
        Ok(())
    }

    async fn route_batch(
        &self,
        tenant: &Tenant,
        rows: &[&post::Model],
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
        let results = match self.routing.clone().route(request).await {
            Ok(response) => response.into_inner().results,
            Err(status) => {
                return match Refusal::of(&status, rows.len()) {
                    Refusal::Split => {
                        let (left, right) = rows.split_at(rows.len() / 2);
                        Box::pin(self.route_batch(tenant, left, pass)).await?;
                        Box::pin(self.route_batch(tenant, right, pass)).await
                    }
                    refusal => refused(&self.posts, refusal, Peer::Routing, rows[0], status, pass).await,
                };
            }
        };
        pass.delivered[Peer::Routing as usize] += rows.len();
        let routed_at_ms = self.posts.clock.now_ms();
        let received: std::collections::HashMap<&str, i64> =
            rows.iter().map(|row| (row.id.as_str(), row.received_at_ms)).collect();
        let offered: Vec<i64> =
            results.iter().filter_map(|result| received.get(result.post_id.as_str()).copied()).collect();
        if results.is_empty() {
            return Ok(());
        }
        let cases = results.into_iter().map(|result| (result.post_id, result.case_id)).collect();
        stored::mark_routed(&self.posts.db, cases, routed_at_ms).await?;
        for received_at_ms in offered {
            self.posts.metrics.offered(received_at_ms, routed_at_ms);
        }
        Ok(())
    }
}
