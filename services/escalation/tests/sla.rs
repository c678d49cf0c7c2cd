//! SLA clocks and immediate escalations with a controlled clock, on a real Redis and SQLite.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Harness, MINUTE, T0, event, list_all, opened, reasons};
use earshot_core::Tenant;
use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::new_id;
use earshot_escalation::Escalations;
use earshot_escalation::state::Action;
use earshot_proto::v1 as pb;

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
    let listed = service.list(&tenant, list_all()).await.unwrap();
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
    assert_eq!(
        after.list(&tenant, pb::ListEscalationsRequest { state: "open".into(), ..list_all() }).await.unwrap().len(),
        20
    );
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
    assert!(service.list(&other_tenant, list_all()).await.unwrap().is_empty());
    let id = service.list(&tenant, list_all()).await.unwrap()[0].escalation_id.clone();
    let request = pb::EscalationActionRequest { escalation_id: id, supervisor: "sam".into(), note: String::new() };
    let error = service.act(&other_tenant, request.clone(), Action::Resolve).await.unwrap_err();
    assert!(matches!(error, earshot_escalation::Error::NotFound(_)));
    assert_eq!(service.act(&tenant, request.clone(), Action::Resolve).await.unwrap().state, "resolved");
    assert!(
        service.act(&tenant, request, Action::Acknowledge).await.is_err(),
        "a resolved escalation cannot be acknowledged"
    );
}

fn contact(case_id: &str, priority: u32, at: i64, count: u32) -> pb::CaseEvent {
    pb::CaseEvent { kind: pb::CaseEventKind::Contact as i32, contact_count: count, ..opened(case_id, priority, at) }
}

/// Lets time pass to `at` and runs one tick.
async fn tick_at(harness: &Harness, service: &Escalations, at: i64) -> earshot_escalation::ticker::Tick {
    harness.clock.set(at);
    service.tick().await.unwrap()
}

#[tokio::test]
async fn a_pause_while_waiting_on_the_customer_moves_the_breach_by_the_wait() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let case = new_id('c');
    service.record(&tenant, opened(&case, 85, T0)).await.unwrap(); // 15 min target
    harness.clock.set(T0 + 10 * MINUTE);
    service.record(&tenant, event(pb::CaseEventKind::Waiting, &case, T0 + 10 * MINUTE)).await.unwrap();
    assert_eq!(tick_at(&harness, &service, T0 + 3 * 60 * MINUTE).await.breached, 0, "paused for hours: no breach");
    // The customer writes back after 3 h: 5 minutes of the target are left.
    service.record(&tenant, contact(&case, 85, T0 + 3 * 60 * MINUTE, 2)).await.unwrap();
    assert_eq!(tick_at(&harness, &service, T0 + 3 * 60 * MINUTE + 5 * MINUTE - 1).await.breached, 0);
    assert_eq!(tick_at(&harness, &service, T0 + 3 * 60 * MINUTE + 5 * MINUTE).await.breached, 1);

    // The agent ending the wait resumes too.
    let other = new_id('c');
    service.record(&tenant, opened(&other, 85, T0)).await.unwrap();
    service.record(&tenant, event(pb::CaseEventKind::Waiting, &other, T0 + MINUTE)).await.unwrap();
    service.record(&tenant, event(pb::CaseEventKind::Resumed, &other, T0 + 61 * MINUTE)).await.unwrap();
    harness.clock.set(T0 + 61 * MINUTE);
    assert_eq!(tick_at(&harness, &service, T0 + 75 * MINUTE - 1).await.breached, 0);
    assert_eq!(tick_at(&harness, &service, T0 + 75 * MINUTE).await.breached, 1);
}

fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn weekdays(zone: &str, start: &str, end: &str) -> pb::BusinessHours {
    pb::BusinessHours {
        time_zone: zone.into(),
        windows: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|day| pb::BusinessWindow { day: day.to_string(), start: start.into(), end: end.into() })
            .collect(),
        holidays: vec![],
    }
}

