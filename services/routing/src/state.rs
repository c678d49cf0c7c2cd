//! What every routing handler shares.

use std::sync::Arc;

use earshot_core::{SharedClock, Tenant, Weights};
use earshot_queue::{CaseEntry, Queues, effective_score};
use earshot_store::routing::{audit, case};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel};
use tokio::sync::Mutex;

use crate::error::Result;
use crate::notify::Notifier;

/// Shared state of the routing service.
#[derive(Clone)]
pub struct Routing {
    /// The durable record.
    pub db: DatabaseConnection,
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
    /// Serialises case matching so two posts of one customer never open two cases.
    pub route_lock: Arc<Mutex<()>>,
    /// Woken whenever a case may have become available to some agent (queued, returned,
    /// transferred, or capacity freed), so waiting `NextCase` calls answer at once.
    pub work_available: Arc<tokio::sync::Notify>,
}

/// Case states.
pub mod states {
    /// Waiting in a queue.
    pub const QUEUED: &str = "queued";
    /// Offered to an agent under a lease.
    pub const OFFERED: &str = "offered";
    /// Accepted by an agent.
    pub const ASSIGNED: &str = "assigned";
    /// Done.
    pub const RESOLVED: &str = "resolved";
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
        audit::Entity::insert(audit::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            case_id: Set(case_id.to_owned()),
            at_ms: Set(self.clock.now_ms()),
            action: Set(action.to_owned()),
            agent: Set(agent.map(str::to_owned)),
            detail: Set(detail),
            ..Default::default()
        })
        .exec(db)
        .await?;
        Ok(())
    }

    /// Records that a case is back in its queue with no agent (after Redis put it there).
    pub async fn record_requeued(&self, case: case::Model) -> Result<case::Model> {
        let mut active = case.into_active_model();
        active.state = Set(states::QUEUED.to_owned());
        active.agent = Set(None);
        active.updated_at_ms = Set(self.clock.now_ms());
        Ok(active.update(&self.db).await?)
    }

    /// [`Routing::record_requeued`] by case id, if the case exists.
    pub async fn record_requeued_id(&self, case_id: &str) -> Result<()> {
        if let Some(case) = case::Entity::find_by_id(case_id.to_owned()).one(&self.db).await? {
            self.record_requeued(case).await?;
        }
        Ok(())
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
