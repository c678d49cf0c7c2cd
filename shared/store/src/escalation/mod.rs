//! Escalation's tables: escalations, SLA timers and the case events already applied.

pub mod applied_event;
pub mod escalation;
pub mod sla_timer;

mod migration;
pub use migration::Migrator;
