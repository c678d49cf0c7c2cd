//! Cases as agents and supervisors see them.

use std::collections::HashMap;

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::check_id;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{audit, case, case_post};
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use crate::error::{Error, Result};
use crate::state::Routing;

/// Queues whose heads one `QueueStats` statement reads (two result columns each).
const QUEUES_PER_STATS_STATEMENT: usize = 400;

/// The longest customer id or handle a search accepts (as long as a post's author id may be).
const MAX_CUSTOMER_LEN: usize = 256;

/// Reasons as stored in a case row (proto3 JSON).
pub fn encode_reasons(reasons: &[pb::Reason]) -> String {
    serde_json::to_string(reasons).unwrap_or_else(|_| "[]".to_owned())
}

/// Reasons from a case row.
pub fn decode_reasons(json: &str) -> Result<Vec<pb::Reason>> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("case reasons: {e}")))
}

fn post_view(post: case_post::Model) -> pb::CasePost {
    pb::CasePost {
        post_id: post.post_id,
        channel: post.channel,
        author_handle: post.author_handle,
        text: post.text,
        created_at: Some(timestamp_from_ms(post.created_at_ms)),
        language: post.language,
        sentiment: post.sentiment,
        priority: u32::try_from(post.priority).unwrap_or(0),
    }
}

fn audit_view(event: audit::Model) -> pb::AuditEvent {
    pb::AuditEvent {
        at: Some(timestamp_from_ms(event.at_ms)),
        action: event.action,
        agent: event.agent.unwrap_or_default(),
        detail: event.detail,
        text: event.text.unwrap_or_default(),
        post_id: event.post_id.unwrap_or_default(),
    }
}

fn case_view(case: case::Model, posts: Vec<case_post::Model>, history: Vec<audit::Model>) -> Result<pb::CaseView> {
    Ok(pb::CaseView {
        history: history.into_iter().map(audit_view).collect(),
        reasons: decode_reasons(&case.reasons)?,
        case_id: case.id,
        queue: case.queue,
        priority: u32::try_from(case.priority).unwrap_or(0),
        state: case.state.as_str().to_owned(),
        assigned_agent: case.agent.unwrap_or_default(),
        contact_count: u32::try_from(case.contact_count).unwrap_or(0),
        posts: posts.into_iter().map(post_view).collect(),
        customer: case.customer,
        language: case.language,
        topic: case.topic,
        opened_at: Some(timestamp_from_ms(case.opened_at_ms)),
        enqueued_at: Some(timestamp_from_ms(case.enqueued_at_ms)),
        escalated: case.escalated,
        waiting: case.waiting,
    })
}

impl Routing {
    /// A case of the tenant; NOT_FOUND for unknown ids and other tenants' cases alike.
    pub async fn find_case(&self, tenant: &Tenant, case_id: &str) -> Result<case::Model> {
        check_id("case_id", 'c', case_id)?;
        case::Entity::find_by_id(case_id.to_owned())
            .one(&self.db)
            .await?
            .filter(|case| case.tenant == tenant.as_str())
            .ok_or_else(|| Error::NotFound(format!("case {case_id} not found")))
    }

