//! What supervisors rely on, through the real services over gRPC: reassignment, clocks that pause
//! while an agent waits on the customer, escalations that survive a restart of the escalation
//! service, and a watch stream a reconnecting dashboard can trust.

use std::collections::HashSet;
use std::time::Duration;

use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::new_id;
use earshot_e2e::{AuthChannel, PIPELINE_DEADLINE, Pipeline, QUIET_PERIOD, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_testkit::{holds_throughout, wait_for, wait_until};
use tokio_stream::StreamExt;

const HOUR: i64 = 3_600_000;

fn reassign(case_id: &str, queue: &str, agent_id: &str) -> pb::ReassignCaseRequest {
    pb::ReassignCaseRequest {
        case_id: case_id.into(),
        supervisor: "sam".into(),
        queue: queue.into(),
        agent_id: agent_id.into(),
        note: "VIP customer".into(),
    }
}

#[tokio::test]
async fn a_supervisor_reassigns_a_case_to_a_queue_in_its_place_or_straight_to_an_agent() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let mut routing = services.routing_client();
    let first = services.submit_routed(post("re-1", "ann", 10, "I was charged twice for my order")).await.unwrap();
    let second = services.submit_routed(post("re-2", "ben", 10, "I was charged twice this month")).await.unwrap();
    let before = routing.get_case(pb::GetCaseRequest { case_id: first.case_id.clone() }).await.unwrap().into_inner();
    for customer in ["ann", "@ann", " ann "] {
        let found = routing.find_cases(pb::FindCasesRequest { customer: customer.into(), limit: 0 }).await.unwrap();
        let found = found.into_inner().cases;
        let found: Vec<&str> = found.iter().map(|c| c.case_id.as_str()).collect();
        assert_eq!(found, [first.case_id.as_str()], "found by id or handle: {customer:?}");
    }
    let nobody = routing.find_cases(pb::FindCasesRequest { customer: "@zed".into(), limit: 0 }).await.unwrap();
    assert!(nobody.into_inner().cases.is_empty());
    let blank = routing.find_cases(pb::FindCasesRequest { customer: " ".into(), limit: 0 }).await.unwrap_err();
    assert_eq!((blank.code(), blank.message()), (tonic::Code::InvalidArgument, "invalid customer: is required"));

    let moved = routing.reassign_case(reassign(&first.case_id, "VIP", "")).await.unwrap().into_inner();
    assert_eq!((moved.queue.as_str(), moved.state.as_str()), ("vip", "queued"));
    assert_eq!(moved.enqueued_at, before.enqueued_at, "same place in line");
    let vip = routing.list_queue(pb::ListQueueRequest { queue: "vip".into(), limit: 10 }).await.unwrap();
    assert_eq!(vip.into_inner().cases.iter().map(|c| c.case_id.as_str()).collect::<Vec<_>>(), [first.case_id.as_str()]);
    let last = moved.history.last().unwrap();
    assert_eq!(last.action, "reassigned");
    assert!(
        last.detail.starts_with("by sam from") && last.detail.ends_with("to queue vip: VIP customer"),
        "{}",
        last.detail
    );

    services.register_agent("bo", 1, &[]).await.unwrap();
    let held = routing.reassign_case(reassign(&first.case_id, "", "bo")).await.unwrap().into_inner();
    assert_eq!((held.state.as_str(), held.assigned_agent.as_str()), ("assigned", "bo"));
    assert!(services.offered("bo").await.unwrap().is_none(), "bo is at capacity");
    let full = routing.reassign_case(reassign(&second.case_id, "", "bo")).await.unwrap_err();
    assert_eq!(full.code(), tonic::Code::FailedPrecondition);
    assert!(full.message().contains("at capacity"), "{}", full.message());
    let nobody = routing.reassign_case(reassign(&second.case_id, "", "zed")).await.unwrap_err();
    assert_eq!(nobody.code(), tonic::Code::NotFound);
    let neither = routing.reassign_case(reassign(&second.case_id, "", "")).await.unwrap_err();
    assert_eq!(neither.code(), tonic::Code::InvalidArgument);
    // Back to a queue: bo's capacity frees, and the case keeps its original place.
    let back = routing.reassign_case(reassign(&first.case_id, "vip", "")).await.unwrap().into_inner();
    assert_eq!((back.state.as_str(), back.enqueued_at), ("queued", before.enqueued_at));
    assert!(services.offered("bo").await.unwrap().is_some());
}

