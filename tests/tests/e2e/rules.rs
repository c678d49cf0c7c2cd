//! The routing rules agents rely on, through routing's gRPC API with the clock in the test's hands,
//! each run on one Redis server (`rules::single::…`) and on a 3-master Redis Cluster
//! (`rules::cluster::…`). Posts are routed with hand-made classifications so every priority and
//! every moment is exact.

use earshot_core::ids::new_id;
use earshot_e2e::{AuthChannel, Bearer, PIPELINE_DEADLINE, Running, Stack, post};
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_testkit::{TestRedis, on_single_and_cluster, wait_until};

/// Routing (and the escalation service it reports to) on `redis`.
struct Desk {
    stack: Stack,
    _escalation: Running,
    routing: Running,
}

impl Desk {
    async fn start(redis: TestRedis) -> Self {
        let stack = Stack::with_redis(redis).await.unwrap();
        let escalation = stack.node().escalation().await.unwrap();
        let routing = stack.node().routing(escalation.addr, None).await.unwrap();
        Self { stack, _escalation: escalation, routing }
    }

    fn credential(&self) -> Bearer {
        self.stack.node().credential().unwrap()
    }

    fn routing(&self) -> RoutingServiceClient<AuthChannel> {
        RoutingServiceClient::new(self.credential().channel(self.routing.channel()))
    }

    fn agents(&self) -> AgentServiceClient<AuthChannel> {
        AgentServiceClient::new(self.credential().channel(self.routing.channel()))
    }

    /// Lets `ms` pass on the services' clock.
    fn wait(&self, ms: i64) {
        self.stack.clock.advance(ms);
    }

    /// Routes a post by `customer` to `queue` at `priority`; returns the case id.
    async fn route(&self, customer: &str, queue: &str, priority: u32) -> String {
        self.route_with(customer, queue, priority, &[]).await.case_id
    }

    async fn route_with(&self, customer: &str, queue: &str, priority: u32, escalations: &[&str]) -> pb::RouteResult {
        let item = Self::item(customer, queue, priority, escalations);
        let mut results = self.routing().route(pb::RouteRequest { items: vec![item] }).await.unwrap().into_inner();
        results.results.remove(0)
    }

