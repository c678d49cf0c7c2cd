//! A supervisor moves a case: to a queue, keeping its place in line, or straight to an agent, who
//! holds it at once. Whoever had it loses it; the move is audited and reported to escalation,
//! which re-targets the SLA clocks and notes it on the case's open escalations.

use earshot_core::ids::check_name;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::{Assign, Settle};
use earshot_store::routing::agent;
use earshot_store::routing::case::CaseState;
use sea_orm::{ActiveValue::Set, EntityTrait, IntoActiveModel, TransactionTrait};

use crate::error::{Error, Result};
use crate::state::Routing;

impl Routing {
    /// Reassigns a case to a queue or an agent.
    pub async fn reassign(&self, tenant: &Tenant, request: pb::ReassignCaseRequest) -> Result<pb::CaseView> {
        check_name("supervisor", &request.supervisor)?;
        if request.note.chars().count() > 2_000 {
            return Err(InvalidArgument::new("note", "is longer than 2000 characters").into());
        }
        let queue = request.queue.trim().to_ascii_lowercase();
        let case = self.find_case(tenant, &request.case_id).await?;
        if case.state == CaseState::Resolved {
            return Err(Error::FailedPrecondition(format!("case {} is resolved", case.id)));
        }
        let previous = case.agent.clone();
        let (state, agent, target) = match (queue.is_empty(), request.agent_id.is_empty()) {
            (false, true) => {
                check_name("queue", &queue)?;
                let holder = if case.state == CaseState::Queued { "" } else { previous.as_deref().unwrap_or_default() };
                if !self.queues.settle(tenant.as_str(), holder, &case.id, Settle::Transfer(&queue)).await? {
                    return Err(Error::FailedPrecondition(format!("case {} changed meanwhile; try again", case.id)));
                }
                (CaseState::Queued, None, format!("queue {queue}"))
            }
            (true, false) => {
                check_name("agent_id", &request.agent_id)?;
                let known = agent::Entity::find_by_id((tenant.as_str().to_owned(), request.agent_id.clone()))
                    .one(&self.db)
                    .await?;
                let Some(target) = known else {
                    return Err(Error::NotFound(format!("agent {} is not registered", request.agent_id)));
                };
                match self.queues.assign(tenant.as_str(), &case.id, &target.id).await? {
                    Assign::Assigned => {}
                    Assign::Unavailable => {
                        return Err(Error::FailedPrecondition(format!(
                            "agent {} is {}, not available",
                            target.id, target.presence
                        )));
                    }
                    Assign::AtCapacity => {
                        return Err(Error::FailedPrecondition(format!(
                            "agent {} is at capacity ({})",
                            target.id, target.capacity
                        )));
                    }
                    Assign::Unknown => {
                        return Err(Error::FailedPrecondition(format!(
                            "case {} is not live in the queues yet; try again",
                            case.id
                        )));
                    }
                }
                (CaseState::Assigned, Some(target.id.clone()), format!("agent {}", target.id))
            }
            _ => return Err(InvalidArgument::new("queue", "give exactly one of queue and agent_id").into()),
        };
        let from = match &previous {
            Some(agent) => format!("{} ({agent})", case.queue),
            None => case.queue.clone(),
        };
        let mut active = case.into_active_model();
        active.state = Set(state);
        active.agent = Set(agent.clone());
        if !queue.is_empty() {
            active.queue = Set(queue.clone());
        }
        active.updated_at_ms = Set(self.clock.now_ms());
        let txn = self.db.begin().await?;
        let case_id = request.case_id.clone();
        let Some(case) = self.update_unless_resolved(&txn, tenant.as_str(), &case_id, active).await? else {
            return Err(Error::FailedPrecondition(format!("case {case_id} was resolved meanwhile")));
        };
        let note = if request.note.is_empty() { String::new() } else { format!(": {}", request.note) };
        let detail = format!("by {} from {from} to {target}{note}", request.supervisor);
        self.audit(&txn, tenant, &case.id, "reassigned", agent.as_deref(), detail).await?;
        let mut moved = self.case_event(pb::CaseEventKind::Transferred, &case);
        moved.actor = request.supervisor;
        moved.agent_id = agent.unwrap_or_default();
        moved.note = request.note;
        self.report_later(&txn, tenant, moved).await?;
        txn.commit().await?;
        self.notifier.wake();
        self.work_available.wake();
        self.view(case).await
    }
}
