//! Two replicas of every service on one PostgreSQL database and one Redis (a server, and a
//! 3-master cluster), cross-wired as a load balancer would mix them: each ingest replica calls the
//! other routing replica, each routing replica the other escalation replica. Posts of two tenants
//! arrive through both ingest replicas (a customer's two posts through different ones), agents
//! long-poll on both routing replicas, one tenant has a webhook. Afterwards every acknowledged post
//! is routed once, each customer has one case, every case was offered exactly once, the ingest
//! replicas shared the backlogs, and each escalation event is on the stream once and reached the
//! webhook once. Then both routing replicas route posts of the same customers at once: still one
//! case per customer, with every post. Last, one replica of each service dies and the survivors
//! take its work over: posts routed, cases offered once, events on the stream and at the webhook
//! once.
//!
//! Replicas share a database server: on SQLite files (one writer per process) the test says so
//! and does nothing; `make test` runs it on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use earshot_core::Tenant;
use earshot_e2e::{AuthChannel, PIPELINE_DEADLINE, Running, Stack, post};
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_store::escalation::outbox;
use earshot_store::ingest::post as stored_post;
use earshot_store::routing::{case, case_event_outbox, case_post};
use earshot_testkit::wait_until;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// Customers per tenant; each writes twice.
const CUSTOMERS: usize = 60;
/// Agents of tenant `default`, half on each routing replica.
const AGENTS: usize = 4;
/// The tenants posting; the first has the agents and the webhook.
const TENANTS: [&str; 2] = ["default", "acme"];
/// Posts per `SubmitPosts` call.
const BATCH: usize = 20;

/// Two of each service, cross-wired.
struct Replicas {
    _classify: [Running; 2],
    escalation: [Running; 2],
    routing: [Running; 2],
    ingest: [Running; 2],
}

impl Replicas {
    async fn start(stack: &Stack) -> anyhow::Result<Self> {
        let mut node = stack.node();
        node.webhook_allow = "127.0.0.1".into();
        let classify = [node.classify().await?, node.classify().await?];
        let escalation = [node.escalation().await?, node.escalation().await?];
        let routing = [node.routing(escalation[1].addr, None).await?, node.routing(escalation[0].addr, None).await?];
        let ingest = [
            node.ingest(classify[0].addr, routing[1].addr).await?,
            node.ingest(classify[1].addr, routing[0].addr).await?,
        ];
        Ok(Self { _classify: classify, escalation, routing, ingest })
    }
}

/// A customer's post: every tenth threatens legal action (an escalation at once).
fn customer_post(tenant: &str, n: usize, round: usize) -> pb::Post {
    let text = match (n % 10, round) {
        (0, 0) => "my order never arrived, I will sue you, my lawyer will be in touch",
        (_, 0) => "my order never arrived and nobody answers",
        _ => "still waiting, any news?",
    };
    post(&format!("{tenant}-{round}-{n}"), &format!("{tenant}-customer-{n}"), 10 + n as u64, text)
}

/// A webhook receiver on loopback counting deliveries by event id (every one answered 200).
async fn webhook_receiver() -> (String, Arc<Mutex<BTreeMap<String, usize>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let deliveries = Arc::new(Mutex::new(BTreeMap::new()));
    let counted = Arc::clone(&deliveries);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let header = |name: &str| {
                        head.lines().find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_owned()))
                    };
                    let length: usize = header("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    if let Some(event_id) = header("x-earshot-event-id:") {
                        *counted.lock().unwrap().entry(event_id).or_insert(0) += 1;
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    let _ = socket.write_all(reply.as_bytes()).await;
                    return;
                }
            });
        }
    });
    (url, deliveries)
}

/// An agent long-polling `NextCase` on one routing replica, accepting every offer, until `done`;
/// returns the cases it was offered.
async fn work(agent: String, mut client: AgentServiceClient<AuthChannel>, done: Arc<AtomicBool>) -> Vec<String> {
    let mut offered = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let request = pb::NextCaseRequest { agent_id: agent.clone(), wait_ms: 500 };
        let Ok(response) = client.next_case(request).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(case_id) = response.into_inner().offer.and_then(|offer| offer.case).map(|case| case.case_id) else {
            continue;
        };
        offered.push(case_id.clone());
        let accept = pb::CaseActionRequest { agent_id: agent.clone(), case_id };
        client.accept_case(accept).await.unwrap();
    }
    offered
}

