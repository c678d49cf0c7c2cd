//! Case events of agent actions (responded, resolved, transferred, re-scored) waiting to reach
//! escalation. Written in the transaction of the change they report, deleted once escalation has
//! them, so a crash of routing between the two loses none.

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
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