    /// A post by `customer` classified for `queue` at `priority`, as ingest sends it.
    fn item(customer: &str, queue: &str, priority: u32, escalations: &[&str]) -> pb::RouteItem {
        let post_id = new_id('p');
        let classification = pb::Classification {
            language: "en".into(),
            topic: queue.into(),
            priority,
            escalate_now: !escalations.is_empty(),
            escalations: escalations.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        pb::RouteItem {
            post: Some(post(&post_id, customer, 10, "my order is late")),
            post_id,
            classification: Some(classification),
        }
    }

    /// Routes `items` in one call.
    async fn route_batch(&self, items: Vec<pb::RouteItem>) -> Vec<pb::RouteResult> {
        self.routing().route(pb::RouteRequest { items }).await.unwrap().into_inner().results
    }

    /// Registers (or updates) an available agent working `queues`.
    async fn agent(&self, agent_id: &str, capacity: u32, queues: &[&str]) {
        self.presence(agent_id, pb::Presence::Available, capacity, queues).await;
    }

    async fn presence(&self, agent_id: &str, presence: pb::Presence, capacity: u32, queues: &[&str]) -> pb::AgentView {
        let request = pb::SetPresenceRequest {
            agent_id: agent_id.into(),
            presence: presence as i32,
            capacity,
            skills: queues.iter().map(|q| q.to_string()).collect(),
            languages: vec![],
        };
        self.agents().set_presence(request).await.unwrap().into_inner()
    }

    /// The case offered to the agent now, if any.
    async fn next(&self, agent_id: &str) -> Option<String> {
        self.next_within(agent_id, 0).await
    }

    async fn next_within(&self, agent_id: &str, wait_ms: u32) -> Option<String> {
        let request = pb::NextCaseRequest { agent_id: agent_id.into(), wait_ms };
        let offer = self.agents().next_case(request).await.unwrap().into_inner().offer;
        offer.and_then(|o| o.case).map(|c| c.case_id)
    }

    fn action(agent_id: &str, case_id: &str) -> pb::CaseActionRequest {
        pb::CaseActionRequest { agent_id: agent_id.into(), case_id: case_id.into() }
    }

    async fn accept(&self, agent_id: &str, case_id: &str) {
        self.agents().accept_case(Self::action(agent_id, case_id)).await.unwrap();
    }

    async fn case(&self, case_id: &str) -> pb::CaseView {
        self.routing().get_case(pb::GetCaseRequest { case_id: case_id.into() }).await.unwrap().into_inner()
    }

    /// The audit actions of a case, oldest first.
    async fn history(&self, case_id: &str) -> Vec<String> {
        self.case(case_id).await.history.into_iter().map(|e| e.action).collect()
    }

    /// Case ids of a queue, in the order agents get them.
    async fn queue(&self, queue: &str) -> Vec<String> {
        let request = pb::ListQueueRequest { queue: queue.into(), limit: 100 };
        let cases = self.routing().list_queue(request).await.unwrap().into_inner().cases;
        cases.into_iter().map(|c| c.case_id).collect()
    }

    /// Waits until the sweeper has put the case back in a queue.
    async fn until_queued(&self, case_id: &str) {
        wait_until(PIPELINE_DEADLINE, || async { self.case(case_id).await.state == "queued" }).await.unwrap();
    }
}

async fn an_offer_nobody_accepts_keeps_its_place_and_the_agent_goes_away(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let first = desk.route("ann", "billing", 30).await;
    desk.wait(1_000);
    let second = desk.route("bob", "billing", 30).await;
    desk.agent("slow", 1, &["billing"]).await;
    assert_eq!(desk.next("slow").await.as_deref(), Some(first.as_str()));

    desk.wait(119_999);
    assert_eq!(desk.case(&first).await.state, "offered", "the lease runs its full 120 s");
    desk.wait(1);
    desk.until_queued(&first).await;
    assert_eq!(desk.queue("billing").await, [first.clone(), second], "back at its original place");
    assert_eq!(desk.next("slow").await, None, "the agent who let the offer lapse is away");
    desk.agent("quick", 1, &["billing"]).await;
    assert_eq!(desk.next("quick").await.as_deref(), Some(first.as_str()));
    assert!(desk.history(&first).await.contains(&"lease_expired".to_owned()));
}

async fn a_rejected_case_keeps_its_place_and_is_never_offered_to_that_agent_again(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let first = desk.route("ann", "billing", 30).await;
    desk.wait(1_000);
    let second = desk.route("bob", "billing", 30).await;
    desk.agent("picky", 2, &["billing"]).await;
    assert_eq!(desk.next("picky").await.as_deref(), Some(first.as_str()));
    desk.agents().reject_case(Desk::action("picky", &first)).await.unwrap();

    assert_eq!(desk.queue("billing").await, [first.clone(), second.clone()], "back at its original place");
    assert_eq!(desk.next("picky").await.as_deref(), Some(second.as_str()), "skips the case it rejected");
    assert_eq!(desk.next("picky").await, None, "and never gets it back");
    desk.agent("other", 1, &["billing"]).await;
    assert_eq!(desk.next("other").await.as_deref(), Some(first.as_str()));
    assert!(desk.history(&first).await.contains(&"rejected".to_owned()));
}

async fn a_follow_up_sticks_to_its_owner_while_the_owner_is_available(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    desk.agent("owner", 2, &["delivery"]).await;
    let case = desk.route("ann", "delivery", 30).await;
    assert_eq!(desk.next("owner").await.as_deref(), Some(case.as_str()));
    desk.accept("owner", &case).await;

    desk.wait(1_000);
    assert_eq!(desk.route("ann", "delivery", 30).await, case, "a follow-up joins the open case");
    let view = desk.case(&case).await;
    assert_eq!((view.state.as_str(), view.assigned_agent.as_str()), ("assigned", "owner"), "sticks while available");

    desk.presence("owner", pb::Presence::Offline, 0, &[]).await;
    desk.wait(1_000);
    desk.route("ann", "delivery", 30).await;
    let view = desk.case(&case).await;
    assert_eq!((view.state.as_str(), view.assigned_agent.as_str()), ("queued", ""), "the owner went offline");
    assert!(desk.history(&case).await.contains(&"unstuck".to_owned()));
    desk.agent("other", 1, &["delivery"]).await;
    assert_eq!(desk.next("other").await.as_deref(), Some(case.as_str()));
}

async fn a_follow_up_the_owner_leaves_unanswered_goes_back_in_its_place(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    desk.agent("slowpoke", 2, &["delivery"]).await;
    let answered = desk.route("ann", "delivery", 30).await;
    let ignored = desk.route("bob", "delivery", 30).await;
    for case in [&answered, &ignored] {
        assert_eq!(desk.next("slowpoke").await.as_ref(), Some(case));
        desk.accept("slowpoke", case).await;
    }
    desk.wait(1_000);
    let later = desk.route("cid", "delivery", 30).await;
    desk.route("ann", "delivery", 30).await;
    desk.route("bob", "delivery", 30).await;
    let respond =
        pb::RecordResponseRequest { agent_id: "slowpoke".into(), case_id: answered.clone(), text: "on it".into() };
    desk.agents().record_response(respond).await.unwrap();

    desk.wait(299_999);
    assert_eq!(desk.case(&ignored).await.state, "assigned", "the owner has the full 5 minutes");
    desk.wait(1);
    desk.until_queued(&ignored).await;
    assert_eq!(desk.queue("delivery").await, [ignored.clone(), later], "in its original place, before later work");
    assert_eq!(desk.case(&answered).await.state, "assigned", "the answered case stays with its agent");
    assert!(desk.history(&ignored).await.contains(&"sticky_timeout".to_owned()));
}

async fn an_agent_waiting_for_work_gets_it_the_moment_it_is_eligible(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let long_poll = |agent: &'static str| {
        let mut agents = desk.agents();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let request = pb::NextCaseRequest { agent_id: agent.into(), wait_ms: 20_000 };
            let offer = agents.next_case(request).await.unwrap().into_inner().offer;
            (offer.and_then(|o| o.case).map(|c| c.case_id), started.elapsed())
        })
    };
    let prompt = std::time::Duration::from_secs(10);
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(300));

    // Work arrives while the agent waits.
    desk.agent("eager", 1, &["billing"]).await;
    let waiting = long_poll("eager");
    settle().await;
    let arrived = desk.route("ann", "billing", 30).await;
    let (offered, waited) = waiting.await.unwrap();
    assert_eq!((offered.as_deref(), waited < prompt), (Some(arrived.as_str()), true));
    desk.accept("eager", &arrived).await;

    // At capacity: raising the capacity lets the waiting agent take the queued case at once.
    let queued = desk.route("bob", "billing", 30).await;
    let waiting = long_poll("eager");
    settle().await;
    assert!(!waiting.is_finished(), "at capacity, the agent waits");
    desk.agent("eager", 2, &[]).await;
    let (offered, waited) = waiting.await.unwrap();
    assert_eq!((offered.as_deref(), waited < prompt), (Some(queued.as_str()), true));
    desk.accept("eager", &queued).await;

    // Resolving frees capacity at once.
    let next = desk.route("cid", "billing", 30).await;
    let waiting = long_poll("eager");
    settle().await;
    desk.agents().resolve_case(Desk::action("eager", &arrived)).await.unwrap();
    let (offered, waited) = waiting.await.unwrap();
    assert_eq!((offered.as_deref(), waited < prompt), (Some(next.as_str()), true));

    // Coming back from away drains the queue too.
    desk.presence("late", pb::Presence::Away, 1, &["billing"]).await;
    let queued = desk.route("dee", "billing", 30).await;
    let waiting = long_poll("late");
    settle().await;
    assert!(!waiting.is_finished(), "an away agent is offered nothing");
    desk.agent("late", 1, &[]).await;
    let (offered, waited) = waiting.await.unwrap();
    assert_eq!((offered.as_deref(), waited < prompt), (Some(queued.as_str()), true));

    let too_long = pb::NextCaseRequest { agent_id: "late".into(), wait_ms: 60_000 };
    assert_eq!(desk.agents().next_case(too_long).await.unwrap_err().code(), tonic::Code::InvalidArgument);
}

