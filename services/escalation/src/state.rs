//! Escalations: raising them (once per case and reason while open), supervisor actions with their
//! audit trail, and the events supervisors watch (written to the outbox in the same transaction).

use std::sync::Arc;

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::{check_id, check_name, new_id};
use earshot_core::{InvalidArgument, SharedClock, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::{EventStream, Leases, Wakeups};
use earshot_store::escalation::escalation::EscalationState;
use earshot_store::escalation::{escalation, escalation_audit, outbox, sla_timer, webhook};
use sea_orm::{
    ActiveEnum as _, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::error::{Error, Result};
use crate::policy::Policy;

/// Event kinds on the stream and the webhook.
pub mod events {
    /// A new escalation.
    pub const RAISED: &str = "raised";
    /// Nobody acknowledged it in time: the next level hears about it.
    pub const LEVEL_RAISED: &str = "level_raised";
    /// A supervisor took it.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// Done.
    pub const RESOLVED: &str = "resolved";
    /// Its case moved to another queue or agent.
    pub const REASSIGNED: &str = "reassigned";
    /// A case is close to its SLA target.
    pub const SLA_WARNING: &str = "sla_warning";
}

/// Who acts when no person does.
pub const SYSTEM: &str = "system";

/// Shared state of the escalation service.
#[derive(Clone)]
pub struct Escalations {
    /// The durable record.
    pub db: DatabaseConnection,
    /// Events supervisors watch.
    pub events: EventStream,
    /// Time.
    pub clock: SharedClock,
    /// The policy where a tenant set none.
    pub builtin: Arc<Policy>,
    /// Woken (in every replica) when the outbox has new events to publish.
    pub outbox_ready: Wakeups,
    /// Work one replica does at a time: publishing the outbox (renewed each round), delivering
    /// webhooks (renewed before each delivery, so it outlasts a slow receiver).
    pub leases: OutboxLeases,
    /// Where webhooks may go.
    pub webhook_targets: Arc<crate::targets::TargetPolicy>,
    /// Open `WatchEscalations` streams, per key and in total.
    pub watches: earshot_auth::StreamLimits,
}

/// The leases of the outbox's two consumers.
#[derive(Clone)]
pub struct OutboxLeases {
    /// Held by the replica publishing to the streams.
    pub publisher: Leases,
    /// Held by the replica delivering webhooks.
    pub webhooks: Leases,
}

impl OutboxLeases {
    /// Leases on `queues` held as `holder` ([`earshot_queue::holder_id`]). Publishing twice is
    /// harmless (the stream keeps an event id once), so its lease is short: a successor takes
    /// over within seconds. Posting a webhook twice is not, so that one outlasts the slowest
    /// delivery.
    pub fn new(queues: &earshot_queue::Queues, holder: &str) -> Self {
        Self {
            publisher: Leases::new(queues, holder, std::time::Duration::from_secs(5)),
            webhooks: Leases::new(queues, holder, std::time::Duration::from_secs(30)),
        }
    }
}

/// The channel that wakes the outbox's consumers in every replica.
pub const OUTBOX_WAKEUPS: &str = "es:wake:escalation:outbox";

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
    /// Who raised it (an agent, or [`SYSTEM`]).
    pub actor: &'a str,
}

/// The wire form of an escalation row.
pub fn to_wire(row: &escalation::Model) -> pb::Escalation {
    pb::Escalation {
        escalation_id: row.id.clone(),
        case_id: row.case_id.clone(),
        reason: row.reason.clone(),
        level: u32::try_from(row.level).unwrap_or(1),
        state: row.state.to_value(),
        detail: row.detail.clone(),
        queue: row.queue.clone(),
        priority: u32::try_from(row.priority).unwrap_or(0),
        supervisor: row.supervisor.clone().unwrap_or_default(),
        created_at: Some(timestamp_from_ms(row.created_at_ms)),
        acknowledged_at: row.acknowledged_at_ms.map(timestamp_from_ms),
        resolved_at: row.resolved_at_ms.map(timestamp_from_ms),
        audience: row.audience.clone(),
        next_level_at: row.next_level_at_ms.map(timestamp_from_ms),
    }
}

/// The query for the open (not resolved) escalations of the tenant's cases `case_ids`, to narrow
/// further or to run.
pub(crate) fn open_escalations(
    tenant: &Tenant,
    case_ids: impl IntoIterator<Item = String>,
) -> sea_orm::Select<escalation::Entity> {
    escalation::Entity::find()
        .filter(escalation::Column::Tenant.eq(tenant.as_str()))
        .filter(escalation::Column::CaseId.is_in(case_ids))
        .filter(escalation::Column::State.ne(EscalationState::Resolved))
}

/// Whether the tenant has a webhook (its events are then due there too).
pub(crate) async fn has_webhook(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<bool> {
    Ok(webhook::Entity::find_by_id(tenant.as_str().to_owned()).one(db).await?.is_some())
}

/// What a supervisor does to an escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Takes it: it stops rising.
    Acknowledge,
    /// Closes it.
    Resolve,
}

/// A new escalation as written: its row, the audit line that raised it and its event.
pub(crate) struct Raised {
    /// The escalation.
    pub row: escalation::Model,
    /// `raised`, with the audience it went to.
    pub audit: escalation_audit::ActiveModel,
    /// The `raised` event for the outbox.
    pub event: outbox::ActiveModel,
}

impl Escalations {
    /// Raises an escalation unless one for the same case and reason is still open; returns it
    /// when raised. Level 1 goes to the policy's first audience.
    pub async fn raise(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        raise: Raise<'_>,
        policy: &Policy,
    ) -> Result<Option<escalation::Model>> {
        let standing = open_escalations(tenant, [raise.case_id.to_owned()])
            .filter(escalation::Column::Reason.eq(raise.reason))
            .one(db)
            .await?;
        if standing.is_some() {
            return Ok(None);
        }
        let has_webhook = has_webhook(db, tenant).await?;
        let Raised { row, audit, event } = self.raised(tenant, raise, policy, has_webhook)?;
        row.clone().into_active_model().reset_all().insert(db).await?;
        escalation_audit::Entity::insert(audit).exec(db).await?;
        event.insert(db).await?;
        self.outbox_ready.wake();
        Ok(Some(row))
    }

    /// The rows of a new escalation (not yet written): level 1 to the policy's first audience,
    /// the next level timed.
    pub(crate) fn raised(
        &self,
        tenant: &Tenant,
        raise: Raise<'_>,
        policy: &Policy,
        has_webhook: bool,
    ) -> Result<Raised> {
        let now = self.clock.now_ms();
        let audience = policy.level(1).map(|l| l.audience.clone()).unwrap_or_else(|| "supervisors".to_owned());
        let row = escalation::Model {
            id: new_id('e'),
            tenant: tenant.as_str().to_owned(),
            case_id: raise.case_id.to_owned(),
            reason: raise.reason.to_owned(),
            level: 1,
            state: EscalationState::Open,
            detail: raise.detail,
            queue: raise.queue.to_owned(),
            priority: i32::try_from(raise.priority).unwrap_or(100),
            supervisor: None,
            created_at_ms: now,
            acknowledged_at_ms: None,
            resolved_at_ms: None,
            audience: audience.clone(),
            next_level_at_ms: policy.level(2).map(|next| now + next.after_ms),
        };
        let audit =
            self.audit_row(tenant, &row.id, events::RAISED, raise.actor, format!("{} → {audience}", row.detail));
        let event = self.event_row(tenant, events::RAISED, raise.actor, Some(&row), None, has_webhook)?;
        tracing::info!(escalation_id = %row.id, case_id = %row.case_id, reason = %row.reason, "escalation raised");
        Ok(Raised { row, audit, event })
    }

    /// Records what happened to an escalation.
    pub async fn audit(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        escalation_id: &str,
        action: &str,
        actor: &str,
        detail: String,
    ) -> Result<()> {
        escalation_audit::Entity::insert(self.audit_row(tenant, escalation_id, action, actor, detail)).exec(db).await?;
        Ok(())
    }

    /// An audit line, not yet written.
    pub(crate) fn audit_row(
        &self,
        tenant: &Tenant,
        escalation_id: &str,
        action: &str,
        actor: &str,
        detail: String,
    ) -> escalation_audit::ActiveModel {
        escalation_audit::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            escalation_id: Set(escalation_id.to_owned()),
            at_ms: Set(self.clock.now_ms()),
            action: Set(action.to_owned()),
            actor: Set(actor.to_owned()),
            detail: Set(detail),
            ..Default::default()
        }
    }

    /// Writes an event to the outbox in the caller's transaction; the publisher puts it on the
    /// stream (and the webhook) once the transaction commits.
    pub async fn emit(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        kind: &str,
        actor: &str,
        row: Option<&escalation::Model>,
        warning: Option<pb::SlaWarning>,
    ) -> Result<()> {
        let has_webhook = has_webhook(db, tenant).await?;
        self.event_row(tenant, kind, actor, row, warning, has_webhook)?.insert(db).await?;
        self.outbox_ready.wake();
        Ok(())
    }

    /// An outbox event, not yet written; `has_webhook` says whether the tenant's webhook is due
    /// to receive it.
    pub(crate) fn event_row(
        &self,
        tenant: &Tenant,
        kind: &str,
        actor: &str,
        row: Option<&escalation::Model>,
        warning: Option<pb::SlaWarning>,
        has_webhook: bool,
    ) -> Result<outbox::ActiveModel> {
        let now = self.clock.now_ms();
        let event_id = new_id('v');
        let event = pb::EscalationEvent {
            cursor: String::new(),
            kind: kind.to_owned(),
            escalation: row.map(to_wire),
            warning,
            event_id: event_id.clone(),
            at: Some(timestamp_from_ms(now)),
            actor: actor.to_owned(),
        };
        Ok(outbox::ActiveModel {
            event_id: Set(event_id),
            tenant: Set(tenant.as_str().to_owned()),
            payload: Set(serde_json::to_string(&event)?),
            created_at_ms: Set(now),
            published: Set(false),
            webhook: Set(if has_webhook { "pending" } else { "none" }.to_owned()),
            attempts: Set(0),
            next_attempt_at_ms: Set(now),
            last_error: Set(None),
            ..Default::default()
        })
    }

    /// Escalations of the tenant, newest first, filtered as the request asks.
    pub async fn list(&self, tenant: &Tenant, request: pb::ListEscalationsRequest) -> Result<Vec<pb::Escalation>> {
        let mut query = escalation::Entity::find().filter(escalation::Column::Tenant.eq(tenant.as_str()));
        query = match request.state.as_str() {
            "" => query.filter(escalation::Column::State.ne(EscalationState::Resolved)),
            name => match EscalationState::try_from_value(&name.to_owned()) {
                Ok(state) => query.filter(escalation::Column::State.eq(state)),
                Err(_) => {
                    let reason = format!("'{name}' is not open, acknowledged or resolved");
                    return Err(InvalidArgument::new("state", reason).into());
                }
            },
        };
        if request.level > 0 {
            query = query.filter(escalation::Column::Level.eq(i32::try_from(request.level).unwrap_or(i32::MAX)));
        }
        if !request.reason.is_empty() {
            check_name("reason", &request.reason)?;
            query = query.filter(escalation::Column::Reason.eq(request.reason));
        }
        if !request.queue.is_empty() {
            check_name("queue", &request.queue)?;
            query = query.filter(escalation::Column::Queue.eq(request.queue.to_ascii_lowercase()));
        }
        if request.min_age_seconds > 0 {
            let age_ms = i64::try_from(request.min_age_seconds.saturating_mul(1_000)).unwrap_or(i64::MAX);
            let raised_by = self.clock.now_ms().saturating_sub(age_ms);
            query = query.filter(escalation::Column::CreatedAtMs.lte(raised_by));
        }
        let limit = if request.limit == 0 { 100 } else { request.limit.min(1_000) };
        let rows = query
            .order_by_desc(escalation::Column::CreatedAtMs)
            .order_by_desc(escalation::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(to_wire).collect())
    }

    async fn find(&self, db: &impl ConnectionTrait, tenant: &Tenant, escalation_id: &str) -> Result<escalation::Model> {
        check_id("escalation_id", 'e', escalation_id)?;
        escalation::Entity::find_by_id(escalation_id.to_owned())
            .one(db)
            .await?
            .filter(|row| row.tenant == tenant.as_str())
            .ok_or_else(|| Error::NotFound(format!("escalation {escalation_id} not found")))
    }

    /// One escalation with its history, oldest first.
    pub async fn get(&self, tenant: &Tenant, escalation_id: &str) -> Result<pb::EscalationView> {
        let row = self.find(&self.db, tenant, escalation_id).await?;
        let history = escalation_audit::Entity::find()
            .filter(escalation_audit::Column::EscalationId.eq(row.id.clone()))
            .order_by_asc(escalation_audit::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|entry| pb::EscalationAudit {
                at: Some(timestamp_from_ms(entry.at_ms)),
                action: entry.action,
                actor: entry.actor,
                detail: entry.detail,
            })
            .collect();
        Ok(pb::EscalationView { escalation: Some(to_wire(&row)), history })
    }

    /// Every SLA clock of a case and its escalations, newest first. NOT_FOUND when the tenant has
    /// neither for that case (unknown ids and other tenants' cases alike).
    pub async fn case_clocks(&self, tenant: &Tenant, case_id: &str) -> Result<pb::CaseClocks> {
        check_id("case_id", 'c', case_id)?;
        let timers = sla_timer::Entity::find()
            .filter(sla_timer::Column::Tenant.eq(tenant.as_str()))
            .filter(sla_timer::Column::CaseId.eq(case_id))
            .order_by_asc(sla_timer::Column::Kind)
            .all(&self.db)
            .await?;
        let escalations = escalation::Entity::find()
            .filter(escalation::Column::Tenant.eq(tenant.as_str()))
            .filter(escalation::Column::CaseId.eq(case_id))
            .order_by_desc(escalation::Column::CreatedAtMs)
            .order_by_desc(escalation::Column::Id)
            .all(&self.db)
            .await?;
        if timers.is_empty() && escalations.is_empty() {
            return Err(Error::NotFound(format!("case {case_id} has no SLA clock or escalation")));
        }
        let policies = self.stored_policies(&self.db, tenant).await?;
        let now = self.clock.now_ms();
        let clocks = timers
            .iter()
            .map(|timer| crate::clocks::to_wire(timer, now, &self.choose_policy(&policies, &timer.queue)))
            .collect();
        Ok(pb::CaseClocks {
            case_id: case_id.to_owned(),
            clocks,
            escalations: escalations.iter().map(to_wire).collect(),
        })
    }

    /// A supervisor acknowledges or resolves an escalation. Repeating the action changes nothing.
    pub async fn act(
        &self,
        tenant: &Tenant,
        request: pb::EscalationActionRequest,
        action: Action,
    ) -> Result<pb::Escalation> {
        check_name("supervisor", &request.supervisor)?;
        if request.note.chars().count() > 2_000 {
            return Err(InvalidArgument::new("note", "is longer than 2000 characters").into());
        }
        let txn = self.db.begin().await?;
        let row = self.find(&txn, tenant, &request.escalation_id).await?;
        let target = match action {
            Action::Acknowledge => EscalationState::Acknowledged,
            Action::Resolve => EscalationState::Resolved,
        };
        if row.state == target {
            return Ok(to_wire(&row));
        }
        if row.state == EscalationState::Resolved {
            return Err(Error::FailedPrecondition(format!("escalation {} is already resolved", row.id)));
        }
        let detail = if request.note.is_empty() { format!("at level {}", row.level) } else { request.note.clone() };
        let row = self.settle(&txn, tenant, row, action, &request.supervisor, detail).await?;
        txn.commit().await?;
        Ok(to_wire(&row))
    }

    /// Acknowledges or resolves `row` within `txn` on behalf of `actor`: the state, the audit
    /// line and the event watchers and webhooks receive.
    pub(crate) async fn settle(
        &self,
        txn: &impl ConnectionTrait,
        tenant: &Tenant,
        row: escalation::Model,
        action: Action,
        actor: &str,
        detail: String,
    ) -> Result<escalation::Model> {
        let (target, event) = match action {
            Action::Acknowledge => (EscalationState::Acknowledged, events::ACKNOWLEDGED),
            Action::Resolve => (EscalationState::Resolved, events::RESOLVED),
        };
        let now = self.clock.now_ms();
        let mut active = row.into_active_model();
        active.state = Set(target);
        active.supervisor = Set(Some(actor.to_owned()));
        active.next_level_at_ms = Set(None);
        match action {
            Action::Acknowledge => active.acknowledged_at_ms = Set(Some(now)),
            Action::Resolve => active.resolved_at_ms = Set(Some(now)),
        }
        let row = active.update(txn).await?;
        self.audit(txn, tenant, &row.id, event, actor, detail).await?;
        self.emit(txn, tenant, event, actor, Some(&row), None).await?;
        Ok(row)
    }
}
