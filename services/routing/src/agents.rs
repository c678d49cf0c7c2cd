//! What agents do: presence, the next case under a lease, and working their cases.

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::check_name;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::{AgentState, NextCase, Settle};
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{agent, case, case_post};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::error::{Error, Result};
use crate::notify::event;
use crate::state::Routing;

/// Longest `NextCase` long poll.
pub const MAX_WAIT_MS: u32 = 30_000;

/// Queues a new agent works when it names none.
pub const DEFAULT_SKILLS: [&str; 6] = ["billing", "delivery", "account", "technical", "sales", "general"];

fn presence_name(presence: pb::Presence) -> &'static str {
    match presence {
        pb::Presence::Available => "available",
        pb::Presence::Away => "away",
        pb::Presence::Offline | pb::Presence::Unspecified => "offline",
    }
}

fn presence_of(name: &str) -> pb::Presence {
    match name {
        "available" => pb::Presence::Available,
        "away" => pb::Presence::Away,
        _ => pb::Presence::Offline,
    }
}

fn names(field: &str, values: Vec<String>) -> Result<Vec<String>> {
    let mut cleaned = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let value = value.trim().to_ascii_lowercase();
        check_name(&format!("{field}[{i}]"), &value)?;
        if !cleaned.contains(&value) {
            cleaned.push(value);
        }
    }
    if cleaned.len() > 64 {
        return Err(InvalidArgument::new(field, "has more than 64 entries").into());
    }
    Ok(cleaned)
}