async fn a_transferred_case_keeps_its_place_in_the_new_queue(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let moved = desk.route("ann", "billing", 30).await;
    desk.wait(1_000);
    let waiting = desk.route("bob", "delivery", 30).await;
    desk.agent("biller", 1, &["billing"]).await;
    assert_eq!(desk.next("biller").await.as_deref(), Some(moved.as_str()));
    desk.accept("biller", &moved).await;

    let transfer =
        pb::TransferCaseRequest { agent_id: "biller".into(), case_id: moved.clone(), queue: "delivery".into() };
    desk.agents().transfer_case(transfer).await.unwrap();
    assert_eq!(desk.queue("delivery").await, [moved.clone(), waiting], "ahead of later work, as it was");
    assert!(desk.queue("billing").await.is_empty());
    assert_eq!(desk.next("biller").await, None, "capacity freed, but billing is empty");
    let view = desk.case(&moved).await;
    assert_eq!((view.queue.as_str(), view.state.as_str()), ("delivery", "queued"));
    assert!(desk.history(&moved).await.contains(&"transferred".to_owned()));
}

async fn repeat_contacts_and_escalations_rescore_a_queued_case_in_place(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let repeat = desk.route("ann", "billing", 35).await;
    let enqueued_at = desk.case(&repeat).await.enqueued_at;
    desk.wait(1_000);
    let ahead = desk.route("bob", "billing", 40).await;
    assert_eq!(desk.queue("billing").await, [ahead.clone(), repeat.clone()]);

    desk.wait(1_000);
    desk.route("ann", "billing", 20).await;
    let view = desk.case(&repeat).await;
    assert_eq!((view.priority, view.enqueued_at), (45, enqueued_at), "35 + one repeat contact, same enqueue time");
    assert_eq!(desk.queue("billing").await, [repeat.clone(), ahead.clone()], "moved ahead in place");
    let rescored = view.history.iter().find(|e| e.action == "rescored").expect("audited");
    assert!(rescored.detail.contains("35 → 45"), "{}", rescored.detail);

    let escalated = desk.route_with("cid", "billing", 10, &["legal"]).await;
    // Escalation hears of the post through routing's outbox; its answer re-scores the case.
    wait_until(PIPELINE_DEADLINE, || async { desk.case(&escalated.case_id).await.escalated }).await.unwrap();
    let view = desk.case(&escalated.case_id).await;
    assert_eq!(view.priority, 30, "10 + the escalation");
    assert!(view.escalated && view.reasons.iter().any(|r| r.factor == "escalated"));
    let actions: Vec<&str> = view.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["routed", "escalated", "rescored"]);

    // An agent's request escalates a case it holds: the case keeps its agent and gains the boost.
    desk.agent("agent", 1, &["billing"]).await;
    assert_eq!(desk.next("agent").await.as_deref(), Some(repeat.as_str()));
    desk.accept("agent", &repeat).await;
    let request = pb::EscalateCaseRequest { agent_id: "agent".into(), case_id: repeat.clone(), note: "lawyer".into() };
    desk.agents().escalate_case(request).await.unwrap();
    let view = desk.case(&repeat).await;
    assert_eq!((view.priority, view.state.as_str(), view.assigned_agent.as_str()), (65, "assigned", "agent"));
}

