//! Failure drills: what one tenant sends or one peer does must not stall the others.

use std::time::Duration;

use tokio::time::Instant;

use earshot_e2e::{PIPELINE_DEADLINE, Pipeline, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient as RoutingAgent;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;

/// Posts of the longest accepted text in a script of three bytes a character: a pipeline batch of
/// them is several times larger than a peer's default message limit.
const HEAVY_POSTS: usize = 256;
const HEAVY_TEXT_CHARS: usize = 10_000;
/// How long the heavy tenant's posts may take to be routed, all of them.
const HEAVY_DEADLINE: Duration = Duration::from_secs(90);

fn cjk_text(seed: usize) -> String {
    (0..HEAVY_TEXT_CHARS).filter_map(|i| char::from_u32(0x4E00 + ((seed * 7919 + i * 31) % 20_000) as u32)).collect()
}

#[tokio::test]
async fn a_tenant_sending_the_largest_posts_does_not_stall_another_tenant() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, heavy) = services.create_key("heavy", &["integration"], None).await.unwrap();
    let (_, light) = services.create_key("light", &["integration"], None).await.unwrap();

    let mut heavy_ids = Vec::new();
    let ingest = services.ingest_client_as(&heavy);
    for chunk in 0..HEAVY_POSTS / 32 {
        let posts = (0..32)
            .map(|i| {
                let n = chunk * 32 + i;
                post(&format!("heavy-{n}"), &format!("writer-{n}"), 10, &cjk_text(n))
            })
            .collect();
        let response = ingest.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
        heavy_ids.extend(response.results.into_iter().map(|r| r.post_id));
    }
    let started = Instant::now();
    let request = pb::SubmitPostRequest { post: Some(post("light-1", "someone", 10, "my parcel never arrived")) };
    let light_id = services.ingest_client_as(&light).submit_post(request).await.unwrap().into_inner().post_id;

    assert!(
        services.routed_within(&light, &light_id, PIPELINE_DEADLINE).await,
        "the light tenant's post was not routed within {PIPELINE_DEADLINE:?}"
    );
    eprintln!("light tenant routed after {:.1} s behind {HEAVY_POSTS} heavy posts", started.elapsed().as_secs_f64());
    for post_id in &heavy_ids {
        assert!(services.routed_within(&heavy, post_id, HEAVY_DEADLINE).await, "heavy post {post_id} was not routed");
    }
    eprintln!("all {HEAVY_POSTS} heavy posts routed after {:.1} s", started.elapsed().as_secs_f64());
}

/// The shutdown grace (10 s) and some margin.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// `WatchEscalations` streams a key may keep open (escalation's default).
const WATCHES_PER_KEY: usize = 8;

/// Posts of a tenant with a backlog: several pipeline passes of them.
const BACKLOG_POSTS: usize = 2_000;

#[tokio::test]
async fn a_tenant_with_a_backlog_does_not_keep_another_tenant_waiting_for_it() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, busy) = services.create_key("busy", &["integration"], None).await.unwrap();
    let (_, quiet) = services.create_key("quiet", &["integration"], None).await.unwrap();
    let ingest = services.ingest_client_as(&busy);
    let mut last_busy = String::new();
    for chunk in 0..BACKLOG_POSTS / 500 {
        let posts = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                post(&format!("busy-{n}"), &format!("customer-{n}"), 10, "where is my order?")
            })
            .collect();
        let response = ingest.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
        last_busy = response.results.last().map(|r| r.post_id.clone()).unwrap_or_default();
    }
    let request = pb::SubmitPostRequest { post: Some(post("quiet-1", "someone", 10, "my parcel never arrived")) };
    let quiet_id = services.ingest_client_as(&quiet).submit_post(request).await.unwrap().into_inner().post_id;

    assert!(services.routed_within(&quiet, &quiet_id, PIPELINE_DEADLINE).await, "the quiet tenant's post waits");
    let busy_last = ingest.clone().get_post(pb::GetPostRequest { post_id: last_busy.clone() }).await.unwrap();
    assert_ne!(
        busy_last.into_inner().state,
        "routed",
        "the quiet tenant's post, submitted after {BACKLOG_POSTS} of another tenant's, waited for all of them"
    );
    assert!(services.routed_within(&busy, &last_busy, PIPELINE_DEADLINE * 3).await, "the backlog drains");
}

