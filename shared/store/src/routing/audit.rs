//! Every routing decision with its reason: a case's history, and (read by id, per tenant) the
//! case-event stream `WatchCaseEvents` serves.

use sea_orm::entity::prelude::*;

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Sequence.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// Case concerned.
    pub case_id: String,
    /// When.
    pub at_ms: i64,
    /// `routed`, `follow_up`, `rescored`, `offered`, `accepted`, `rejected`, `lease_expired`,
    /// `unstuck`, `sticky_timeout`, `responded`, `resolved`, `transferred`, `reassigned`,
    /// `escalated`, `waiting`, `resumed`.
    pub action: String,
    /// Agent involved, if any.
    pub agent: Option<String>,
    /// Why.
    pub detail: String,
    /// The post concerned: the one routed (`routed`, `follow_up`), or the latest one the agent
    /// answered (`responded`).
    pub post_id: Option<String>,
    /// The agent's reply (`responded`); tenant data, never logged.
    pub text: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