async fn one_batch_joins_each_customer_and_thread_once_and_a_retry_changes_nothing(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    let open = desk.route("ann", "billing", 30).await;
    let in_thread = |customer: &str, thread: &str| {
        let mut item = Desk::item(customer, "billing", 20, &[]);
        item.post.as_mut().unwrap().thread_id = thread.into();
        item
    };
    let batch = vec![
        Desk::item("ann", "billing", 50, &[]), // joins the case open before the batch
        Desk::item("bob", "billing", 20, &[]), // opens one
        Desk::item("bob", "billing", 40, &[]), // joins the case the batch just opened
        in_thread("cid", "t-1"),               // opens one in thread t-1
        in_thread("dan", "t-1"),               // joins it by the thread
    ];
    let first = desk.route_batch(batch.clone()).await;
    let cases: Vec<&str> = first.iter().map(|r| r.case_id.as_str()).collect();
    let follow_ups: Vec<bool> = first.iter().map(|r| r.follow_up).collect();
    assert_eq!(follow_ups, [true, false, true, false, true]);
    assert_eq!((cases[0], cases[1], cases[3]), (open.as_str(), cases[2], cases[4]));
    assert!(cases[1] != cases[3] && cases[1] != open && cases[3] != open, "{cases:?}");
    assert_eq!(first[2].priority, 50, "bob: the stronger post, 40, plus one repeat contact");

    let again = desk.route_batch(batch).await;
    assert_eq!(again, first, "a retried batch returns the first results");
    for case_id in [cases[0], cases[1], cases[3]] {
        let view = desk.case(case_id).await;
        assert_eq!((view.posts.len(), view.contact_count), (2, 2), "{case_id}");
        let history: Vec<&str> = view.history.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(history, ["routed", "follow_up", "rescored"], "{case_id}: written once");
    }
    let mut queued = desk.queue("billing").await;
    queued.sort();
    let mut expected = vec![cases[0].to_owned(), cases[1].to_owned(), cases[3].to_owned()];
    expected.sort();
    assert_eq!(queued, expected, "three cases queued, each once");
}