#[tokio::test]
async fn business_hours_carry_a_target_across_the_night_and_the_weekend() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let policy = pb::SlaPolicy {
        name: "default".into(),
        business_hours: Some(weekdays("America/New_York", "09:00", "17:00")),
        ..Default::default()
    };
    let saved = service.put_policy(&tenant, policy).await.unwrap();
    assert_eq!(saved.targets.len(), 3, "targets it left out are the built-in ones");

    // Wednesday 16:45 New York (21:45 UTC), priority 60: 1 h target → Thursday 09:45.
    let night = new_id('c');
    let wednesday = at("2026-11-18T21:45:00Z");
    harness.clock.set(wednesday);
    service.record(&tenant, opened(&night, 60, wednesday)).await.unwrap();
    // Friday 16:50 New York, priority 85: 15 min target = 10 min on Friday + 5 on Monday.
    let weekend = new_id('c');
    let friday = at("2026-11-20T21:50:00Z");

    assert_eq!(tick_at(&harness, &service, at("2026-11-19T14:45:00Z") - 1).await.breached, 0, "not overnight");
    assert_eq!(tick_at(&harness, &service, at("2026-11-19T14:45:00Z")).await.breached, 1, "Thursday 09:45");

    harness.clock.set(friday);
    service.record(&tenant, opened(&weekend, 85, friday)).await.unwrap();
    let saturday = tick_at(&harness, &service, at("2026-11-21T17:00:00Z")).await;
    assert_eq!((saturday.warned, saturday.breached), (0, 0), "Saturday");
    let monday = tick_at(&harness, &service, at("2026-11-23T14:02:00Z")).await;
    assert_eq!((monday.warned, monday.breached), (1, 0), "warned at 80%: Monday 09:02");
    assert_eq!(tick_at(&harness, &service, at("2026-11-23T14:05:00Z") - 1).await.breached, 0);
    assert_eq!(tick_at(&harness, &service, at("2026-11-23T14:05:00Z")).await.breached, 1, "Monday 09:05");
}

#[tokio::test]
async fn a_transfer_recomputes_the_targets_under_the_new_queue_policy() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let legal_desk = pb::SlaPolicy {
        name: "legal-desk".into(),
        queues: vec!["legal".into()],
        targets: vec![pb::SlaTarget { min_priority: 0, first_response_minutes: 30, next_response_minutes: 30 }],
        ..Default::default()
    };
    service.put_policy(&tenant, legal_desk).await.unwrap();
    let case = new_id('c');
    service.record(&tenant, opened(&case, 30, T0)).await.unwrap(); // billing, builtin: 4 h
    harness.clock.set(T0 + 20 * MINUTE);
    let mut moved = event(pb::CaseEventKind::Transferred, &case, T0 + 20 * MINUTE);
    moved.queue = "legal".into();
    moved.agent_id = "ana".into();
    service.record(&tenant, moved).await.unwrap();
    assert_eq!(tick_at(&harness, &service, T0 + 30 * MINUTE - 1).await.breached, 0);
    assert_eq!(tick_at(&harness, &service, T0 + 30 * MINUTE).await.breached, 1, "30 min from the first post");
    let breach = service.list(&tenant, list_all()).await.unwrap().remove(0);
    assert_eq!((breach.queue.as_str(), breach.detail.as_str()), ("legal", "first response target 30 min missed"));

    let listed = service.list_policies(&tenant).await.unwrap();
    assert_eq!(listed.policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["legal-desk"]);
    let clash = pb::SlaPolicy { name: "other".into(), queues: vec!["legal".into()], ..Default::default() };
    let error = service.put_policy(&tenant, clash).await.unwrap_err();
    assert!(error.to_string().contains("queues[0]"), "{error}");
}