#[tokio::test]
async fn a_key_cannot_hold_more_watch_streams_than_its_share() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, greedy) = services.create_key("greedy", &["supervisor"], None).await.unwrap();
    let (_, other) = services.create_key("greedy", &["supervisor"], None).await.unwrap();
    let watch = |key| {
        let mut client = services.escalation_client_as(key);
        async move { client.watch_escalations(pb::WatchEscalationsRequest { cursor: String::new() }).await }
    };
    let mut open = Vec::new();
    for _ in 0..WATCHES_PER_KEY {
        open.push(watch(&greedy).await.unwrap().into_inner());
    }
    let refused = watch(&greedy).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(watch(&other).await.is_ok(), "another key of the same tenant still gets its own");
    drop(open.pop());
    let reopened = earshot_testkit::wait_until(PIPELINE_DEADLINE, || async { watch(&greedy).await.is_ok() }).await;
    assert!(reopened.is_ok(), "a closed stream gives its slot back");
}

#[tokio::test]
async fn an_open_watch_cannot_hold_a_stopping_service_up() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let escalation = node
        .escalation_until(None, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    let client = EscalationServiceClient::new(node.credential().unwrap().channel(escalation.channel()));
    let watch = client.clone().watch_escalations(pb::WatchEscalationsRequest { cursor: String::new() }).await;
    let _watch = watch.unwrap().into_inner();
    let started = Instant::now();
    stop.send(()).unwrap();
    let finished = earshot_testkit::wait_until(STOP_DEADLINE, || async { escalation.finished() }).await;
    assert!(finished.is_ok(), "escalation still runs {STOP_DEADLINE:?} after it was told to stop, held by a watch");
    eprintln!("escalation stopped {:.1} s after the signal with a watch open", started.elapsed().as_secs_f64());
}

/// Open cases when Redis loses everything.
const CASES_BEFORE_FLUSH: usize = 30;