async fn routing_restores_the_queues_when_redis_lost_them(redis: TestRedis) {
    let mut desk = Desk::start(redis).await;
    desk.agent("holder", 1, &["billing"]).await;
    let held = desk.route("ann", "billing", 30).await;
    desk.wait(1_000);
    let waiting = desk.route("bob", "billing", 30).await;
    assert_eq!(desk.next("holder").await.as_deref(), Some(held.as_str()));
    desk.accept("holder", &held).await;

    desk.stack.redis.flush_all().await.unwrap();
    desk.routing = desk.stack.node().routing(desk._escalation.addr, None).await.unwrap();

    assert_eq!(desk.queue("billing").await, [waiting]);
    let resolved = desk.agents().resolve_case(Desk::action("holder", &held)).await.unwrap().into_inner();
    assert_eq!(resolved.state, "resolved", "the agent still holds its case");
}

/// Cases whose resolve races a follow-up from the same customer.
const RACES: usize = 40;

async fn a_follow_up_racing_a_resolve_never_puts_the_resolved_case_back(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    desk.agent("ana", RACES as u32, &["billing"]).await;
    let mut held = Vec::new();
    for n in 0..RACES {
        let case_id = desk.route(&format!("racer-{n}"), "billing", 50).await;
        assert_eq!(desk.next("ana").await.as_deref(), Some(case_id.as_str()));
        desk.accept("ana", &case_id).await;
        held.push(case_id);
    }
    let races = held.iter().enumerate().map(|(n, case_id)| {
        let desk = &desk;
        async move {
            let customer = format!("racer-{n}");
            let mut agents = desk.agents();
            let (resolved, follow_up) = tokio::join!(
                agents.resolve_case(Desk::action("ana", case_id)),
                desk.route_with(&customer, "billing", 50, &[])
            );
            (case_id, resolved.map(|r| r.into_inner().state), follow_up)
        }
    });
    let outcomes = futures::future::join_all(races).await;

    let queued = desk.queue("billing").await;
    let mut joined_before_resolve = 0;
    for (case_id, resolved, follow_up) in outcomes {
        let case = desk.case(case_id).await;
        match resolved {
            Ok(state) => assert_eq!((state.as_str(), case.state.as_str()), ("resolved", "resolved")),
            Err(status) => panic!("resolving {case_id} failed: {status:?}"),
        }
        assert!(!queued.contains(case_id), "resolved case {case_id} is back in the queue: {:?}", case.history);
        if follow_up.case_id == *case_id {
            // The follow-up joined the case before the resolve: it is in the case's history, first.
            let actions: Vec<&str> = case.history.iter().map(|e| e.action.as_str()).collect();
            let at = |action| actions.iter().position(|a| *a == action);
            assert!(matches!((at("follow_up"), at("resolved")), (Some(f), Some(r)) if f < r), "{actions:?}");
            joined_before_resolve += 1;
        } else {
            let new = desk.case(&follow_up.case_id).await;
            assert_eq!(new.state, "queued", "the customer's new post opened a case that waits for an agent");
            assert!(queued.contains(&follow_up.case_id), "{} is queued", follow_up.case_id);
        }
    }
    assert_eq!(queued.len(), RACES - joined_before_resolve, "only the new cases wait: {queued:?}");
    let load = desk.presence("ana", pb::Presence::Available, RACES as u32, &["billing"]).await.cases;
    assert!(load.is_empty(), "every case ana held is resolved, none left in her load: {load:?}");
    let mut offered = Vec::new();
    while let Some(case_id) = desk.next("ana").await {
        desk.accept("ana", &case_id).await;
        offered.push(case_id);
    }
    assert_eq!(offered, queued, "ana is offered exactly the waiting cases, in order");
    eprintln!("{joined_before_resolve} of {RACES} follow-ups joined their case before the resolve");
}