#[tokio::test]
async fn after_a_response_no_next_response_breach_until_the_customer_writes_again() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let case = new_id('c');
    service.record(&tenant, opened(&case, 60, T0)).await.unwrap();
    service.record(&tenant, event(pb::CaseEventKind::Responded, &case, T0 + 10 * MINUTE)).await.unwrap();
    assert_eq!(tick_at(&harness, &service, T0 + 24 * 60 * MINUTE).await, Default::default(), "a day of silence");
    let later = T0 + 24 * 60 * MINUTE;
    service.record(&tenant, contact(&case, 60, later, 2)).await.unwrap();
    assert_eq!(tick_at(&harness, &service, later + 60 * MINUTE - 1).await.breached, 0);
    assert_eq!(tick_at(&harness, &service, later + 60 * MINUTE).await.breached, 1);
    assert_eq!(reasons(&service, &tenant).await, ["sla_next_response"]);
    // The answer stops it; the customer's next post starts a new clock.
    service.record(&tenant, event(pb::CaseEventKind::Responded, &case, later + 70 * MINUTE)).await.unwrap();
    let quiet = tick_at(&harness, &service, later + 10 * 60 * MINUTE).await;
    assert_eq!((quiet.warned, quiet.breached), (0, 0));
}

#[tokio::test]
async fn an_unacknowledged_escalation_rises_a_level_and_an_acknowledged_one_does_not() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let levels = pb::EscalationRules {
        levels: vec![
            pb::EscalationLevel { after_minutes: 0, audience: "team-leads".into() },
            pb::EscalationLevel { after_minutes: 10, audience: "managers".into() },
            pb::EscalationLevel { after_minutes: 20, audience: "director".into() },
        ],
        ..Default::default()
    };
    service
        .put_policy(&tenant, pb::SlaPolicy { name: "default".into(), escalation: Some(levels), ..Default::default() })
        .await
        .unwrap();
    let (ignored, taken) = (new_id('c'), new_id('c'));
    for case in [&ignored, &taken] {
        let mut request = event(pb::CaseEventKind::AgentRequest, case, T0);
        request.agent_id = "ana".into();
        request.note = "customer threatens to cancel".into();
        let raised = service.record(&tenant, request).await.unwrap();
        assert_eq!((raised[0].level, raised[0].audience.as_str()), (1, "team-leads"));
        assert_eq!(raised[0].detail, "agent ana asks for help: customer threatens to cancel");
    }
    let taken_id = service.list(&tenant, list_all()).await.unwrap().into_iter().find(|e| e.case_id == taken).unwrap();
    let ack = pb::EscalationActionRequest {
        escalation_id: taken_id.escalation_id.clone(),
        supervisor: "sam".into(),
        note: "on it".into(),
    };
    service.act(&tenant, ack, Action::Acknowledge).await.unwrap();

    assert_eq!(tick_at(&harness, &service, T0 + 10 * MINUTE - 1).await.levelled, 0);
    assert_eq!(tick_at(&harness, &service, T0 + 10 * MINUTE).await.levelled, 1);
    assert_eq!(tick_at(&harness, &service, T0 + 30 * MINUTE).await.levelled, 1, "level 3 twenty minutes later");
    assert_eq!(tick_at(&harness, &service, T0 + 600 * MINUTE).await.levelled, 0, "no level 4");
    let level3 = pb::ListEscalationsRequest { level: 3, ..list_all() };
    let listed = service.list(&tenant, level3).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].case_id.as_str(), listed[0].audience.as_str()), (ignored.as_str(), "director"));
    let view = service.get(&tenant, &listed[0].escalation_id).await.unwrap();
    let actions: Vec<&str> = view.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["raised", "level_raised", "level_raised"]);
    let view = service.get(&tenant, &taken_id.escalation_id).await.unwrap();
    assert_eq!(view.history[1].actor, "sam");
    assert_eq!(view.escalation.unwrap().level, 1);
}

