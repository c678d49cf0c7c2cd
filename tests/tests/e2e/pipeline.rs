//! End to end: posts submitted over gRPC come out in agents' queues in the right order, with
//! reasons; duplicates change nothing; a third contact reaches supervisors; a crash of ingest
//! between accepting and routing loses nothing.

use std::time::Duration;

use earshot_e2e::{PIPELINE_DEADLINE, Pipeline, Services, Stack, post, reserve_addr};
use earshot_proto::v1 as pb;
use earshot_testkit::wait_until;
use tokio_stream::StreamExt;

#[tokio::test]
async fn angry_high_reach_complaint_is_offered_before_an_earlier_neutral_question() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    services.register_agent("alice", 3, &["en"]).await.unwrap();

    let question = services.submit(post("q1", "curious", 40, "Hi, do you have a store in Leeds?")).await.unwrap();
    let question = services.routed(&question.post_id).await.unwrap();
    let angry_text = "Charged TWICE for my order and still no refund after 3 weeks. Absolutely unacceptable!";
    let angry = services.submit_routed(post("a1", "loud", 182_000, angry_text)).await.unwrap();
    // Escalation hears of the post through routing's outbox; the escalation it raises (reach)
    // marks the case a moment later.
    let routing = services.routing_client();
    wait_until(PIPELINE_DEADLINE, || {
        let (mut routing, case_id) = (routing.clone(), angry.case_id.clone());
        async move { routing.get_case(pb::GetCaseRequest { case_id }).await.is_ok_and(|case| case.into_inner().escalated) }
    })
    .await
    .unwrap();
    let angry_class = angry.classification.clone().unwrap();
    let question_class = question.classification.clone().unwrap();
    assert!(angry_class.complaint && !question_class.complaint);
    assert!(angry_class.priority > question_class.priority, "{angry_class:?} vs {question_class:?}");

    let offer = services
        .agent_client()
        .next_case(pb::NextCaseRequest { agent_id: "alice".into(), wait_ms: 0 })
        .await
        .unwrap()
        .into_inner()
        .offer
        .expect("an offer");
    let case = offer.case.unwrap();
    assert_eq!(case.case_id, angry.case_id);
    assert_eq!(case.posts[0].text, angry.post.unwrap().text);
    assert!(case.reasons.iter().any(|r| r.factor == "reach" && r.detail == "182k followers"), "{:?}", case.reasons);

    let stats = services.routing_client().queue_stats(pb::QueueStatsRequest {}).await.unwrap().into_inner().queues;
    let of = |queue: &str| stats.iter().find(|s| s.queue == queue).cloned().unwrap();
    assert_eq!((of(&case.queue).offered, of(&case.queue).waiting), (1, 0), "{stats:?}");
    let question_queue = of(&question_class.topic);
    assert_eq!((question_queue.waiting, question_queue.top_priority), (1, question_class.priority));

    let mut agent = services.agent_client();
    let accept = pb::CaseActionRequest { agent_id: "alice".into(), case_id: case.case_id.clone() };
    assert_eq!(agent.accept_case(accept.clone()).await.unwrap().into_inner().state, "assigned");
    let respond =
        pb::RecordResponseRequest { agent_id: "alice".into(), case_id: case.case_id.clone(), text: "So sorry".into() };
    agent.record_response(respond).await.unwrap();
    let resolved = agent.resolve_case(accept.clone()).await.unwrap().into_inner();
    assert_eq!(resolved.state, "resolved");
    let actions: Vec<&str> = resolved.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["routed", "escalated", "rescored", "offered", "accepted", "responded", "resolved"],
        "{:?}",
        resolved.history
    );
    assert!(resolved.history.iter().skip(3).all(|e| e.agent == "alice"));
    let again = agent.resolve_case(accept).await.unwrap().into_inner();
    assert_eq!(again.history.len(), resolved.history.len(), "a repeated resolve (a client's retry) changes nothing");

    let next =
        agent.next_case(pb::NextCaseRequest { agent_id: "alice".into(), wait_ms: 0 }).await.unwrap().into_inner();
    assert_eq!(next.offer.unwrap().case.unwrap().case_id, question.case_id);
}