async fn sla_breaches(services: &Services, case_id: &str) -> Vec<pb::Escalation> {
    let mut client = services.escalation_client();
    let listed = client.list_escalations(pb::ListEscalationsRequest::default()).await.unwrap().into_inner();
    listed.escalations.into_iter().filter(|e| e.case_id == case_id && e.reason.starts_with("sla_")).collect()
}

#[tokio::test]
async fn waiting_on_the_customer_pauses_the_clock_until_they_write_again() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let question =
        pb::Post { channel: "forum".into(), ..post("wait-1", "cara", 0, "How do I change my delivery address?") };
    let record = services.submit_routed(question).await.unwrap();
    services.register_agent("dee", 1, &[]).await.unwrap();
    let offered = services.offered("dee").await.unwrap().unwrap();
    assert_eq!(offered.case_id, record.case_id);
    let mut agents = services.agent_client();
    let action = pb::CaseActionRequest { agent_id: "dee".into(), case_id: record.case_id.clone() };
    agents.accept_case(action).await.unwrap();
    let wait = pb::SetWaitingRequest {
        agent_id: "dee".into(),
        case_id: record.case_id.clone(),
        waiting: true,
        note: "asked for the order number by DM".into(),
    };
    let waiting = agents.set_waiting(wait).await.unwrap().into_inner();
    assert!(waiting.waiting);
    let paused = first_response_clock(&services, &record.case_id, "paused").await;
    assert!(paused.paused_at.is_some() && paused.due_at.is_none(), "{paused:?}");
    assert_eq!(paused.target_seconds, 4 * 3_600, "a low-priority forum question: 4 h");

    stack.clock.advance(5 * HOUR);
    holds_throughout(QUIET_PERIOD, || async { sla_breaches(&services, &record.case_id).await.is_empty() })
        .await
        .expect("paused: 5 h past a 4 h target, no breach");

    services
        .submit_routed(pb::Post { channel: "forum".into(), ..post("wait-2", "cara", 0, "It is 12345") })
        .await
        .unwrap();
    let case = services.routing_client().get_case(pb::GetCaseRequest { case_id: record.case_id.clone() }).await;
    assert!(!case.unwrap().into_inner().waiting, "the customer's answer ends the wait");
    stack.clock.advance(4 * HOUR);
    wait_until(PIPELINE_DEADLINE, || async { !sla_breaches(&services, &record.case_id).await.is_empty() })
        .await
        .unwrap();
    let breached = first_response_clock(&services, &record.case_id, "fired").await;
    assert!(breached.used_seconds >= breached.target_seconds, "{breached:?}");
    assert!(breached.used_seconds < 5 * 3_600, "the 5 h paused are not counted: {breached:?}");
    let clocks = services.escalation_client().get_case_clocks(clocks_of(&record.case_id)).await.unwrap().into_inner();
    let breach = clocks.escalations.iter().find(|e| e.reason == "sla_first_response").unwrap();
    assert!(breach.next_level_at.is_some(), "every clock of the case, the next level's too: {breach:?}");
    let unknown = services.escalation_client().get_case_clocks(clocks_of(&new_id('c'))).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

fn clocks_of(case_id: &str) -> pb::GetCaseClocksRequest {
    pb::GetCaseClocksRequest { case_id: case_id.into() }
}

