//! Case events from routing: start, re-time and stop SLA clocks; raise immediate escalations.
//! Each event is applied once (its key is recorded in the same transaction), so routing may retry.

use earshot_core::clock::ms_from_timestamp;
use earshot_core::ids::check_id;
use earshot_core::scoring::followers_label;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::escalation::{applied_event, escalation, sla_timer};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};

use crate::error::Result;
use crate::sla::duration_label;
use crate::state::{Escalations, Raise, states, to_wire};

/// Timer kinds.
pub mod timers {
    /// Until the first agent response.
    pub const FIRST_RESPONSE: &str = "first_response";
    /// Until the agent answers a customer who wrote again.
    pub const NEXT_RESPONSE: &str = "next_response";
    /// Running.
    pub const RUNNING: &str = "running";
    /// Stopped by a response or resolution.
    pub const STOPPED: &str = "stopped";
    /// Breached and escalated.
    pub const FIRED: &str = "fired";
}

fn event_key(tenant: &Tenant, event: &pb::CaseEvent, kind: pb::CaseEventKind) -> String {
    let at = event.at.as_ref().map_or(0, ms_from_timestamp);
    let discriminator = if event.post_id.is_empty() { at.to_string() } else { event.post_id.clone() };
    format!("{tenant}/{}/{}/{discriminator}", event.case_id, kind.as_str_name())
}

/// Human detail of an immediate trigger.
fn trigger_detail(trigger: &str, classification: &pb::Classification, followers: Option<u64>) -> String {
    let reason = |factor: &str| {
        classification.reasons.iter().find(|r| r.factor == factor).map(|r| r.detail.clone()).unwrap_or_default()
    };
    match trigger {
        "legal" => format!("legal threat {}", reason("legal_threat")),
        "safety" => format!("safety risk {}", reason("safety")),
        "risk" => format!("risk {:.2} (priority {})", classification.risk, classification.priority),
        "reach" => format!("negative post, {}", followers.map(followers_label).unwrap_or_else(|| reason("reach"))),
        other => other.to_owned(),
    }
}

impl Escalations {
    /// Applies one case event; returns the escalations it raised (or, for a replayed event, the
    /// case's standing ones).
    pub async fn record(&self, tenant: &Tenant, event: pb::CaseEvent) -> Result<Vec<pb::Escalation>> {
        check_id("case_id", 'c', &event.case_id)?;
        let kind = pb::CaseEventKind::try_from(event.kind)
            .ok()
            .filter(|k| *k != pb::CaseEventKind::Unspecified)
            .ok_or_else(|| InvalidArgument::new("kind", format!("unknown value {}", event.kind)))?;
        let key = event_key(tenant, &event, kind);
        let txn = self.db.begin().await?;
        if applied_event::Entity::find_by_id(key.clone()).one(&txn).await?.is_some() {
            let standing = escalation::Entity::find()
                .filter(escalation::Column::Tenant.eq(tenant.as_str()))
                .filter(escalation::Column::CaseId.eq(event.case_id.clone()))
                .filter(escalation::Column::State.ne(states::RESOLVED))
                .all(&txn)
                .await?;
            return Ok(standing.iter().map(to_wire).collect());
        }
        let now = self.clock.now_ms();
        let at = event.at.as_ref().map_or(now, ms_from_timestamp).min(now);
        let mut raised = Vec::new();
        match kind {
            pb::CaseEventKind::Opened | pb::CaseEventKind::Contact => {
                self.on_post(&txn, tenant, &event, kind, at, &mut raised).await?;
            }
            pb::CaseEventKind::Responded | pb::CaseEventKind::Resolved => {
                self.stop_timers(&txn, tenant, &event.case_id).await?;
            }
            pb::CaseEventKind::AgentRequest => {
                let detail = format!("agent {} asks for help: {}", event.agent_id, event.note);
                let raise = Raise {
                    case_id: &event.case_id,
                    reason: "agent_request",
                    detail,
                    queue: &event.queue,
                    priority: event.priority,
                };
                raised.extend(self.raise(&txn, tenant, raise).await?);
            }
            pb::CaseEventKind::Unspecified => {}
        }
        applied_event::ActiveModel { key: Set(key), applied_at_ms: Set(now) }.insert(&txn).await?;
        txn.commit().await?;
        for row in &raised {
            self.publish(tenant, "raised", row).await;
        }
        Ok(raised.iter().map(to_wire).collect())
    }

