//! API keys: who may call Earshot. Only the SHA-256 of each secret is kept.

use sea_orm::entity::prelude::*;

/// One key of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Public id (part of the secret).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Tenant it acts for.
    pub tenant: String,
    /// SHA-256 of the secret, hex.
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// What it is for.
    pub name: String,
    /// JSON array of roles.
    pub roles: String,
    /// The agent an agent key acts as.
    pub agent_id: Option<String>,
    /// Calls and posts per second per service; 0 for the default.
    pub rate_per_second: i64,
    /// When it was made.
    pub created_at_ms: i64,
    /// When it was revoked.
    pub revoked_at_ms: Option<i64>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