    /// Views of `cases`, in the given order, with their posts and history oldest first.
    pub async fn views(&self, cases: Vec<case::Model>) -> Result<Vec<pb::CaseView>> {
        let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
        let tenants: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.tenant.as_str()).collect();
        let (history, posts) =
            tokio::try_join!(history_of(tenants, ids.clone()).all(&self.reads), posts_of(ids).all(&self.reads))?;
        let mut history = by_case(history, |event| &event.case_id);
        let mut posts = by_case(posts, |post| &post.case_id);
        cases
            .into_iter()
            .map(|case| {
                let own = posts.remove(&case.id).unwrap_or_default();
                let events = history.remove(&case.id).unwrap_or_default();
                case_view(case, own, events)
            })
            .collect()
    }

    /// A case of the tenant as agents and supervisors see it: the case, its posts and its history
    /// read side by side; NOT_FOUND for unknown ids and other tenants' cases alike.
    pub async fn case_view_of(&self, tenant: &Tenant, case_id: &str) -> Result<pb::CaseView> {
        check_id("case_id", 'c', case_id)?;
        let ids = vec![case_id.to_owned()];
        let (case, history, posts) = tokio::try_join!(
            case::Entity::find_by_id(case_id.to_owned())
                .filter(case::Column::Tenant.eq(tenant.as_str()))
                .one(&self.reads),
            history_of([tenant.as_str()], ids.clone()).all(&self.reads),
            posts_of(ids).all(&self.reads)
        )?;
        let case = case.ok_or_else(|| Error::NotFound(format!("case {case_id} not found")))?;
        case_view(case, posts, history)
    }

    /// One case's view.
    pub async fn view(&self, case: case::Model) -> Result<pb::CaseView> {
        self.views(vec![case]).await?.pop().ok_or_else(|| Error::Corrupt("empty case view".to_owned()))
    }

    /// The cases of one customer, newest first: `customer` is the customer's id on its channel or
    /// the handle on their posts, with or without "@".
    pub async fn find_cases(&self, tenant: &Tenant, customer: &str, limit: u32) -> Result<Vec<pb::CaseView>> {
        let customer = customer.trim();
        if customer.is_empty() {
            return Err(InvalidArgument::new("customer", "is required").into());
        }
        if customer.len() > MAX_CUSTOMER_LEN || customer.chars().any(char::is_control) {
            let reason =
                format!("is not a customer id or handle (at most {MAX_CUSTOMER_LEN} bytes, no control characters)");
            return Err(InvalidArgument::new("customer", reason).into());
        }
        let bare = customer.trim_start_matches('@');
        let handles = [bare.to_owned(), format!("@{bare}")];
        let by_handle = case_post::Entity::find()
            .select_only()
            .column(case_post::Column::CaseId)
            .filter(case_post::Column::Tenant.eq(tenant.as_str()))
            .filter(case_post::Column::AuthorHandle.is_in(handles))
            .into_query();
        let limit = if limit == 0 { 20 } else { limit.min(100) };
        // Two index seeks, by customer and by the handle on the posts: SQLite reads every case of
        // the tenant for an `OR` of the two. The posts are the tenant's, so their cases are too;
        // the second query leaves the tenant out, or SQLite would scan the tenant's cases again.
        let newest = |found: sea_orm::Select<case::Entity>| {
            found
                .order_by_desc(case::Column::OpenedAtMs)
                .order_by_desc(case::Column::Id)
                .limit(u64::from(limit))
                .all(&self.reads)
        };
        let (of_customer, of_handle) = tokio::try_join!(
            newest(
                case::Entity::find()
                    .filter(case::Column::Tenant.eq(tenant.as_str()))
                    .filter(case::Column::Customer.eq(customer))
            ),
            newest(case::Entity::find().filter(case::Column::Id.in_subquery(by_handle)))
        )?;
        let mut cases: Vec<case::Model> = of_customer;
        for case in of_handle.into_iter().filter(|case| case.tenant == tenant.as_str()) {
            if !cases.iter().any(|known| known.id == case.id) {
                cases.push(case);
            }
        }
        cases.sort_by(|a, b| (b.opened_at_ms, &b.id).cmp(&(a.opened_at_ms, &a.id)));
        cases.truncate(limit as usize);
        self.views(cases).await
    }

    /// The first `limit` waiting cases of `queue`, in the order agents get them.
    pub async fn list_queue(&self, tenant: &Tenant, queue: &str, limit: u32) -> Result<Vec<pb::CaseView>> {
        earshot_core::ids::check_name("queue", queue)?;
        let limit = if limit == 0 { 50 } else { limit.min(500) };
        let head = self.queues.queue_head(tenant.as_str(), queue, limit).await?;
        let ids: Vec<String> = head.iter().map(|(id, _)| id.clone()).collect();
        let mut by_id: HashMap<String, case::Model> = case::Entity::find()
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::Id.is_in(ids.clone()))
            .all(&self.reads)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let ordered = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        self.views(ordered).await
    }

    /// Depth and head of every queue of the tenant, however many cases wait: the depths in one
    /// Redis round trip, the cases agents hold in one grouped query, each queue's top priority
    /// and oldest case by index seeks.
    pub async fn queue_stats(&self, tenant: &Tenant) -> Result<Vec<pb::QueueStat>> {
        #[derive(Debug, FromQueryResult)]
        struct Held {
            queue: String,
            state: CaseState,
            cases: i64,
        }
        let names = self.queues.queue_names(tenant.as_str()).await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let depths = self.queues.depths(tenant.as_str(), &names).await?;
        // Agents hold few cases: counted through the `cases_by_state_*` indexes, not by a scan.
        let held = case::Entity::find()
            .select_only()
            .column(case::Column::Queue)
            .column(case::Column::State)
            .column_as(Expr::from(Func::count(Expr::col(case::Column::Id))), "cases")
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::State.is_in([CaseState::Offered, CaseState::Assigned]))
            .group_by(case::Column::Queue)
            .group_by(case::Column::State)
            .into_model::<Held>()
            .all(&self.reads)
            .await?;
        // The top priority and the oldest waiting case of each queue: two index seeks per queue,
        // in one statement, however many cases wait.
        let of_queued = |queue: &str, value: Expr| {
            Expr::SubQuery(
                None,
                Box::new(
                    Query::select()
                        .expr(value)
                        .from(case::Entity)
                        .and_where(case::Column::Tenant.eq(tenant.as_str()))
                        .and_where(case::Column::State.eq(CaseState::Queued))
                        .and_where(case::Column::Queue.eq(queue))
                        .to_owned()
                        .into(),
                ),
            )
        };
        // Chunked: a statement has at most 1,664 result columns on PostgreSQL, 2,000 on SQLite.
        let backend = self.reads.get_database_backend();
        let mut heads: Vec<(Option<i32>, Option<i64>)> = Vec::with_capacity(names.len());
        for chunk in names.chunks(QUEUES_PER_STATS_STATEMENT) {
            let mut select = Query::select();
            for queue in chunk {
                select.expr(of_queued(queue, Func::max(Expr::col(case::Column::Priority)).into()));
                select.expr(of_queued(queue, Func::min(Expr::col(case::Column::EnqueuedAtMs)).into()));
            }
            let row = self.reads.query_one_raw(backend.build(&select)).await?;
            for index in 0..chunk.len() {
                // Typed as the columns are (PostgreSQL's MAX of an INTEGER is an INTEGER).
                let head = match &row {
                    Some(row) => (
                        row.try_get_by_index::<Option<i32>>(2 * index)?,
                        row.try_get_by_index::<Option<i64>>(2 * index + 1)?,
                    ),
                    None => (None, None),
                };
                heads.push(head);
            }
        }
        let mut stats = Vec::with_capacity(names.len());
        for ((queue, waiting), (top, oldest)) in names.into_iter().zip(depths).zip(heads) {
            let count = |state: CaseState| {
                held.iter()
                    .find(|r| r.queue == queue && r.state == state)
                    .map_or(0, |r| u64::try_from(r.cases).unwrap_or(0))
            };
            stats.push(pb::QueueStat {
                waiting,
                offered: count(CaseState::Offered),
                assigned: count(CaseState::Assigned),
                top_priority: top.map_or(0, |p| u32::try_from(p).unwrap_or(0)),
                oldest_enqueued_at: oldest.map(timestamp_from_ms),
                queue,
            });
        }
        Ok(stats)
    }
}

/// The history of cases `ids` of `tenants`, oldest first: by tenant and case, what the index
/// `audit_by_case` serves without a scan.
fn history_of<'a>(tenants: impl IntoIterator<Item = &'a str>, ids: Vec<String>) -> sea_orm::Select<audit::Entity> {
    audit::Entity::find()
        .filter(audit::Column::Tenant.is_in(tenants))
        .filter(audit::Column::CaseId.is_in(ids))
        .order_by_asc(audit::Column::Id)
}

/// The posts of cases `ids`, oldest first.
fn posts_of(ids: Vec<String>) -> sea_orm::Select<case_post::Entity> {
    case_post::Entity::find().filter(case_post::Column::CaseId.is_in(ids)).order_by_asc(case_post::Column::CreatedAtMs)
}

/// `rows` grouped by their case, in order.
fn by_case<T>(rows: Vec<T>, case_of: impl Fn(&T) -> &String) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        grouped.entry(case_of(&row).clone()).or_default().push(row);
    }
    grouped
}
