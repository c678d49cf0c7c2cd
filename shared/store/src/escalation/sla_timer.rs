//! A running SLA clock of a case. Durable, so a restart loses no timer.

use sea_orm::entity::prelude::*;

/// One timer; at most one per (tenant, case, kind).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_timers")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// Case.
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: String,
    /// `first_response`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// When the clock started.
    pub started_at_ms: i64,
    /// When it breaches.
    pub due_at_ms: i64,
    /// `running`, `stopped` or `fired`.
    pub state: String,
    /// The case's priority the target was chosen for.
    pub priority: i32,
    /// The case's queue.
    pub queue: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
