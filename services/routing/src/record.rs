//! Writing a `Route` batch down: every post joined to its customer's open case (or a new one),
//! with set-based statements. The batch reads what it needs in three queries (the posts already
//! routed, the open cases of its customers, those of its threads), works out every case in memory
//! in post order, and writes each table once: one upsert of the cases it touched, one insert each
//! of its posts, its audit events and its events for escalation (the outbox, so escalation hears
//! of a post exactly when it is recorded). The cost per post is memory work, not round trips.

use std::collections::{BTreeSet, HashMap, HashSet};

use earshot_core::clock::{ms_from_timestamp, timestamp_from_ms};
use earshot_core::ids::{check_id, new_id};
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::insert_rows;
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{audit, case, case_post};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::error::Result;
use crate::state::{ESCALATED, RESCORED, Routing, queue_for, rescore_detail};
use crate::views::{decode_reasons, encode_reasons};

/// A `Route` item whose fields are valid.
pub(crate) struct Checked {
    /// The post's id in ingest.
    pub post_id: String,
    /// The post.
    pub post: pb::Post,
    /// Its author (required: the customer a case belongs to).
    pub author: pb::Author,
    /// What classify read in it.
    pub classification: pb::Classification,
}

/// Checks the `index`th item of a `Route` call.
pub(crate) fn check(index: usize, item: pb::RouteItem) -> std::result::Result<Checked, InvalidArgument> {
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

/// One post of the batch as written: its case, its row, and whether it followed up an open case.
pub(crate) struct Recorded {
    /// The case it joined or opened.
    pub case_id: String,
    /// Its row in the case's posts.
    pub routed: case_post::Model,
    /// Whether it joined a case already open.
    pub follow_up: bool,
}

/// The cases a batch knows, found by customer and thread.
#[derive(Default)]
struct OpenCases {
    cases: Vec<case::Model>,
    /// Whether the batch changed the case (written by the upsert).
    touched: Vec<bool>,
    by_customer: HashMap<String, usize>,
    by_thread: HashMap<String, usize>,
}

impl OpenCases {
    fn add(&mut self, case: case::Model, touched: bool) -> usize {
        let index = self.cases.len();
        self.by_customer.entry(case.customer.clone()).or_insert(index);
        if let Some(thread) = &case.thread_id {
            self.by_thread.entry(thread.clone()).or_insert(index);
        }
        self.cases.push(case);
        self.touched.push(touched);
        index
    }

    /// The open case of the post's customer, or of its thread.
    fn of(&self, item: &Checked) -> Option<usize> {
        self.by_customer
            .get(&item.author.external_id)
            .or_else(|| (!item.post.thread_id.is_empty()).then(|| self.by_thread.get(&item.post.thread_id)).flatten())
            .copied()
    }

    fn touched(&self) -> impl Iterator<Item = &case::Model> {
        self.cases.iter().zip(&self.touched).filter(|(_, touched)| **touched).map(|(case, _)| case)
    }
}

impl Routing {
    /// Writes the batch within `txn`, in order. A post routed before (a retried `Route`, or the
    /// same post twice in the batch) keeps its first result and changes nothing.
    ///
    /// The open cases it reads stay locked until `txn` ends (PostgreSQL: `FOR UPDATE`; SQLite has
    /// one writer), so a replica routing the same customer meanwhile waits and then reads this
    /// batch's changes. Two replicas that both open a case for one customer collide on the unique
    /// index of open cases by customer: the later transaction fails, and runs again.
    pub(crate) async fn record_batch(
        &self,
        txn: &DatabaseTransaction,
        tenant: &Tenant,
        items: &[Checked],
    ) -> Result<Vec<Recorded>> {
        let ids: Vec<String> = items.iter().map(|item| item.post_id.clone()).collect();
        let mut routed_before: HashMap<String, case_post::Model> = HashMap::new();
        for row in case_post::Entity::find().filter(case_post::Column::PostId.is_in(ids)).all(txn).await? {
            if row.tenant != tenant.as_str() {
                return Err(InvalidArgument::new("post_id", "belongs to another tenant").into());
            }
            routed_before.insert(row.post_id.clone(), row);
        }
        let fresh = items.iter().filter(|item| !routed_before.contains_key(&item.post_id));
        let customers: BTreeSet<String> = fresh.clone().map(|item| item.author.external_id.clone()).collect();
        let threads: BTreeSet<String> =
            fresh.filter(|item| !item.post.thread_id.is_empty()).map(|item| item.post.thread_id.clone()).collect();
        // One query per key, each an index seek: SQLite does not combine two indexes for an `OR`
        // of columns and would read every case of the tenant instead.
        let mut open = OpenCases::default();
        let mut seen = HashSet::new();
        for same_customer in [
            (!customers.is_empty()).then(|| case::Column::Customer.is_in(customers)),
            (!threads.is_empty()).then(|| case::Column::ThreadId.is_in(threads)),
        ]
        .into_iter()
        .flatten()
        {
            let found = case::Entity::find()
                .filter(case::Column::Tenant.eq(tenant.as_str()))
                .filter(case::Column::State.ne(CaseState::Resolved))
                .filter(same_customer)
                .order_by_asc(case::Column::Id)
                .lock_exclusive()
                .all(txn)
                .await?;
            for case in found.into_iter().filter(|case| seen.insert(case.id.clone())) {
                open.add(case, false);
            }
        }
        let mut posts = Vec::new();
        let mut audits = Vec::new();
        let mut reported = Vec::new();
        let mut recorded = Vec::with_capacity(items.len());
        for item in items {
            if let Some(routed) = routed_before.get(&item.post_id) {
                let (case_id, follow_up) = (routed.case_id.clone(), routed.follow_up);
                recorded.push(Recorded { routed: routed.clone(), case_id, follow_up });
                continue;
            }
            let (routed, follow_up, event) = self.join(tenant, item, &mut open, &mut audits)?;
            reported.push(self.outbox_row(tenant, event));
            routed_before.insert(item.post_id.clone(), routed.clone());
            posts.push(routed.clone().into_active_model().reset_all());
            recorded.push(Recorded { case_id: routed.case_id.clone(), routed, follow_up });
        }
        self.write_cases(txn, open.touched().cloned().collect()).await?;
        insert_rows(txn, posts, None).await?;
        insert_rows(txn, reported, None).await?;
        if !audits.is_empty() {
            insert_rows(txn, audits, None).await?;
            self.case_events.wake();
        }
        Ok(recorded)
    }

    /// Joins one post to its case in memory (a new case, or the open one changed by the post),
    /// notes the audit events it makes, in order, and returns the post's event for escalation.
    fn join(
        &self,
        tenant: &Tenant,
        item: &Checked,
        open: &mut OpenCases,
        audits: &mut Vec<audit::ActiveModel>,
    ) -> Result<(case_post::Model, bool, pb::CaseEvent)> {
        let now = self.clock.now_ms();
        let c = &item.classification;
        let created_at_ms = item.post.created_at.as_ref().map_or(now, ms_from_timestamp);
        let post_priority = i32::try_from(c.priority).unwrap_or(100);
        let post_reasons: Vec<pb::Reason> = c.reasons.clone();
        let (index, follow_up, priority_before) = match open.of(item) {
            Some(index) => {
                let case = &mut open.cases[index];
                let before = case.priority;
                let contacts = case.contact_count + 1;
                let base = case.post_priority.max(post_priority);
                let old_reasons = decode_reasons(&case.reasons)?;
                let escalation = old_reasons.iter().find(|r| r.factor == ESCALATED).cloned();
                let strongest = if post_priority >= case.post_priority { post_reasons } else { old_reasons };
                let (priority, reasons) = self.case_priority(base, strongest, contacts, escalation);
                if case.waiting {
                    // The customer wrote: whatever the agent waited for has come.
                    audits.push(self.audit_event(tenant, &case.id, "resumed", None, "the customer wrote".to_owned()));
                }
                if case.queue == "general" {
                    case.queue = queue_for(&c.topic);
                }
                case.waiting = false;
                case.contact_count = contacts;
                case.post_priority = base;
                case.priority = priority;
                case.reasons = encode_reasons(&reasons);
                case.language = c.language.clone();
                case.updated_at_ms = now;
                open.touched[index] = true;
                (index, true, Some(before))
            }
            None => {
                let case = case::Model {
                    id: new_id('c'),
                    tenant: tenant.as_str().to_owned(),
                    customer: item.author.external_id.clone(),
                    thread_id: (!item.post.thread_id.is_empty()).then(|| item.post.thread_id.clone()),
                    queue: queue_for(&c.topic),
                    topic: queue_for(&c.topic),
                    language: c.language.clone(),
                    priority: post_priority,
                    post_priority,
                    state: CaseState::Queued,
                    agent: None,
                    contact_count: 1,
                    escalated: false,
                    waiting: false,
                    reasons: encode_reasons(&post_reasons),
                    opened_at_ms: created_at_ms.min(now),
                    enqueued_at_ms: now,
                    updated_at_ms: now,
                };
                (open.add(case, true), false, None)
            }
        };
        let case = &open.cases[index];
        let routed = case_post::Model {
            post_id: item.post_id.clone(),
            tenant: tenant.as_str().to_owned(),
            case_id: case.id.clone(),
            channel: item.post.channel.clone(),
            author_handle: item.author.handle.clone(),
            text: item.post.text.clone(),
            created_at_ms,
            language: c.language.clone(),
            sentiment: c.sentiment,
            priority: post_priority,
            queue: case.queue.clone(),
            case_priority: case.priority,
            follow_up,
        };
        let (action, detail) = if follow_up {
            ("follow_up", format!("contact {} from {}; priority {}", case.contact_count, case.customer, case.priority))
        } else {
            ("routed", format!("new case in {} at priority {}", case.queue, case.priority))
        };
        let mut routed_event = self.audit_event(tenant, &case.id, action, None, detail);
        routed_event.post_id = sea_orm::ActiveValue::Set(Some(item.post_id.clone()));
        audits.push(routed_event);
        if let Some(before) = priority_before.filter(|before| *before != case.priority) {
            let why = format!("contact {} (post priority {post_priority})", case.contact_count);
            audits.push(self.audit_event(
                tenant,
                &case.id,
                RESCORED,
                None,
                rescore_detail(before, case.priority, &why),
            ));
        }
        let event = self.post_event(item, case, created_at_ms, follow_up);
        Ok((routed, follow_up, event))
    }

    /// What escalation hears of a post: the case it opened or followed up, as the post left it.
    fn post_event(&self, item: &Checked, case: &case::Model, created_at_ms: i64, follow_up: bool) -> pb::CaseEvent {
        let kind = if follow_up { pb::CaseEventKind::Contact } else { pb::CaseEventKind::Opened };
        pb::CaseEvent {
            at: Some(timestamp_from_ms(created_at_ms)),
            post_id: item.post_id.clone(),
            contact_count: u32::try_from(case.contact_count).unwrap_or(0),
            classification: Some(item.classification.clone()),
            author_followers: item.author.followers,
            ..self.case_event(kind, case)
        }
    }

    /// New cases inserted and changed ones updated, in one statement per chunk: a post changes
    /// what it sees of its case (count, priority, reasons, language, queue, the wait), nothing
    /// an agent owns (state, agent) is written.
    async fn write_cases(&self, txn: &DatabaseTransaction, cases: Vec<case::Model>) -> Result<()> {
        let columns = [
            case::Column::Queue,
            case::Column::Language,
            case::Column::Priority,
            case::Column::PostPriority,
            case::Column::ContactCount,
            case::Column::Waiting,
            case::Column::Reasons,
            case::Column::UpdatedAtMs,
        ];
        let rows = cases.into_iter().map(|case| case.into_active_model().reset_all()).collect();
        let upsert = OnConflict::column(case::Column::Id).update_columns(columns).to_owned();
        insert_rows(txn, rows, Some(upsert)).await?;
        Ok(())
    }
}
