//! `Route`: joins each classified post to its customer's open case or opens one, queues the case
//! at its effective key, and tells escalation (through the outbox). Idempotent by post id.

use std::collections::{BTreeMap, HashMap};

use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_queue::Settle;
use earshot_store::insert_rows;
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{agent, case, case_post};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::error::{Error, Result};
use crate::record::{Recorded, check};
use crate::state::{ESCALATED, RESCORED, Routing, rescore_detail};
use crate::views::{decode_reasons, encode_reasons};

/// The most posts one Route call may carry.
pub const MAX_ROUTE_BATCH: usize = 1_000;

/// Reason factor for the customer's repeated contacts in the open case.
const REPEAT_CONTACT: &str = "repeat_contact";

/// The post's result.
fn outcome(case: &case::Model, routed: case_post::Model, follow_up: bool) -> pb::RouteResult {
    pb::RouteResult {
        post_id: routed.post_id,
        case_id: case.id.clone(),
        queue: routed.queue,
        priority: u32::try_from(routed.case_priority).unwrap_or(0),
        follow_up,
    }
}

/// A case marked escalated in memory, to write with others.
struct Escalated {
    case: case::Model,
    /// Whether the row changed (the first escalation); else only the audit line is written.
    changed: bool,
    /// `escalated`, and `rescored` when the priority rose.
    audits: Vec<earshot_store::routing::audit::ActiveModel>,
    rescored: bool,
}

