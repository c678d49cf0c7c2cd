//! Everything that happened to an escalation: raised, levelled up, acknowledged, reassigned,
//! resolved.

use sea_orm::entity::prelude::*;

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalation_audit")]
pub struct Model {
    /// Sequence.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// Escalation.
    pub escalation_id: String,
    /// When.
    pub at_ms: i64,
    /// What happened.
    pub action: String,
    /// A supervisor, an agent, or `system`.
    pub actor: String,
    /// For people.
    pub detail: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
