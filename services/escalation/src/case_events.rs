//! Case events from routing: start, pause, resume, re-target and stop SLA clocks; raise immediate
//! escalations under the policy of the case's queue. Each event is applied once (its key is
//! recorded in the same transaction), so routing may retry.
//!
//! Clock semantics: the first-response clock starts at the case's first post. An agent response
//! stops every clock; the next-response clock starts only when the customer writes again after
//! that. While the agent waits on the customer, clocks pause; the customer writing again (or the
//! agent ending the wait) resumes them. A transfer or a priority change recomputes the targets.

use earshot_core::clock::ms_from_timestamp;
use earshot_core::ids::check_id;
use earshot_core::scoring::followers_label;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::escalation::sla_timer::{self, Model as Timer};
use earshot_store::escalation::{applied_event, escalation};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, TransactionTrait,
};

use crate::clocks::{self, awaiting_answer};
use crate::error::Result;
use crate::policy::{ClockKind, Policy, duration_label};
use crate::state::{Action, Escalations, Raise, SYSTEM, events, states, to_wire};

fn event_key(tenant: &Tenant, event: &pb::CaseEvent, kind: pb::CaseEventKind) -> String {
    let at = event.at.as_ref().map_or(0, ms_from_timestamp);
    let discriminator = if event.post_id.is_empty() { at.to_string() } else { event.post_id.clone() };
    format!("{tenant}/{}/{}/{discriminator}", event.case_id, kind.as_str_name())
}

/// The immediate triggers a post sets off under `policy`, with their details for people.
fn triggers(event: &pb::CaseEvent, policy: &Policy) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if let Some(classification) = &event.classification {
        let reason = |factor: &str| {
            classification.reasons.iter().find(|r| r.factor == factor).map(|r| r.detail.clone()).unwrap_or_default()
        };
        let immediate = [
            ("legal", "legal threat", "legal_threat"),
            ("safety", "safety risk", "safety"),
            ("publicity", "threatens to go public", "publicity_threat"),
            ("supervisor", "demands a supervisor", "supervisor_demand"),
        ];
        for (trigger, what, factor) in immediate {
            if classification.escalations.iter().any(|e| e == trigger) {
                found.push((trigger, format!("{what} {}", reason(factor))));
            }
        }
        if classification.risk >= policy.risk_threshold {
            let detail = format!(
                "risk {:.2} (priority {}) at or above {:.2}",
                classification.risk, classification.priority, policy.risk_threshold
            );
            found.push(("risk", detail));
        }
        let negative =
            classification.sentiment <= earshot_core::scoring::NEGATIVE_SENTIMENT || classification.complaint;
        if negative && event.author_followers >= policy.reach_followers {
            found.push(("reach", format!("negative post, {}", followers_label(event.author_followers))));
        }
    }
    if event.contact_count >= policy.repeat_contacts {
        let detail = format!("contact {} from {} with the case still open", event.contact_count, event.customer);
        found.push(("repeat_contact", detail));
    }
    found
}

/// Writes a timer row whole (a new one, or every field of a changed one).
async fn save(db: &impl ConnectionTrait, timer: Timer, exists: bool) -> Result<()> {
    let active = sla_timer::ActiveModel::from(timer).reset_all();
    if exists {
        active.update(db).await?;
    } else {
        active.insert(db).await?;
    }
    Ok(())
}

impl Escalations {
    /// Resolves the open breach escalations of `timer`'s clock, raised while an answer given at
    /// `answered_ms`, before the target, had not reached escalation yet.
    async fn withdraw_breach(
        &self,
        txn: &DatabaseTransaction,
        tenant: &Tenant,
        timer: &Timer,
        answered_ms: i64,
    ) -> Result<()> {
        let breaches = escalation::Entity::find()
            .filter(escalation::Column::Tenant.eq(tenant.as_str()))
            .filter(escalation::Column::CaseId.eq(timer.case_id.clone()))
            .filter(escalation::Column::Reason.eq(format!("sla_{}", timer.kind)))
            .filter(escalation::Column::State.ne(states::RESOLVED))
            .all(txn)
            .await?;
        for breach in breaches {
            let answered_ahead = duration_label(timer.due_at_ms - answered_ms);
            let detail = format!("answered {answered_ahead} before the target; the answer reached escalation late");
            self.settle(txn, tenant, breach, Action::Resolve, SYSTEM, detail).await?;
        }
        Ok(())
    }
}

/// The most events one `RecordCaseEvents` call may carry.
pub const MAX_EVENTS: usize = 1_000;