#[tokio::test]
async fn redis_emptied_under_a_running_stack_is_rebuilt_without_a_restart() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    for n in 0..CASES_BEFORE_FLUSH {
        services
            .submit_routed(post(&format!("before-{n}"), &format!("customer-{n}"), 10, "my parcel is late"))
            .await
            .unwrap();
    }
    stack.redis.flush_all().await.unwrap();
    let started = Instant::now();
    // The agent registers after the flush, as one who starts a shift would; every case comes back.
    let offered = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let rebuilt = earshot_testkit::wait_until(PIPELINE_DEADLINE, || {
        let (services, offered) = (&services, &offered);
        async move {
            if services.register_agent("night", CASES_BEFORE_FLUSH as u32 + 1, &["en"]).await.is_err() {
                return false;
            }
            while let Ok(Some(case)) = services.offered("night").await {
                offered.borrow_mut().insert(case.case_id);
            }
            offered.borrow().len() == CASES_BEFORE_FLUSH
        }
    })
    .await;
    let offered = offered.borrow().len();
    assert!(rebuilt.is_ok(), "{offered} of {CASES_BEFORE_FLUSH} open cases offerable after the flush");
    eprintln!("all {CASES_BEFORE_FLUSH} cases offerable {:.1} s after FLUSHALL", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_resolve_reported_while_escalation_is_down_survives_a_routing_crash() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let escalation_addr = earshot_e2e::reserve_addr().unwrap();
    let escalation = node.escalation_until(Some(escalation_addr), std::future::pending()).await.unwrap();
    let routing_addr = earshot_e2e::reserve_addr().unwrap();
    let routing = node.routing(escalation_addr, Some(routing_addr)).await.unwrap();
    let classify = node.classify().await.unwrap();
    let ingest = node.ingest(classify.addr, routing_addr).await.unwrap();
    let services = Services { classify, escalation, routing, ingest, credential: node.credential().unwrap() };
    services.register_agent("ana", 2, &["en"]).await.unwrap();
    let record = services.submit_routed(post("r-1", "customer", 10, "my parcel never arrived")).await.unwrap();
    let offered = services.offered("ana").await.unwrap().expect("an offer");
    assert_eq!(offered.case_id, record.case_id);
    let action = pb::CaseActionRequest { agent_id: "ana".into(), case_id: record.case_id.clone() };
    services.agent_client().accept_case(action.clone()).await.unwrap();

    // Escalation goes down; the agent resolves; routing crashes before escalation is back.
    let Services { classify, escalation, routing, ingest, credential } = services;
    drop(escalation);
    let resolved = RoutingAgent::new(credential.channel(routing.channel())).resolve_case(action).await.unwrap();
    assert_eq!(resolved.into_inner().state, "resolved");
    drop(routing);
    let escalation = once_bound(|| node.escalation_until(Some(escalation_addr), std::future::pending())).await;
    let routing = once_bound(|| node.routing(escalation_addr, Some(routing_addr))).await;
    let services = Services { classify, escalation, routing, ingest, credential };

    // The resolve reaches escalation from routing's outbox once both are back: its clocks stop.
    let clocks_running = || {
        let (mut escalation, case_id) = (services.escalation_client(), record.case_id.clone());
        async move {
            // NOT_FOUND: escalation has not heard of the case yet either.
            let clocks = escalation.get_case_clocks(pb::GetCaseClocksRequest { case_id }).await;
            clocks.map_or(true, |clocks| clocks.into_inner().clocks.iter().any(|clock| clock.state == "running"))
        }
    };
    let stopped = earshot_testkit::wait_until(PIPELINE_DEADLINE, || async { !clocks_running().await }).await;
    assert!(stopped.is_ok(), "the resolve was lost with routing: the case's clocks still run");
    // Far past every SLA target: a resolved case must not breach.
    stack.clock.advance(2 * 24 * 3_600_000);
    tokio::time::sleep(Duration::from_secs(2)).await; // a few escalation ticks
    let listed = services.escalation_client().list_escalations(pb::ListEscalationsRequest::default()).await.unwrap();
    let breaches: Vec<_> = listed
        .into_inner()
        .escalations
        .into_iter()
        .filter(|e| e.case_id == record.case_id && e.reason.starts_with("sla_"))
        .collect();
    assert!(breaches.is_empty(), "the resolve was lost with routing: {breaches:?}");
}

