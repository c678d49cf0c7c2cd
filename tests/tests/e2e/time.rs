//! Behaviour that depends on time, with the services' clock in the test's hands: lease expiry,
//! SLA breach, and recovery of the live queues after Redis loses them.

use earshot_e2e::{PIPELINE_DEADLINE, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_testkit::wait_until;

fn forum_post(external_id: &str, text: &str) -> pb::Post {
    pb::Post { channel: "forum".into(), ..post(external_id, &format!("author-{external_id}"), 0, text) }
}

#[tokio::test]
async fn an_offer_nobody_accepts_returns_to_its_queue_and_the_agent_goes_away() {
    let stack = Stack::new().await.unwrap();
    let services = Services::start(&stack).await.unwrap();
    services.register_agent("slow", 1, &[]).await.unwrap();
    let record = services.submit_routed(forum_post("lease-1", "my parcel never arrived")).await.unwrap();
    assert_eq!(services.offered("slow").await.unwrap().map(|c| c.case_id).as_deref(), Some(record.case_id.as_str()));

    stack.clock.advance(120_001);
    let routing = services.routing_client();
    wait_until(PIPELINE_DEADLINE, || {
        let mut routing = routing.clone();
        let case_id = record.case_id.clone();
        async move { routing.get_case(pb::GetCaseRequest { case_id }).await.unwrap().into_inner().state == "queued" }
    })
    .await
    .unwrap();
    assert_eq!(
        services.offered("slow").await.unwrap().map(|c| c.case_id),
        None,
        "an agent who let an offer lapse is away"
    );
    services.register_agent("quick", 1, &[]).await.unwrap();
    assert_eq!(services.offered("quick").await.unwrap().map(|c| c.case_id).as_deref(), Some(record.case_id.as_str()));
}

#[tokio::test]
async fn an_unanswered_case_breaches_its_first_response_target() {
    let stack = Stack::new().await.unwrap();
    let services = Services::start(&stack).await.unwrap();
    let record = services.submit_routed(forum_post("sla-1", "How do I change my delivery address?")).await.unwrap();
    let priority = record.classification.unwrap().priority;
    assert!(priority < 50, "a calm question is in the 4 h band (priority {priority})");

    let breached = |services: &Services| {
        let mut client = services.escalation_client();
        let case_id = record.case_id.clone();
        async move {
            let listed = client.list_escalations(pb::ListEscalationsRequest::default()).await.unwrap().into_inner();
            listed.escalations.iter().any(|e| e.case_id == case_id && e.reason == "sla_first_response")
        }
    };
    stack.clock.advance(4 * 3_600_000 - 60_000);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!breached(&services).await, "not before the target");
    stack.clock.advance(60_000);
    wait_until(PIPELINE_DEADLINE, || breached(&services)).await.unwrap();
}

#[tokio::test]
async fn routing_restores_the_queues_when_redis_lost_them() {
    let stack = Stack::new().await.unwrap();
    let mut services = Services::start(&stack).await.unwrap();
    services.register_agent("holder", 1, &[]).await.unwrap();
    let held = services.submit_routed(forum_post("lost-1", "my invoice is wrong")).await.unwrap();
    let waiting = services.submit_routed(forum_post("lost-2", "my invoice is wrong too")).await.unwrap();
    assert_eq!(services.offered("holder").await.unwrap().map(|c| c.case_id).as_deref(), Some(held.case_id.as_str()));
    let accept = pb::CaseActionRequest { agent_id: "holder".into(), case_id: held.case_id.clone() };
    services.agent_client().accept_case(accept.clone()).await.unwrap();

    stack.redis.flush_all().await.unwrap();
    services.routing = stack.routing(services.escalation.addr, None).await.unwrap();

    let queue = services
        .routing_client()
        .list_queue(pb::ListQueueRequest { queue: "billing".into(), limit: 10 })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(queue.iter().map(|c| c.case_id.as_str()).collect::<Vec<_>>(), [waiting.case_id.as_str()]);
    let resolved = services.agent_client().resolve_case(accept).await.unwrap().into_inner();
    assert_eq!(resolved.state, "resolved", "the agent still holds its case");
}

#[tokio::test]
async fn a_waiting_agent_gets_new_work_the_moment_it_is_routed() {
    let stack = Stack::new().await.unwrap();
    let services = Services::start(&stack).await.unwrap();
    services.register_agent("eager", 1, &[]).await.unwrap();
    let mut agents = services.agent_client();
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let request = pb::NextCaseRequest { agent_id: "eager".into(), wait_ms: 20_000 };
        let offer = agents.next_case(request).await.unwrap().into_inner().offer;
        (offer, started.elapsed())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let record = services.submit_routed(forum_post("drain-1", "my parcel never arrived")).await.unwrap();
    let (offer, waited) = waiting.await.unwrap();
    assert_eq!(offer.unwrap().case.unwrap().case_id, record.case_id);
    assert!(waited < std::time::Duration::from_secs(15), "answered when the case arrived, not at the deadline");

    let nothing = services
        .agent_client()
        .next_case(pb::NextCaseRequest { agent_id: "eager".into(), wait_ms: 200 })
        .await
        .unwrap()
        .into_inner();
    assert!(nothing.offer.is_none(), "at capacity: the wait ends empty");
    let too_long = pb::NextCaseRequest { agent_id: "eager".into(), wait_ms: 60_000 };
    assert_eq!(services.agent_client().next_case(too_long).await.unwrap_err().code(), tonic::Code::InvalidArgument);
}