/// The event's kind, once its fields are valid.
fn check_event(event: &pb::CaseEvent) -> std::result::Result<pb::CaseEventKind, InvalidArgument> {
    check_id("case_id", 'c', &event.case_id)?;
    let kind = pb::CaseEventKind::try_from(event.kind)
        .ok()
        .filter(|k| *k != pb::CaseEventKind::Unspecified)
        .ok_or_else(|| InvalidArgument::new("kind", format!("unknown value {}", event.kind)))?;
    if event.priority > 100 {
        return Err(InvalidArgument::new("priority", "is above 100"));
    }
    Ok(kind)
}

impl Escalations {
    /// Applies one case event; returns the escalations it raised (or, for a replayed event, the
    /// case's standing ones).
    #[tracing::instrument(name = "escalation.record", skip_all, fields(%tenant, case_id = %event.case_id, kind = event.kind))]
    pub async fn record(&self, tenant: &Tenant, event: pb::CaseEvent) -> Result<Vec<pb::Escalation>> {
        let kind = check_event(&event)?;
        let txn = self.db.begin().await?;
        let policies = self.stored_policies(&txn, tenant).await?;
        let raised = self.apply(&txn, tenant, event, kind, &policies).await?;
        txn.commit().await?;
        Ok(raised)
    }

    /// Applies case events in order, in one transaction; nothing when one is invalid. Returns
    /// what each raised.
    #[tracing::instrument(name = "escalation.record", skip_all, fields(%tenant, events = events.len()))]
    pub async fn record_all(&self, tenant: &Tenant, events: Vec<pb::CaseEvent>) -> Result<Vec<Vec<pb::Escalation>>> {
        if events.len() > MAX_EVENTS {
            return Err(
                InvalidArgument::new("events", format!("{} events; the limit is {MAX_EVENTS}", events.len())).into()
            );
        }
        let kinds = events
            .iter()
            .enumerate()
            .map(|(i, event)| check_event(event).map_err(|e| e.within(&format!("events[{i}]"))))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let txn = self.db.begin().await?;
        // Read once for the batch: nothing in it changes a policy.
        let policies = self.stored_policies(&txn, tenant).await?;
        let mut raised = Vec::with_capacity(events.len());
        for (event, kind) in events.into_iter().zip(kinds) {
            raised.push(self.apply(&txn, tenant, event, kind, &policies).await?);
        }
        txn.commit().await?;
        Ok(raised)
    }

