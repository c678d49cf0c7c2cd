//! Escalation's tables: escalations, SLA timers and the case events already applied.

pub mod applied_event;
#[allow(clippy::module_inception)] // the escalation service owns the escalations table
pub mod escalation;
pub mod sla_timer;

mod migration;
pub use migration::Migrator;
