use sea_orm::{DbErr, Schema};
use sea_orm_migration::prelude::*;

use super::{applied_event, escalation, sla_timer};

/// Escalation's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_escalation".into_iden()
    }
}

#[derive(DeriveMigrationName)]
struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager.create_table(schema.create_table_from_entity(escalation::Entity)).await?;
        manager.create_table(schema.create_table_from_entity(sla_timer::Entity)).await?;
        manager.create_table(schema.create_table_from_entity(applied_event::Entity)).await?;
        manager
            .create_index(
                Index::create()
                    .name("escalations_by_state")
                    .table(escalation::Entity)
                    .col(escalation::Column::Tenant)
                    .col(escalation::Column::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sla_timers_due")
                    .table(sla_timer::Entity)
                    .col(sla_timer::Column::State)
                    .col(sla_timer::Column::DueAtMs)
                    .to_owned(),
            )
            .await
    }
}
