use sea_orm::{DbErr, Schema};
use sea_orm_migration::prelude::*;

use super::post;

/// Ingest's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial), Box::new(TraceParent), Box::new(OutboxByTenant), Box::new(Waiting)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_ingest".into_iden()
    }
}

#[derive(DeriveMigrationName)]
struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager.create_table(schema.create_table_from_entity(post::Entity)).await?;
        manager
            .create_index(
                Index::create()
                    .name("posts_dedup")
                    .table(post::Entity)
                    .col(post::Column::Tenant)
                    .col(post::Column::Channel)
                    .col(post::Column::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("posts_outbox")
                    .table(post::Entity)
                    .col(post::Column::State)
                    .col(post::Column::Id)
                    .to_owned(),
            )
            .await
    }
}

/// Posts remember the trace of the call that submitted them, and when they were routed.
struct TraceParent;

impl MigrationName for TraceParent {
    fn name(&self) -> &str {
        "m0002_post_trace_and_routed_at"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TraceParent {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let trace_parent = ColumnDef::new("trace_parent").string().null().to_owned();
        let routed_at_ms = ColumnDef::new("routed_at_ms").big_integer().null().to_owned();
        crate::add_missing_columns(manager, vec![("posts", trace_parent), ("posts", routed_at_ms)]).await
    }
}

/// The pipeline reads waiting posts per tenant (each tenant's share of a batch, oldest first).
struct OutboxByTenant;

impl MigrationName for OutboxByTenant {
    fn name(&self) -> &str {
        "m0003_posts_outbox_by_tenant"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxByTenant {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("posts_outbox_by_tenant")
                    .table(post::Entity)
                    .col(post::Column::State)
                    .col(post::Column::Tenant)
                    .col(post::Column::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// The pipeline reads a tenant's waiting posts oldest first, from an index of those posts only:
/// an index seek that needs no sort however long the backlog, and a routed post leaves it. It
/// replaces the two indexes by state, which also held every routed post.
struct Waiting;

impl MigrationName for Waiting {
    fn name(&self) -> &str {
        "m0004_posts_waiting"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Waiting {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let waiting = Index::create()
            .if_not_exists()
            .name("posts_waiting")
            .table(post::Entity)
            .col(post::Column::Tenant)
            .col(post::Column::Id)
            .and_where(post::waiting())
            .to_owned();
        manager.create_index(waiting).await?;
        for old in ["posts_outbox", "posts_outbox_by_tenant"] {
            manager.drop_index(Index::drop().if_exists().name(old).table(post::Entity).to_owned()).await?;
        }
        Ok(())
    }
}
