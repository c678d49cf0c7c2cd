//! The queue scripts against a real redis-server.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use earshot_queue::{AgentState, CaseEntry, Leases, NextCase, Queues, Settle, Wake, Wakeups, effective_score};
use earshot_testkit::{TestRedis, on_single_and_cluster, wait_until};

const CREDIT: i64 = 60_000;

fn entry(case_id: &str, queue: &str, priority: u32, enqueued_at_ms: i64, language: &str) -> CaseEntry {
    CaseEntry {
        case_id: case_id.into(),
        queue: queue.into(),
        priority,
        enqueued_at_ms,
        score: effective_score(enqueued_at_ms, priority, CREDIT),
        language: language.into(),
    }
}

fn agent(id: &str, capacity: u32, skills: &[&str], languages: &[&str]) -> AgentState {
    AgentState {
        agent_id: id.into(),
        presence: "available".into(),
        capacity,
        skills: skills.iter().map(|s| s.to_string()).collect(),
        languages: languages.iter().map(|s| s.to_string()).collect(),
    }
}

async fn offered(queues: &Queues, agent: &str, now: i64) -> Option<String> {
    match queues.next_case("t", agent, now, 120_000).await.unwrap() {
        NextCase::Offered { case_id, .. } => Some(case_id),
        _ => None,
    }
}

async fn best_case_across_queues_within_capacity_and_language(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    queues.upsert("t", &entry("c_old_low", "billing", 10, 0, "en")).await.unwrap();
    queues.upsert("t", &entry("c_new_high", "delivery", 90, 30 * 60_000, "en")).await.unwrap();
    queues.upsert("t", &entry("c_spanish", "billing", 100, 0, "es")).await.unwrap();
    queues.upsert("u", &entry("c_other_tenant", "billing", 100, 0, "en")).await.unwrap();
    queues.set_agent("t", &agent("a1", 2, &["billing", "delivery"], &["en"])).await.unwrap();

    assert_eq!(offered(&queues, "a1", 0).await.as_deref(), Some("c_new_high"));
    assert_eq!(offered(&queues, "a1", 0).await.as_deref(), Some("c_old_low"));
    assert_eq!(queues.next_case("t", "a1", 0, 120_000).await.unwrap(), NextCase::AtCapacity);
    assert!(queues.forget("t", "c_new_high").await.unwrap());
    assert!(queues.forget("t", "c_old_low").await.unwrap());
    assert_eq!(queues.next_case("t", "a1", 0, 120_000).await.unwrap(), NextCase::Empty, "spanish needs a speaker");
    assert_eq!(queues.next_case("t", "ghost", 0, 120_000).await.unwrap(), NextCase::Unavailable);
}

async fn expired_or_rejected_offers_keep_their_place(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    queues.upsert("t", &entry("c1", "general", 50, 0, "")).await.unwrap();
    queues.upsert("t", &entry("c2", "general", 50, 1_000, "")).await.unwrap();
    queues.set_agent("t", &agent("slow", 1, &["general"], &[])).await.unwrap();
    queues.set_agent("t", &agent("picky", 1, &["general"], &[])).await.unwrap();

    assert_eq!(offered(&queues, "slow", 0).await.as_deref(), Some("c1"));
    assert!(queues.expire_leases("t", 119_999, 10).await.unwrap().is_empty());
    let expired = queues.expire_leases("t", 120_000, 10).await.unwrap();
    assert_eq!(expired, vec![("c1".to_string(), "slow".to_string())]);
    assert_eq!(queues.next_case("t", "slow", 0, 1).await.unwrap(), NextCase::Unavailable, "marked away");
    assert_eq!(queues.queue_head("t", "general", 10).await.unwrap()[0].0, "c1", "original place");

    assert_eq!(offered(&queues, "picky", 0).await.as_deref(), Some("c1"));
    assert!(queues.settle("t", "picky", "c1", Settle::Reject).await.unwrap());
    assert_eq!(queues.queue_head("t", "general", 10).await.unwrap()[0].0, "c1");
    assert_eq!(offered(&queues, "picky", 0).await.as_deref(), Some("c2"), "never re-offered to who rejected");
    assert!(!queues.settle("t", "slow", "c2", Settle::Accept).await.unwrap(), "not slow's offer");
    assert!(queues.settle("t", "picky", "c2", Settle::Accept).await.unwrap());
    assert!(queues.expire_leases("t", i64::MAX / 2, 10).await.unwrap().is_empty(), "accepted has no lease");
}

