//! The case-event outbox: events for the escalation service, written in the transaction of the
//! change they report.
//!
//! An agent action writes its event in the transaction of the change ([`Routing::report_later`]);
//! `Route` writes its posts' events in the transaction that records the posts (`crate::record`).
//! A deliverer sends the outbox to escalation in order, tenant by tenant, marks escalated the
//! cases whose posts raised an escalation, and deletes what escalation took, so a crash of routing
//! loses no event (at worst one is sent twice: escalation applies it once, and marking a case
//! escalated twice changes nothing). The order is the outbox's id order, which on PostgreSQL can
//! differ from commit order by a few milliseconds (a later id can commit first), as the audit
//! stream notes. A post is offerable before escalation hears of it, and neither a slow nor a
//! missing escalation service holds routing up.

use std::time::Duration;

use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use earshot_store::routing::case_event_outbox;
use earshot_telemetry::retry::Backoff;
use prost::Message;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::Instrument;

use crate::error::{Error, Result as RoutingResult};
use crate::state::Routing;

/// Outbox events sent per round.
const OUTBOX_BATCH: u64 = 500;
/// Longest pause between delivery attempts while escalation is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The lease of the replica delivering the outbox: one at a time, so events leave in order.
const OUTBOX_LEASE: &str = "routing:outbox";

impl Routing {
    /// Writes the case event of an agent action to the outbox, in `db` (the transaction of the
    /// change it reports); call [`crate::notify::Notifier::wake`] once that
    /// commits.
    pub async fn report_later(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        event: pb::CaseEvent,
    ) -> RoutingResult<()> {
        case_event_outbox::Entity::insert(self.outbox_row(tenant, event)).exec(db).await?;
        Ok(())
    }

