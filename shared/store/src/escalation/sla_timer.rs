//! An SLA clock of a case. Durable, so a restart loses no timer.

use sea_orm::entity::prelude::*;

/// One clock; at most one per (tenant, case, kind).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_timers")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// Case.
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: String,
    /// `first_response` or `next_response`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// When the clock started (the customer's post).
    pub started_at_ms: i64,
    /// When it breaches (meaningful while `running`).
    pub due_at_ms: i64,
    /// Where it is.
    pub state: TimerState,
    /// The case's priority the target was chosen for.
    pub priority: i32,
    /// The case's queue.
    pub queue: String,
    /// The policy the target came from.
    pub policy: String,
    /// The target: open time allowed until the answer.
    pub target_ms: i64,
    /// Open time consumed before `segment_start_ms` (pauses end segments).
    pub consumed_ms: i64,
    /// When the clock last started or resumed running.
    pub segment_start_ms: i64,
    /// When supervisors are warned; `None` when there is no warning to give.
    pub warn_at_ms: Option<i64>,
    /// Whether the warning was given.
    pub warned: bool,
    /// When it was paused (while `paused`).
    pub paused_at_ms: Option<i64>,
}

/// Where an SLA clock is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum TimerState {
    /// Counting.
    #[sea_orm(string_value = "running")]
    Running,
    /// Waiting on the customer: not counting.
    #[sea_orm(string_value = "paused")]
    Paused,
    /// Answered (or the case resolved).
    #[sea_orm(string_value = "stopped")]
    Stopped,
    /// Breached and escalated; the customer still waits.
    #[sea_orm(string_value = "fired")]
    Fired,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