/// Starts a service again at the address a killed one held, once the socket is free.
async fn once_bound<F, Fut>(start: F) -> earshot_e2e::Running
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<earshot_e2e::Running>>,
{
    let mut last = None;
    for _ in 0..50 {
        match start().await {
            Ok(running) => return running,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start again: {last:?}");
}

/// How long routing stays down while posts keep arriving, and how many arrive.
const PEER_DOWN: Duration = Duration::from_secs(30);
const POSTS_WHILE_DOWN: usize = 300;

#[tokio::test]
async fn posts_accepted_while_routing_is_down_drain_once_it_is_back() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let escalation = node.escalation().await.unwrap();
    let routing_addr = earshot_e2e::reserve_addr().unwrap();
    let routing = node.routing(escalation.addr, Some(routing_addr)).await.unwrap();
    let classify = node.classify().await.unwrap();
    let ingest = node.ingest(classify.addr, routing_addr).await.unwrap();
    let credential = node.credential().unwrap();
    drop(routing);

    let client =
        earshot_proto::v1::ingest_service_client::IngestServiceClient::new(credential.channel(ingest.channel()));
    let started = Instant::now();
    let mut accepted = Vec::new();
    for chunk in 0..POSTS_WHILE_DOWN / 50 {
        let posts = (0..50)
            .map(|i| {
                let n = chunk * 50 + i;
                post(&format!("down-{n}"), &format!("customer-{n}"), 10, "the app keeps crashing")
            })
            .collect();
        let response = client.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
        accepted.extend(response.results.into_iter().map(|r| r.post_id));
        tokio::time::sleep(PEER_DOWN / (POSTS_WHILE_DOWN / 50) as u32).await;
    }
    let routing = once_bound(|| node.routing(escalation.addr, Some(routing_addr))).await;
    let back = Instant::now();
    let mut cases = std::collections::HashSet::new();
    for post_id in &accepted {
        let routed = earshot_testkit::wait_until(PIPELINE_DEADLINE, || {
            let (mut client, post_id) = (client.clone(), post_id.clone());
            async move {
                client.get_post(pb::GetPostRequest { post_id }).await.is_ok_and(|r| r.into_inner().state == "routed")
            }
        })
        .await;
        assert!(routed.is_ok(), "{post_id} was not routed");
        let record = client.clone().get_post(pb::GetPostRequest { post_id: post_id.clone() }).await.unwrap();
        cases.insert(record.into_inner().case_id);
    }
    eprintln!(
        "{} accepted during {:.0} s without routing, all routed {:.1} s after it came back",
        accepted.len(),
        back.duration_since(started).as_secs_f64(),
        back.elapsed().as_secs_f64()
    );
    drop((classify, escalation, routing, ingest));
    assert_eq!(cases.len(), POSTS_WHILE_DOWN, "one case per customer, none lost");
}

/// Customers with two posts each, sent while routing is down: first posts, then second posts,
/// several pipeline batches in all.
const ORDERED_WHILE_DOWN: usize = 300;
/// How long routing stays down in the ordering drill (long enough for several failed rounds).
const ORDERING_PEER_DOWN: Duration = Duration::from_secs(3);

#[tokio::test]
async fn batches_voided_by_a_routing_outage_are_routed_again_in_their_order() {
    let stack = Stack::new().await.unwrap();
    let node = stack.node();
    let escalation = node.escalation().await.unwrap();
    let routing_addr = earshot_e2e::reserve_addr().unwrap();
    let classify = node.classify().await.unwrap();
    let ingest = node.ingest(classify.addr, routing_addr).await.unwrap();
    let credential = node.credential().unwrap();
    let client =
        earshot_proto::v1::ingest_service_client::IngestServiceClient::new(credential.channel(ingest.channel()));
    let mut ids: Vec<Vec<String>> = vec![Vec::new(); ORDERED_WHILE_DOWN];
    for round in ["first", "second"] {
        let posts = (0..ORDERED_WHILE_DOWN)
            .map(|n| post(&format!("{round}-{n}"), &format!("customer-{n}"), 10, "the app keeps crashing"))
            .collect();
        let answered = client.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
        for (n, result) in answered.results.into_iter().enumerate() {
            ids[n].push(result.post_id);
        }
    }
    tokio::time::sleep(ORDERING_PEER_DOWN).await;
    let routing = once_bound(|| node.routing(escalation.addr, Some(routing_addr))).await;

    let routing_client =
        earshot_proto::v1::routing_service_client::RoutingServiceClient::new(credential.channel(routing.channel()));
    for (n, posts) in ids.iter().enumerate() {
        let routed = earshot_testkit::wait_until(PIPELINE_DEADLINE, || {
            let (mut client, post_id) = (client.clone(), posts[1].clone());
            async move {
                client.get_post(pb::GetPostRequest { post_id }).await.is_ok_and(|r| r.into_inner().state == "routed")
            }
        })
        .await;
        assert!(routed.is_ok(), "customer-{n}'s second post was not routed");
        let record = client.clone().get_post(pb::GetPostRequest { post_id: posts[1].clone() }).await.unwrap();
        let request = pb::GetCaseRequest { case_id: record.into_inner().case_id };
        let case = routing_client.clone().get_case(request).await.unwrap().into_inner();
        let opened_by: Vec<&str> =
            case.history.iter().filter(|event| event.action == "routed").map(|event| event.post_id.as_str()).collect();
        assert_eq!(opened_by, [posts[0].as_str()], "customer-{n}: the second post overtook the first");
    }
    drop((classify, escalation, routing, ingest));
}
