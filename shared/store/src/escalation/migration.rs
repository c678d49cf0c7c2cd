use sea_orm::{DbErr, Schema};
use sea_orm_migration::prelude::*;

use super::{applied_event, escalation, escalation_audit, outbox, sla_policy, sla_timer, webhook};

/// Escalation's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Initial), Box::new(Supervisors), Box::new(EscalationsByCase), Box::new(OneOpenPerReason)]
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

/// SLA policies, pausable clocks with warnings, escalation levels and audit, the event outbox and
/// webhooks. (A database created by `Initial` from today's entities already has the new columns.)
// The initial migration's name derives from this module; later ones name themselves.
struct Supervisors;

impl MigrationName for Supervisors {
    fn name(&self) -> &str {
        "m0002_supervisors"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Supervisors {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        let new_columns = [
            ("sla_timers", ColumnDef::new("policy").string().not_null().default("").to_owned()),
            ("sla_timers", ColumnDef::new("target_ms").big_integer().not_null().default(0).to_owned()),
            ("sla_timers", ColumnDef::new("consumed_ms").big_integer().not_null().default(0).to_owned()),
            ("sla_timers", ColumnDef::new("segment_start_ms").big_integer().not_null().default(0).to_owned()),
            ("sla_timers", ColumnDef::new("warn_at_ms").big_integer().null().to_owned()),
            ("sla_timers", ColumnDef::new("warned").boolean().not_null().default(false).to_owned()),
            ("sla_timers", ColumnDef::new("paused_at_ms").big_integer().null().to_owned()),
            ("escalations", ColumnDef::new("audience").string().not_null().default("supervisors").to_owned()),
            ("escalations", ColumnDef::new("next_level_at_ms").big_integer().null().to_owned()),
        ];
        crate::add_missing_columns(manager, new_columns.into()).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sla_timers SET target_ms = due_at_ms - started_at_ms, segment_start_ms = started_at_ms \
                 WHERE target_ms = 0",
            )
            .await?;
        for mut table in [
            schema.create_table_from_entity(escalation_audit::Entity),
            schema.create_table_from_entity(sla_policy::Entity),
            schema.create_table_from_entity(webhook::Entity),
            schema.create_table_from_entity(outbox::Entity),
        ] {
            manager.create_table(table.if_not_exists().to_owned()).await?;
        }
        let indexes = [
            Index::create()
                .name("escalation_audit_by_escalation")
                .table(escalation_audit::Entity)
                .col(escalation_audit::Column::EscalationId)
                .to_owned(),
            Index::create()
                .name("escalations_by_level_due")
                .table(escalation::Entity)
                .col(escalation::Column::State)
                .col(escalation::Column::NextLevelAtMs)
                .to_owned(),
            Index::create()
                .name("escalation_outbox_unpublished")
                .table(outbox::Entity)
                .col(outbox::Column::Published)
                .col(outbox::Column::Id)
                .to_owned(),
            Index::create()
                .name("escalation_outbox_webhook")
                .table(outbox::Entity)
                .col(outbox::Column::Webhook)
                .col(outbox::Column::NextAttemptAtMs)
                .to_owned(),
        ];
        for mut index in indexes {
            manager.create_index(index.if_not_exists().to_owned()).await?;
        }
        Ok(())
    }
}

/// Every event looks for its case's open escalations: by case, an index seek, instead of a read
/// of every open escalation of the tenant.
struct EscalationsByCase;

impl MigrationName for EscalationsByCase {
    fn name(&self) -> &str {
        "m0003_escalations_by_case"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EscalationsByCase {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let by_case = Index::create()
            .if_not_exists()
            .name("escalations_by_case")
            .table(escalation::Entity)
            .col(escalation::Column::Tenant)
            .col(escalation::Column::CaseId)
            .col(escalation::Column::State)
            .to_owned();
        manager.create_index(by_case).await
    }
}

/// At most one open escalation per case and reason, enforced by the database: two escalation
/// replicas raising the same one collide here, and the later transaction runs again (and finds it
/// raised).
struct OneOpenPerReason;

impl MigrationName for OneOpenPerReason {
    fn name(&self) -> &str {
        "m0004_one_open_escalation_per_reason"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OneOpenPerReason {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let open_by_reason = Index::create()
            .if_not_exists()
            .unique()
            .name("escalations_open_by_reason")
            .table(escalation::Entity)
            .col(escalation::Column::Tenant)
            .col(escalation::Column::CaseId)
            .col(escalation::Column::Reason)
            // The literal of the resolved state, as a migration keeps what it wrote then.
            .and_where(Expr::cust("\"state\" <> 'resolved'"))
            .to_owned();
        manager.create_index(open_by_reason).await
    }
}
