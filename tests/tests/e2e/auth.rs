//! Who may call what, over real gRPC: every RPC refuses a call without a key
//! (`UNAUTHENTICATED`) and a key without the role (`PERMISSION_DENIED`); another tenant's post,
//! case, escalation or key is `NOT_FOUND`, whatever `x-earshot-tenant` says; an agent key acts
//! only as its agent, and only on cases that agent holds; a revoked key stops working.

use std::collections::BTreeSet;
use std::time::Duration;

use earshot_auth::Role;
use earshot_auth::rules::{Access, RULES};
use earshot_e2e::{Bearer, PIPELINE_DEADLINE, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_testkit::wait_until;
use prost::Message;
use tonic::{Code, Status};

/// One tenant's keys: one per role; the agent key acts as `agent`.
struct Keys {
    agent_id: &'static str,
    integration: Bearer,
    agent: Bearer,
    supervisor: Bearer,
    admin: Bearer,
    admin_key_id: String,
}

impl Keys {
    async fn create(services: &Services, tenant: &str, agent_id: &'static str) -> Keys {
        let (_, integration) = services.create_key(tenant, &["integration"], None).await.unwrap();
        let (_, agent) = services.create_key(tenant, &["agent"], Some(agent_id)).await.unwrap();
        let (_, supervisor) = services.create_key(tenant, &["supervisor"], None).await.unwrap();
        let (admin_key_id, admin) = services.create_key(tenant, &["admin"], None).await.unwrap();
        Keys { agent_id, integration, agent, supervisor, admin, admin_key_id }
    }

    fn with(&self, role: Role) -> &Bearer {
        match role {
            Role::Integration => &self.integration,
            Role::Agent => &self.agent,
            Role::Supervisor => &self.supervisor,
            Role::Admin | Role::Service => &self.admin,
        }
    }
}

/// What the calls name: acme's post, case, escalation and admin key.
struct Ids {
    post_id: String,
    case_id: String,
    escalation_id: String,
    key_id: String,
}

fn sample_post(external_id: &str) -> pb::Post {
    post(external_id, "someone", 10, "where is my parcel")
}

/// Calls `method` with `key`, naming `agent_id` and `ids`; the status, or OK.
async fn call(services: &Services, key: &Bearer, method: &str, agent_id: &str, ids: &Ids) -> Code {
    let agent_id = agent_id.to_owned();
    let case_id = ids.case_id.clone();
    let escalation_id = ids.escalation_id.clone();
    let case_action = pb::CaseActionRequest { agent_id: agent_id.clone(), case_id: case_id.clone() };
    let escalation_action = pb::EscalationActionRequest {
        escalation_id: escalation_id.clone(),
        supervisor: "sue".into(),
        note: String::new(),
    };
    let ingest = || services.ingest_client_as(key);
    let routing = || services.routing_client_as(key);
    let agents = || services.agent_client_as(key);
    let escalation = || services.escalation_client_as(key);
    let result: Result<(), Status> = match method.rsplit('/').next().unwrap_or_default() {
        "SubmitPost" => ingest().submit_post(pb::SubmitPostRequest { post: Some(sample_post("x1")) }).await.map(drop),
        "SubmitPosts" => {
            ingest().submit_posts(pb::SubmitPostsRequest { posts: vec![sample_post("x2")] }).await.map(drop)
        }
        "StreamPosts" => ingest().stream_posts(tokio_stream::iter(vec![sample_post("x3")])).await.map(drop),
        "GetPost" => ingest().get_post(pb::GetPostRequest { post_id: ids.post_id.clone() }).await.map(drop),
        "Classify" => {
            let request = pb::ClassifyRequest { post: Some(sample_post("x4")) };
            services.classify_client_as(key).classify(request).await.map(drop)
        }
        "ClassifyBatch" => {
            let request = pb::ClassifyBatchRequest { posts: vec![sample_post("x5")] };
            services.classify_client_as(key).classify_batch(request).await.map(drop)
        }
        "Route" => routing().route(pb::RouteRequest { items: vec![] }).await.map(drop),
        "GetCase" => routing().get_case(pb::GetCaseRequest { case_id }).await.map(drop),
        "ListQueue" => {
            routing().list_queue(pb::ListQueueRequest { queue: "general".into(), limit: 10 }).await.map(drop)
        }
        "QueueStats" => routing().queue_stats(pb::QueueStatsRequest {}).await.map(drop),
        "WatchCaseEvents" => {
            routing().watch_case_events(pb::WatchCaseEventsRequest { cursor: "0".into() }).await.map(drop)
        }
        "ReassignCase" => {
            let request = pb::ReassignCaseRequest {
                case_id,
                supervisor: "sue".into(),
                queue: "billing".into(),
                ..Default::default()
            };
            routing().reassign_case(request).await.map(drop)
        }
        "SetPresence" => {
            let request = pb::SetPresenceRequest {
                agent_id,
                presence: pb::Presence::Available as i32,
                languages: vec!["en".into()],
                ..Default::default()
            };
            agents().set_presence(request).await.map(drop)
        }
        "GetAgent" => agents().get_agent(pb::GetAgentRequest { agent_id }).await.map(drop),
        "FindCases" => {
            routing().find_cases(pb::FindCasesRequest { customer: "someone".into(), limit: 0 }).await.map(drop)
        }
        "ListAgents" => routing().list_agents(pb::ListAgentsRequest {}).await.map(drop),
        "NextCase" => agents().next_case(pb::NextCaseRequest { agent_id, wait_ms: 0 }).await.map(drop),
        "AcceptCase" => agents().accept_case(case_action).await.map(drop),
        "RejectCase" => agents().reject_case(case_action).await.map(drop),
        "ResolveCase" => agents().resolve_case(case_action).await.map(drop),
        "RecordResponse" => {
            let request = pb::RecordResponseRequest { agent_id, case_id, text: "on it".into() };
            agents().record_response(request).await.map(drop)
        }
        "TransferCase" => {
            let request = pb::TransferCaseRequest { agent_id, case_id, queue: "billing".into() };
            agents().transfer_case(request).await.map(drop)
        }
        "EscalateCase" => {
            let request = pb::EscalateCaseRequest { agent_id, case_id, note: "help".into() };
            agents().escalate_case(request).await.map(drop)
        }
        "SetWaiting" => {
            let request = pb::SetWaitingRequest { agent_id, case_id, waiting: true, note: String::new() };
            agents().set_waiting(request).await.map(drop)
        }
        "RecordCaseEvent" => escalation().record_case_event(pb::CaseEvent::default()).await.map(drop),
        "RecordCaseEvents" => {
            let request = pb::RecordCaseEventsRequest { events: vec![pb::CaseEvent::default()] };
            escalation().record_case_events(request).await.map(drop)
        }
        "ListEscalations" => escalation().list_escalations(pb::ListEscalationsRequest::default()).await.map(drop),
        "GetEscalation" => escalation().get_escalation(pb::GetEscalationRequest { escalation_id }).await.map(drop),
        "GetCaseClocks" => escalation().get_case_clocks(pb::GetCaseClocksRequest { case_id }).await.map(drop),
        "WatchEscalations" => {
            escalation().watch_escalations(pb::WatchEscalationsRequest { cursor: "0-0".into() }).await.map(drop)
        }
        "AcknowledgeEscalation" => escalation().acknowledge_escalation(escalation_action).await.map(drop),
        "ResolveEscalation" => escalation().resolve_escalation(escalation_action).await.map(drop),
        "PutSlaPolicy" => escalation().put_sla_policy(pb::SlaPolicy::default()).await.map(drop),
        "ListSlaPolicies" => escalation().list_sla_policies(pb::ListSlaPoliciesRequest {}).await.map(drop),
        "PutWebhook" => escalation().put_webhook(pb::Webhook::default()).await.map(drop),
        "CreateKey" => {
            let request = pb::CreateKeyRequest { roles: vec!["integration".into()], ..Default::default() };
            services.key_client_as(key).create_key(request).await.map(drop)
        }
        "ListKeys" => services.key_client_as(key).list_keys(pb::ListKeysRequest {}).await.map(drop),
        "WhoAmI" => services.key_client_as(key).who_am_i(pb::WhoAmIRequest {}).await.map(drop),
        "RevokeKey" => {
            let request = pb::RevokeKeyRequest { key_id: ids.key_id.clone() };
            services.key_client_as(key).revoke_key(request).await.map(drop)
        }
        other => panic!("the test does not know how to call {other}"),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Methods whose request names one of acme's records: another tenant must get `NOT_FOUND`.
const BY_ID: [&str; 15] = [
    "GetPost",
    "GetCase",
    "ReassignCase",
    "AcceptCase",
    "RejectCase",
    "RecordResponse",
    "ResolveCase",
    "TransferCase",
    "EscalateCase",
    "SetWaiting",
    "GetEscalation",
    "GetCaseClocks",
    "AcknowledgeEscalation",
    "ResolveEscalation",
    "RevokeKey",
];

/// Every method the API serves, read from its descriptor set.
fn served_methods() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(earshot_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = BTreeSet::new();
    for file in set.file.iter().filter(|file| file.package() == "earshot.v1") {
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!("/earshot.v1.{}/{}", service.name(), method.name()));
            }
        }
    }
    methods
}