#[tokio::test]
async fn each_immediate_trigger_escalates_under_the_tenant_thresholds() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let rules = pb::EscalationRules { risk_threshold: Some(0.7), reach_followers: Some(50_000), ..Default::default() };
    service
        .put_policy(&tenant, pb::SlaPolicy { name: "default".into(), escalation: Some(rules), ..Default::default() })
        .await
        .unwrap();
    let post = |classification: pb::Classification, followers: u64| {
        let mut event = opened(&new_id('c'), classification.priority, T0);
        event.classification = Some(classification);
        event.author_followers = followers;
        event
    };
    let cases = [
        (post(pb::Classification { escalations: vec!["legal".into()], ..Default::default() }, 10), "legal"),
        (post(pb::Classification { escalations: vec!["safety".into()], ..Default::default() }, 10), "safety"),
        (post(pb::Classification { risk: 0.72, priority: 72, ..Default::default() }, 10), "risk"),
        (post(pb::Classification { sentiment: -0.5, ..Default::default() }, 60_000), "reach"),
    ];
    for (event, reason) in cases {
        let raised = service.record(&tenant, event).await.unwrap();
        assert_eq!(raised.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), [reason]);
    }
    let below = post(pb::Classification { risk: 0.69, sentiment: -0.5, ..Default::default() }, 49_999);
    assert!(service.record(&tenant, below).await.unwrap().is_empty(), "below every threshold");
    let case = new_id('c');
    service.record(&tenant, opened(&case, 20, T0)).await.unwrap();
    assert!(service.record(&tenant, contact(&case, 20, T0 + MINUTE, 2)).await.unwrap().is_empty());
    let third = service.record(&tenant, contact(&case, 20, T0 + 2 * MINUTE, 3)).await.unwrap();
    assert_eq!(third[0].reason, "repeat_contact");
}

#[tokio::test]
async fn pending_warnings_breaches_and_levels_fire_once_after_a_restart() {
    let harness = Harness::new().await;
    let tenant = Tenant::default();
    {
        let before = harness.instance().await;
        for _ in 0..10 {
            before.record(&tenant, opened(&new_id('c'), 85, T0)).await.unwrap();
        }
    }
    // Down for an hour: warnings (12 min) and breaches (15 min) are due.
    harness.clock.set(T0 + 60 * MINUTE);
    let (a, b) = (harness.instance().await, harness.instance().await);
    let (first_a, first_b) = tokio::join!(a.tick(), b.tick());
    let (first_a, first_b) = (first_a.unwrap(), first_b.unwrap());
    assert_eq!(first_a.warned + first_b.warned, 10);
    assert_eq!(first_a.breached + first_b.breached, 10);
    // Down again; level 2 (30 min after the breaches were raised) comes due meanwhile.
    harness.clock.set(T0 + 120 * MINUTE);
    let (c, d) = (harness.instance().await, harness.instance().await);
    let (second_a, second_b) = tokio::join!(c.tick(), d.tick());
    assert_eq!(second_a.unwrap().levelled + second_b.unwrap().levelled, 10);
    harness.clock.set(T0 + 10 * 60 * MINUTE);
    assert_eq!(harness.instance().await.tick().await.unwrap(), Default::default(), "nothing fires twice");
    let open = service_escalations(&harness, &tenant).await;
    assert_eq!(open.len(), 10);
    assert!(open.iter().all(|e| e.level == 2 && e.audience == "managers"));
}

async fn service_escalations(harness: &Harness, tenant: &Tenant) -> Vec<pb::Escalation> {
    harness.instance().await.list(tenant, list_all()).await.unwrap()
}

#[tokio::test]
async fn a_watcher_resuming_from_its_cursor_sees_every_event_once_even_if_publishing_repeats() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    for _ in 0..30 {
        let mut request = event(pb::CaseEventKind::AgentRequest, &new_id('c'), T0);
        request.agent_id = "ana".into();
        service.record(&tenant, request).await.unwrap();
    }
    assert_eq!(service.publish_pending().await.unwrap(), 30);
    // A publisher that crashed before recording its progress publishes the same events again.
    use sea_orm::{EntityTrait, sea_query::Expr};
    earshot_store::escalation::outbox::Entity::update_many()
        .col_expr(earshot_store::escalation::outbox::Column::Published, Expr::value(false))
        .exec(&service.db)
        .await
        .unwrap();
    assert_eq!(service.publish_pending().await.unwrap(), 30);

    let mut reader = service.events.reader().await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = "0-0".to_owned();
    // Read a few at a time, "disconnecting" between reads, resuming from the last cursor.
    loop {
        let batch = service.events.read_after(&mut reader, tenant.as_str(), &cursor, 100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for item in batch.into_iter().take(7) {
            let event: pb::EscalationEvent = serde_json::from_str(&item.payload).unwrap();
            seen.push(event.event_id);
            cursor = item.cursor;
        }
        reader = service.events.reader().await.unwrap();
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (30, 30));
}

