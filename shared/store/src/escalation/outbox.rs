//! Escalation events written in the transaction that caused them, then published to the
//! supervisors' stream and the tenant's webhook. A crash between the two loses nothing.

use sea_orm::entity::prelude::*;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalation_outbox")]
pub struct Model {
    /// Sequence: publication order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique id sent with the event (`v_…`).
    pub event_id: String,
    /// Tenant.
    pub tenant: String,
    /// The event as `earshot.v1.EscalationEvent` JSON.
    pub payload: String,
    /// Created at.
    pub created_at_ms: i64,
    /// Whether it is on the stream.
    pub published: bool,
    /// `none` (no webhook), `pending`, `delivered` or `failed`.
    pub webhook: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Next delivery attempt.
    pub next_attempt_at_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