/// acme: an offered case with a legal threat (so an escalation) and agents alice and carol;
/// rival: its own keys and agent bob.
async fn world(services: &Services) -> (Keys, Keys, Ids) {
    let acme = Keys::create(services, "acme", "alice").await;
    let rival = Keys::create(services, "rival", "bob").await;
    for (keys, agent_id) in [(&acme, "alice"), (&acme, "carol"), (&rival, "bob")] {
        let request = pb::SetPresenceRequest {
            agent_id: agent_id.into(),
            presence: pb::Presence::Available as i32,
            capacity: 1,
            languages: vec!["en".into()],
            ..Default::default()
        };
        services.agent_client_as(&keys.admin).set_presence(request).await.unwrap();
    }
    let text = "My package never arrived and nobody answers. I will see you in court, my lawyer is ready.";
    let submitted = services
        .ingest_client_as(&acme.integration)
        .submit_post(pb::SubmitPostRequest { post: Some(post("legal-1", "angry", 50, text)) })
        .await
        .unwrap()
        .into_inner();
    let mut get = services.ingest_client_as(&acme.integration);
    wait_until(PIPELINE_DEADLINE, || {
        let mut get = get.clone();
        let post_id = submitted.post_id.clone();
        async move { get.get_post(pb::GetPostRequest { post_id }).await.is_ok_and(|r| r.into_inner().state == "routed") }
    })
    .await
    .unwrap();
    let record = get.get_post(pb::GetPostRequest { post_id: submitted.post_id.clone() }).await.unwrap().into_inner();
    // Escalation hears of the routed post through routing's outbox, a moment later.
    let escalations = services.escalation_client_as(&acme.supervisor);
    let list = || {
        let mut escalations = escalations.clone();
        async move { escalations.list_escalations(pb::ListEscalationsRequest::default()).await.unwrap().into_inner() }
    };
    wait_until(PIPELINE_DEADLINE, || async { !list().await.escalations.is_empty() })
        .await
        .expect("the legal threat escalates");
    let escalation_id = list().await.escalations[0].escalation_id.clone();
    let offered = services
        .agent_client_as(&acme.agent)
        .next_case(pb::NextCaseRequest { agent_id: "alice".into(), wait_ms: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offered.offer.and_then(|o| o.case).map(|c| c.case_id).as_deref(), Some(record.case_id.as_str()));
    let ids =
        Ids { post_id: submitted.post_id, case_id: record.case_id, escalation_id, key_id: acme.admin_key_id.clone() };
    (acme, rival, ids)
}

#[tokio::test]
async fn every_rpc_refuses_no_key_the_wrong_role_and_another_tenant() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (acme, rival, ids) = world(&services).await;

    let ruled: BTreeSet<String> = RULES.iter().map(|(method, _)| method.to_string()).collect();
    assert_eq!(ruled, served_methods(), "every served RPC has exactly one access rule");

    let mut checked = 0;
    for (method, access) in RULES {
        let nobody = call(&services, &Bearer::anonymous(), method, acme.agent_id, &ids).await;
        assert_eq!(nobody, Code::Unauthenticated, "{method} without a key");
        let forged = Bearer::new("esk_000000000000_not-a-key").unwrap();
        let forged = call(&services, &forged, method, acme.agent_id, &ids).await;
        assert_eq!(forged, Code::Unauthenticated, "{method} with a made-up key");

        let (allowed, denied): (Vec<Role>, Vec<Role>) = match access {
            Access::Roles(roles) => Role::ISSUABLE.iter().partition(|role| roles.contains(role)),
            Access::ServiceOnly => (vec![], Role::ISSUABLE.to_vec()),
            Access::Open => unreachable!("no earshot.v1 method is open"),
        };
        for role in denied {
            let code = call(&services, acme.with(role), method, acme.agent_id, &ids).await;
            assert_eq!(code, Code::PermissionDenied, "{method} with a {role} key");
        }
        let method_name = method.rsplit('/').next().unwrap_or_default();
        if BY_ID.contains(&method_name) {
            for role in allowed {
                // The tenant header is the service credential's to set; a key's tenant is its own.
                let claiming_acme = rival.with(role).clone().for_tenant(&earshot_core::Tenant::parse("acme").unwrap());
                let code = call(&services, &claiming_acme, method, rival.agent_id, &ids).await;
                assert_eq!(code, Code::NotFound, "{method} by rival's {role} key on acme's record");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, served_methods().len());

    // Lists show a tenant its own records only.
    let mut routing = services.routing_client_as(&acme.supervisor);
    let acme_case = routing.get_case(pb::GetCaseRequest { case_id: ids.case_id.clone() }).await.unwrap().into_inner();
    let request = pb::ListQueueRequest { queue: acme_case.queue.clone(), limit: 100 };
    let queues = services.routing_client_as(&rival.supervisor).list_queue(request).await;
    assert!(queues.unwrap().into_inner().cases.iter().all(|case| case.case_id != ids.case_id));
    let stats = services.routing_client_as(&rival.supervisor).queue_stats(pb::QueueStatsRequest {}).await;
    assert!(stats.unwrap().into_inner().queues.iter().all(|queue| queue.waiting + queue.offered == 0));
    let mut escalations = services.escalation_client_as(&rival.supervisor);
    let listed = escalations.list_escalations(pb::ListEscalationsRequest::default()).await.unwrap();
    assert!(listed.into_inner().escalations.is_empty());
    let keys = services.key_client_as(&rival.admin).list_keys(pb::ListKeysRequest {}).await.unwrap().into_inner();
    assert_eq!(keys.keys.len(), 4, "rival sees its own four keys");
    assert!(keys.keys.iter().all(|key| key.tenant == "rival"));
    let mut watch = services
        .escalation_client_as(&rival.supervisor)
        .watch_escalations(pb::WatchEscalationsRequest { cursor: "0-0".into() })
        .await
        .unwrap()
        .into_inner();
    let next = tokio::time::timeout(Duration::from_millis(500), tokio_stream::StreamExt::next(&mut watch)).await;
    assert!(next.is_err(), "rival's stream carries none of acme's events");

    // And nothing the refused calls tried happened: the case is still offered to alice.
    let case = routing.get_case(pb::GetCaseRequest { case_id: ids.case_id.clone() }).await.unwrap().into_inner();
    assert_eq!((case.state.as_str(), case.assigned_agent.as_str()), ("offered", "alice"));
}

#[tokio::test]
async fn an_agent_acts_only_as_itself_and_on_cases_it_holds() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (acme, _rival, ids) = world(&services).await;
    let (_, carol) = services.create_key("acme", &["agent"], Some("carol")).await.unwrap();

    let as_alice = pb::CaseActionRequest { agent_id: "alice".into(), case_id: ids.case_id.clone() };
    let by_carol = services.agent_client_as(&carol).accept_case(as_alice.clone()).await.unwrap_err();
    assert_eq!(by_carol.code(), Code::PermissionDenied, "carol's key cannot act as alice: {by_carol:?}");

    let as_carol = pb::CaseActionRequest { agent_id: "carol".into(), case_id: ids.case_id.clone() };
    let not_hers = services.agent_client_as(&carol).accept_case(as_carol.clone()).await.unwrap_err();
    assert_eq!(not_hers.code(), Code::FailedPrecondition, "carol does not hold the case: {not_hers:?}");
    let respond =
        pb::RecordResponseRequest { agent_id: "carol".into(), case_id: ids.case_id.clone(), text: "hi".into() };
    let not_hers = services.agent_client_as(&carol).record_response(respond).await.unwrap_err();
    assert_eq!(not_hers.code(), Code::FailedPrecondition, "{not_hers:?}");
    let not_hers = services.agent_client_as(&carol).resolve_case(as_carol).await.unwrap_err();
    assert_eq!(not_hers.code(), Code::FailedPrecondition, "{not_hers:?}");

    let accepted = services.agent_client_as(&acme.agent).accept_case(as_alice).await.unwrap().into_inner();
    assert_eq!((accepted.state.as_str(), accepted.assigned_agent.as_str()), ("assigned", "alice"));
}

#[tokio::test]
async fn a_revoked_key_stops_working_and_the_secret_is_never_stored() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (key_id, integration) = services.create_key("acme", &["integration"], None).await.unwrap();
    let (_, admin) = services.create_key("acme", &["admin"], None).await.unwrap();
    let (_, unused) = services.create_key("acme", &["supervisor"], None).await.unwrap();
    services
        .ingest_client_as(&integration)
        .submit_post(pb::SubmitPostRequest { post: Some(sample_post("r1")) })
        .await
        .unwrap();

    let listed = services.key_client_as(&admin).list_keys(pb::ListKeysRequest {}).await.unwrap().into_inner();
    let listed_key = listed.keys.iter().find(|key| key.key_id == key_id).unwrap();
    assert_eq!(listed_key.roles, ["integration"]);
    assert!(listed_key.revoked_at.is_none());
    let me = services.key_client_as(&integration).who_am_i(pb::WhoAmIRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (me.key_id.as_str(), me.tenant.as_str(), me.roles.as_slice()),
        (key_id.as_str(), "acme", &["integration".to_owned()][..])
    );

    let mut keys = services.key_client_as(&admin);
    let revoked = keys.revoke_key(pb::RevokeKeyRequest { key_id: key_id.clone() }).await.unwrap();
    assert!(revoked.into_inner().revoked_at.is_some());
    // Routing, which keeps the keys, refuses at once; the others once their cache expires (5 s).
    let at_routing = services.key_client_as(&integration).list_keys(pb::ListKeysRequest {}).await.unwrap_err();
    assert_eq!(at_routing.code(), Code::Unauthenticated);
    let ingest = services.ingest_client_as(&integration);
    wait_until(Duration::from_secs(15), || {
        let mut ingest = ingest.clone();
        async move {
            let request = pb::SubmitPostRequest { post: Some(sample_post("r2")) };
            ingest.submit_post(request).await.is_err_and(|status| status.code() == Code::Unauthenticated)
        }
    })
    .await
    .unwrap();

    // Keys survive a Redis that lost them: routing publishes them again (a key never used before
    // is in no cache, so only the re-published grant lets it in).
    stack.redis.flush_all().await.unwrap();
    let escalation = services.escalation_client_as(&unused);
    wait_until(Duration::from_secs(30), || {
        let mut escalation = escalation.clone();
        async move { escalation.list_escalations(pb::ListEscalationsRequest::default()).await.is_ok() }
    })
    .await
    .unwrap();
    let mut ingest = services.ingest_client_as(&integration);
    let revoked_again = ingest.get_post(pb::GetPostRequest { post_id: "p_x".into() }).await;
    assert_eq!(revoked_again.unwrap_err().code(), Code::Unauthenticated, "a revoked key stays revoked");

    for entry in std::fs::read_dir(stack.dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("routing") {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains("esk_"), "no secret in {:?}", entry.file_name());
        }
    }
}