#[tokio::test]
async fn a_batch_of_events_applies_in_order_in_one_transaction_or_not_at_all() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let (answered, waiting) = (new_id('c'), new_id('c'));
    let responded = pb::CaseEvent {
        case_id: answered.clone(),
        kind: pb::CaseEventKind::Responded as i32,
        at: Some(timestamp_from_ms(T0 + MINUTE)),
        ..Default::default()
    };
    let invalid = pb::CaseEvent { kind: 99, ..opened(&waiting, 90, T0) };
    let batch = vec![opened(&answered, 90, T0), opened(&waiting, 90, T0), invalid];
    let refused = service.record_all(&tenant, batch).await.unwrap_err();
    assert!(refused.to_string().contains("events[2].kind"), "{refused}");
    harness.clock.set(T0 + 60 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 0, "nothing of a refused batch was applied");

    harness.clock.set(T0);
    let batch = vec![opened(&answered, 90, T0), opened(&waiting, 90, T0), responded];
    let raised = service.record_all(&tenant, batch.clone()).await.unwrap();
    assert_eq!(raised.len(), 3, "one answer per event");
    service.record_all(&tenant, batch).await.unwrap();
    harness.clock.set(T0 + 60 * MINUTE);
    assert_eq!(service.fire_due().await.unwrap(), 1, "only the unanswered case breaches; the replay changed nothing");
}

#[tokio::test]
async fn one_batch_of_a_case_s_events_ends_where_the_same_events_one_by_one_end() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let story = |case: &str| {
        let legal = |at: i64, count: u32| pb::CaseEvent {
            classification: Some(pb::Classification {
                priority: 80,
                escalations: vec!["legal".into()],
                ..Default::default()
            }),
            ..contact(case, 80, at, count)
        };
        vec![
            opened(case, 40, T0),
            event(pb::CaseEventKind::Responded, case, T0 + MINUTE),
            legal(T0 + 2 * MINUTE, 2),
            legal(T0 + 3 * MINUTE, 3),
            event(pb::CaseEventKind::Waiting, case, T0 + 4 * MINUTE),
            event(pb::CaseEventKind::Resumed, case, T0 + 6 * MINUTE),
            event(pb::CaseEventKind::Rescored, case, T0 + 7 * MINUTE),
        ]
    };
    harness.clock.set(T0 + 10 * MINUTE);
    let (batched, alone) = (new_id('c'), new_id('c'));
    let mut events = story(&batched);
    events.push(events[0].clone());
    let raised = service.record_all(&tenant, events).await.unwrap();
    let reasons_of = |raised: &[pb::Escalation]| raised.iter().map(|e| e.reason.clone()).collect::<Vec<_>>();
    assert_eq!(reasons_of(&raised[2]), ["legal"], "the first legal threat raises");
    assert!(
        !reasons_of(&raised[3]).contains(&"legal".to_owned()),
        "the second finds the first one open, raised earlier in the same batch: {:?}",
        raised[3]
    );
    let mut standing = reasons_of(&raised[7]);
    standing.sort();
    assert_eq!(standing, ["legal", "repeat_contact"], "a replay within the batch answers with what stands");
    for event in story(&alone) {
        service.record(&tenant, event).await.unwrap();
    }

    let clocks = |case: String| {
        let service = service.clone();
        let tenant = tenant.clone();
        async move {
            let view = service.case_clocks(&tenant, &case).await.unwrap();
            let escalations: Vec<(String, String)> =
                view.escalations.into_iter().map(|e| (e.reason, e.state)).collect();
            (view.clocks, escalations)
        }
    };
    let (batched_clocks, alone_clocks) = (clocks(batched).await, clocks(alone).await);
    assert_eq!(batched_clocks.0.len(), 2, "first and next response: {batched_clocks:?}");
    assert_eq!(batched_clocks, alone_clocks);
}