/// Cases ahead of the one an agent can take: more than one page of the scan.
const PASSED_OVER: usize = 130;

async fn an_agent_is_offered_a_case_behind_many_it_cannot_take(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    let ahead: Vec<CaseEntry> =
        (0..PASSED_OVER).map(|i| entry(&format!("c_es_{i:03}"), "general", 50, i as i64, "es")).collect();
    queues.upsert_all("t", &ahead).await.unwrap();
    queues.upsert("t", &entry("c_en", "general", 50, PASSED_OVER as i64, "en")).await.unwrap();
    queues.set_agent("t", &agent("anglo", 1, &["general"], &["en"])).await.unwrap();
    assert_eq!(offered(&queues, "anglo", 0).await.as_deref(), Some("c_en"), "found past {PASSED_OVER} it cannot read");
}

async fn follow_ups_rescore_in_place_and_stick_to_the_agent(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    queues.upsert("t", &entry("c1", "general", 10, 0, "en")).await.unwrap();
    queues.upsert("t", &entry("c2", "general", 20, 0, "en")).await.unwrap();
    assert_eq!(queues.queue_head("t", "general", 1).await.unwrap()[0].0, "c2");
    assert_eq!(queues.upsert("t", &entry("c1", "general", 30, 0, "en")).await.unwrap(), "queued");
    assert_eq!(queues.queue_head("t", "general", 1).await.unwrap()[0].0, "c1", "re-scored in place");

    queues.set_agent("t", &agent("a", 5, &["general"], &[])).await.unwrap();
    assert_eq!(offered(&queues, "a", 0).await.as_deref(), Some("c1"));
    assert!(queues.settle("t", "a", "c1", Settle::Accept).await.unwrap());
    assert_eq!(queues.upsert("t", &entry("c1", "billing", 80, 0, "en")).await.unwrap(), "assigned");
    assert_eq!(queues.depth("t", "billing").await.unwrap(), 0, "stays with its agent");

    assert!(queues.settle("t", "a", "c1", Settle::Transfer("billing")).await.unwrap());
    assert_eq!(
        queues.queue_head("t", "billing", 1).await.unwrap()[0],
        ("c1".to_string(), effective_score(0, 80, CREDIT))
    );
    assert!(queues.agent_cases("t", "a").await.unwrap().is_empty());
    assert_eq!(queues.queue_names("t").await.unwrap(), vec!["billing", "general"]);
}

async fn restore_puts_back_only_what_redis_lost(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    queues.upsert("t", &entry("c_live", "general", 10, 0, "")).await.unwrap();
    assert!(!queues.restore("t", &entry("c_live", "billing", 99, 0, ""), None).await.unwrap(), "redis is fresher");
    assert!(queues.restore("t", &entry("c_lost", "general", 50, 0, ""), None).await.unwrap());
    assert!(queues.restore("t", &entry("c_held", "general", 50, 0, ""), Some("a")).await.unwrap());
    let head: Vec<String> =
        queues.queue_head("t", "general", 10).await.unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(head, ["c_lost", "c_live"]);
    assert_eq!(queues.agent_cases("t", "a").await.unwrap(), ["c_held"]);
    assert!(queues.forget("t", "c_held").await.unwrap(), "a held case is forgotten with its holder's load");
    assert!(queues.agent_cases("t", "a").await.unwrap().is_empty());
    assert!(queues.forget("t", "c_lost").await.unwrap(), "a queued one leaves its queue");
    let head: Vec<String> =
        queues.queue_head("t", "general", 10).await.unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(head, ["c_live"]);
    assert!(!queues.forget("t", "c_lost").await.unwrap(), "forgetting twice finds nothing");
}

