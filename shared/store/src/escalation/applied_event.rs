//! Case events already applied, so a retried `RecordCaseEvent` changes nothing.

use sea_orm::entity::prelude::*;

/// One applied event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applied_case_events")]
pub struct Model {
    /// `tenant/case/kind/post-or-time`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// When it was applied.
    pub applied_at_ms: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
