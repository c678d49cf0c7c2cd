//! A post routed into a case; its existence makes `Route` idempotent.

use sea_orm::entity::prelude::*;

/// One routed post.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "case_posts")]
pub struct Model {
    /// Post id from ingest.
    #[sea_orm(primary_key, auto_increment = false)]
    pub post_id: String,
    /// Tenant.
    pub tenant: String,
    /// Case the post joined.
    pub case_id: String,
    /// Channel wire name.
    pub channel: String,
    /// Author handle.
    pub author_handle: String,
    /// Text as the customer wrote it.
    pub text: String,
    /// When the customer wrote it.
    pub created_at_ms: i64,
    /// Detected language.
    pub language: String,
    /// Sentiment compound.
    pub sentiment: f32,
    /// The post's own priority.
    pub priority: i32,
    /// The case's queue after this post.
    pub queue: String,
    /// The case's priority after this post (what Route answered).
    pub case_priority: i32,
    /// Whether it joined an existing case.
    pub follow_up: bool,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