async fn a_watcher_waits_through_quiet_periods_and_resumes_from_its_cursor(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    let stream = earshot_queue::EventStream::new(queues, url, "test", 100).unwrap();
    let mut reader = stream.reader().await.unwrap();
    let start = stream.latest_cursor("t").await.unwrap();
    // Two quiet blocks in a row: longer than the client's default response timeout.
    assert!(stream.read_after(&mut reader, "t", &start, 700).await.unwrap().is_empty());
    assert!(stream.read_after(&mut reader, "t", &start, 700).await.unwrap().is_empty());
    let first = stream.publish("t", "v1", "one").await.unwrap();
    stream.publish("t", "v2", "two").await.unwrap();
    assert_eq!(stream.publish("t", "v1", "one").await.unwrap(), first, "an event id is published once");
    let events = stream.read_after(&mut reader, "t", &start, 700).await.unwrap();
    assert_eq!(events.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    let resumed = stream.read_after(&mut reader, "t", &first, 700).await.unwrap();
    assert_eq!(resumed.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(), ["two"]);
    assert!(stream.read_after(&mut reader, "u", "0-0", 10).await.unwrap().is_empty(), "tenants have their own streams");
}

async fn an_unanswered_follow_up_returns_the_case_to_its_queue(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    queues.set_agent("t", &agent("owner", 2, &["general"], &[])).await.unwrap();
    queues.upsert("t", &entry("c1", "general", 10, 0, "")).await.unwrap();
    queues.upsert("t", &entry("c2", "general", 10, 1, "")).await.unwrap();
    for case in ["c1", "c2"] {
        assert_eq!(offered(&queues, "owner", 0).await.as_deref(), Some(case));
        assert!(queues.settle("t", "owner", case, Settle::Accept).await.unwrap());
        queues.await_answer("t", case, 1_000).await.unwrap();
    }
    queues.answered("t", "c2").await.unwrap();
    assert!(queues.expire_sticky("t", 999, 10).await.unwrap().is_empty());
    assert_eq!(queues.expire_sticky("t", 1_000, 10).await.unwrap(), vec![("c1".to_string(), "owner".to_string())]);
    assert_eq!(
        queues.queue_head("t", "general", 10).await.unwrap()[0],
        ("c1".to_string(), effective_score(0, 10, CREDIT))
    );
    assert_eq!(queues.agent_cases("t", "owner").await.unwrap(), ["c2"], "the answered case stays");
}

async fn a_batch_upserts_in_one_round_trip_even_after_redis_forgets_its_scripts(redis: TestRedis) {
    let url = &redis.url();
    let queues = Queues::connect(url).await.unwrap();
    // A fresh Redis has never seen the script: the batch loads it and runs.
    let batch =
        [entry("c1", "general", 10, 0, ""), entry("c2", "general", 90, 0, ""), entry("c3", "billing", 50, 0, "")];
    assert_eq!(queues.upsert_all("t", &batch).await.unwrap(), ["queued", "queued", "queued"]);
    queues.set_agent("t", &agent("a1", 1, &["general"], &[])).await.unwrap();
    assert_eq!(offered(&queues, "a1", 0).await.as_deref(), Some("c2"));

    let mut conn = earshot_queue::Connection::open(url).await.unwrap();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
    let again = [entry("c2", "general", 95, 0, ""), entry("c1", "general", 80, 0, "")];
    assert_eq!(queues.upsert_all("t", &again).await.unwrap(), ["offered", "queued"], "an offered case stays offered");
    assert_eq!(
        queues.queue_head("t", "general", 10).await.unwrap(),
        [("c1".to_string(), effective_score(0, 80, CREDIT))]
    );
    assert_eq!(queues.depth("t", "billing").await.unwrap(), 1);
    assert!(queues.upsert_all("t", &[]).await.unwrap().is_empty());
}

async fn a_lease_has_one_holder_until_let_go_or_lapsed(redis: TestRedis) {
    let queues = Queues::connect(&redis.url()).await.unwrap();
    // Long enough that no step below outlasts it on a busy machine, but for the one waiting it out.
    let first = Leases::new(&queues, "replica-1", Duration::from_secs(2));
    let second = Leases::new(&queues, "replica-2", Duration::from_secs(2));
    assert!(first.hold("outbox").await.unwrap());
    assert!(!second.hold("outbox").await.unwrap(), "held by the first");
    assert!(first.hold("outbox").await.unwrap(), "its holder renews it");
    assert_eq!(second.release(["outbox"]).await.unwrap(), 0, "only the holder lets go");
    assert_eq!(first.release(["outbox"]).await.unwrap(), 1);
    assert!(second.hold("outbox").await.unwrap(), "free once let go");
    assert!(!first.hold("outbox").await.unwrap());
    // A holder that stops renewing (it died) loses the lease within its time to live.
    wait_until(Duration::from_secs(20), || async { first.hold("outbox").await.unwrap() }).await.unwrap();
    assert_eq!(first.hold_each(["outbox", "other"]).await.unwrap(), [true, true]);
    assert_eq!(second.hold_each(["outbox", "third"]).await.unwrap(), [false, true]);
    assert_eq!(first.release_all().await.unwrap(), 2, "a clean stop lets go of all it holds");
    assert_eq!(second.hold_each(["outbox", "other"]).await.unwrap(), [true, true], "taken over at once");
}

async fn replicas_split_a_group_of_leases_fairly(redis: TestRedis) {
    let queues = Queues::connect(&redis.url()).await.unwrap();
    let ttl = Duration::from_secs(30);
    let (first, second) = (Leases::new(&queues, "replica-1", ttl), Leases::new(&queues, "replica-2", ttl));
    let tenants: Vec<String> = (1..=5).map(|n| format!("pipeline:t{n}")).collect();
    assert_eq!(first.hold_share("pipeline", &tenants).await.unwrap(), [true; 5], "alone, it works every backlog");
    assert_eq!(second.hold_share("pipeline", &tenants).await.unwrap(), [false; 5], "nothing is free yet");
    let mine = first.hold_share("pipeline", &tenants).await.unwrap();
    assert_eq!(
        mine,
        [true, true, true, false, false],
        "with two members it keeps its share, 3 of 5, and frees the rest"
    );
    let theirs = second.hold_share("pipeline", &tenants).await.unwrap();
    assert_eq!(theirs, [false, false, false, true, true], "the newcomer takes what was freed");
    assert_eq!(first.hold_share("pipeline", &tenants).await.unwrap(), mine, "shares are stable");
    let third = Leases::new(&queues, "replica-3", ttl);
    assert!(third.hold_share("pipeline", &[]).await.unwrap().is_empty(), "idle, it only joins the group");
    assert_eq!(first.hold_share("pipeline", &tenants).await.unwrap(), [true, true, false, false, false], "2 of 5 now");
}

async fn a_wake_up_reaches_every_replica(redis: TestRedis) {
    let url = redis.url();
    let here = Wakeups::new(&Queues::connect(&url).await.unwrap(), "es:wake:test", Wake::Waiting);
    let there = Wakeups::new(&Queues::connect(&url).await.unwrap(), "es:wake:test", Wake::Waiting);
    let listening = tokio::spawn(there.clone().listen_forever(url.clone()));
    // Published before the listener subscribed is lost (a wake-up carries nothing): send until heard.
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let woken = there.notified();
            here.wake();
            if tokio::time::timeout(Duration::from_millis(200), woken).await.is_ok() {
                break;
            }
        }
    })
    .await;
    listening.abort();
    assert!(heard.is_ok(), "the other replica heard the wake-up");
}

