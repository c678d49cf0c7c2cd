use sea_orm::{DbErr, Schema};
use sea_orm_migration::prelude::*;

use super::{agent, api_key, audit, case, case_post};

/// Routing's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Waiting),
            Box::new(ApiKeys),
            Box::new(CaseEventOutbox),
            Box::new(CaseEventStream),
            Box::new(CasesByHandle),
            Box::new(CasesByState),
            Box::new(OutboxTraces),
            Box::new(OneOpenCasePerCustomer),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_routing".into_iden()
    }
}

#[derive(DeriveMigrationName)]
struct Initial;

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager.create_table(schema.create_table_from_entity(case::Entity)).await?;
        manager.create_table(schema.create_table_from_entity(case_post::Entity)).await?;
        manager.create_table(schema.create_table_from_entity(agent::Entity)).await?;
        manager.create_table(schema.create_table_from_entity(audit::Entity)).await?;
        let indexes = [
            Index::create()
                .name("cases_by_customer")
                .table(case::Entity)
                .col(case::Column::Tenant)
                .col(case::Column::Customer)
                .col(case::Column::State)
                .to_owned(),
            Index::create()
                .name("cases_by_thread")
                .table(case::Entity)
                .col(case::Column::Tenant)
                .col(case::Column::ThreadId)
                .to_owned(),
            Index::create()
                .name("case_posts_by_case")
                .table(case_post::Entity)
                .col(case_post::Column::CaseId)
                .to_owned(),
            Index::create()
                .name("audit_by_case")
                .table(audit::Entity)
                .col(audit::Column::Tenant)
                .col(audit::Column::CaseId)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }
}

/// Cases waiting on the customer. (A database created by `Initial` from today's entities already
/// has the column.)
// The initial migration's name derives from this module; later ones name themselves.
struct Waiting;

impl MigrationName for Waiting {
    fn name(&self) -> &str {
        "m0002_waiting"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Waiting {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let waiting = ColumnDef::new("waiting").boolean().not_null().default(false).to_owned();
        crate::add_missing_columns(manager, vec![("cases", waiting)]).await
    }
}

/// API keys, hashed.
struct ApiKeys;

impl MigrationName for ApiKeys {
    fn name(&self) -> &str {
        "m0003_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ApiKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager.create_table(schema.create_table_from_entity(api_key::Entity).if_not_exists().to_owned()).await?;
        let by_tenant = Index::create()
            .if_not_exists()
            .name("api_keys_by_tenant")
            .table(api_key::Entity)
            .col(api_key::Column::Tenant)
            .to_owned();
        manager.create_index(by_tenant).await
    }
}

/// Agent-action case events wait in a table, not in memory, until escalation has them.
struct CaseEventOutbox;

impl MigrationName for CaseEventOutbox {
    fn name(&self) -> &str {
        "m0004_case_event_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CaseEventOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        let outbox = schema.create_table_from_entity(super::case_event_outbox::Entity).if_not_exists().to_owned();
        manager.create_table(outbox).await
    }
}

/// The case-event stream: the post and reply text of audit events, and a per-tenant index by id
/// for watchers reading after their cursor.
struct CaseEventStream;

impl MigrationName for CaseEventStream {
    fn name(&self) -> &str {
        "m0005_case_event_stream"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CaseEventStream {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let post_id = ColumnDef::new("post_id").string().null().to_owned();
        let text = ColumnDef::new("text").text().null().to_owned();
        crate::add_missing_columns(manager, vec![("audit_events", post_id), ("audit_events", text)]).await?;
        let by_tenant = Index::create()
            .if_not_exists()
            .name("audit_by_tenant")
            .table(audit::Entity)
            .col(audit::Column::Tenant)
            .col(audit::Column::Id)
            .to_owned();
        manager.create_index(by_tenant).await
    }
}

/// Supervisors find a customer's cases by the handle on their posts.
struct CasesByHandle;

impl MigrationName for CasesByHandle {
    fn name(&self) -> &str {
        "m0006_cases_by_handle"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CasesByHandle {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let by_handle = Index::create()
            .if_not_exists()
            .name("case_posts_by_handle")
            .table(case_post::Entity)
            .col(case_post::Column::Tenant)
            .col(case_post::Column::AuthorHandle)
            .to_owned();
        manager.create_index(by_handle).await
    }
}

/// Queue statistics read the top priority and the oldest waiting case of a queue, and count the
/// cases agents hold, by index seeks instead of a scan of every open case.
struct CasesByState;

impl MigrationName for CasesByState {
    fn name(&self) -> &str {
        "m0007_cases_by_state"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CasesByState {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let index = |name: &str, last: case::Column| {
            Index::create()
                .if_not_exists()
                .name(name)
                .table(case::Entity)
                .col(case::Column::Tenant)
                .col(case::Column::State)
                .col(case::Column::Queue)
                .col(last)
                .to_owned()
        };
        manager.create_index(index("cases_by_state_priority", case::Column::Priority)).await?;
        manager.create_index(index("cases_by_state_enqueued", case::Column::EnqueuedAtMs)).await
    }
}

/// Routed posts reach escalation through the outbox too; each event keeps the trace of the work
/// that wrote it.
struct OutboxTraces;

impl MigrationName for OutboxTraces {
    fn name(&self) -> &str {
        "m0008_outbox_traces"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxTraces {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let trace_parent = ColumnDef::new("trace_parent").string().null().to_owned();
        crate::add_missing_columns(manager, vec![("case_event_outbox", trace_parent)]).await
    }
}

/// At most one open case per customer, enforced by the database: two routing replicas that both
/// open a case for one customer collide here, and the later one routes its batch again.
struct OneOpenCasePerCustomer;

impl MigrationName for OneOpenCasePerCustomer {
    fn name(&self) -> &str {
        "m0009_one_open_case_per_customer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OneOpenCasePerCustomer {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let open_by_customer = Index::create()
            .if_not_exists()
            .unique()
            .name("cases_open_by_customer")
            .table(case::Entity)
            .col(case::Column::Tenant)
            .col(case::Column::Customer)
            // The literal of routing's resolved state, as a migration keeps what it wrote then.
            .and_where(Expr::cust("\"state\" <> 'resolved'"))
            .to_owned();
        manager.create_index(open_by_customer).await
    }
}