fn decode_list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Routing {
    async fn find_agent(&self, tenant: &Tenant, agent_id: &str) -> Result<agent::Model> {
        check_name("agent_id", agent_id)?;
        agent::Entity::find_by_id((tenant.as_str().to_owned(), agent_id.to_owned()))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("agent {agent_id} is not registered; call SetPresence first")))
    }

    async fn agent_view(&self, tenant: &Tenant, agent: agent::Model) -> Result<pb::AgentView> {
        let cases = self.queues.agent_cases(tenant.as_str(), &agent.id).await?;
        Ok(pb::AgentView {
            presence: presence_of(&agent.presence) as i32,
            capacity: u32::try_from(agent.capacity).unwrap_or(0),
            skills: decode_list(&agent.skills),
            languages: decode_list(&agent.languages),
            agent_id: agent.id,
            cases,
        })
    }

    /// The agent now.
    pub async fn get_agent(&self, tenant: &Tenant, agent_id: &str) -> Result<pb::AgentView> {
        let agent = self.find_agent(tenant, agent_id).await?;
        self.agent_view(tenant, agent).await
    }

    /// Every agent of the tenant, by id.
    pub async fn list_agents(&self, tenant: &Tenant) -> Result<Vec<pb::AgentView>> {
        let agents = agent::Entity::find()
            .filter(agent::Column::Tenant.eq(tenant.as_str()))
            .order_by_asc(agent::Column::Id)
            .all(&self.db)
            .await?;
        let mut views = Vec::with_capacity(agents.len());
        for agent in agents {
            views.push(self.agent_view(tenant, agent).await?);
        }
        Ok(views)
    }

    /// Registers or updates an agent; empty fields keep their current values.
    pub async fn set_presence(&self, tenant: &Tenant, request: pb::SetPresenceRequest) -> Result<pb::AgentView> {
        check_name("agent_id", &request.agent_id)?;
        let presence = pb::Presence::try_from(request.presence)
            .map_err(|_| InvalidArgument::new("presence", format!("unknown value {}", request.presence)))?;
        if presence == pb::Presence::Unspecified {
            return Err(InvalidArgument::new("presence", "is required (available, away or offline)").into());
        }
        if request.capacity > 1_000 {
            return Err(InvalidArgument::new("capacity", "is above 1000").into());
        }
        let skills = names("skills", request.skills)?;
        let languages = names("languages", request.languages)?;
        let existing =
            agent::Entity::find_by_id((tenant.as_str().to_owned(), request.agent_id.clone())).one(&self.db).await?;
        let keep = |new: Vec<String>, old: Option<&String>, default: &[&str]| -> Vec<String> {
            if !new.is_empty() {
                new
            } else if let Some(old) = old {
                decode_list(old)
            } else {
                default.iter().map(|s| s.to_string()).collect()
            }
        };
        let skills = keep(skills, existing.as_ref().map(|a| &a.skills), &DEFAULT_SKILLS);
        let languages = keep(languages, existing.as_ref().map(|a| &a.languages), &[]);
        let capacity = match (request.capacity, &existing) {
            (0, Some(agent)) => agent.capacity,
            (0, None) => 1,
            (capacity, _) => i32::try_from(capacity).unwrap_or(1),
        };
        let model = agent::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            id: Set(request.agent_id.clone()),
            presence: Set(presence_name(presence).to_owned()),
            capacity: Set(capacity),
            skills: Set(serde_json::to_string(&skills).unwrap_or_default()),
            languages: Set(serde_json::to_string(&languages).unwrap_or_default()),
            updated_at_ms: Set(self.clock.now_ms()),
        };
        let saved = if existing.is_some() { model.update(&self.db).await? } else { model.insert(&self.db).await? };
        self.queues
            .set_agent(
                tenant.as_str(),
                &AgentState {
                    agent_id: saved.id.clone(),
                    presence: saved.presence.clone(),
                    capacity: u32::try_from(saved.capacity).unwrap_or(1),
                    skills,
                    languages,
                },
            )
            .await?;
        self.work_available.wake();
        self.agent_view(tenant, saved).await
    }

    /// Offers the agent its best eligible case under a lease; when there is none (or the agent is
    /// at capacity or not available), waits up to `wait_ms` for work to arrive, capacity to free
    /// or the agent to become available.
    pub async fn next_case(&self, tenant: &Tenant, agent_id: &str, wait_ms: u32) -> Result<Option<pb::Offer>> {
        if wait_ms > MAX_WAIT_MS {
            return Err(InvalidArgument::new("wait_ms", format!("is above {MAX_WAIT_MS}")).into());
        }
        self.find_agent(tenant, agent_id).await?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(u64::from(wait_ms));
        let (case, lease_until_ms) = loop {
            // Register interest before looking, so work that arrives in between is not missed.
            let woken = self.work_available.notified();
            self.reclaim_expired(tenant).await?;
            let now = self.clock.now_ms();
            match self.queues.next_case(tenant.as_str(), agent_id, now, self.lease_ms).await? {
                NextCase::Offered { case_id, lease_until_ms } => {
                    // The record wins over Redis: a case it has resolved (a resolve racing this
                    // offer, or one whose Redis step failed) is forgotten, and we look again.
                    let case = self.find_case(tenant, &case_id).await?;
                    let mut active = case.into_active_model();
                    active.state = Set(CaseState::Offered);
                    active.agent = Set(Some(agent_id.to_owned()));
                    active.updated_at_ms = Set(self.clock.now_ms());
                    if let Some(offered) =
                        self.update_unless_resolved(&self.db, tenant.as_str(), &case_id, active).await?
                    {
                        break (offered, lease_until_ms);
                    }
                }
                NextCase::Empty | NextCase::AtCapacity | NextCase::Unavailable => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    // Leases expire on a clock, not on an event: look again at least every second.
                    let wake_at = deadline.min(now + std::time::Duration::from_secs(1));
                    let _ = tokio::time::timeout_at(wake_at, woken).await;
                }
            }
        };
        let lease_s = (lease_until_ms - self.clock.now_ms()).max(0) / 1000;
        let detail = format!("priority {} from {}, {lease_s} s to accept", case.priority, case.queue);
        self.audit(&self.db, tenant, &case.id, "offered", Some(agent_id), detail).await?;
        Ok(Some(pb::Offer {
            case: Some(self.view(case).await?),
            lease_expires_at: Some(timestamp_from_ms(lease_until_ms)),
        }))
    }

    /// Applies an agent's action to a case it was offered or holds, in Redis (where leases expire)
    /// then in the record. `report` gives the case event of the change, written to the outbox in
    /// its transaction.
    async fn settle(
        &self,
        tenant: &Tenant,
        agent_id: &str,
        case_id: &str,
        action: Settle<'_>,
        report: impl FnOnce(&case::Model) -> Option<pb::CaseEvent>,
    ) -> Result<case::Model> {
        self.find_agent(tenant, agent_id).await?;
        let case = self.find_case(tenant, case_id).await?;
        let held = case.agent.as_deref() == Some(agent_id)
            && match action {
                Settle::Accept => case.state == CaseState::Offered,
                _ => case.state.held(),
            };
        if !held || !self.queues.settle(tenant.as_str(), agent_id, case_id, action).await? {
            let verb = if matches!(action, Settle::Accept) { "offered to" } else { "held by" };
            return Err(Error::FailedPrecondition(format!("case {case_id} is not {verb} agent {agent_id}")));
        }
        let (state, agent, detail) = match action {
            Settle::Accept => (CaseState::Assigned, Some(agent_id.to_owned()), "accepted".to_owned()),
            Settle::Reject => (CaseState::Queued, None, "rejected; back in its place".to_owned()),
            Settle::Transfer(queue) => (CaseState::Queued, None, format!("transferred from {} to {queue}", case.queue)),
        };
        let action_name = match action {
            Settle::Accept => "accepted",
            Settle::Reject => "rejected",
            Settle::Transfer(_) => "transferred",
        };
        let mut active = case.into_active_model();
        active.state = Set(state);
        active.agent = Set(agent);
        if let Settle::Transfer(queue) = action {
            active.queue = Set(queue.to_owned());
        }
        active.updated_at_ms = Set(self.clock.now_ms());
        let txn = self.db.begin().await?;
        let Some(case) = self.update_unless_resolved(&txn, tenant.as_str(), case_id, active).await? else {
            return Err(Error::FailedPrecondition(format!("case {case_id} was resolved meanwhile")));
        };
        self.audit(&txn, tenant, case_id, action_name, Some(agent_id), detail).await?;
        let reported = report(&case);
        let reports = reported.is_some();
        if let Some(event) = reported {
            self.report_later(&txn, tenant, event).await?;
        }
        txn.commit().await?;
        if reports {
            self.notifier.wake();
        }
        if !matches!(action, Settle::Accept) {
            // A case went back to a queue, or the agent's capacity freed.
            self.work_available.wake();
        }
        Ok(case)
    }

    /// The agent takes the offered case.
    pub async fn accept(&self, tenant: &Tenant, agent_id: &str, case_id: &str) -> Result<pb::CaseView> {
        let case = self.settle(tenant, agent_id, case_id, Settle::Accept, |_| None).await?;
        self.view(case).await
    }

    /// The agent declines the offered case; it keeps its place and is not offered to it again.
    pub async fn reject(&self, tenant: &Tenant, agent_id: &str, case_id: &str) -> Result<pb::CaseView> {
        let case = self.settle(tenant, agent_id, case_id, Settle::Reject, |_| None).await?;
        self.view(case).await
    }

    /// The agent resolved the case; its capacity frees at once. The record first (the case, its
    /// audit and its event in one transaction, only if the agent still holds it as read), then
    /// Redis forgets it: a `Route` racing the resolve checks the record after it queues, so the
    /// case cannot come back. A retry after Redis failed finishes the job.
    pub async fn resolve(&self, tenant: &Tenant, agent_id: &str, case_id: &str) -> Result<pb::CaseView> {
        self.find_agent(tenant, agent_id).await?;
        let case = self.find_case(tenant, case_id).await?;
        let by_this_agent = case.agent.as_deref() == Some(agent_id);
        if case.state == CaseState::Resolved && by_this_agent {
            self.queues.forget(tenant.as_str(), case_id).await?;
            return self.view(case).await;
        }
        if !by_this_agent || !(case.state.held()) {
            return Err(Error::FailedPrecondition(format!("case {case_id} is not held by agent {agent_id}")));
        }
        let now = self.clock.now_ms();
        let txn = self.db.begin().await?;
        let changed = case::Entity::update_many()
            .col_expr(case::Column::State, Expr::value(CaseState::Resolved))
            .col_expr(case::Column::UpdatedAtMs, Expr::value(now))
            .filter(case::Column::Id.eq(case_id))
            .filter(case::Column::Agent.eq(agent_id))
            .filter(case::Column::State.eq(case.state))
            .exec(&txn)
            .await?;
        if changed.rows_affected == 0 {
            return Err(Error::FailedPrecondition(format!(
                "case {case_id} changed while it was resolved; read it again"
            )));
        }
        self.audit(&txn, tenant, case_id, "resolved", Some(agent_id), "resolved".to_owned()).await?;
        let resolved = event(pb::CaseEventKind::Resolved, case_id, now);
        self.report_later(&txn, tenant, pb::CaseEvent { agent_id: agent_id.to_owned(), ..resolved }).await?;
        txn.commit().await?;
        self.notifier.wake();
        self.queues.forget(tenant.as_str(), case_id).await?;
        self.work_available.wake();
        let case = self.find_case(tenant, case_id).await?;
        self.view(case).await
    }

    /// Moves the case to another queue, keeping its place in line; its SLA targets follow the new
    /// queue's policy.
    pub async fn transfer(&self, tenant: &Tenant, agent_id: &str, case_id: &str, queue: &str) -> Result<pb::CaseView> {
        let queue = queue.trim().to_ascii_lowercase();
        check_name("queue", &queue)?;
        let moved = |case: &case::Model| {
            let mut moved = self.case_event(pb::CaseEventKind::Transferred, case);
            moved.agent_id = agent_id.to_owned();
            Some(moved)
        };
        let case = self.settle(tenant, agent_id, case_id, Settle::Transfer(&queue), moved).await?;
        self.view(case).await
    }

    /// Marks a held case as waiting on the customer, or not any more; SLA clocks pause meanwhile.
    pub async fn set_waiting(&self, tenant: &Tenant, request: pb::SetWaitingRequest) -> Result<pb::CaseView> {
        let case = self.held_case(tenant, &request.agent_id, &request.case_id).await?;
        if request.note.chars().count() > 2_000 {
            return Err(InvalidArgument::new("note", "is longer than 2000 characters").into());
        }
        if case.waiting == request.waiting {
            return self.view(case).await;
        }
        let (action, kind) = if request.waiting {
            ("waiting", pb::CaseEventKind::Waiting)
        } else {
            ("resumed", pb::CaseEventKind::Resumed)
        };
        // Through the outbox, in the transaction of the change: escalation hears of it after every
        // earlier event of the case (sent straight away, a pause could overtake the case's opening
        // and find no clock to pause), and a crash in between loses nothing.
        let mut changed = self.case_event(kind, &case);
        changed.agent_id = request.agent_id.clone();
        let mut active = case.into_active_model();
        active.waiting = Set(request.waiting);
        active.updated_at_ms = Set(self.clock.now_ms());
        let detail = if request.note.is_empty() { "on the customer".to_owned() } else { request.note.clone() };
        let txn = self.db.begin().await?;
        let case = active.update(&txn).await?;
        self.audit(&txn, tenant, &case.id, action, Some(&request.agent_id), detail).await?;
        self.report_later(&txn, tenant, changed).await?;
        txn.commit().await?;
        self.notifier.wake();
        self.view(case).await
    }

    /// Records that the agent answered the customer (stops the first-response clock).
    pub async fn respond(&self, tenant: &Tenant, agent_id: &str, case_id: &str, text: &str) -> Result<pb::CaseView> {
        let case = self.held_case(tenant, agent_id, case_id).await?;
        if text.chars().count() > 10_000 {
            return Err(InvalidArgument::new("text", "is longer than 10000 characters").into());
        }
        // The reply answers the customer's latest post: a connector replies to that one.
        let answered = case_post::Entity::find()
            .filter(case_post::Column::CaseId.eq(case_id))
            .order_by_desc(case_post::Column::CreatedAtMs)
            .one(&self.db)
            .await?;
        let txn = self.db.begin().await?;
        let detail = format!("{} characters", text.chars().count());
        let mut responded_event = self.audit_event(tenant, case_id, "responded", Some(agent_id), detail);
        responded_event.post_id = Set(answered.map(|post| post.post_id));
        responded_event.text = Set(Some(text.to_owned()));
        self.write_audit(&txn, responded_event).await?;
        let responded = event(pb::CaseEventKind::Responded, case_id, self.clock.now_ms());
        self.report_later(&txn, tenant, pb::CaseEvent { agent_id: agent_id.to_owned(), ..responded }).await?;
        txn.commit().await?;
        self.notifier.wake();
        self.queues.answered(tenant.as_str(), case_id).await?;
        self.view(case).await
    }

    /// The agent asks a supervisor for help with a case it holds.
    pub async fn escalate(&self, tenant: &Tenant, agent_id: &str, case_id: &str, note: &str) -> Result<pb::CaseView> {
        let case = self.held_case(tenant, agent_id, case_id).await?;
        if note.chars().count() > 2_000 {
            return Err(InvalidArgument::new("note", "is longer than 2000 characters").into());
        }
        let mut request = self.case_event(pb::CaseEventKind::AgentRequest, &case);
        request.agent_id = agent_id.to_owned();
        request.note = note.to_owned();
        self.notifier.send(tenant, request).await.map_err(Error::Escalation)?;
        let case = self.mark_escalated(tenant, case, &format!("agent request: {note}"), Some(agent_id)).await?;
        self.view(case).await
    }

    async fn held_case(&self, tenant: &Tenant, agent_id: &str, case_id: &str) -> Result<case::Model> {
        self.find_agent(tenant, agent_id).await?;
        let case = self.find_case(tenant, case_id).await?;
        if case.agent.as_deref() != Some(agent_id) || case.state != CaseState::Assigned {
            return Err(Error::FailedPrecondition(format!("case {case_id} is not assigned to agent {agent_id}")));
        }
        Ok(case)
    }
}