async fn a_restored_agent_keeps_what_redis_knows(redis: TestRedis) {
    let queues = Queues::connect(&redis.url()).await.unwrap();
    queues.upsert("t", &entry("c1", "general", 50, 0, "")).await.unwrap();
    let mut away = agent("a1", 1, &["general"], &[]);
    away.presence = "away".into();
    queues.set_agent("t", &away).await.unwrap();
    queues.restore_agent("t", &agent("a1", 1, &["general"], &[])).await.unwrap();
    assert_eq!(queues.next_case("t", "a1", 0, 120_000).await.unwrap(), NextCase::Unavailable, "still away");
    queues.restore_agent("t", &agent("a2", 1, &["general"], &[])).await.unwrap();
    assert_eq!(offered(&queues, "a2", 0).await.as_deref(), Some("c1"), "an agent Redis lost is back whole");
}

on_single_and_cluster!(
    a_lease_has_one_holder_until_let_go_or_lapsed,
    replicas_split_a_group_of_leases_fairly,
    a_wake_up_reaches_every_replica,
    a_restored_agent_keeps_what_redis_knows,
    a_batch_upserts_in_one_round_trip_even_after_redis_forgets_its_scripts,
    an_unanswered_follow_up_returns_the_case_to_its_queue,
    best_case_across_queues_within_capacity_and_language,
    an_agent_is_offered_a_case_behind_many_it_cannot_take,
    expired_or_rejected_offers_keep_their_place,
    follow_ups_rescore_in_place_and_stick_to_the_agent,
    restore_puts_back_only_what_redis_lost,
    a_watcher_waits_through_quiet_periods_and_resumes_from_its_cursor
);
