//! SLA clocks and immediate escalations with a controlled clock, on a real Redis and SQLite.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::Arc;

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::new_id;
use earshot_core::{ManualClock, Tenant};
use earshot_escalation::Escalations;
use earshot_escalation::sla::Policy;
use earshot_proto::v1 as pb;
use earshot_testkit::{RedisServer, sqlite_url};
use sea_orm_migration::MigratorTrait;

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

struct Harness {
    _redis: RedisServer,
    _dir: tempfile::TempDir,
    clock: ManualClock,
    redis_url: String,
    db_url: String,
}

impl Harness {
    async fn new() -> Self {
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
    async fn instance(&self) -> Escalations {
        let db = earshot_store::connect(&self.db_url).await.unwrap();
        earshot_store::escalation::Migrator::up(&db, None).await.unwrap();
        let queues = earshot_queue::Queues::connect(&self.redis_url).await.unwrap();
        let events = earshot_queue::EventStream::new(queues, &self.redis_url, "escalations", 1000).unwrap();
        Escalations { db, events, clock: Arc::new(self.clock.clone()), policy: Policy::default() }
    }
}

fn opened(case_id: &str, priority: u32, at: i64) -> pb::CaseEvent {
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

async fn reasons(escalations: &Escalations, tenant: &Tenant) -> Vec<String> {
    escalations.list(tenant, "", 100).await.unwrap().into_iter().map(|e| e.reason).collect()
}

#[tokio::test]
async fn first_response_breaches_exactly_at_the_target_of_its_band() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let high = new_id('c');
    let low = new_id('c');
    service.record(&tenant, opened(&high, 85, T0)).await.unwrap();
    service.record(&tenant, opened(&low, 30, T0)).await.unwrap();

    harness.clock.set(T0 + 15 * MINUTE - 1);
    assert_eq!(service.fire_due().await.unwrap(), 0);
    harness.clock.set(T0 + 15 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 1);
    let listed = service.list(&tenant, "", 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].case_id.as_str(), listed[0].reason.as_str()), (high.as_str(), "sla_first_response"));
    assert_eq!(listed[0].detail, "first response target 15 min missed");

    harness.clock.set(T0 + 4 * 60 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 1, "the low band breaches at 4 h");
    assert_eq!(service.fire_due().await.unwrap(), 0, "a timer fires once");
}

#[tokio::test]
async fn a_response_stops_the_clock_and_replayed_events_change_nothing() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let case = new_id('c');
    let event = opened(&case, 90, T0);
    service.record(&tenant, event.clone()).await.unwrap();
    harness.clock.set(T0 + 5 * MINUTE);
    let responded = pb::CaseEvent {
        case_id: case.clone(),
        kind: pb::CaseEventKind::Responded as i32,
        at: Some(timestamp_from_ms(T0 + 5 * MINUTE)),
        ..Default::default()
    };
    service.record(&tenant, responded).await.unwrap();
    // A retried OPENED (same post) must not restart the clock.
    service.record(&tenant, event).await.unwrap();
    harness.clock.set(T0 + 60 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 0);
    assert!(reasons(&service, &tenant).await.is_empty());
}

#[tokio::test]
async fn due_timers_fire_once_across_a_restart() {
    let harness = Harness::new().await;
    let tenant = Tenant::default();
    let cases: Vec<String> = (0..20).map(|_| new_id('c')).collect();
    {
        let before = harness.instance().await;
        for case in &cases {
            before.record(&tenant, opened(case, 60, T0)).await.unwrap();
        }
    }
    harness.clock.set(T0 + 61 * MINUTE);
    let (a, b) = (harness.instance().await, harness.instance().await);
    let (fired_a, fired_b) = tokio::join!(a.fire_due(), b.fire_due());
    assert_eq!(fired_a.unwrap() + fired_b.unwrap(), 20);
    let after = harness.instance().await;
    assert_eq!(after.fire_due().await.unwrap(), 0);
    assert_eq!(after.list(&tenant, "open", 100).await.unwrap().len(), 20);
}

#[tokio::test]
async fn immediate_triggers_escalate_once_per_case_and_reason() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let case = new_id('c');
    let mut legal = opened(&case, 95, T0);
    legal.classification = Some(pb::Classification {
        priority: 95,
        escalate_now: true,
        escalations: vec!["legal".into()],
        reasons: vec![pb::Reason { factor: "legal_threat".into(), contribution: 0.4, detail: "'my lawyer'".into() }],
        ..Default::default()
    });
    let raised = service.record(&tenant, legal.clone()).await.unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].detail, "legal threat 'my lawyer'");
    let mut again = legal;
    again.kind = pb::CaseEventKind::Contact as i32;
    again.post_id = new_id('p');
    again.contact_count = 3;
    again.customer = "u1".into();
    let raised = service.record(&tenant, again).await.unwrap();
    assert_eq!(
        raised.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
        ["repeat_contact"],
        "legal is already open"
    );

    let other_tenant = Tenant::parse("rival").unwrap();
    assert!(service.list(&other_tenant, "", 100).await.unwrap().is_empty());
    let id = service.list(&tenant, "", 100).await.unwrap()[0].escalation_id.clone();
    let request = pb::EscalationActionRequest { escalation_id: id, supervisor: "sam".into(), note: String::new() };
    let error = service.act(&other_tenant, request.clone(), true).await.unwrap_err();
    assert!(matches!(error, earshot_escalation::Error::NotFound(_)));
    assert_eq!(service.act(&tenant, request.clone(), true).await.unwrap().state, "resolved");
    assert!(service.act(&tenant, request, false).await.is_err(), "a resolved escalation cannot be acknowledged");
}
