//! A case a supervisor must look at.

use sea_orm::entity::prelude::*;

/// One escalation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    /// Escalation id (`e_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Case.
    pub case_id: String,
    /// `sla_first_response`, `sla_next_response`, `risk`, `repeat_contact`, `legal`, `safety`,
    /// `reach`, `agent_request`.
    pub reason: String,
    /// 1 and up.
    pub level: i32,
    /// Where it is.
    pub state: EscalationState,
    /// What happened, for people.
    pub detail: String,
    /// The case's queue (kept current when the case moves).
    pub queue: String,
    /// The case's priority when raised.
    pub priority: i32,
    /// Supervisor who acknowledged or resolved it.
    pub supervisor: Option<String>,
    /// Raised at.
    pub created_at_ms: i64,
    /// Acknowledged at.
    pub acknowledged_at_ms: Option<i64>,
    /// Resolved at.
    pub resolved_at_ms: Option<i64>,
    /// Who must look at it at its level.
    pub audience: String,
    /// When it rises a level unless acknowledged.
    pub next_level_at_ms: Option<i64>,
}

/// Where an escalation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum EscalationState {
    /// Waiting for a supervisor.
    #[sea_orm(string_value = "open")]
    Open,
    /// A supervisor has it.
    #[sea_orm(string_value = "acknowledged")]
    Acknowledged,
    /// Done.
    #[sea_orm(string_value = "resolved")]
    Resolved,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
