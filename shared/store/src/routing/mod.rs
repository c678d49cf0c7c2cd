//! Routing's tables: cases, the posts in them, agents and the audit trail. Redis holds the live
//! queues and leases; these rows are the durable record they are rebuilt from.

pub mod agent;
pub mod api_key;
pub mod audit;
pub mod case;
pub mod case_post;

mod migration;
pub use migration::Migrator;