    async fn on_post(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        event: &pb::CaseEvent,
        kind: pb::CaseEventKind,
        at: i64,
        raised: &mut Vec<escalation::Model>,
    ) -> Result<()> {
        let target = self.policy.target_ms(event.priority);
        let running = sla_timer::Entity::find()
            .filter(sla_timer::Column::Tenant.eq(tenant.as_str()))
            .filter(sla_timer::Column::CaseId.eq(event.case_id.clone()))
            .filter(sla_timer::Column::State.eq(timers::RUNNING))
            .one(db)
            .await?;
        match running {
            // A follow-up while the customer still waits: a higher priority can only shorten the clock.
            Some(timer) => {
                let due = (timer.started_at_ms + target).min(timer.due_at_ms);
                let mut active = timer.into_active_model();
                active.due_at_ms = Set(due);
                active.priority = Set(i32::try_from(event.priority).unwrap_or(100));
                active.queue = Set(event.queue.clone());
                active.update(db).await?;
            }
            None => {
                let kind_name =
                    if kind == pb::CaseEventKind::Opened { timers::FIRST_RESPONSE } else { timers::NEXT_RESPONSE };
                sla_timer::Entity::delete_by_id((
                    tenant.as_str().to_owned(),
                    event.case_id.clone(),
                    kind_name.to_owned(),
                ))
                .exec(db)
                .await?;
                sla_timer::ActiveModel {
                    tenant: Set(tenant.as_str().to_owned()),
                    case_id: Set(event.case_id.clone()),
                    kind: Set(kind_name.to_owned()),
                    started_at_ms: Set(at),
                    due_at_ms: Set(at + target),
                    state: Set(timers::RUNNING.to_owned()),
                    priority: Set(i32::try_from(event.priority).unwrap_or(100)),
                    queue: Set(event.queue.clone()),
                }
                .insert(db)
                .await?;
                tracing::debug!(case_id = %event.case_id, target = %duration_label(target), "sla clock started");
            }
        }
        let mut triggers: Vec<(String, String)> = Vec::new();
        if let Some(classification) = &event.classification {
            for trigger in &classification.escalations {
                triggers.push((trigger.clone(), trigger_detail(trigger, classification, None)));
            }
        }
        if event.contact_count >= self.policy.repeat_contact_escalates {
            triggers.push((
                "repeat_contact".to_owned(),
                format!("contact {} from {} with the case still open", event.contact_count, event.customer),
            ));
        }
        for (reason, detail) in triggers {
            let raise = Raise {
                case_id: &event.case_id,
                reason: &reason,
                detail,
                queue: &event.queue,
                priority: event.priority,
            };
            raised.extend(self.raise(db, tenant, raise).await?);
        }
        Ok(())
    }

    async fn stop_timers(&self, db: &impl ConnectionTrait, tenant: &Tenant, case_id: &str) -> Result<()> {
        let running = sla_timer::Entity::find()
            .filter(sla_timer::Column::Tenant.eq(tenant.as_str()))
            .filter(sla_timer::Column::CaseId.eq(case_id))
            .filter(sla_timer::Column::State.eq(timers::RUNNING))
            .all(db)
            .await?;
        for timer in running {
            let mut active = timer.into_active_model();
            active.state = Set(timers::STOPPED.to_owned());
            active.update(db).await?;
        }
        Ok(())
    }
}
