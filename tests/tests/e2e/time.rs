//! SLA behaviour through the whole pipeline, with the services' clock in the test's hands (the
//! routing rules that depend on time are in `rules`).

use earshot_e2e::{PIPELINE_DEADLINE, Pipeline, QUIET_PERIOD, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_testkit::{holds_throughout, wait_until};

fn forum_post(external_id: &str, text: &str) -> pb::Post {
    pb::Post { channel: "forum".into(), ..post(external_id, &format!("author-{external_id}"), 0, text) }
}

#[tokio::test]
async fn an_unanswered_case_breaches_its_first_response_target() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
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
    // The warning (at 80 % of the target) shows the SLA clock has seen the new time. The clock
    // itself starts when escalation hears of the case (routing's outbox): NOT_FOUND until then.
    let warned = || {
        let mut client = services.escalation_client();
        let request = pb::GetCaseClocksRequest { case_id: record.case_id.clone() };
        async move {
            let clocks = match client.get_case_clocks(request).await {
                Ok(response) => response.into_inner().clocks,
                Err(status) if status.code() == tonic::Code::NotFound => Vec::new(),
                Err(status) => panic!("{status:?}"),
            };
            clocks.iter().any(|clock| clock.kind == "first_response" && clock.warn_at.is_none())
        }
    };
    wait_until(PIPELINE_DEADLINE, warned).await.unwrap();
    holds_throughout(QUIET_PERIOD, || async { !breached(&services).await }).await.expect("not before the target");
    stack.clock.advance(60_000);
    wait_until(PIPELINE_DEADLINE, || breached(&services)).await.unwrap();
}
