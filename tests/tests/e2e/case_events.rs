//! `WatchCaseEvents` as a connector uses it: every change to a tenant's cases once, in order,
//! resumable from a cursor, never another tenant's, and the agent's reply text ready to post.

use std::time::Duration;

use earshot_e2e::{Bearer, PIPELINE_DEADLINE, Pipeline, Services, Stack, post};
use earshot_proto::v1 as pb;
use tonic::Streaming;

/// How long a stream must stay silent to count as having nothing for its tenant.
const QUIET: Duration = Duration::from_secs(1);

async fn watch(services: &Services, key: &Bearer, cursor: &str) -> Streaming<pb::CaseActivity> {
    let request = pb::WatchCaseEventsRequest { cursor: cursor.into() };
    services.routing_client_as(key).watch_case_events(request).await.unwrap().into_inner()
}

/// Events until (and with) the first of `kind`.
async fn until_kind(events: &mut Streaming<pb::CaseActivity>, kind: &str) -> Vec<pb::CaseActivity> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(PIPELINE_DEADLINE, async {
        while let Some(event) = events.message().await.unwrap() {
            let last = event.kind == kind;
            seen.push(event);
            if last {
                return;
            }
        }
    })
    .await;
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert!(read.is_ok(), "no {kind} event within {PIPELINE_DEADLINE:?}; saw {kinds:?}");
    seen
}

/// The next event within [`QUIET`], if any.
async fn next_within_quiet(events: &mut Streaming<pb::CaseActivity>) -> Option<pb::CaseActivity> {
    tokio::time::timeout(QUIET, events.message()).await.ok().and_then(|next| next.unwrap())
}

async fn submit_routed(services: &Services, key: &Bearer, post: pb::Post) -> String {
    let request = pb::SubmitPostRequest { post: Some(post) };
    let post_id = services.ingest_client_as(key).submit_post(request).await.unwrap().into_inner().post_id;
    assert!(services.routed_within(key, &post_id, PIPELINE_DEADLINE).await, "{post_id} was not routed");
    post_id
}

#[tokio::test]
async fn a_connector_follows_every_case_change_once_in_order_with_the_reply_text() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, acme) = services.create_key("acme", &["integration"], None).await.unwrap();
    let (_, ana) = services.create_key("acme", &["agent"], Some("ana")).await.unwrap();
    let (_, rival) = services.create_key("rival", &["integration"], None).await.unwrap();
    let mut acme_events = watch(&services, &acme, "").await;
    let mut rival_events = watch(&services, &rival, "").await;

    // One case's life: opened, offered, accepted, answered, a follow-up, resolved.
    let first = submit_routed(&services, &acme, post("ce-1", "jo", 40, "my parcel never arrived")).await;
    let agents = services.agent_client_as(&ana);
    let presence = pb::SetPresenceRequest {
        agent_id: "ana".into(),
        presence: pb::Presence::Available as i32,
        capacity: 2,
        ..Default::default()
    };
    agents.clone().set_presence(presence).await.unwrap();
    let next = agents.clone().next_case(pb::NextCaseRequest { agent_id: "ana".into(), wait_ms: 0 }).await.unwrap();
    let case_id = next.into_inner().offer.and_then(|offer| offer.case).unwrap().case_id;
    let action = pb::CaseActionRequest { agent_id: "ana".into(), case_id: case_id.clone() };
    agents.clone().accept_case(action.clone()).await.unwrap();
    let reply = "So sorry, Jo: a new parcel ships today, tracking 5521.";
    let respond = pb::RecordResponseRequest { agent_id: "ana".into(), case_id: case_id.clone(), text: reply.into() };
    agents.clone().record_response(respond).await.unwrap();
    let second = submit_routed(&services, &acme, post("ce-2", "jo", 40, "thanks, will it come by Friday?")).await;
    agents.clone().resolve_case(action).await.unwrap();

    let events = until_kind(&mut acme_events, "resolved").await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).filter(|k| *k != "rescored").collect();
    assert_eq!(kinds, ["opened", "offered", "accepted", "responded", "follow_up", "resolved"], "{events:?}");
    let cursors: Vec<i64> = events.iter().map(|e| e.cursor.parse().unwrap()).collect();
    assert!(cursors.windows(2).all(|pair| pair[0] < pair[1]), "in order, each once: {cursors:?}");
    assert!(events.iter().all(|e| e.case_id == case_id && e.customer == "jo"), "{events:?}");
    let of = |kind: &str| events.iter().find(|e| e.kind == kind).unwrap();
    assert_eq!((of("opened").post_id.as_str(), of("opened").channel.as_str()), (first.as_str(), "twitter"));
    assert_eq!(of("follow_up").post_id, second);
    let responded = of("responded");
    assert_eq!((responded.text.as_str(), responded.agent_id.as_str()), (reply, "ana"));
    assert_eq!((responded.post_id.as_str(), responded.channel.as_str()), (first.as_str(), "twitter"), "what to answer");
    let case = services.routing_client_as(&ana).get_case(pb::GetCaseRequest { case_id: case_id.clone() }).await;
    let history = case.unwrap().into_inner().history;
    assert!(history.iter().any(|e| e.action == "responded" && e.text == reply), "the case keeps the reply");

    // A connector that reconnects from a cursor gets what followed it, exactly.
    let accepted = of("accepted").cursor.clone();
    let mut resumed = watch(&services, &acme, &accepted).await;
    let again = until_kind(&mut resumed, "resolved").await;
    let after: Vec<&str> =
        events.iter().skip_while(|e| e.cursor != accepted).skip(1).map(|e| e.cursor.as_str()).collect();
    assert_eq!(again.iter().map(|e| e.cursor.as_str()).collect::<Vec<_>>(), after);
    let mut from_start = watch(&services, &acme, "0").await;
    assert_eq!(from_start.message().await.unwrap().unwrap().cursor, events[0].cursor, "\"0\" starts at the oldest");

    // Nothing of acme reaches rival, and rival's own case reaches only rival.
    assert!(next_within_quiet(&mut rival_events).await.is_none(), "rival saw acme's events");
    submit_routed(&services, &rival, post("ce-3", "max", 10, "app crashes on login")).await;
    let rival_seen = until_kind(&mut rival_events, "opened").await;
    assert_eq!(rival_seen.len(), 1, "{rival_seen:?}");
    assert_eq!(rival_seen[0].customer, "max");
    assert!(next_within_quiet(&mut acme_events).await.is_none(), "acme saw rival's case");

    let bad = pb::WatchCaseEventsRequest { cursor: "not-a-cursor".into() };
    let refused = services.routing_client_as(&acme).watch_case_events(bad).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("cursor"), "{refused:?}");
}
