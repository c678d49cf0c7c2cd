//! A tenant's SLA policies, as validated wire JSON.

use sea_orm::entity::prelude::*;

/// One policy.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_policies")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// Policy name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The policy as `earshot.v1.SlaPolicy` JSON.
    pub body: String,
    /// Last change.
    pub updated_at_ms: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