impl Routing {
    /// Routes a batch of classified posts, in order.
    #[tracing::instrument(name = "routing.route", skip_all, fields(%tenant, posts = items.len()))]
    pub async fn route(&self, tenant: &Tenant, items: Vec<pb::RouteItem>) -> Result<Vec<pb::RouteResult>> {
        InvalidArgument::check_count("items", items.len(), MAX_ROUTE_BATCH)?;
        let checked = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| check(i, item))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let _guard = self.route_lock.lock().await;
        // The whole batch is written down in one transaction (one commit, not one per post), its
        // events for escalation in the outbox with it; then each case is queued in one round trip.
        // A batch that lost a race to another replica for a customer's case is written again.
        let checked = &checked;
        let recorded = earshot_store::retry_on_contention(Error::database, || async move {
            let txn = self.db.begin().await?;
            let recorded = self.record_batch(&txn, tenant, checked).await?;
            txn.commit().await?;
            Ok(recorded)
        })
        .await?;
        self.notifier.wake();
        // Each case once, read after the batch committed (a later post of the batch may have
        // changed it), and queued (again, on a retry: the same score is a no-op) in one round
        // trip unless it is resolved.
        let case_ids: std::collections::BTreeSet<String> =
            recorded.iter().map(|recorded| recorded.case_id.clone()).collect();
        let (mut cases, mut live) = self.queue_as_they_are(tenant, case_ids).await?;
        if !live.is_empty() {
            self.work_available.wake();
        }
        let mut results = Vec::with_capacity(recorded.len());
        for Recorded { case_id, routed, follow_up } in recorded {
            let case = cases
                .remove(&case_id)
                .ok_or_else(|| Error::Corrupt(format!("case {case_id} of post {} is missing", routed.post_id)))?;
            let case = match live.get(&case_id) {
                Some(state) if follow_up && state != CaseState::Queued.as_str() => {
                    let case = self.hold_for_owner(tenant, case).await?;
                    live.insert(case_id, case.state.as_str().to_owned());
                    case
                }
                _ => case,
            };
            results.push(outcome(&case, routed, follow_up));
            cases.insert(case.id.clone(), case);
        }
        Ok(results)
    }

    /// Takes out of Redis any of `queued` that an agent resolved between this batch's read and
    /// its queueing (a resolve writes the record first, then Redis: whichever of the two ran
    /// last removes the case).
    pub(crate) async fn forget_resolved_meanwhile(&self, tenant: &Tenant, queued: &[&case::Model]) -> Result<()> {
        if queued.is_empty() {
            return Ok(());
        }
        let resolved = case::Entity::find()
            .filter(case::Column::Id.is_in(queued.iter().map(|case| case.id.clone())))
            .filter(case::Column::State.eq(CaseState::Resolved))
            .all(&self.db)
            .await?;
        for case in resolved {
            self.queues.forget(tenant.as_str(), &case.id).await?;
        }
        Ok(())
    }

    /// A follow-up to a case an agent holds: back in its queue if the owner is gone, otherwise
    /// held for the owner's answer until the sticky timeout.
    async fn hold_for_owner(&self, tenant: &Tenant, case: case::Model) -> Result<case::Model> {
        let case = self.unstick_if_owner_gone(tenant, case).await?;
        if case.state.held() {
            let until = self.clock.now_ms() + self.sticky_timeout_ms;
            self.queues.await_answer(tenant.as_str(), &case.id, until).await?;
        }
        Ok(case)
    }

    /// Marks escalated, as they are now, the open cases whose posts raised `raised` (case id and
    /// escalation): each case once, the first time, with every reason raised for it. Set-based:
    /// one read, one transaction for every case, its audit lines and events, then one Redis round
    /// trip for the cases whose priority rose.
    pub(crate) async fn escalate_raised(&self, tenant: &Tenant, raised: Vec<(String, pb::Escalation)>) -> Result<()> {
        let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (case_id, escalation) in raised {
            let why = reasons.entry(case_id).or_default();
            if !why.contains(&escalation.reason) {
                why.push(escalation.reason);
            }
        }
        if reasons.is_empty() {
            return Ok(());
        }
        // Read and written under the lock `Route` records under, and in one transaction holding
        // the rows (PostgreSQL: `FOR UPDATE`): a follow-up recorded meanwhile, here or by another
        // replica, is not overwritten by the priority read here.
        let guard = self.route_lock.lock().await;
        let txn = self.db.begin().await?;
        let cases = case::Entity::find()
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::Id.is_in(reasons.keys().cloned()))
            .order_by_asc(case::Column::Id)
            .lock_exclusive()
            .all(&txn)
            .await?;
        let changes = cases
            .into_iter()
            .filter(|case| !case.escalated && case.state != CaseState::Resolved)
            .map(|case| {
                let why = reasons.get(&case.id).map(|why| why.join(", ")).unwrap_or_default();
                self.escalated(tenant, case, &why, None)
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_escalated(tenant, txn, changes, Some(guard)).await?;
        Ok(())
    }

    /// Marks a case escalated (`why`: the escalation reasons) and, the first time, re-scores it in
    /// place: it keeps its queue, its agent if one holds it, and its enqueue time; escalation
    /// hears of the new priority.
    pub(crate) async fn mark_escalated(
        &self,
        tenant: &Tenant,
        case: case::Model,
        why: &str,
        agent: Option<&str>,
    ) -> Result<case::Model> {
        let guard = self.route_lock.lock().await;
        let txn = self.db.begin().await?;
        // Read again and held until written: a follow-up recorded since the caller read the case,
        // here or by another replica, is not overwritten.
        let case = case::Entity::find_by_id(case.id.clone()).lock_exclusive().one(&txn).await?.unwrap_or(case);
        let change = self.escalated(tenant, case, why, agent)?;
        let mut written = self.write_escalated(tenant, txn, vec![change], Some(guard)).await?;
        written.pop().ok_or_else(|| Error::Corrupt("an escalated case was not written".into()))
    }

    /// The case marked escalated, in memory, with its audit lines and, when its priority rose,
    /// the event for escalation.
    fn escalated(&self, tenant: &Tenant, mut case: case::Model, why: &str, agent: Option<&str>) -> Result<Escalated> {
        let before = case.priority;
        let changed = !case.escalated;
        if changed {
            let escalation = pb::Reason::from(&self.weights.escalated(why));
            let reasons = decode_reasons(&case.reasons)?;
            let (priority, reasons) =
                self.case_priority(case.post_priority, reasons, case.contact_count, Some(escalation));
            case.escalated = true;
            case.priority = priority;
            case.reasons = encode_reasons(&reasons);
            case.updated_at_ms = self.clock.now_ms();
        }
        let mut audits = vec![self.audit_event(tenant, &case.id, "escalated", agent, why.to_owned())];
        let rescored = case.priority != before;
        if rescored {
            let detail = rescore_detail(before, case.priority, &format!("escalated ({why})"));
            audits.push(self.audit_event(tenant, &case.id, RESCORED, None, detail));
        }
        Ok(Escalated { case, changed, audits, rescored })
    }

    /// Writes escalated cases: the rows, audit lines and events in `txn` (which may hold the rows
    /// read), then the re-scored cases' places in their queues in one Redis round trip.
    /// `read_under`, the guard the cases were read under, is let go once the rows are written.
    async fn write_escalated(
        &self,
        tenant: &Tenant,
        txn: sea_orm::DatabaseTransaction,
        changes: Vec<Escalated>,
        read_under: Option<tokio::sync::MutexGuard<'_, ()>>,
    ) -> Result<Vec<case::Model>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mut audits = Vec::new();
        let mut events = Vec::new();
        let mut rows = Vec::new();
        let mut rescored = Vec::new();
        let mut cases = Vec::with_capacity(changes.len());
        for Escalated { case, changed, audits: lines, rescored: rose } in changes {
            audits.extend(lines);
            if changed {
                rows.push(case.clone().into_active_model().reset_all());
            }
            if rose {
                events.push(self.outbox_row(tenant, self.case_event(pb::CaseEventKind::Rescored, &case)));
                rescored.push(case.id.clone());
            }
            cases.push(case);
        }
        let columns =
            [case::Column::Escalated, case::Column::Priority, case::Column::Reasons, case::Column::UpdatedAtMs];
        insert_rows(&txn, rows, Some(OnConflict::column(case::Column::Id).update_columns(columns).to_owned())).await?;
        insert_rows(&txn, audits, None).await?;
        insert_rows(&txn, events, None).await?;
        txn.commit().await?;
        drop(read_under);
        self.case_events.wake();
        if rescored.is_empty() {
            return Ok(cases);
        }
        self.notifier.wake();
        // The re-scored cases move in their queues, as they are now (an agent may have resolved one
        // meanwhile).
        let (now, _) = self.queue_as_they_are(tenant, rescored).await?;
        Ok(cases.into_iter().map(|case| now.get(&case.id).cloned().unwrap_or(case)).collect())
    }

    /// Reads the cases `ids` as they are now and (re)queues the open ones in one Redis round
    /// trip (the same score again is a no-op); returns them, and the state Redis holds for each
    /// one queued.
    async fn queue_as_they_are(
        &self,
        tenant: &Tenant,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<(HashMap<String, case::Model>, HashMap<String, String>)> {
        let cases: HashMap<String, case::Model> = case::Entity::find()
            .filter(case::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|case| (case.id.clone(), case))
            .collect();
        let open: Vec<&case::Model> = cases.values().filter(|case| case.state != CaseState::Resolved).collect();
        let entries: Vec<_> = open.iter().map(|case| self.entry(case)).collect();
        let live_states = self.queues.upsert_all(tenant.as_str(), &entries).await?;
        self.forget_resolved_meanwhile(tenant, &open).await?;
        let live = open.iter().map(|case| case.id.clone()).zip(live_states).collect();
        Ok((cases, live))
    }

    /// A case's priority and reasons: its strongest post's, plus what belongs to the case itself
    /// (repeat contacts, an escalation).
    pub(crate) fn case_priority(
        &self,
        post_priority: i32,
        mut reasons: Vec<pb::Reason>,
        contacts: i32,
        escalation: Option<pb::Reason>,
    ) -> (i32, Vec<pb::Reason>) {
        reasons.retain(|r| r.factor != REPEAT_CONTACT && r.factor != ESCALATED);
        let repeat = self.weights.repeat_contact(u32::try_from(contacts).unwrap_or(0));
        let case_level: Vec<pb::Reason> = repeat.as_ref().map(pb::Reason::from).into_iter().chain(escalation).collect();
        let boost: i32 = case_level.iter().map(|r| earshot_core::scoring::points(r.contribution)).sum();
        reasons.extend(case_level);
        ((post_priority + boost).clamp(0, 100), reasons)
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
}
