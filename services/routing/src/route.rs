//! `Route`: joins each classified post to its customer's open case or opens one, queues the case
//! at its effective key, and tells escalation. Idempotent by post id.

use std::collections::HashMap;

use earshot_core::clock::ms_from_timestamp;
use earshot_core::ids::{check_id, new_id};
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::Settle;
use earshot_store::routing::{agent, case, case_post};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};

use crate::error::{Error, Result};
use crate::notify::event;
use crate::state::{Routing, states};
use crate::views::{decode_reasons, encode_reasons};

/// The most posts one Route call may carry.
pub const MAX_ROUTE_BATCH: usize = 1_000;

/// Reason factor a case gets once, when it is escalated.
const ESCALATED: &str = "escalated";
/// Reason factor for the customer's repeated contacts in the open case.
const REPEAT_CONTACT: &str = "repeat_contact";
/// Audit action of a priority change in place.
const RESCORED: &str = "rescored";

/// The audit detail of a re-score.
fn rescore_detail(before: i32, after: i32, why: &str) -> String {
    format!("priority {before} → {after}: {why}; same place in line")
}

/// The post's result and the case event escalation must hear.
fn outcome(
    item: Checked,
    case: &case::Model,
    routed: case_post::Model,
    follow_up: bool,
) -> (pb::RouteResult, pb::CaseEvent) {
    let kind = if follow_up { pb::CaseEventKind::Contact } else { pb::CaseEventKind::Opened };
    let mut case_event = event(kind, &case.id, routed.created_at_ms);
    case_event.post_id = item.post_id.clone();
    case_event.priority = u32::try_from(case.priority).unwrap_or(0);
    case_event.queue = case.queue.clone();
    case_event.contact_count = u32::try_from(case.contact_count).unwrap_or(0);
    case_event.classification = Some(item.classification.clone());
    case_event.customer = case.customer.clone();
    case_event.author_followers = item.author.followers;
    let result = pb::RouteResult {
        post_id: item.post_id,
        case_id: case.id.clone(),
        queue: routed.queue,
        priority: u32::try_from(routed.case_priority).unwrap_or(0),
        follow_up,
    };
    (result, case_event)
}

/// The queue for a topic.
fn queue_for(topic: &str) -> String {
    if topic.is_empty() { "general".to_owned() } else { topic.to_owned() }
}

struct Checked {
    post_id: String,
    post: pb::Post,
    author: pb::Author,
    classification: pb::Classification,
}

fn check(index: usize, item: pb::RouteItem) -> std::result::Result<Checked, InvalidArgument> {
    let field = |name: &str| format!("items[{index}].{name}");
    check_id(&field("post_id"), 'p', &item.post_id)?;
    let post = item.post.ok_or_else(|| InvalidArgument::new(field("post"), "is required"))?;
    let author = post.author.clone().ok_or_else(|| InvalidArgument::new(field("post.author"), "is required"))?;
    if author.external_id.is_empty() {
        return Err(InvalidArgument::new(field("post.author.external_id"), "is required"));
    }
    let classification =
        item.classification.ok_or_else(|| InvalidArgument::new(field("classification"), "is required"))?;
    if classification.priority > 100 {
        return Err(InvalidArgument::new(field("classification.priority"), "is above 100"));
    }
    earshot_core::ids::check_name(&field("classification.topic"), &queue_for(&classification.topic))?;
    Ok(Checked { post_id: item.post_id, post, author, classification })
}

