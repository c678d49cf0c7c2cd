//! A conversation with one customer.

use sea_orm::entity::prelude::*;

/// One case.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    /// Case id (`c_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The customer's external id; follow-ups of the same customer join the open case.
    pub customer: String,
    /// Thread of the first post, when the channel has threads.
    pub thread_id: Option<String>,
    /// Queue (skill) the case waits in.
    pub queue: String,
    /// Topic of the first post.
    pub topic: String,
    /// Language of the latest post.
    pub language: String,
    /// Current priority, 0–100.
    pub priority: i32,
    /// Highest post priority seen in the case, before case-level factors.
    pub post_priority: i32,
    /// `queued`, `offered`, `assigned` or `resolved`.
    pub state: String,
    /// Agent offered or holding the case.
    pub agent: Option<String>,
    /// Posts in the case.
    pub contact_count: i32,
    /// Whether a supervisor has been alerted.
    pub escalated: bool,
    /// The agent is waiting on the customer (SLA clocks paused).
    pub waiting: bool,
    /// JSON array of the reasons behind the priority.
    pub reasons: String,
    /// When the first post was written.
    pub opened_at_ms: i64,
    /// Place in line: ageing counts from here.
    pub enqueued_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
