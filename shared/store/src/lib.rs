//! The durable record of every service: database connection, entities and migrations.
//!
//! Each service owns its tables (ingest: posts; routing: cases, case posts, agents, audit;
//! escalation: escalations and their audit, SLA timers and policies, the event outbox, webhooks)
//! and runs its own migrations at start, tracked in a migration table of its own, so the services
//! can share one PostgreSQL database or use one SQLite file each. Entities are plain sea-orm; SQL stays portable between SQLite and PostgreSQL.

pub mod escalation;
pub mod ingest;
pub mod routing;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, InsertMany};

/// Rows per multi-row statement: far below SQLite's (32,766) and PostgreSQL's (65,535)
/// bound-parameter limits for the widest row written this way (a case, 18 columns).
pub const ROWS_PER_STATEMENT: usize = 500;

/// Inserts `rows` in multi-row statements of at most [`ROWS_PER_STATEMENT`] rows, each with
/// `on_conflict` when given: how a batch writes a table once instead of once per row.
pub async fn insert_rows<A: ActiveModelTrait>(
    db: &impl ConnectionTrait,
    rows: Vec<A>,
    on_conflict: Option<OnConflict>,
) -> Result<(), DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut insert = InsertMany::many(rows.by_ref().take(ROWS_PER_STATEMENT));
        if let Some(on_conflict) = &on_conflict {
            insert = insert.on_conflict(on_conflict.clone());
        }
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}

/// Whether the database refused a transaction because a concurrent one won a race for the same
/// rows: a unique key taken meanwhile (two replicas opening a case for one customer), a deadlock or
/// a serialization failure (PostgreSQL). Running the whole transaction again reads the winner's
/// rows and goes through; nothing of the refused one was written.
pub fn is_contention(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlErr};
    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) = error else {
        return false;
    };
    // 40001 serialization_failure, 40P01 deadlock_detected.
    error.as_database_error().and_then(|error| error.code()).is_some_and(|code| code == "40001" || code == "40P01")
}

/// What a caller is told when a transaction kept losing races (gRPC `ABORTED`: retry it).
pub const CONTENTION_MESSAGE: &str = "a concurrent change to the same records won the race; retry";

/// Transactions run at most this often when each loses a race (see [`is_contention`]): enough
/// for the rare collision between replicas, bounded so a bug cannot spin.
pub const CONTENTION_ATTEMPTS: u32 = 5;

/// Runs the transaction `run` makes, again after a few milliseconds (growing, with jitter, so the
/// winner commits first and the losers do not collide again) each time it loses a race to a
/// concurrent one, at most [`CONTENTION_ATTEMPTS`] times; `db_error` finds the database's error
/// in the caller's.
pub async fn retry_on_contention<T, E, Fut>(
    db_error: impl Fn(&E) -> Option<&DbErr>,
    run: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use backon::Retryable as _;
    let backoff = backon::ExponentialBuilder::new()
        .with_min_delay(std::time::Duration::from_millis(10))
        .with_max_times(CONTENTION_ATTEMPTS as usize - 1)
        .with_jitter();
    run.retry(backoff)
        .when(|error| db_error(error).is_some_and(is_contention))
        .notify(|_, _| tracing::debug!("a transaction lost a race to another; running it again"))
        .await
}

/// Statements run in this process, per database label (see [`statements_run`]).
static STATEMENTS: Mutex<BTreeMap<String, Arc<AtomicU64>>> = Mutex::new(BTreeMap::new());

/// How many SQL statements each database opened by this process has run, by label: the SQLite
/// file's stem (`ingest`, `routing`, `escalation`) or `postgres`. What a benchmark divides by
/// the posts it sent.
pub fn statements_run() -> BTreeMap<String, u64> {
    let counters = STATEMENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    counters.iter().map(|(label, count)| (label.clone(), count.load(Ordering::Relaxed))).collect()
}

/// The label [`statements_run`] counts the database at `url` under: the SQLite file's stem, or
/// `postgres`.
pub fn database_label(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) => {
            let path = std::path::Path::new(rest.split('?').next().unwrap_or_default());
            path.file_stem().map_or_else(|| "sqlite".to_owned(), |stem| stem.to_string_lossy().into_owned())
        }
        None => "postgres".to_owned(),
    }
}

/// The counter of the database at `url`.
fn statement_counter(url: &str) -> Arc<AtomicU64> {
    let label = database_label(url);
    let mut counters = STATEMENTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(counters.entry(label).or_default())
}

/// The database a service could not open or migrate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL does not name a supported database.
    #[error("unsupported database url '{0}': use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// The SQLite file's folder could not be created.
    #[error("cannot create database folder {path}: {source}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The embedded default: one SQLite file per service under `./data`.
pub fn default_url(service: &str) -> String {
    format!("sqlite://data/{service}.db?mode=rwc")
}

/// How much of a SQLite file a reader maps into memory: pages are read in place instead of copied
/// by a system call each.
const MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// Read-only SQLite connections a service keeps beside its one writer.
pub const SQLITE_READERS: u32 = 4;

/// Opens a connection pool, creating the SQLite file's folder when needed.
pub async fn connect(url: &str) -> Result<DatabaseConnection, Error> {
    connect_as(url, Access::Write).await
}

