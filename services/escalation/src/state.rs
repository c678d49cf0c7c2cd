//! Escalations: raising them (once per case and reason while open), supervisor actions, and the
//! event stream supervisors watch.

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::{check_id, check_name, new_id};
use earshot_core::{SharedClock, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::EventStream;
use earshot_store::escalation::escalation;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::{Error, Result};
use crate::sla::Policy;

/// Escalation states.
pub mod states {
    /// Waiting for a supervisor.
    pub const OPEN: &str = "open";
    /// A supervisor has it.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// Done.
    pub const RESOLVED: &str = "resolved";
}

/// Shared state of the escalation service.
#[derive(Clone)]
pub struct Escalations {
    /// The durable record.
    pub db: DatabaseConnection,
    /// Events supervisors watch.
    pub events: EventStream,
    /// Time.
    pub clock: SharedClock,
    /// SLA targets.
    pub policy: Policy,
}

/// What a new escalation says.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    /// Case.
    pub case_id: &'a str,
    /// Reason code.
    pub reason: &'a str,
    /// For people.
    pub detail: String,
    /// The case's queue.
    pub queue: &'a str,
    /// The case's priority.
    pub priority: u32,
}

/// The wire form of an escalation row.
pub fn to_wire(row: &escalation::Model) -> pb::Escalation {
    pb::Escalation {
        escalation_id: row.id.clone(),
        case_id: row.case_id.clone(),
        reason: row.reason.clone(),
        level: u32::try_from(row.level).unwrap_or(1),
        state: row.state.clone(),
        detail: row.detail.clone(),
        queue: row.queue.clone(),
        priority: u32::try_from(row.priority).unwrap_or(0),
        supervisor: row.supervisor.clone().unwrap_or_default(),
        created_at: Some(timestamp_from_ms(row.created_at_ms)),
        acknowledged_at: row.acknowledged_at_ms.map(timestamp_from_ms),
        resolved_at: row.resolved_at_ms.map(timestamp_from_ms),
    }
}

impl Escalations {
    /// Raises an escalation unless one for the same case and reason is still open; returns it
    /// when raised.
    pub async fn raise(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        raise: Raise<'_>,
    ) -> Result<Option<escalation::Model>> {
        let standing = escalation::Entity::find()
            .filter(escalation::Column::Tenant.eq(tenant.as_str()))
            .filter(escalation::Column::CaseId.eq(raise.case_id))
            .filter(escalation::Column::Reason.eq(raise.reason))
            .filter(escalation::Column::State.ne(states::RESOLVED))
            .one(db)
            .await?;
        if standing.is_some() {
            return Ok(None);
        }
        let row = escalation::ActiveModel {
            id: Set(new_id('e')),
            tenant: Set(tenant.as_str().to_owned()),
            case_id: Set(raise.case_id.to_owned()),
            reason: Set(raise.reason.to_owned()),
            level: Set(1),
            state: Set(states::OPEN.to_owned()),
            detail: Set(raise.detail),
            queue: Set(raise.queue.to_owned()),
            priority: Set(i32::try_from(raise.priority).unwrap_or(100)),
            supervisor: Set(None),
            created_at_ms: Set(self.clock.now_ms()),
            acknowledged_at_ms: Set(None),
            resolved_at_ms: Set(None),
        }
        .insert(db)
        .await?;
        tracing::info!(escalation_id = %row.id, case_id = %row.case_id, reason = %row.reason, "escalation raised");
        Ok(Some(row))
    }

    /// Publishes an escalation event to the tenant's stream; a failure is logged, not returned,
    /// because the escalation itself is already durable and listed.
    pub async fn publish(&self, tenant: &Tenant, kind: &str, row: &escalation::Model) {
        let event =
            pb::EscalationEvent { cursor: String::new(), kind: kind.to_owned(), escalation: Some(to_wire(row)) };
        let payload = match serde_json::to_string(&event) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%error, "cannot encode escalation event");
                return;
            }
        };
        if let Err(error) = self.events.publish(tenant.as_str(), &payload).await {
            tracing::error!(%error, escalation_id = %row.id, "cannot publish escalation event");
        }
    }

    /// Escalations of the tenant, newest first: by state, or open and acknowledged ones.
    pub async fn list(&self, tenant: &Tenant, state: &str, limit: u32) -> Result<Vec<pb::Escalation>> {
        let mut query = escalation::Entity::find().filter(escalation::Column::Tenant.eq(tenant.as_str()));
        query = match state {
            "" => query.filter(escalation::Column::State.ne(states::RESOLVED)),
            states::OPEN | states::ACKNOWLEDGED | states::RESOLVED => query.filter(escalation::Column::State.eq(state)),
            other => {
                return Err(earshot_core::InvalidArgument::new(
                    "state",
                    format!("'{other}' is not open, acknowledged or resolved"),
                )
                .into());
            }
        };
        let limit = if limit == 0 { 100 } else { limit.min(1_000) };
        let rows = query
            .order_by_desc(escalation::Column::CreatedAtMs)
            .order_by_desc(escalation::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(to_wire).collect())
    }

    /// A supervisor acknowledges or resolves an escalation.
    pub async fn act(
        &self,
        tenant: &Tenant,
        request: pb::EscalationActionRequest,
        resolve: bool,
    ) -> Result<pb::Escalation> {
        check_id("escalation_id", 'e', &request.escalation_id)?;
        check_name("supervisor", &request.supervisor)?;
        let row = escalation::Entity::find_by_id(request.escalation_id.clone())
            .one(&self.db)
            .await?
            .filter(|row| row.tenant == tenant.as_str())
            .ok_or_else(|| Error::NotFound(format!("escalation {} not found", request.escalation_id)))?;
        let target = if resolve { states::RESOLVED } else { states::ACKNOWLEDGED };
        if row.state == target {
            return Ok(to_wire(&row));
        }
        if row.state == states::RESOLVED {
            return Err(Error::FailedPrecondition(format!("escalation {} is already resolved", row.id)));
        }
        let now = self.clock.now_ms();
        let mut active = row.clone().into_active_model();
        active.state = Set(target.to_owned());
        active.supervisor = Set(Some(request.supervisor.clone()));
        if resolve {
            active.resolved_at_ms = Set(Some(now));
        } else {
            active.acknowledged_at_ms = Set(Some(now));
        }
        if !request.note.is_empty() {
            active.detail = Set(format!("{} — {}: {}", row.detail, request.supervisor, request.note));
        }
        let row = active.update(&self.db).await?;
        self.publish(tenant, target, &row).await;
        Ok(to_wire(&row))
    }
}
