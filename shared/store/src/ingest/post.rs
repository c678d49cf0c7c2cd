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
    /// Where it is in the pipeline.
    pub state: PostState,
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

/// Where a post is in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum PostState {
    /// Stored, not yet classified.
    #[sea_orm(string_value = "received")]
    Received,
    /// Classified, not yet routed.
    #[sea_orm(string_value = "classified")]
    Classified,
    /// In a case.
    #[sea_orm(string_value = "routed")]
    Routed,
    /// Set aside by the pipeline (invalid, too large for a peer, or failing alone); kept with its
    /// reason for operators, not retried.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The states of a post the pipeline has still to route: stored, or classified.
pub const WAITING_STATES: [PostState; 2] = [PostState::Received, PostState::Classified];

/// Posts the pipeline has still to route. Written with literals, not bound values: SQLite uses the
/// partial index `posts_waiting` only for a condition it can match to the index's own, which a
/// condition with placeholders is not.
pub fn waiting() -> sea_orm::sea_query::Expr {
    sea_orm::sea_query::Expr::cust(waiting_sql())
}

fn waiting_sql() -> String {
    let [received, classified] = WAITING_STATES.map(|state| state.to_value());
    format!("\"state\" IN ('{received}', '{classified}')")
}

/// The tenants with posts waiting, in order: one seek in `posts_waiting` per tenant (a recursive
/// skip from each tenant to the next), not a read of every waiting post.
pub async fn tenants_waiting(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let waiting = waiting_sql();
    let sql = format!(
        "WITH RECURSIVE waiting(tenant) AS (\
           SELECT MIN(\"tenant\") FROM \"posts\" WHERE {waiting} \
           UNION ALL \
           SELECT (SELECT MIN(\"tenant\") FROM \"posts\" WHERE {waiting} AND \"tenant\" > waiting.tenant) \
           FROM waiting WHERE waiting.tenant IS NOT NULL) \
         SELECT tenant FROM waiting WHERE tenant IS NOT NULL"
    );
    let rows = db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await?;
    rows.iter().map(|row| row.try_get::<String>("", "tenant")).collect()
}
