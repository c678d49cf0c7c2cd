//! What every routing handler shares.

use std::sync::Arc;

use earshot_core::{SharedClock, Tenant, Weights};
use earshot_queue::{CaseEntry, Queues, Wakeups, effective_score};
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{audit, case};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, ValidatedUpdateOne,
};
use tokio::sync::Mutex;

use crate::error::Result;
use crate::notify::Notifier;

/// Shared state of the routing service.
#[derive(Clone)]
pub struct Routing {
    /// The durable record.
    pub db: DatabaseConnection,
    /// Reads of it outside transactions (views, statistics), beside the writer: see
    /// [`earshot_store::readers`].
    pub reads: DatabaseConnection,
    /// The live queues.
    pub queues: Queues,
    /// Case events to escalation.
    pub notifier: Notifier,
    /// Time.
    pub clock: SharedClock,
    /// Risk weights (repeat contacts).
    pub weights: Arc<Weights>,
    /// Offer lease.
    pub lease_ms: i64,
    /// How long a follow-up waits for the case's owner to answer.
    pub sticky_timeout_ms: i64,
    /// Head start per priority point.
    pub credit_ms: i64,
    /// Serialises this process's case matching (its batches queue here instead of colliding in
    /// the database; other replicas' are kept apart by row locks and the unique open case per
    /// customer, see `record.rs`).
    pub route_lock: Arc<Mutex<()>>,
    /// Woken whenever a case may have become available to some agent (queued, returned,
    /// transferred, or capacity freed), in this replica and the others, so waiting `NextCase`
    /// calls answer at once.
    pub work_available: Wakeups,
    /// Counts open `WatchCaseEvents` streams.
    pub watches: earshot_auth::StreamLimits,
    /// Work one replica does at a time: delivering the outbox, restoring Redis.
    pub leases: earshot_queue::Leases,
    /// Woken whenever an audit event is written, in this replica and the others, so
    /// `WatchCaseEvents` streams look at once.
    pub case_events: Wakeups,
}

/// Reason factor a case gets once, when it is escalated.
pub(crate) const ESCALATED: &str = "escalated";
/// Audit action of a priority change in place.
pub(crate) const RESCORED: &str = "rescored";

/// The audit detail of a re-score.
pub(crate) fn rescore_detail(before: i32, after: i32, why: &str) -> String {
    format!("priority {before} → {after}: {why}; same place in line")
}

/// The queue for a topic.
pub(crate) fn queue_for(topic: &str) -> String {
    if topic.is_empty() { "general".to_owned() } else { topic.to_owned() }
}

impl Routing {
    /// Records an audit event.
    pub async fn audit(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        case_id: &str,
        action: &str,
        agent: Option<&str>,
        detail: String,
    ) -> Result<()> {
        self.write_audit(db, self.audit_event(tenant, case_id, action, agent, detail)).await
    }

    /// An audit event now, to complete (its post, its text) before [`Routing::write_audit`].
    pub fn audit_event(
        &self,
        tenant: &Tenant,
        case_id: &str,
        action: &str,
        agent: Option<&str>,
        detail: String,
    ) -> audit::ActiveModel {
        audit::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            case_id: Set(case_id.to_owned()),
            at_ms: Set(self.clock.now_ms()),
            action: Set(action.to_owned()),
            agent: Set(agent.map(str::to_owned)),
            detail: Set(detail),
            post_id: Set(None),
            text: Set(None),
            ..Default::default()
        }
    }

    /// Writes an audit event and wakes the case-event watchers.
    pub async fn write_audit(&self, db: &impl ConnectionTrait, event: audit::ActiveModel) -> Result<()> {
        audit::Entity::insert(event).exec(db).await?;
        self.case_events.wake();
        Ok(())
    }

    /// Writes `change` to case `case_id` unless the record has resolved the case by now. A resolve
    /// writes the record before Redis, so a writer that changed Redis first (an offer, a return to
    /// a queue, a transfer) must not undo it: then Redis forgets the case again and this is `None`.
    pub async fn update_unless_resolved(
        &self,
        db: &impl ConnectionTrait,
        tenant: &str,
        case_id: &str,
        change: case::ActiveModel,
    ) -> Result<Option<case::Model>> {
        let update = ValidatedUpdateOne::try_from(case::Entity::update(change))?;
        match update.filter(case::Column::State.ne(CaseState::Resolved)).exec(db).await {
            Ok(case) => Ok(Some(case)),
            Err(DbErr::RecordNotUpdated) => {
                self.queues.forget(tenant, case_id).await?;
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Records that a case is back in its queue with no agent (after Redis put it there); `None`
    /// when it was resolved meanwhile.
    pub async fn record_requeued(&self, case: case::Model) -> Result<Option<case::Model>> {
        let (tenant, case_id) = (case.tenant.clone(), case.id.clone());
        let mut active = case.into_active_model();
        active.state = Set(CaseState::Queued);
        active.agent = Set(None);
        active.updated_at_ms = Set(self.clock.now_ms());
        self.update_unless_resolved(&self.db, &tenant, &case_id, active).await
    }

    /// [`Routing::record_requeued`] by case id: whether the case exists and is still open.
    pub async fn record_requeued_id(&self, case_id: &str) -> Result<bool> {
        match case::Entity::find_by_id(case_id.to_owned()).one(&self.db).await? {
            Some(case) => Ok(self.record_requeued(case).await?.is_some()),
            None => Ok(false),
        }
    }

    /// An event about `case` now, with its queue, priority and customer.
    pub fn case_event(
        &self,
        kind: earshot_proto::v1::CaseEventKind,
        case: &case::Model,
    ) -> earshot_proto::v1::CaseEvent {
        earshot_proto::v1::CaseEvent {
            priority: u32::try_from(case.priority).unwrap_or(0),
            queue: case.queue.clone(),
            customer: case.customer.clone(),
            ..crate::notify::event(kind, &case.id, self.clock.now_ms())
        }
    }

    /// The queue entry of a case row.
    pub fn entry(&self, case: &case::Model) -> CaseEntry {
        let priority = u32::try_from(case.priority).unwrap_or(0);
        CaseEntry {
            case_id: case.id.clone(),
            queue: case.queue.clone(),
            priority,
            enqueued_at_ms: case.enqueued_at_ms,
            score: effective_score(case.enqueued_at_ms, priority, self.credit_ms),
            language: case.language.clone(),
        }
    }
}
