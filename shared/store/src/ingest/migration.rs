use sea_orm::{DbErr, Schema};
use sea_orm_migration::prelude::*;

use super::post;

/// Ingest's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
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
