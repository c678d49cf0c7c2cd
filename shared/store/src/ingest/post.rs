//! An accepted post. Stored before the client is answered; `state` is the outbox.

use sea_orm::entity::prelude::*;

/// One accepted post.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    /// Post id (`p_…`, time-ordered).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Channel wire name.
    pub channel: String,
    /// The channel's id of the post.
    pub external_id: String,
    /// The normalised post, protobuf-encoded.
    pub body: Vec<u8>,
    /// `received`, `classified` or `routed`.
    pub state: String,
    /// The classification, protobuf-encoded, once classified.
    pub classification: Option<Vec<u8>>,
    /// The case, once routed.
    pub case_id: Option<String>,
    /// When ingest accepted it.
    pub received_at_ms: i64,
    /// Pipeline attempts that failed.
    pub attempts: i32,
    /// The last pipeline error, for operators.
    pub last_error: Option<String>,
    /// The W3C `traceparent` of the call that submitted it, when traced: the pipeline's work on
    /// the post continues that trace.
    pub trace_parent: Option<String>,
    /// When routing answered that it is in a case (queued for agents unless one holds the case).
    pub routed_at_ms: Option<i64>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