/// Watches the ingest replicas' leases on the tenants' backlogs until `done`; returns every
/// replica seen holding one.
async fn watch_backlog_holders(redis_url: String, done: Arc<AtomicBool>) -> BTreeSet<String> {
    let mut conn = earshot_queue::Connection::open(&redis_url).await.unwrap();
    let mut holders = BTreeSet::new();
    while !done.load(Ordering::Relaxed) {
        for tenant in TENANTS {
            let key = format!("es:{{leases}}:ingest:pipeline:{tenant}");
            let holder: Option<String> = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
            holders.extend(holder);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    holders
}

/// The event ids on tenant `default`'s escalation stream, in order.
async fn stream_event_ids(redis_url: &str) -> Vec<String> {
    let mut conn = earshot_queue::Connection::open(redis_url).await.unwrap();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("es:{default}:stream:escalations")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries
        .ids
        .iter()
        .map(|entry| {
            let payload: String = entry.get("payload").unwrap();
            let event: serde_json::Value = serde_json::from_str(&payload).unwrap();
            event["eventId"].as_str().or_else(|| event["event_id"].as_str()).unwrap().to_owned()
        })
        .collect()
}

async fn two_replicas_of_every_service_share_the_work_once(stack: Stack) {
    let Some(database) = stack.database.clone() else {
        eprintln!("two replicas share one database server: skipped on SQLite files (make test runs it on PostgreSQL)");
        return;
    };
    let replicas = Replicas::start(&stack).await.unwrap();
    let credential = stack.node().credential().unwrap();
    let as_tenant = |tenant: &str| credential.clone().for_tenant(&Tenant::parse(tenant).unwrap());
    let (hook_url, deliveries) = webhook_receiver().await;
    let hook = pb::Webhook { url: hook_url, secret: "a-secret-of-sixteen-or-more".into() };
    earshot_proto::v1::escalation_service_client::EscalationServiceClient::new(
        as_tenant("default").channel(replicas.escalation[0].channel()),
    )
    .put_webhook(hook)
    .await
    .unwrap();

    let agent_client =
        |i: usize| AgentServiceClient::new(as_tenant("default").channel(replicas.routing[i % 2].channel()));
    let done = Arc::new(AtomicBool::new(false));
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let agent = format!("agent-{i}");
        let presence = pb::SetPresenceRequest {
            agent_id: agent.clone(),
            presence: pb::Presence::Available as i32,
            capacity: 1_000,
            skills: vec![],
            languages: vec![],
        };
        agent_client(i).set_presence(presence).await.unwrap();
        agents.push((i % 2, tokio::spawn(work(agent, agent_client(i), Arc::clone(&done)))));
    }

    // Each customer's first post, then its second, through the other ingest replica.
    let ingest =
        |tenant: &str, i: usize| IngestServiceClient::new(as_tenant(tenant).channel(replicas.ingest[i].channel()));
    let mut acknowledged = BTreeSet::new();
    let loaded = Arc::new(AtomicBool::new(false));
    let holders = tokio::spawn(watch_backlog_holders(stack.redis.url(), Arc::clone(&loaded)));
    for round in 0..2 {
        // The tenants' batches in turn, so both backlogs wait at once.
        for first in (0..CUSTOMERS).step_by(BATCH) {
            for tenant in TENANTS {
                let posts = (first..(first + BATCH).min(CUSTOMERS)).map(|n| customer_post(tenant, n, round)).collect();
                let replica = (first / BATCH + round) % 2;
                let response = ingest(tenant, replica).submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap();
                acknowledged.extend(response.into_inner().results.into_iter().map(|result| result.post_id));
            }
        }
    }
    assert_eq!(acknowledged.len(), 2 * CUSTOMERS * TENANTS.len(), "every post acknowledged once");

    let db = earshot_store::connect(&database).await.unwrap();
    wait_until(PIPELINE_DEADLINE * 3, || async {
        stored_post::Entity::find().filter(stored_post::Column::State.eq("routed")).count(&db).await.unwrap()
            == acknowledged.len() as u64
    })
    .await
    .expect("every acknowledged post is routed");
    loaded.store(true, Ordering::Relaxed);
    // The ingest replicas shared the backlogs: each worked some.
    let holders = holders.await.unwrap();
    assert_eq!(holders.len(), 2, "both ingest replicas worked a tenant's backlog: {holders:?}");
    // Every post joined one case once; each customer has one case (none was resolved).
    assert_eq!(case_post::Entity::find().count(&db).await.unwrap(), acknowledged.len() as u64);
    let cases = case::Entity::find().all(&db).await.unwrap();
    let mut per_customer: BTreeMap<(String, String), usize> = BTreeMap::new();
    for case in &cases {
        *per_customer.entry((case.tenant.clone(), case.customer.clone())).or_insert(0) += 1;
        assert_eq!(case.contact_count, 2, "case {} of {} has both posts", case.id, case.customer);
    }
    assert_eq!(per_customer.len(), CUSTOMERS * TENANTS.len());
    assert!(per_customer.values().all(|&cases| cases == 1), "one case per customer: {per_customer:?}");
    // In order: each customer's first post opened the case, the second followed it up.
    let posts = stored_post::Entity::find().all(&db).await.unwrap();
    let opened_by: BTreeMap<String, bool> = case_post::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|routed| (routed.post_id, !routed.follow_up))
        .collect();
    for post in posts {
        let first = post.external_id.contains("-0-");
        assert_eq!(opened_by[&post.id], first, "post {} of round {}", post.external_id, u8::from(!first));
    }

    // Every case of `default` reaches exactly one agent, through either routing replica.
    let default_cases: BTreeSet<String> =
        cases.iter().filter(|case| case.tenant == "default").map(|case| case.id.clone()).collect();
    let offers = Arc::new(Mutex::new(Vec::new()));
    wait_until(PIPELINE_DEADLINE * 3, || async {
        case::Entity::find().filter(case::Column::State.eq("assigned")).count(&db).await.unwrap()
            == default_cases.len() as u64
    })
    .await
    .expect("every case of the tenant with agents is offered and accepted");
    done.store(true, Ordering::Relaxed);
    let mut per_replica = [0; 2];
    for (replica, agent) in agents {
        let offered = agent.await.unwrap();
        per_replica[replica] += offered.len();
        offers.lock().unwrap().extend(offered);
    }
    let offers = offers.lock().unwrap().clone();
    let offered: BTreeSet<String> = offers.iter().cloned().collect();
    assert_eq!(offers.len(), offered.len(), "no case was offered twice");
    assert_eq!(offered, default_cases, "every case was offered");
    assert!(per_replica.iter().all(|&n| n > 0), "agents on both routing replicas were offered cases: {per_replica:?}");
    let queues = earshot_queue::Queues::connect(&stack.redis.url()).await.unwrap();
    let mut waiting = BTreeSet::new();
    for queue in queues.queue_names("acme").await.unwrap() {
        for (case_id, _) in queues.queue_head("acme", &queue, 10_000).await.unwrap() {
            assert!(waiting.insert(case_id.clone()), "case {case_id} waits in one queue once");
        }
    }
    let acme_cases: BTreeSet<String> =
        cases.iter().filter(|case| case.tenant == "acme").map(|case| case.id.clone()).collect();
    assert_eq!(waiting, acme_cases, "every case of the tenant without agents waits in its queue");

    let events = each_event_once(&db, &stack.redis.url(), &deliveries, PIPELINE_DEADLINE * 3).await;
    assert!(events >= CUSTOMERS / 10, "each legal threat raised an escalation: {events} events");

    // Routing replicas racing for the same customers (as during a handover between ingest
    // replicas, or an agent's action beside a follow-up): one case each, every post on it.
    let tenant = as_tenant("globex");
    let routing = |i: usize| RoutingServiceClient::new(tenant.clone().channel(replicas.routing[i].channel()));
    let mut racing = Vec::new();
    for round in 0..RACING_POSTS {
        for replica in 0..2 {
            let items = (0..CUSTOMERS).map(|n| routed_item(n, 2 * round + replica)).collect();
            let mut client = routing(replica);
            racing.push(tokio::spawn(async move { client.route(pb::RouteRequest { items }).await }));
        }
    }
    for call in racing {
        call.await.unwrap().unwrap();
    }
    let raced = case::Entity::find().filter(case::Column::Tenant.eq("globex")).all(&db).await.unwrap();
    let customers: BTreeSet<&String> = raced.iter().map(|case| &case.customer).collect();
    assert_eq!((raced.len(), customers.len()), (CUSTOMERS, CUSTOMERS), "one case per customer");
    assert!(
        raced.iter().all(|case| case.contact_count == 2 * RACING_POSTS as i32),
        "every post counted on its customer's case"
    );

    // One replica of each service dies (no clean stop: its leases lapse) and the other takes over
    // the tenant's backlog, the outbox, the stream and the webhooks. The survivors: ingest 1 →
    // routing 0 → escalation 1.
    let Replicas {
        _classify,
        escalation: [escalation_0, escalation],
        routing: [routing, routing_1],
        ingest: [ingest_0, ingest],
    } = replicas;
    drop((escalation_0, routing_1, ingest_0));
    let late: Vec<pb::Post> = (CUSTOMERS..CUSTOMERS + LATE_CUSTOMERS).map(|n| customer_post("default", n, 0)).collect();
    let mut ingest = IngestServiceClient::new(as_tenant("default").channel(ingest.channel()));
    let response = ingest.submit_posts(pb::SubmitPostsRequest { posts: late }).await.unwrap().into_inner();
    let routed_before = acknowledged.len() as u64;
    wait_until(PIPELINE_DEADLINE * 3, || async {
        stored_post::Entity::find().filter(stored_post::Column::State.eq("routed")).count(&db).await.unwrap()
            == routed_before + response.results.len() as u64
    })
    .await
    .expect("the surviving ingest replica routes the dead one's tenant");
    let agent = AgentServiceClient::new(as_tenant("default").channel(routing.channel()));
    let presence = pb::SetPresenceRequest {
        agent_id: "survivor".into(),
        presence: pb::Presence::Available as i32,
        capacity: 1_000,
        ..Default::default()
    };
    agent.clone().set_presence(presence).await.unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let survivor = tokio::spawn(work("survivor".into(), agent, Arc::clone(&done)));
    let assigned = default_cases.len() + LATE_CUSTOMERS;
    wait_until(PIPELINE_DEADLINE * 3, || async {
        case::Entity::find().filter(case::Column::State.eq("assigned")).count(&db).await.unwrap() == assigned as u64
    })
    .await
    .expect("every late case is offered on the surviving routing replica");
    done.store(true, Ordering::Relaxed);
    let late_offers = survivor.await.unwrap();
    let late_offered: BTreeSet<&String> = late_offers.iter().collect();
    assert_eq!((late_offers.len(), late_offered.len()), (LATE_CUSTOMERS, LATE_CUSTOMERS), "each offered once");
    // A dead replica's webhook lease lapses after 30 s: the survivor delivers the rest, once each.
    let events_now = each_event_once(&db, &stack.redis.url(), &deliveries, Duration::from_secs(90)).await;
    assert!(events_now >= events + LATE_CUSTOMERS / 10, "the late legal threats escalated too: {events_now} events");
    db.close().await.unwrap();
    drop((escalation, routing));
}