/// A pool for reads outside transactions, beside the pool `db` opened on `url`. On SQLite these
/// are [`SQLITE_READERS`] read-only connections: a read does not queue behind the writer's
/// statements, and (write-ahead log) sees every commit before it; on PostgreSQL it is `db` itself.
pub async fn readers(url: &str, db: &DatabaseConnection) -> Result<DatabaseConnection, Error> {
    if url.starts_with("sqlite://") { connect_as(url, Access::Read).await } else { Ok(db.clone()) }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Write,
    Read,
}

async fn connect_as(url: &str, access: Access) -> Result<DatabaseConnection, Error> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| Error::CreateDir { path: dir.display().to_string(), source })?;
        }
    } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::UnsupportedUrl(url.to_owned()));
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    if url.starts_with("sqlite://") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        match access {
            // SQLite allows one writer, and a transaction that read before it writes fails at
            // once (SQLITE_BUSY / BUSY_SNAPSHOT, which no busy timeout waits out) when another
            // connection wrote in between: under load that failed routing and escalation writes.
            // One connection per process queues every write in the pool instead. Write-ahead
            // logging keeps readers unblocked; FULL sync: an acknowledged post survives a power cut.
            Access::Write => options.max_connections(1).map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(std::time::Duration::from_secs(5))
            }),
            Access::Read => options.max_connections(SQLITE_READERS).map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .read_only(true)
                    .create_if_missing(false)
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .pragma("mmap_size", MMAP_BYTES.to_string())
            }),
        };
    }
    let mut db = Database::connect(options).await?;
    let statements = statement_counter(url);
    db.set_metric_callback(move |_| {
        statements.fetch_add(1, Ordering::Relaxed);
    });
    Ok(db)
}

/// Adds each `(table, column)` the table lacks. A database created by an initial migration from
/// today's entities already has them; one created before does not.
pub(crate) async fn add_missing_columns(
    manager: &sea_orm_migration::SchemaManager<'_>,
    columns: Vec<(&'static str, sea_orm_migration::prelude::ColumnDef)>,
) -> Result<(), DbErr> {
    use sea_orm_migration::prelude::Table;
    for (table, mut column) in columns {
        let name = column.get_column_name();
        if !manager.has_column(table, &name).await? {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await?;
        }
    }
    Ok(())
}

/// Opens the database at `url` and applies the owner's migrations (`M`), as every service does at
/// start. On PostgreSQL, replicas of one service starting together take turns (an advisory lock
/// named after the service's migration table, held for the migration), so none creates a table
/// another is creating; the later ones find them applied. Other services migrate meanwhile.
pub async fn open<M: sea_orm_migration::MigratorTrait>(url: &str) -> Result<DatabaseConnection, Error> {
    use sea_orm::TransactionTrait as _;
    let db = connect(url).await?;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let turn = db.begin().await?;
        let table = M::migration_table_name().to_string();
        let lock = sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            [table.into()],
        );
        turn.execute_raw(lock).await?;
        M::up(&db, None).await?;
        turn.commit().await?;
    } else {
        M::up(&db, None).await?;
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::MigratorTrait;

    use super::*;

    #[tokio::test]
    async fn every_service_migrates_a_fresh_sqlite_file_twice() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/all.db?mode=rwc", dir.path().display());
        let db = connect(&url).await.unwrap();
        for _ in 0..2 {
            ingest::Migrator::up(&db, None).await.unwrap();
            routing::Migrator::up(&db, None).await.unwrap();
            escalation::Migrator::up(&db, None).await.unwrap();
        }
        assert!(connect("mysql://x").await.is_err());
    }

    #[tokio::test]
    async fn sqlite_readers_see_every_commit_and_cannot_write() {
        use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/ingest.db?mode=rwc", dir.path().display());
        let db = open::<ingest::Migrator>(&url).await.unwrap();
        let reads = readers(&url, &db).await.unwrap();
        assert_eq!(ingest::post::Entity::find().count(&reads).await.unwrap(), 0);
        use ingest::post::PostState;
        let row = ingest::post::ActiveModel {
            id: Set("p1".into()),
            tenant: Set("default".into()),
            channel: Set("twitter".into()),
            external_id: Set("1".into()),
            body: Set(Vec::new()),
            state: Set(PostState::Received),
            classification: Set(None),
            case_id: Set(None),
            received_at_ms: Set(0),
            attempts: Set(0),
            last_error: Set(None),
            trace_parent: Set(None),
            routed_at_ms: Set(None),
        };
        ingest::post::Entity::insert(row.clone()).exec(&db).await.unwrap();
        assert_eq!(ingest::post::tenants_waiting(&reads).await.unwrap(), ["default"], "the commit is visible at once");
        let post = |id: &str, tenant: &str, state: PostState| {
            let mut post = row.clone();
            (post.id, post.external_id) = (Set(id.into()), Set(id.into()));
            (post.tenant, post.state) = (Set(tenant.into()), Set(state));
            post
        };
        assert!(
            ingest::post::Entity::insert(post("p2", "default", PostState::Received)).exec(&reads).await.is_err(),
            "a reader writes nothing"
        );
        ingest::post::Entity::insert(post("p3", "acme", PostState::Routed)).exec(&db).await.unwrap();
        assert_eq!(ingest::post::tenants_waiting(&reads).await.unwrap(), ["default"], "routed posts wait for nothing");
        ingest::post::Entity::insert(post("p4", "acme", PostState::Classified)).exec(&db).await.unwrap();
        ingest::post::Entity::insert(post("p5", "zeta", PostState::Failed)).exec(&db).await.unwrap();
        assert_eq!(ingest::post::tenants_waiting(&reads).await.unwrap(), ["acme", "default"]);
    }
}
