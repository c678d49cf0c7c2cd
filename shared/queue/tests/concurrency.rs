//! Many agents pulling from several queues while cases arrive: every case is offered to at most
//! one agent at a time and exactly once in all, no agent ever holds more than its capacity, and
//! each queue is served in score order. On a single Redis and on a 3-master Redis Cluster.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use earshot_queue::{AgentState, CaseEntry, NextCase, Queues, Settle, effective_score};
use earshot_testkit::{RedisCluster, RedisServer};

const AGENTS: usize = 20;
const QUEUES: [&str; 5] = ["billing", "delivery", "account", "technical", "general"];
const CASES: usize = 10_000;
const CREDIT_MS: i64 = 60_000;

struct Offer {
    agent: usize,
    /// The agent's own count of offers so far: each agent calls sequentially, so its offers are
    /// in the order the scripts ran.
    turn: usize,
    queue: usize,
    score: i64,
}

#[derive(Default)]
struct Ledger {
    held: HashMap<String, usize>,
    offers: HashMap<String, Offer>,
    violations: Vec<String>,
}

fn case(i: usize) -> CaseEntry {
    let priority = ((i * 37) % 101) as u32;
    let enqueued_at_ms = i as i64 * 1_000;
    CaseEntry {
        case_id: format!("c{i:05}"),
        queue: QUEUES[i % QUEUES.len()].to_owned(),
        priority,
        enqueued_at_ms,
        score: effective_score(enqueued_at_ms, priority, CREDIT_MS),
        language: String::new(),
    }
}

/// Agents pull until every case has been offered once (or a generous bound of attempts).
async fn agents_drain(queues: &Queues, ledger: &Arc<Mutex<Ledger>>, arrived: &Arc<AtomicU64>) {
    let mut tasks = Vec::new();
    for a in 0..AGENTS {
        let queues = queues.clone();
        let ledger = Arc::clone(ledger);
        let arrived = Arc::clone(arrived);
        tasks.push(tokio::spawn(async move {
            let agent = format!("agent{a}");
            let capacity = 1 + a % 3;
            let skills: Vec<String> = (0..3).map(|k| QUEUES[(a + k) % QUEUES.len()].to_owned()).collect();
            let state = AgentState {
                agent_id: agent.clone(),
                presence: "available".into(),
                capacity: capacity as u32,
                skills,
                languages: vec![],
            };
            queues.set_agent("t", &state).await.unwrap();
            let mut mine: Vec<String> = Vec::new();
            let mut turn = 0;
            let mut idle_rounds = 0;
            for _ in 0..200_000 {
                match queues.next_case("t", &agent, 0, 120_000).await.unwrap() {
                    NextCase::Offered { case_id, .. } => {
                        idle_rounds = 0;
                        turn += 1;
                        let index: usize = case_id[1..].parse().unwrap();
                        let entry = case(index);
                        let mut ledger = ledger.lock().unwrap();
                        if let Some(other) = ledger.held.insert(case_id.clone(), a) {
                            ledger.violations.push(format!("{case_id} offered to agent{a} while agent{other} held it"));
                        }
                        let queue = QUEUES.iter().position(|q| *q == entry.queue).unwrap();
                        if ledger
                            .offers
                            .insert(case_id.clone(), Offer { agent: a, turn, queue, score: entry.score })
                            .is_some()
                        {
                            ledger.violations.push(format!("{case_id} offered twice"));
                        }
                        mine.push(case_id);
                        if mine.len() > capacity {
                            ledger.violations.push(format!("agent{a} holds {} > capacity {capacity}", mine.len()));
                        }
                    }
                    NextCase::AtCapacity => {}
                    NextCase::Empty => {
                        idle_rounds += 1;
                        if arrived.load(Ordering::SeqCst) as usize == CASES && idle_rounds > 50 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    NextCase::Unavailable => panic!("agent{a} is unavailable"),
                }
                // Work the oldest held case: accept it, then resolve it (frees capacity at once).
                if mine.len() == capacity || !mine.is_empty() && a % 2 == 0 {
                    let done = mine.remove(0);
                    ledger.lock().unwrap().held.remove(&done);
                    assert!(queues.settle("t", &agent, &done, Settle::Accept).await.unwrap());
                    assert!(queues.forget("t", &done).await.unwrap());
                }
            }
            for done in mine {
                ledger.lock().unwrap().held.remove(&done);
                assert!(queues.forget("t", &done).await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn many_agents_many_cases(url: &str) {
    let queues = Queues::connect(url).await.unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let arrived = Arc::new(AtomicU64::new(0));
    let producer = {
        let queues = queues.clone();
        let arrived = Arc::clone(&arrived);
        tokio::spawn(async move {
            for i in 0..CASES {
                queues.upsert("t", &case(i)).await.unwrap();
                arrived.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    agents_drain(&queues, &ledger, &arrived).await;
    producer.await.unwrap();
    {
        let ledger = ledger.lock().unwrap();
        assert!(ledger.violations.is_empty(), "{:?}", &ledger.violations[..ledger.violations.len().min(5)]);
        let offered: HashSet<&String> = ledger.offers.keys().collect();
        assert_eq!(offered.len(), CASES, "every case offered exactly once, none lost");
    }
    for queue in QUEUES {
        assert_eq!(queues.depth("t", queue).await.unwrap(), 0);
    }
}

async fn a_full_queue_is_served_in_score_order(url: &str) {
    let queues = Queues::connect(url).await.unwrap();
    for i in 0..2_000 {
        queues.upsert("t", &case(i)).await.unwrap();
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let arrived = Arc::new(AtomicU64::new(CASES as u64));
    agents_drain(&queues, &ledger, &arrived).await;
    let ledger = ledger.lock().unwrap();
    assert!(ledger.violations.is_empty(), "{:?}", ledger.violations);
    assert_eq!(ledger.offers.len(), 2_000);
    // With every case queued before the agents start, a queue's best score only grows as it
    // drains: whatever one agent takes from a queue must come after what it took before. (Offers
    // of different agents are not compared: their records can race; one agent's cannot.)
    for (queue, name) in QUEUES.iter().enumerate() {
        for agent in 0..AGENTS {
            let mut taken: Vec<&Offer> =
                ledger.offers.values().filter(|o| o.queue == queue && o.agent == agent).collect();
            taken.sort_by_key(|o| o.turn);
            for pair in taken.windows(2) {
                assert!(pair[0].score <= pair[1].score, "agent{agent} was served {name} out of order");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_many_agents_many_cases() {
    let redis = RedisServer::start().await.unwrap();
    many_agents_many_cases(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_many_agents_many_cases() {
    let redis = RedisCluster::start().await.unwrap();
    many_agents_many_cases(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_a_full_queue_is_served_in_score_order() {
    let redis = RedisServer::start().await.unwrap();
    a_full_queue_is_served_in_score_order(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_full_queue_is_served_in_score_order() {
    let redis = RedisCluster::start().await.unwrap();
    a_full_queue_is_served_in_score_order(&redis.url()).await;
}