/// Customers of `default` who write after a replica of each service died.
const LATE_CUSTOMERS: usize = 20;

/// Waits (up to `deadline`) until routing's outbox is empty and every escalation event is published
/// and delivered, then checks that each of tenant `default`'s events is on the stream once and
/// reached the webhook once; returns how many there are.
async fn each_event_once(
    db: &sea_orm::DatabaseConnection,
    redis_url: &str,
    deliveries: &Mutex<BTreeMap<String, usize>>,
    deadline: Duration,
) -> usize {
    wait_until(deadline, || async {
        let routing_waiting = case_event_outbox::Entity::find().count(db).await.unwrap();
        let unsent = outbox::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(outbox::Column::Published.eq(false))
                    .add(outbox::Column::Webhook.eq("pending")),
            )
            .count(db)
            .await
            .unwrap();
        routing_waiting == 0 && unsent == 0
    })
    .await
    .expect("every event is published and delivered");
    let events: BTreeSet<String> = outbox::Entity::find()
        .filter(outbox::Column::Tenant.eq("default"))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id.to_ascii_lowercase())
        .collect();
    let on_stream: Vec<String> =
        stream_event_ids(redis_url).await.into_iter().map(|id| id.to_ascii_lowercase()).collect();
    assert_eq!(on_stream.len(), events.len(), "each event once on the stream");
    assert_eq!(on_stream.iter().cloned().collect::<BTreeSet<_>>(), events);
    let delivered = deliveries.lock().unwrap().clone();
    assert_eq!(delivered.keys().cloned().collect::<BTreeSet<_>>(), events, "every event reached the webhook");
    assert!(delivered.values().all(|&times| times == 1), "each webhook delivered once: {delivered:?}");
    events.len()
}

/// Route calls per routing replica in the race, each with a post of every customer.
const RACING_POSTS: usize = 3;

/// A classified post of customer `n`, as ingest's pipeline sends it to routing.
fn routed_item(n: usize, contact: usize) -> pb::RouteItem {
    pb::RouteItem {
        post_id: earshot_core::ids::new_id('p'),
        post: Some(post(&format!("race-{contact}-{n}"), &format!("racer-{n}"), 10, "still nothing")),
        classification: Some(pb::Classification {
            language: "en".into(),
            topic: "delivery".into(),
            priority: 40,
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_redis() {
    two_replicas_of_every_service_share_the_work_once(Stack::new().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_a_redis_cluster() {
    two_replicas_of_every_service_share_the_work_once(Stack::on_cluster().await.unwrap()).await;
}
