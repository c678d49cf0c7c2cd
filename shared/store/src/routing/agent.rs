//! An agent's registration: presence, capacity, skills and languages.

use sea_orm::entity::prelude::*;

/// One agent of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// Agent id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `available`, `away` or `offline`.
    pub presence: String,
    /// Maximum concurrent cases.
    pub capacity: i32,
    /// JSON array of queues.
    pub skills: String,
    /// JSON array of language codes.
    pub languages: String,
    /// Last change.
    pub updated_at_ms: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
