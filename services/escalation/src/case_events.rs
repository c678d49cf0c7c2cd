//! Case events from routing: start, pause, resume, re-target and stop SLA clocks; raise immediate
//! escalations under the policy of the case's queue. Each event is applied once (its key is
//! recorded in the same transaction), so routing may retry.
//!
//! Clock semantics: the first-response clock starts at the case's first post. An agent response
//! stops every clock; the next-response clock starts only when the customer writes again after
//! that. While the agent waits on the customer, clocks pause; the customer writing again (or the
//! agent ending the wait) resumes them. A transfer or a priority change recomputes the targets.

use std::collections::BTreeSet;

use earshot_core::clock::ms_from_timestamp;
use earshot_core::ids::check_id;
use earshot_core::scoring::followers_label;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::escalation::escalation;
use earshot_store::escalation::sla_timer::{Model as Timer, TimerState};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, IntoActiveModel,
    QueryFilter, TransactionTrait,
};

use crate::clocks::{self, awaiting_answer};
use crate::error::{Error, Result};
use crate::event_batch::{Clock, EventBatch};
use crate::policy::{ClockKind, Policy, duration_label};
use crate::state::{Action, Escalations, Raise, SYSTEM, events, open_escalations, to_wire};

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

impl Escalations {
    /// Resolves the open breach escalations of `timer`'s clock, raised while an answer given at
    /// `answered_ms`, before the target, had not reached escalation yet.
    async fn withdraw_breach(
        &self,
        txn: &DatabaseTransaction,
        batch: &mut EventBatch<'_>,
        tenant: &Tenant,
        timer: &Timer,
        answered_ms: i64,
    ) -> Result<()> {
        batch.write(txn, self).await?;
        let breaches = open_escalations(tenant, [timer.case_id.clone()])
            .filter(escalation::Column::Reason.eq(format!("sla_{}", timer.kind)))
            .all(txn)
            .await?;
        for breach in breaches {
            let answered_ahead = duration_label(timer.due_at_ms - answered_ms);
            let detail = format!("answered {answered_ahead} before the target; the answer reached escalation late");
            let breach = self.settle(txn, tenant, breach, Action::Resolve, SYSTEM, detail).await?;
            batch.forget_open(&breach.case_id, &breach.reason);
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
        Ok(self.apply_all(tenant, vec![(event, kind)]).await?.pop().unwrap_or_default())
    }

    /// Applies case events in order, in one transaction; nothing when one is invalid. Returns
    /// what each raised.
    #[tracing::instrument(name = "escalation.record", skip_all, fields(%tenant, events = events.len()))]
    pub async fn record_all(&self, tenant: &Tenant, events: Vec<pb::CaseEvent>) -> Result<Vec<Vec<pb::Escalation>>> {
        InvalidArgument::check_count("events", events.len(), MAX_EVENTS)?;
        let checked = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let kind = check_event(&event).map_err(|e| e.within(&format!("events[{i}]")))?;
                Ok((event, kind))
            })
            .collect::<std::result::Result<Vec<_>, InvalidArgument>>()?;
        self.apply_all(tenant, checked).await
    }

    /// Applies checked events in order in one transaction, each once per event key, reading and
    /// writing set-based (see [`EventBatch`]); again when the transaction lost a race to another
    /// replica's for the same cases.
    async fn apply_all(
        &self,
        tenant: &Tenant,
        events: Vec<(pb::CaseEvent, pb::CaseEventKind)>,
    ) -> Result<Vec<Vec<pb::Escalation>>> {
        earshot_store::retry_on_contention(Error::database, || self.apply_once(tenant, &events)).await
    }

    async fn apply_once(
        &self,
        tenant: &Tenant,
        events: &[(pb::CaseEvent, pb::CaseEventKind)],
    ) -> Result<Vec<Vec<pb::Escalation>>> {
        let keys: Vec<String> = events.iter().map(|(event, kind)| event_key(tenant, event, *kind)).collect();
        let case_ids: BTreeSet<String> = events.iter().map(|(event, _)| event.case_id.clone()).collect();
        let txn = self.db.begin().await?;
        // Read once for the batch: nothing in it changes a policy.
        let policies = self.stored_policies(&txn, tenant).await?;
        let mut batch = EventBatch::load(&txn, tenant, keys.clone(), case_ids).await?;
        let mut raised = Vec::with_capacity(events.len());
        for ((event, kind), key) in events.iter().zip(keys) {
            if batch.was_applied(&key) {
                batch.write(&txn, self).await?;
                let standing = open_escalations(tenant, [event.case_id.clone()]).all(&txn).await?;
                raised.push(standing.iter().map(to_wire).collect());
                continue;
            }
            raised.push(self.apply(&txn, &mut batch, tenant, event, *kind, &policies).await?);
            batch.mark_applied(key, self.clock.now_ms());
        }
        batch.write(&txn, self).await?;
        txn.commit().await?;
        Ok(raised)
    }

    /// Applies one checked event to the batch under the tenant's `policies`.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        batch: &mut EventBatch<'_>,
        tenant: &Tenant,
        event: &pb::CaseEvent,
        kind: pb::CaseEventKind,
        policies: &[Policy],
    ) -> Result<Vec<pb::Escalation>> {
        let now = self.clock.now_ms();
        let at = event.at.as_ref().map_or(now, ms_from_timestamp).min(now);
        let mut raised = Vec::new();
        match kind {
            pb::CaseEventKind::Opened | pb::CaseEventKind::Contact => {
                let policy = self.choose_policy(policies, &event.queue);
                on_post(tenant, batch.clocks(&event.case_id), event, at, &policy);
                for (reason, detail) in triggers(event, &policy) {
                    let raise = Raise {
                        case_id: &event.case_id,
                        reason,
                        detail,
                        queue: &event.queue,
                        priority: event.priority,
                        actor: SYSTEM,
                    };
                    raised.extend(batch.raise(self, raise, &policy)?);
                }
            }
            pb::CaseEventKind::Responded | pb::CaseEventKind::Resolved => {
                let mut breached_before = Vec::new();
                for clock in batch.clocks(&event.case_id).iter_mut().filter(|clock| awaiting_answer(&clock.timer)) {
                    let policy = self.choose_policy(policies, &clock.timer.queue);
                    // Breached at a moment after the answer: the answer was on its way (routing
                    // or escalation down), not late.
                    let breached_after_answer = clock.timer.state == TimerState::Fired && clock.timer.due_at_ms > at;
                    clocks::stop(&mut clock.timer, at, &policy);
                    clock.changed = true;
                    if breached_after_answer {
                        breached_before.push(clock.timer.clone());
                    }
                }
                for timer in breached_before {
                    self.withdraw_breach(txn, batch, tenant, &timer, at).await?;
                }
            }
            pb::CaseEventKind::Waiting | pb::CaseEventKind::Resumed => {
                for clock in batch.clocks(&event.case_id) {
                    let policy = self.choose_policy(policies, &clock.timer.queue);
                    let before = clock.timer.state;
                    if kind == pb::CaseEventKind::Waiting {
                        clocks::pause(&mut clock.timer, at, &policy);
                    } else {
                        clocks::resume(&mut clock.timer, at, &policy);
                    }
                    clock.changed |= clock.timer.state != before;
                }
            }
            pb::CaseEventKind::Transferred | pb::CaseEventKind::Rescored => {
                let policy = self.choose_policy(policies, &event.queue);
                for clock in batch.clocks(&event.case_id) {
                    clocks::retarget(&mut clock.timer, &policy, event.priority, &event.queue);
                    clock.changed = true;
                }
                if kind == pb::CaseEventKind::Transferred {
                    batch.write(txn, self).await?;
                    self.on_transfer(txn, tenant, event).await?;
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
                raised.extend(batch.raise(self, raise, &policy)?);
            }
            pb::CaseEventKind::Unspecified => {}
        }
        Ok(raised.iter().map(to_wire).collect())
    }

    /// The case moved: its open escalations follow it to the new queue, and the move is on their
    /// record and stream.
    async fn on_transfer(&self, db: &impl ConnectionTrait, tenant: &Tenant, event: &pb::CaseEvent) -> Result<()> {
        let open = open_escalations(tenant, [event.case_id.clone()]).all(db).await?;
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

/// A customer's post: starts the first-response clock of a new case; for a follow-up, resumes
/// paused clocks and re-targets running ones (the priority may have risen), or, when the agent
/// had answered everything, starts the next-response clock.
fn on_post(tenant: &Tenant, clocks: &mut Vec<Clock>, event: &pb::CaseEvent, at: i64, policy: &Policy) {
    let customer_waits = clocks.iter().any(|clock| awaiting_answer(&clock.timer));
    if customer_waits {
        for clock in clocks.iter_mut().filter(|clock| awaiting_answer(&clock.timer)) {
            clocks::resume(&mut clock.timer, at, policy);
            clocks::retarget(&mut clock.timer, policy, event.priority, &event.queue);
            clock.changed = true;
        }
        return;
    }
    let kind = if clocks.is_empty() { ClockKind::FirstResponse } else { ClockKind::NextResponse };
    let timer = clocks::start(tenant.as_str(), &event.case_id, kind, at, event.priority, &event.queue, policy);
    tracing::debug!(case_id = %event.case_id, clock = kind.as_str(), target = %duration_label(timer.target_ms), "sla clock started");
    match clocks.iter_mut().find(|clock| clock.timer.kind == kind.as_str()) {
        Some(clock) => *clock = Clock { timer, changed: true },
        None => clocks.push(Clock { timer, changed: true }),
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