#[tokio::test]
async fn a_duplicate_submit_is_flagged_and_creates_no_second_case() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let first = services.submit(post("dup-1", "repeat", 10, "my parcel never arrived")).await.unwrap();
    let second = services.submit(post("dup-1", "repeat", 10, "my parcel never arrived")).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.post_id, second.post_id);

    let batch = services
        .ingest_client()
        .submit_posts(pb::SubmitPostsRequest {
            posts: vec![post("dup-1", "repeat", 10, "again"), post("dup-2", "other", 10, "hello")],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(batch.iter().map(|r| r.duplicate).collect::<Vec<_>>(), [true, false]);
    assert_eq!(batch[0].post_id, first.post_id);
    // The same post twice in one batch is the client's bug: refused, naming the repeat.
    let repeated = services
        .ingest_client()
        .submit_posts(pb::SubmitPostsRequest {
            posts: vec![post("dup-3", "other", 10, "hello"), post("dup-3", "other", 10, "hello")],
        })
        .await
        .unwrap_err();
    assert!(repeated.message().contains("posts[1].external_id"), "{repeated:?}");

    let record = services.routed(&first.post_id).await.unwrap();
    services.routed(&batch[1].post_id).await.unwrap();
    let case = services
        .routing_client()
        .get_case(pb::GetCaseRequest { case_id: record.case_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.contact_count, 1);
    assert_eq!(case.posts.len(), 1);
    let queue = services
        .routing_client()
        .list_queue(pb::ListQueueRequest { queue: case.queue.clone(), limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(queue.iter().filter(|c| c.case_id == record.case_id).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_share_commits_and_store_a_repeated_post_once() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    // Forty calls at once: twenty of one post, twenty of posts of their own. Calls that arrive
    // together are written in one commit; the repeated post must still be stored exactly once.
    let calls = (0..40).map(|i| {
        let services = &services;
        async move {
            let post = if i % 2 == 0 {
                post("same-1", "eager", 10, "where is my refund")
            } else {
                post(&format!("own-{i}"), &format!("c{i}"), 10, "where is my refund")
            };
            (i, services.submit(post).await.unwrap())
        }
    });
    let answers = futures::future::join_all(calls).await;
    let (same, own): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(i, _)| i % 2 == 0);
    assert_eq!(same.iter().filter(|(_, answer)| !answer.duplicate).count(), 1, "{same:?}");
    let ids: std::collections::BTreeSet<&str> = same.iter().map(|(_, answer)| answer.post_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "every repeat names the one stored post: {ids:?}");
    assert!(own.iter().all(|(_, answer)| !answer.duplicate), "{own:?}");
    let own_ids: std::collections::BTreeSet<&str> = own.iter().map(|(_, answer)| answer.post_id.as_str()).collect();
    assert_eq!(own_ids.len(), 20);
    for id in ids.into_iter().chain(own_ids) {
        services.routed(id).await.unwrap();
    }
}

#[tokio::test]
async fn a_third_contact_escalates_to_the_list_and_the_live_stream() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let mut watch = services
        .escalation_client()
        .watch_escalations(pb::WatchEscalationsRequest { cursor: String::new() })
        .await
        .unwrap()
        .into_inner();

    let mut case_ids = Vec::new();
    for (i, text) in ["where is my order?", "still no answer about my order", "THIRD time asking: where is my order"]
        .iter()
        .enumerate()
    {
        let accepted = services.submit(post(&format!("t{i}"), "patient", 25, text)).await.unwrap();
        case_ids.push(services.routed(&accepted.post_id).await.unwrap().case_id);
    }
    assert!(case_ids.iter().all(|id| *id == case_ids[0]), "follow-ups join the open case");
    let routing = services.routing_client();
    let case_now = || {
        let (mut routing, case_id) = (routing.clone(), case_ids[0].clone());
        async move { routing.get_case(pb::GetCaseRequest { case_id }).await.unwrap().into_inner() }
    };
    // The repeat-contact escalation reaches the case through routing's outbox.
    wait_until(PIPELINE_DEADLINE, || async { case_now().await.escalated }).await.unwrap();
    let case = case_now().await;
    assert_eq!(case.contact_count, 3);
    assert!(case.escalated);
    assert!(case.reasons.iter().any(|r| r.factor == "repeat_contact"));

    let listed = services
        .escalation_client()
        .list_escalations(pb::ListEscalationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .escalations;
    let repeat: Vec<_> = listed.iter().filter(|e| e.reason == "repeat_contact").collect();
    assert_eq!(repeat.len(), 1, "{listed:?}");
    assert_eq!(repeat[0].case_id, case_ids[0]);

    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = watch.next().await.expect("stream open").expect("event");
            if event.escalation.as_ref().is_some_and(|e| e.reason == "repeat_contact") {
                return event;
            }
        }
    })
    .await
    .expect("repeat-contact escalation on the live stream");
    assert_eq!(event.kind, "raised");
    assert!(!event.cursor.is_empty());

    let acknowledged = services
        .escalation_client()
        .acknowledge_escalation(pb::EscalationActionRequest {
            escalation_id: repeat[0].escalation_id.clone(),
            supervisor: "sam".into(),
            note: "calling the customer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acknowledged.state, "acknowledged");
    let resumed = services
        .escalation_client()
        .watch_escalations(pb::WatchEscalationsRequest { cursor: event.cursor })
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resumed.kind, "acknowledged", "resuming from a cursor continues after it");
}

#[tokio::test]
async fn killing_ingest_between_accept_and_routing_loses_no_post() {
    let stack = Stack::new().await.unwrap();
    let classify = stack.node().classify().await.unwrap();
    let escalation = stack.node().escalation().await.unwrap();
    let routing_addr = reserve_addr().unwrap();
    let ingest = stack.node().ingest(classify.addr, routing_addr).await.unwrap();
    let credential = stack.node().credential().unwrap();
    let mut client =
        earshot_proto::v1::ingest_service_client::IngestServiceClient::new(credential.channel(ingest.channel()));

    let posts: Vec<pb::Post> =
        (0..40).map(|i| post(&format!("k{i}"), &format!("customer{i}"), 100, "my package never arrived")).collect();
    let accepted = client.submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner().results;
    // Routing is down: posts are classified and wait.
    let first = accepted[0].post_id.clone();
    wait_until(PIPELINE_DEADLINE, || {
        let mut client = client.clone();
        let post_id = first.clone();
        async move { client.get_post(pb::GetPostRequest { post_id }).await.unwrap().into_inner().state == "classified" }
    })
    .await
    .unwrap();
    drop(ingest);

    let routing = stack.node().routing(escalation.addr, Some(routing_addr)).await.unwrap();
    let ingest = stack.node().ingest(classify.addr, routing_addr).await.unwrap();
    let services = Services { classify, escalation, routing, ingest, credential };
    let mut case_ids = std::collections::HashSet::new();
    for result in &accepted {
        case_ids.insert(services.routed(&result.post_id).await.unwrap().case_id);
    }
    assert_eq!(case_ids.len(), 40, "one case per customer, none lost");
    let queued = services
        .routing_client()
        .list_queue(pb::ListQueueRequest { queue: "delivery".into(), limit: 100 })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(queued.len(), 40);
}

#[tokio::test]
async fn bad_input_is_rejected_naming_the_field_and_stores_nothing() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let mut client = services.ingest_client();
    let mut bad = post("b1", "x", 1, "fine");
    bad.channel = "myspace".into();
    let error =
        client.submit_posts(pb::SubmitPostsRequest { posts: vec![post("b0", "x", 1, "ok"), bad] }).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("posts[1].channel"), "{}", error.message());
    let retry =
        client.submit_post(pb::SubmitPostRequest { post: Some(post("b0", "x", 1, "ok")) }).await.unwrap().into_inner();
    assert!(!retry.duplicate, "the rejected batch stored nothing");

    let empty = client.submit_post(pb::SubmitPostRequest { post: Some(post("b2", "x", 1, "   ")) }).await.unwrap_err();
    assert!(empty.message().contains("post.text"), "{}", empty.message());
    let missing = client.get_post(pb::GetPostRequest { post_id: "p_nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);

    let mut other_tenant = tonic::Request::new(pb::GetPostRequest { post_id: retry.post_id.clone() });
    other_tenant.metadata_mut().insert("x-earshot-tenant", "rival".parse().unwrap());
    assert_eq!(client.get_post(other_tenant).await.unwrap_err().code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn streamed_posts_are_acknowledged_in_order_until_the_first_invalid_one() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let mut bad = post("s3", "streamer", 5, "fine");
    bad.author = None;
    let posts = vec![
        post("s1", "streamer", 5, "first"),
        post("s2", "streamer", 5, "second"),
        post("s1", "streamer", 5, "first again"),
        bad,
        post("s4", "streamer", 5, "never read"),
    ];
    let mut acks = services.ingest_client().stream_posts(tokio_stream::iter(posts)).await.unwrap().into_inner();
    let mut received = Vec::new();
    let error = loop {
        match acks.next().await {
            Some(Ok(ack)) => received.push(ack),
            Some(Err(status)) => break status,
            None => panic!("the stream ended without rejecting the invalid post"),
        }
    };
    assert_eq!(received.iter().map(|a| a.duplicate).collect::<Vec<_>>(), [false, false, true]);
    assert_eq!(received[0].post_id, received[2].post_id);
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("posts[3].author"), "{}", error.message());
    assert!(acks.next().await.is_none(), "nothing after the rejection");
    services.routed(&received[1].post_id).await.unwrap();
}

#[tokio::test]
async fn every_service_answers_health_and_reflection() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let expectations = [
        (&services.ingest, "earshot.v1.IngestService"),
        (&services.classify, "earshot.v1.ClassifierService"),
        (&services.routing, "earshot.v1.AgentService"),
        (&services.escalation, "earshot.v1.EscalationService"),
    ];
    for (service, name) in expectations {
        let mut health = tonic_health::pb::health_client::HealthClient::new(service.channel());
        let status = health
            .check(tonic_health::pb::HealthCheckRequest { service: name.into() })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{name}");

        let mut reflection = ServerReflectionClient::new(service.channel());
        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses =
            reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            responses.next().await.unwrap().unwrap().message_response
        else {
            panic!("no service list from {name}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.contains(&name.to_string()) && names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");

        // Older clients (grpcurl among them) ask the v1alpha reflection service first.
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
        let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(AlphaRequest::FileContainingSymbol(name.into())),
        };
        let mut alpha = AlphaClient::new(service.channel());
        let mut responses = alpha.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let response = responses.next().await.unwrap().unwrap().message_response;
        assert!(matches!(response, Some(AlphaResponse::FileDescriptorResponse(_))), "{name}: {response:?}");
    }
}

/// Customers whose first and second posts fall in different pipeline batches (256 posts each),
/// so the second posts are classified while the first ones are being routed.
const ORDERED_CUSTOMERS: usize = 600;

#[tokio::test]
async fn overlapping_batches_never_route_a_follow_up_before_its_first_post() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, key) = services.create_key("default", &["integration", "supervisor"], None).await.unwrap();
    let ingest = services.ingest_client_as(&key);
    let mut ids: Vec<Vec<String>> = vec![Vec::new(); ORDERED_CUSTOMERS];
    for round in ["first", "second"] {
        for chunk in (0..ORDERED_CUSTOMERS).collect::<Vec<_>>().chunks(300) {
            let posts = chunk
                .iter()
                .map(|n| post(&format!("{round}-{n}"), &format!("customer-{n}"), 10, "still no refund, who can help?"))
                .collect();
            let answered = ingest.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
            for (n, result) in chunk.iter().zip(answered.results) {
                ids[*n].push(result.post_id);
            }
        }
    }
    let last = ids[ORDERED_CUSTOMERS - 1][1].clone();
    assert!(services.routed_within(&key, &last, PIPELINE_DEADLINE * 3).await, "every post is routed");

    let mut routing = services.routing_client_as(&key);
    for (n, posts) in ids.iter().enumerate() {
        let routed = ingest.clone().get_post(pb::GetPostRequest { post_id: posts[1].clone() }).await.unwrap();
        let case = routing.get_case(pb::GetCaseRequest { case_id: routed.into_inner().case_id }).await.unwrap();
        let opened_by: Vec<&str> = case
            .get_ref()
            .history
            .iter()
            .filter(|event| event.action == "routed")
            .map(|event| event.post_id.as_str())
            .collect();
        assert_eq!(opened_by, [posts[0].as_str()], "customer-{n}: the case opened with the second post");
    }
}