    /// The outbox row of a case event, not yet written.
    pub fn outbox_row(&self, tenant: &Tenant, event: pb::CaseEvent) -> case_event_outbox::ActiveModel {
        case_event_outbox::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            event: Set(event.encode_to_vec()),
            created_at_ms: Set(self.clock.now_ms()),
            trace_parent: Set(earshot_trace::current_traceparent()),
            ..Default::default()
        }
    }

    /// Sends waiting outbox events to escalation, oldest first and per tenant in order, and marks
    /// escalated the cases whose events raised an escalation; returns how many events escalation
    /// took. Only events it refuses as invalid are dropped (logged); on any other error everything
    /// waits for the next round.
    pub async fn report_pending(&self) -> RoutingResult<usize> {
        let waiting = case_event_outbox::Entity::find()
            .order_by_asc(case_event_outbox::Column::Id)
            .limit(OUTBOX_BATCH)
            .all(&self.db)
            .await?;
        let mut by_tenant: std::collections::BTreeMap<String, Vec<case_event_outbox::Model>> = Default::default();
        for row in waiting {
            by_tenant.entry(row.tenant.clone()).or_default().push(row);
        }
        let mut sent = 0;
        for (tenant, rows) in by_tenant {
            // Renewed before each call (a slow escalation can outlast a lease): a replica that lost
            // it stops, and its successor sends what is left, in order.
            if !self.leases.hold(OUTBOX_LEASE).await? {
                break;
            }
            let tenant = Tenant::parse(&tenant).map_err(|e| Error::Corrupt(format!("outbox tenant: {e}")))?;
            let events: Vec<(i64, pb::CaseEvent)> = rows
                .iter()
                .filter_map(|row| pb::CaseEvent::decode(row.event.as_slice()).ok().map(|event| (row.id, event)))
                .collect();
            let span = tracing::info_span!("routing.report", %tenant, events = events.len());
            earshot_trace::continue_traces(&span, rows.iter().filter_map(|row| row.trace_parent.as_deref()));
            sent += self.report(&tenant, rows, events).instrument(span).await?;
        }
        Ok(sent)
    }

    /// Sends one tenant's outbox `events` (of `rows`) in order, marks escalated the cases whose
    /// events raised an escalation, and deletes the rows; returns how many events escalation took.
    async fn report(
        &self,
        tenant: &Tenant,
        rows: Vec<case_event_outbox::Model>,
        events: Vec<(i64, pb::CaseEvent)>,
    ) -> RoutingResult<usize> {
        let mut raised = Vec::new();
        let mut taken = 0;
        let done: Vec<i64> = match self.notifier.send_all(tenant, events.iter().map(|(_, e)| e.clone()).collect()).await
        {
            Ok(escalations) => {
                taken = events.len();
                for ((_, event), escalations) in events.iter().zip(escalations) {
                    raised.extend(raised_by_post(event, escalations));
                }
                rows.iter().map(|row| row.id).collect()
            }
            // One invalid event refuses the batch: send them one by one and drop only those
            // escalation refuses as invalid (retrying cannot make them valid).
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                let mut done = Vec::new();
                for (id, event) in events {
                    match self.notifier.send_all(tenant, vec![event.clone()]).await {
                        Ok(escalations) => {
                            taken += 1;
                            raised.extend(raised_by_post(&event, escalations.into_iter().flatten().collect()));
                        }
                        Err(status) if status.code() == tonic::Code::InvalidArgument => {
                            let message = earshot_core::pii::mask(status.message());
                            tracing::error!(%tenant, %message, "escalation refused a case event as invalid; dropped");
                        }
                        Err(status) => return Err(Error::Escalation(status)),
                    }
                    done.push(id);
                }
                done
            }
            // Down, overloaded, or its database failing: everything waits for the next round.
            Err(status) => return Err(Error::Escalation(status)),
        };
        // Before the events leave the outbox: a crash in between sends them again, and escalation
        // answers a replay with the case's standing escalations.
        self.escalate_raised(tenant, raised).await?;
        case_event_outbox::Entity::delete_many()
            .filter(case_event_outbox::Column::Id.is_in(done))
            .exec(&self.db)
            .await?;
        Ok(taken)
    }

    /// Delivers the outbox whenever it is written to (and every second, for what a crashed
    /// process left), backing off while escalation is unreachable. One replica delivers at a
    /// time, under a lease it renews every round; the others stand by and take over within the
    /// lease's time to live when it stops renewing.
    pub async fn report_forever(self) {
        let mut backoff = Backoff::up_to(MAX_BACKOFF);
        loop {
            let woken = self.notifier.outbox_ready.notified();
            if !self.leases.holds(OUTBOX_LEASE).await {
                let _ = tokio::time::timeout(self.leases.ttl() / 4, woken).await;
                continue;
            }
            match self.report_pending().await {
                Ok(n) if n as u64 >= OUTBOX_BATCH => continue,
                Ok(_) => backoff.succeeded(),
                Err(error) => {
                    backoff.failed("case events wait for escalation", error).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    }
}

/// The escalations a post's event raised, with its case: what marks a case escalated here. A
/// replayed event is answered with the case's standing escalations, so an agent's event or an
/// escalation the service raised on its own (an SLA breach, an agent's request, marked when it was
/// asked) is left out.
fn raised_by_post(event: &pb::CaseEvent, escalations: Vec<pb::Escalation>) -> Vec<(String, pb::Escalation)> {
    let by_post = [pb::CaseEventKind::Opened as i32, pb::CaseEventKind::Contact as i32].contains(&event.kind);
    escalations
        .into_iter()
        .filter(|escalation| by_post && !escalation.reason.starts_with("sla_") && escalation.reason != "agent_request")
        .map(|escalation| (event.case_id.clone(), escalation))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event;

    fn escalation(reason: &str) -> pb::Escalation {
        pb::Escalation { reason: reason.to_owned(), ..Default::default() }
    }

    #[test]
    fn only_what_a_post_raised_marks_its_case_escalated() {
        let standing = || vec![escalation("legal"), escalation("sla_first_response"), escalation("agent_request")];
        let post = event(pb::CaseEventKind::Contact, "c1", 0);
        let reasons: Vec<String> = raised_by_post(&post, standing()).into_iter().map(|(_, e)| e.reason).collect();
        assert_eq!(reasons, ["legal"], "a breach or an agent's request is not the post's");
        let replayed_response = event(pb::CaseEventKind::Responded, "c1", 0);
        assert!(raised_by_post(&replayed_response, standing()).is_empty(), "an agent's event marks nothing");
    }
}
