//! Ingest's tables: every accepted post and where it is in the pipeline (the outbox).

pub mod post;

mod migration;
pub use migration::Migrator;