    /// Applies one checked event within `txn`, once per event key, under the tenant's `policies`.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        tenant: &Tenant,
        event: pb::CaseEvent,
        kind: pb::CaseEventKind,
        policies: &[Policy],
    ) -> Result<Vec<pb::Escalation>> {
        let key = event_key(tenant, &event, kind);
        if applied_event::Entity::find_by_id(key.clone()).one(txn).await?.is_some() {
            let standing = escalation::Entity::find()
                .filter(escalation::Column::Tenant.eq(tenant.as_str()))
                .filter(escalation::Column::CaseId.eq(event.case_id.clone()))
                .filter(escalation::Column::State.ne(states::RESOLVED))
                .all(txn)
                .await?;
            return Ok(standing.iter().map(to_wire).collect());
        }
        let now = self.clock.now_ms();
        let at = event.at.as_ref().map_or(now, ms_from_timestamp).min(now);
        let timers = sla_timer::Entity::find()
            .filter(sla_timer::Column::Tenant.eq(tenant.as_str()))
            .filter(sla_timer::Column::CaseId.eq(event.case_id.clone()))
            .all(txn)
            .await?;
        let mut raised = Vec::new();
        match kind {
            pb::CaseEventKind::Opened | pb::CaseEventKind::Contact => {
                let policy = self.choose_policy(policies, &event.queue);
                self.on_post(txn, tenant, &event, at, timers, &policy).await?;
                for (reason, detail) in triggers(&event, &policy) {
                    let raise = Raise {
                        case_id: &event.case_id,
                        reason,
                        detail,
                        queue: &event.queue,
                        priority: event.priority,
                        actor: SYSTEM,
                    };
                    raised.extend(self.raise(txn, tenant, raise, &policy).await?);
                }
            }
            pb::CaseEventKind::Responded | pb::CaseEventKind::Resolved => {
                for mut timer in timers.into_iter().filter(awaiting_answer) {
                    let policy = self.choose_policy(policies, &timer.queue);
                    // Breached at a moment after the answer: the answer was on its way (routing
                    // or escalation down), not late.
                    let breached_after_answer = timer.state == clocks::states::FIRED && timer.due_at_ms > at;
                    clocks::stop(&mut timer, at, &policy);
                    if breached_after_answer {
                        self.withdraw_breach(txn, tenant, &timer, at).await?;
                    }
                    save(txn, timer, true).await?;
                }
            }
            pb::CaseEventKind::Waiting | pb::CaseEventKind::Resumed => {
                for mut timer in timers {
                    let policy = self.choose_policy(policies, &timer.queue);
                    let before = timer.state.clone();
                    if kind == pb::CaseEventKind::Waiting {
                        clocks::pause(&mut timer, at, &policy);
                    } else {
                        clocks::resume(&mut timer, at, &policy);
                    }
                    if timer.state != before {
                        save(txn, timer, true).await?;
                    }
                }
            }
            pb::CaseEventKind::Transferred | pb::CaseEventKind::Rescored => {
                let policy = self.choose_policy(policies, &event.queue);
                for mut timer in timers {
                    clocks::retarget(&mut timer, &policy, event.priority, &event.queue);
                    save(txn, timer, true).await?;
                }
                if kind == pb::CaseEventKind::Transferred {
                    self.on_transfer(txn, tenant, &event).await?;
                }
            }
            pb::CaseEventKind::AgentRequest => {
                let policy = self.choose_policy(policies, &event.queue);
                let raise = Raise {
                    case_id: &event.case_id,
                    reason: "agent_request",
                    detail: format!("agent {} asks for help: {}", event.agent_id, event.note),
                    queue: &event.queue,
                    priority: event.priority,
                    actor: &event.agent_id,
                };
                raised.extend(self.raise(txn, tenant, raise, &policy).await?);
            }
            pb::CaseEventKind::Unspecified => {}
        }
        applied_event::ActiveModel { key: Set(key), applied_at_ms: Set(now) }.insert(txn).await?;
        Ok(raised.iter().map(to_wire).collect())
    }

    /// A customer's post: starts the first-response clock of a new case; for a follow-up, resumes
    /// paused clocks and re-targets running ones (the priority may have risen), or, when the agent
    /// had answered everything, starts the next-response clock.
    async fn on_post(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        event: &pb::CaseEvent,
        at: i64,
        timers: Vec<Timer>,
        policy: &Policy,
    ) -> Result<()> {
        let customer_waits = timers.iter().any(awaiting_answer);
        if customer_waits {
            for mut timer in timers.into_iter().filter(awaiting_answer) {
                clocks::resume(&mut timer, at, policy);
                clocks::retarget(&mut timer, policy, event.priority, &event.queue);
                save(db, timer, true).await?;
            }
            return Ok(());
        }
        let kind = if timers.is_empty() { ClockKind::FirstResponse } else { ClockKind::NextResponse };
        let existing = timers.iter().any(|t| t.kind == kind.as_str());
        let timer = clocks::start(tenant.as_str(), &event.case_id, kind, at, event.priority, &event.queue, policy);
        tracing::debug!(case_id = %event.case_id, clock = kind.as_str(), target = %duration_label(timer.target_ms), "sla clock started");
        save(db, timer, existing).await
    }

    /// The case moved: its open escalations follow it to the new queue, and the move is on their
    /// record and stream.
    async fn on_transfer(&self, db: &impl ConnectionTrait, tenant: &Tenant, event: &pb::CaseEvent) -> Result<()> {
        let open = escalation::Entity::find()
            .filter(escalation::Column::Tenant.eq(tenant.as_str()))
            .filter(escalation::Column::CaseId.eq(event.case_id.clone()))
            .filter(escalation::Column::State.ne(states::RESOLVED))
            .all(db)
            .await?;
        let actor = [&event.actor, &event.agent_id].into_iter().find(|a| !a.is_empty()).map_or(SYSTEM, |a| a.as_str());
        let to = if !event.actor.is_empty() && !event.agent_id.is_empty() {
            format!("agent {}", event.agent_id)
        } else {
            format!("queue {}", event.queue)
        };
        for row in open {
            let mut active = row.clone().into_active_model();
            active.queue = Set(event.queue.clone());
            active.priority = Set(i32::try_from(event.priority).unwrap_or(100));
            let row = active.update(db).await?;
            let detail = if event.note.is_empty() {
                format!("case moved to {to}")
            } else {
                format!("case moved to {to}: {}", event.note)
            };
            self.audit(db, tenant, &row.id, events::REASSIGNED, actor, detail).await?;
            self.emit(db, tenant, events::REASSIGNED, actor, Some(&row), None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Builtin;

    #[test]
    fn triggers_follow_the_policy_thresholds() {
        let mut policy = Builtin::default().policy();
        let event = pb::CaseEvent {
            author_followers: 150_000,
            contact_count: 1,
            classification: Some(pb::Classification {
                risk: 0.8,
                priority: 80,
                sentiment: -0.6,
                escalations: vec!["legal".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let names = |policy: &Policy| triggers(&event, policy).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&policy), ["legal", "reach"]);
        policy.risk_threshold = 0.75;
        policy.reach_followers = 200_000;
        assert_eq!(names(&policy), ["legal", "risk"]);
    }
}
