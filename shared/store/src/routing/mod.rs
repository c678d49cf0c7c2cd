//! Routing's tables: cases, the posts in them, agents, the audit trail and the case events
//! waiting for escalation. Redis holds the live
//! queues and leases; these rows are the durable record they are rebuilt from.

pub mod agent;
pub mod api_key;
pub mod audit;
pub mod case;
pub mod case_event_outbox;
pub mod case_post;

mod migration;
pub use migration::Migrator;
