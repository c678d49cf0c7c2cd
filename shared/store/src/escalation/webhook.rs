//! A tenant's webhook: where escalation events are POSTed, and the key that signs them.

use sea_orm::entity::prelude::*;

/// One webhook per tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// HMAC-SHA256 key.
    pub secret: String,
    /// Last change.
    pub updated_at_ms: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