/// The case's first-response clock once it is in `state`.
async fn first_response_clock(services: &Services, case_id: &str, state: &str) -> pb::SlaClock {
    let in_state = || async {
        let clocks = services.escalation_client().get_case_clocks(clocks_of(case_id)).await.ok()?.into_inner().clocks;
        clocks.into_iter().find(|c| c.kind == "first_response" && c.state == state)
    };
    wait_for(PIPELINE_DEADLINE, in_state).await.unwrap_or_else(|_| panic!("no {state} first-response clock"))
}

fn request_help(case_id: &str) -> pb::CaseEvent {
    pb::CaseEvent {
        case_id: case_id.into(),
        kind: pb::CaseEventKind::AgentRequest as i32,
        agent_id: "ana".into(),
        note: "please call the customer".into(),
        queue: "billing".into(),
        at: Some(timestamp_from_ms(0)),
        ..Default::default()
    }
}

async fn open_escalations(client: &mut EscalationServiceClient<AuthChannel>) -> Vec<pb::Escalation> {
    client.list_escalations(pb::ListEscalationsRequest::default()).await.unwrap().into_inner().escalations
}

#[tokio::test]
async fn a_restarted_escalation_service_fires_every_due_escalation_exactly_once() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let now = earshot_core::Clock::now_ms(&stack.clock);
    {
        let escalation = node.escalation().await.unwrap();
        let mut client = EscalationServiceClient::new(stack.node().credential().unwrap().channel(escalation.channel()));
        for i in 0..12 {
            let opened = pb::CaseEvent {
                case_id: new_id('c'),
                kind: pb::CaseEventKind::Opened as i32,
                post_id: new_id('p'),
                priority: 85,
                queue: "billing".into(),
                contact_count: 1,
                at: Some(timestamp_from_ms(now + i)),
                ..Default::default()
            };
            client.record_case_event(opened).await.unwrap();
        }
    } // stopped with 12 timers pending
    stack.clock.advance(HOUR);
    let restarted = node.escalation().await.unwrap();
    let client = EscalationServiceClient::new(stack.node().credential().unwrap().channel(restarted.channel()));
    let breached =
        |escalations: &[pb::Escalation]| escalations.iter().filter(|e| e.reason == "sla_first_response").count();
    wait_until(PIPELINE_DEADLINE, || {
        let mut client = client.clone();
        async move { breached(&open_escalations(&mut client).await) == 12 }
    })
    .await
    .unwrap();
    drop(restarted);
    let again = node.escalation().await.unwrap();
    let client = EscalationServiceClient::new(stack.node().credential().unwrap().channel(again.channel()));
    holds_throughout(QUIET_PERIOD, || {
        let mut client = client.clone();
        async move { breached(&open_escalations(&mut client).await) == 12 }
    })
    .await
    .expect("a second restart fires nothing again");
}

#[tokio::test]
async fn a_dashboard_that_reconnects_from_its_cursor_gets_every_event_exactly_once() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let escalation = node.escalation().await.unwrap();
    let mut client = EscalationServiceClient::new(stack.node().credential().unwrap().channel(escalation.channel()));
    let mut watch =
        client.watch_escalations(pb::WatchEscalationsRequest { cursor: String::new() }).await.unwrap().into_inner();
    for _ in 0..25 {
        client.record_case_event(request_help(&new_id('c'))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    while seen.len() < 25 {
        // Take a few events, then drop the connection and resume from the last cursor.
        for _ in 0..6 {
            let next = tokio::time::timeout(PIPELINE_DEADLINE, watch.next()).await.unwrap();
            let Some(event) = next else { break };
            let event = event.unwrap();
            seen.push(event.event_id);
            cursor = event.cursor;
            if seen.len() == 25 {
                break;
            }
        }
        drop(watch);
        watch = client
            .watch_escalations(pb::WatchEscalationsRequest { cursor: cursor.clone() })
            .await
            .unwrap()
            .into_inner();
    }
    let quiet = tokio::time::timeout(Duration::from_millis(1_500), watch.next()).await;
    assert!(quiet.is_err(), "nothing after the last event");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (25, 25));
}