impl Routing {
    /// Routes a batch of classified posts, in order.
    #[tracing::instrument(name = "routing.route", skip_all, fields(%tenant, posts = items.len()))]
    pub async fn route(&self, tenant: &Tenant, items: Vec<pb::RouteItem>) -> Result<Vec<pb::RouteResult>> {
        if items.len() > MAX_ROUTE_BATCH {
            return Err(InvalidArgument::new(
                "items",
                format!("{} items; the limit is {MAX_ROUTE_BATCH}", items.len()),
            )
            .into());
        }
        let checked = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| check(i, item))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let _guard = self.route_lock.lock().await;
        // The whole batch is written down in one transaction (one commit, not one per post);
        // then each case is queued, and escalation hears of every post in one call, in order.
        let txn = self.db.begin().await?;
        let mut recorded = Vec::with_capacity(checked.len());
        for item in checked {
            let (case_id, routed, follow_up) = self.record_once(&txn, tenant, &item).await?;
            recorded.push((item, case_id, routed, follow_up));
        }
        txn.commit().await?;
        // Each case once, read after the batch committed (a later post of the batch may have
        // changed it), and queued (again, on a retry: the same score is a no-op) in one round
        // trip unless it is resolved.
        let case_ids: std::collections::BTreeSet<String> =
            recorded.iter().map(|(_, case_id, _, _)| case_id.clone()).collect();
        let mut cases: HashMap<String, case::Model> = case::Entity::find()
            .filter(case::Column::Id.is_in(case_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let open: Vec<&case::Model> = cases.values().filter(|case| case.state != states::RESOLVED).collect();
        let entries: Vec<_> = open.iter().map(|case| self.entry(case)).collect();
        let live_states = self.queues.upsert_all(tenant.as_str(), &entries).await?;
        self.forget_resolved_meanwhile(tenant, &open).await?;
        let mut live: HashMap<String, String> = open.iter().map(|case| case.id.clone()).zip(live_states).collect();
        if !live.is_empty() {
            self.work_available.notify_waiters();
        }
        let mut results = Vec::with_capacity(recorded.len());
        let mut events = Vec::with_capacity(recorded.len());
        for (item, case_id, routed, follow_up) in recorded {
            let case = cases
                .remove(&case_id)
                .ok_or_else(|| Error::Corrupt(format!("case {case_id} of post {} is missing", routed.post_id)))?;
            let case = match live.get(&case_id) {
                Some(state) if follow_up && state != states::QUEUED => {
                    let case = self.hold_for_owner(tenant, case).await?;
                    live.insert(case_id, case.state.clone());
                    case
                }
                _ => case,
            };
            let (result, event) = outcome(item, &case, routed, follow_up);
            cases.insert(case.id.clone(), case);
            results.push(result);
            events.push(event);
        }
        let raised = self.notifier.send_all(tenant, events).await.map_err(Error::Escalation)?;
        self.escalate_raised(tenant, &results, raised).await?;
        Ok(results)
    }

    /// Takes out of Redis any of `queued` that an agent resolved between this batch's read and
    /// its queueing (a resolve writes the record first, then Redis: whichever of the two ran
    /// last removes the case).
    async fn forget_resolved_meanwhile(&self, tenant: &Tenant, queued: &[&case::Model]) -> Result<()> {
        if queued.is_empty() {
            return Ok(());
        }
        let resolved = case::Entity::find()
            .filter(case::Column::Id.is_in(queued.iter().map(|case| case.id.clone())))
            .filter(case::Column::State.eq(states::RESOLVED))
            .all(&self.db)
            .await?;
        for case in resolved {
            self.queues.forget(tenant.as_str(), &case.id).await?;
        }
        Ok(())
    }

    /// Writes the post into its case unless it already is (a retried `Route`); returns the case
    /// id, the post's row and whether it followed up an open case.
    async fn record_once(
        &self,
        txn: &DatabaseTransaction,
        tenant: &Tenant,
        item: &Checked,
    ) -> Result<(String, case_post::Model, bool)> {
        match case_post::Entity::find_by_id(item.post_id.clone()).one(txn).await? {
            Some(routed) if routed.tenant == tenant.as_str() => {
                let follow_up = routed.follow_up;
                Ok((routed.case_id.clone(), routed, follow_up))
            }
            Some(_) => Err(InvalidArgument::new("post_id", "belongs to another tenant").into()),
            None => {
                let (case, routed, follow_up) = self.record(txn, tenant, item).await?;
                Ok((case.id, routed, follow_up))
            }
        }
    }

    /// A follow-up to a case an agent holds: back in its queue if the owner is gone, otherwise
    /// held for the owner's answer until the sticky timeout.
    async fn hold_for_owner(&self, tenant: &Tenant, case: case::Model) -> Result<case::Model> {
        let case = self.unstick_if_owner_gone(tenant, case).await?;
        if case.state == states::OFFERED || case.state == states::ASSIGNED {
            let until = self.clock.now_ms() + self.sticky_timeout_ms;
            self.queues.await_answer(tenant.as_str(), &case.id, until).await?;
        }
        Ok(case)
    }

    /// Marks the case of each post whose event raised escalations escalated (once per case).
    async fn escalate_raised(
        &self,
        tenant: &Tenant,
        results: &[pb::RouteResult],
        raised: Vec<Vec<pb::Escalation>>,
    ) -> Result<()> {
        for (result, raised) in results.iter().zip(raised).filter(|(_, raised)| !raised.is_empty()) {
            // Read again: an earlier post of the batch may have escalated the case already.
            let case = case::Entity::find_by_id(result.case_id.clone())
                .one(&self.db)
                .await?
                .ok_or_else(|| Error::Corrupt(format!("case {} is missing", result.case_id)))?;
            if !case.escalated {
                let reasons: Vec<&str> = raised.iter().map(|e| e.reason.as_str()).collect();
                self.mark_escalated(tenant, case, &reasons.join(", "), None).await?;
            }
        }
        Ok(())
    }

    /// A case's priority and reasons: its strongest post's, plus what belongs to the case itself
    /// (repeat contacts, an escalation).
    fn case_priority(
        &self,
        post_priority: i32,
        mut reasons: Vec<pb::Reason>,
        contacts: i32,
        escalation: Option<pb::Reason>,
    ) -> (i32, Vec<pb::Reason>) {
        reasons.retain(|r| r.factor != REPEAT_CONTACT && r.factor != ESCALATED);
        let repeat = self.weights.repeat_contact(u32::try_from(contacts).unwrap_or(0));
        let case_level: Vec<pb::Reason> = repeat.as_ref().map(pb::Reason::from).into_iter().chain(escalation).collect();
        let boost: i32 = case_level.iter().map(|r| (r.contribution * 100.0).round() as i32).sum();
        reasons.extend(case_level);
        ((post_priority + boost).clamp(0, 100), reasons)
    }

    /// Marks a case escalated (`why`: the escalation reasons) and, the first time, re-scores it in
    /// place: it keeps its queue, its agent if one holds it, and its enqueue time.
    pub(crate) async fn mark_escalated(
        &self,
        tenant: &Tenant,
        case: case::Model,
        why: &str,
        agent: Option<&str>,
    ) -> Result<case::Model> {
        let first = !case.escalated;
        let before = case.priority;
        let mut active = case.clone().into_active_model();
        active.escalated = Set(true);
        if first {
            let escalation = pb::Reason::from(&self.weights.escalated(why));
            let reasons = decode_reasons(&case.reasons)?;
            let (priority, reasons) =
                self.case_priority(case.post_priority, reasons, case.contact_count, Some(escalation));
            active.priority = Set(priority);
            active.reasons = Set(encode_reasons(&reasons));
            active.updated_at_ms = Set(self.clock.now_ms());
        }
        // The record, its audit and the event in one transaction; Redis after.
        let txn = self.db.begin().await?;
        let case = active.update(&txn).await?;
        self.audit(&txn, tenant, &case.id, "escalated", agent, why.to_owned()).await?;
        let rescored = case.priority != before;
        if rescored {
            let detail = rescore_detail(before, case.priority, &format!("escalated ({why})"));
            self.audit(&txn, tenant, &case.id, RESCORED, None, detail).await?;
            self.report_later(&txn, tenant, self.case_event(pb::CaseEventKind::Rescored, &case)).await?;
        }
        txn.commit().await?;
        if rescored {
            self.notifier.wake();
            if case.state != states::RESOLVED {
                self.queues.upsert(tenant.as_str(), &self.entry(&case)).await?;
                self.forget_resolved_meanwhile(tenant, &[&case]).await?;
            }
        }
        Ok(case)
    }

    /// A follow-up sticks to the agent who holds the case while that agent is available (and
    /// answers within the sticky timeout); if the owner is away or offline, the case goes back to
    /// its queue, in its place, for someone else.
    async fn unstick_if_owner_gone(&self, tenant: &Tenant, case: case::Model) -> Result<case::Model> {
        let Some(owner) = case.agent.clone() else {
            return Ok(case);
        };
        let presence = agent::Entity::find_by_id((tenant.as_str().to_owned(), owner.clone()))
            .one(&self.db)
            .await?
            .map(|a| a.presence)
            .unwrap_or_default();
        if presence == "available" {
            return Ok(case);
        }
        if !self.queues.settle(tenant.as_str(), &owner, &case.id, Settle::Transfer(&case.queue)).await? {
            return Ok(case);
        }
        let case_id = case.id.clone();
        let Some(case) = self.record_requeued(case).await? else {
            // Resolved meanwhile: nothing to return to a queue.
            return self.find_case(tenant, &case_id).await;
        };
        let detail = format!("follow-up while owner {owner} is {presence}; back in its place for others");
        self.audit(&self.db, tenant, &case.id, "unstuck", Some(&owner), detail).await?;
        Ok(case)
    }

    /// Writes the post into its case (new or open) within `txn`.
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        tenant: &Tenant,
        item: &Checked,
    ) -> Result<(case::Model, case_post::Model, bool)> {
        let now = self.clock.now_ms();
        let c = &item.classification;
        let created_at_ms = item.post.created_at.as_ref().map_or(now, ms_from_timestamp);
        let mut same_customer = Condition::any().add(case::Column::Customer.eq(item.author.external_id.clone()));
        if !item.post.thread_id.is_empty() {
            same_customer = same_customer.add(case::Column::ThreadId.eq(item.post.thread_id.clone()));
        }
        let open = case::Entity::find()
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::State.ne(states::RESOLVED))
            .filter(same_customer)
            .one(txn)
            .await?;
        let post_priority = i32::try_from(c.priority).unwrap_or(100);
        let post_reasons: Vec<pb::Reason> = c.reasons.clone();
        let priority_before = open.as_ref().map(|open| open.priority);
        let (case, follow_up) = match open {
            Some(open) => {
                let contacts = open.contact_count + 1;
                let base = open.post_priority.max(post_priority);
                let old_reasons = decode_reasons(&open.reasons)?;
                let escalation = old_reasons.iter().find(|r| r.factor == ESCALATED).cloned();
                let strongest = if post_priority >= open.post_priority { post_reasons } else { old_reasons };
                let (priority, reasons) = self.case_priority(base, strongest, contacts, escalation);
                let queue = if open.queue == "general" { queue_for(&c.topic) } else { open.queue.clone() };
                let was_waiting = open.waiting;
                let mut active = open.into_active_model();
                // The customer wrote: whatever the agent waited for has come.
                active.waiting = Set(false);
                active.contact_count = Set(contacts);
                active.post_priority = Set(base);
                active.priority = Set(priority);
                active.reasons = Set(encode_reasons(&reasons));
                active.language = Set(c.language.clone());
                active.queue = Set(queue);
                active.updated_at_ms = Set(now);
                let case = active.update(txn).await?;
                if was_waiting {
                    self.audit(txn, tenant, &case.id, "resumed", None, "the customer wrote".to_owned()).await?;
                }
                (case, true)
            }
            None => {
                let case = case::ActiveModel {
                    id: Set(new_id('c')),
                    tenant: Set(tenant.as_str().to_owned()),
                    customer: Set(item.author.external_id.clone()),
                    thread_id: Set((!item.post.thread_id.is_empty()).then(|| item.post.thread_id.clone())),
                    queue: Set(queue_for(&c.topic)),
                    topic: Set(queue_for(&c.topic)),
                    language: Set(c.language.clone()),
                    priority: Set(post_priority),
                    post_priority: Set(post_priority),
                    state: Set(states::QUEUED.to_owned()),
                    agent: Set(None),
                    contact_count: Set(1),
                    escalated: Set(false),
                    waiting: Set(false),
                    reasons: Set(encode_reasons(&post_reasons)),
                    opened_at_ms: Set(created_at_ms.min(now)),
                    enqueued_at_ms: Set(now),
                    updated_at_ms: Set(now),
                };
                (case.insert(txn).await?, false)
            }
        };
        let routed = case_post::ActiveModel {
            post_id: Set(item.post_id.clone()),
            tenant: Set(tenant.as_str().to_owned()),
            case_id: Set(case.id.clone()),
            channel: Set(item.post.channel.clone()),
            author_handle: Set(item.author.handle.clone()),
            text: Set(item.post.text.clone()),
            created_at_ms: Set(created_at_ms),
            language: Set(c.language.clone()),
            sentiment: Set(c.sentiment),
            priority: Set(post_priority),
            queue: Set(case.queue.clone()),
            case_priority: Set(case.priority),
            follow_up: Set(follow_up),
        }
        .insert(txn)
        .await?;
        let detail = if follow_up {
            format!("contact {} from {}; priority {}", case.contact_count, case.customer, case.priority)
        } else {
            format!("new case in {} at priority {}", case.queue, case.priority)
        };
        let action = if follow_up { "follow_up" } else { "routed" };
        let mut routed_event = self.audit_event(tenant, &case.id, action, None, detail);
        routed_event.post_id = Set(Some(item.post_id.clone()));
        self.write_audit(txn, routed_event).await?;
        if let Some(before) = priority_before.filter(|before| *before != case.priority) {
            let why = format!("contact {} (post priority {post_priority})", case.contact_count);
            self.audit(txn, tenant, &case.id, RESCORED, None, rescore_detail(before, case.priority, &why)).await?;
        }
        Ok((case, routed, follow_up))
    }
}
