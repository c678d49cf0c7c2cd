//! What the escalation tests share: a real Redis and SQLite file, a clock they move by hand, and
//! the events routing would send.

#![allow(clippy::unwrap_used, dead_code)] // each test binary uses part of it

use std::sync::Arc;

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::new_id;
use earshot_core::{ManualClock, Tenant};
use earshot_escalation::Escalations;
use earshot_escalation::policy::Builtin;
use earshot_proto::v1 as pb;
use earshot_queue::{Wake, Wakeups};
use earshot_testkit::{RedisServer, sqlite_url};
use sea_orm_migration::MigratorTrait;

/// When the tests begin.
pub const T0: i64 = 1_700_000_000_000;
/// A minute in milliseconds.
pub const MINUTE: i64 = 60_000;

/// Redis, a database file and a manual clock.
pub struct Harness {
    _redis: RedisServer,
    _dir: tempfile::TempDir,
    /// The clock every instance shares.
    pub clock: ManualClock,
    /// The Redis.
    pub redis_url: String,
    /// The database.
    pub db_url: String,
}

impl Harness {
    /// Starts Redis and makes a database folder.
    pub async fn new() -> Self {
        let redis = RedisServer::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        Self {
            redis_url: redis.url(),
            db_url: sqlite_url(dir.path(), "escalation"),
            _redis: redis,
            _dir: dir,
            clock: ManualClock::new(T0),
        }
    }

    /// A fresh service instance over the same database and Redis (a restart).
    pub async fn instance(&self) -> Escalations {
        let db = earshot_store::connect(&self.db_url).await.unwrap();
        earshot_store::escalation::Migrator::up(&db, None).await.unwrap();
        let queues = earshot_queue::Queues::connect(&self.redis_url).await.unwrap();
        let outbox_ready = Wakeups::new(&queues, earshot_escalation::state::OUTBOX_WAKEUPS, Wake::One);
        let leases = earshot_escalation::state::OutboxLeases::new(&queues, &new_id('x'));
        let events = earshot_queue::EventStream::new(queues, &self.redis_url, "escalations", 1000).unwrap();
        Escalations {
            db,
            events,
            clock: Arc::new(self.clock.clone()),
            builtin: Arc::new(Builtin::default().policy()),
            outbox_ready,
            leases,
            // The test receivers listen on loopback.
            webhook_targets: Arc::new(earshot_escalation::targets::TargetPolicy::parse("127.0.0.1").unwrap()),
            watches: earshot_auth::StreamLimits::new(8, 64),
        }
    }
}

/// Every escalation.
pub fn list_all() -> pb::ListEscalationsRequest {
    pb::ListEscalationsRequest::default()
}

/// A case opened at `at` in queue `billing`.
pub fn opened(case_id: &str, priority: u32, at: i64) -> pb::CaseEvent {
    pb::CaseEvent {
        case_id: case_id.into(),
        kind: pb::CaseEventKind::Opened as i32,
        post_id: new_id('p'),
        priority,
        queue: "billing".into(),
        contact_count: 1,
        classification: Some(pb::Classification { priority, ..Default::default() }),
        at: Some(timestamp_from_ms(at)),
        ..Default::default()
    }
}

/// The reasons of the tenant's escalations.
pub async fn reasons(escalations: &Escalations, tenant: &Tenant) -> Vec<String> {
    escalations.list(tenant, list_all()).await.unwrap().into_iter().map(|e| e.reason).collect()
}

/// A case event of `kind` at `at`, in queue `billing` at priority 30.
pub fn event(kind: pb::CaseEventKind, case_id: &str, at: i64) -> pb::CaseEvent {
    pb::CaseEvent {
        case_id: case_id.into(),
        kind: kind as i32,
        priority: 30,
        queue: "billing".into(),
        at: Some(timestamp_from_ms(at)),
        ..Default::default()
    }
}
