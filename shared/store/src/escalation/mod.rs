//! Escalation's tables: escalations and their audit, SLA timers and policies, the case events
//! already applied, the event outbox and webhooks.

pub mod applied_event;
#[allow(clippy::module_inception)] // the escalation service owns the escalations table
pub mod escalation;
pub mod escalation_audit;
pub mod outbox;
pub mod sla_policy;
pub mod sla_timer;
pub mod webhook;

mod migration;
pub use migration::Migrator;