async fn a_case_the_record_resolved_is_never_offered_even_if_redis_has_it(redis: TestRedis) {
    let desk = Desk::start(redis).await;
    desk.agent("ana", 2, &["billing"]).await;
    let case_id = desk.route("sam", "billing", 40).await;
    assert_eq!(desk.next("ana").await.as_deref(), Some(case_id.as_str()));
    desk.accept("ana", &case_id).await;
    desk.agents().resolve_case(Desk::action("ana", &case_id)).await.unwrap();
    // Redis gets the case back, as a writer racing the resolve (or a lost forget) could leave it.
    let queues = earshot_queue::Queues::connect(&desk.stack.redis.url()).await.unwrap();
    let entry = earshot_queue::CaseEntry {
        case_id: case_id.clone(),
        queue: "billing".into(),
        priority: 40,
        enqueued_at_ms: 0,
        score: 0,
        language: "en".into(),
    };
    queues.upsert("default", &entry).await.unwrap();
    assert_eq!(desk.queue("billing").await, std::slice::from_ref(&case_id));

    assert_eq!(desk.next("ana").await, None, "the record wins: nothing to offer");
    assert!(desk.queue("billing").await.is_empty(), "and the leftover is gone");
    assert_eq!(desk.case(&case_id).await.state, "resolved");
}

on_single_and_cluster!(
    a_follow_up_racing_a_resolve_never_puts_the_resolved_case_back,
    a_case_the_record_resolved_is_never_offered_even_if_redis_has_it,
    an_offer_nobody_accepts_keeps_its_place_and_the_agent_goes_away,
    a_rejected_case_keeps_its_place_and_is_never_offered_to_that_agent_again,
    a_follow_up_sticks_to_its_owner_while_the_owner_is_available,
    a_follow_up_the_owner_leaves_unanswered_goes_back_in_its_place,
    an_agent_waiting_for_work_gets_it_the_moment_it_is_eligible,
    a_transferred_case_keeps_its_place_in_the_new_queue,
    repeat_contacts_and_escalations_rescore_a_queued_case_in_place,
    one_batch_joins_each_customer_and_thread_once_and_a_retry_changes_nothing,
    routing_restores_the_queues_when_redis_lost_them,
);
