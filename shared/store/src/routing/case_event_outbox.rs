//! Case events (posts routed, agent actions, re-scores) waiting to reach escalation. Written with
//! the change they report, deleted once escalation has them, so a crash of routing between the two
//! loses none.

use sea_orm::entity::prelude::*;

/// One event waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_event_outbox")]
pub struct Model {
    /// Sequence: delivery order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// The `CaseEvent`, protobuf-encoded.
    pub event: Vec<u8>,
    /// When it was written.
    pub created_at_ms: i64,
    /// The W3C `traceparent` of the work that wrote it, when traced: its delivery continues that
    /// trace.
    pub trace_parent: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
