//! Crash drills on real processes under load: each service SIGKILLed in turn, and Redis killed and
//! restarted empty, while a client keeps submitting and retries whatever was not acknowledged.
//! Afterwards every acknowledged post is routed, each customer has one case, and each case waits
//! in exactly one queue, once.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use earshot_auth::AuthChannel;
use earshot_e2e::post;
use earshot_e2e::process::{Processes, Service};
use earshot_proto::v1 as pb;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_testkit::TestRedis;

/// Posts per batch the load client sends.
const BATCH: usize = 50;
/// How long the load client keeps retrying one batch before the drill fails.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// How long everything acknowledged may take to be routed once the drill is over.
const DRAIN_DEADLINE: Duration = Duration::from_secs(120);

/// Posts per second the load client offers (a debug build acknowledges far more).
const LOAD_RATE: usize = 400;

/// A post of customer `n` (each writes twice: `round` 0 and 1).
fn load_post(n: usize, round: usize) -> pb::Post {
    let text = if round == 0 { "my order never arrived and nobody answers" } else { "still waiting, any news?" };
    post(&format!("load-{round}-{n}"), &format!("customer-{n}"), 10 + n as u64, text)
}

/// What the client got acknowledged: `(customer, post_id)`.
type Acknowledged = Vec<(String, String)>;

/// Every customer's first post, then every customer's second.
fn in_rounds(customers: usize) -> Vec<pb::Post> {
    (0..2).flat_map(|round| (0..customers).map(move |n| load_post(n, round))).collect()
}

/// Each customer's two posts one after the other: early customers are done before late ones start.
fn in_pairs(customers: usize) -> Vec<pb::Post> {
    (0..customers).flat_map(|n| (0..2).map(move |round| load_post(n, round))).collect()
}

/// Submits `posts` in batches at about `per_second`, resending a batch until it is acknowledged,
/// as an integrating platform would; counts acknowledged posts in `progress`.
async fn submit_load(
    client: IngestServiceClient<AuthChannel>,
    posts: Vec<pb::Post>,
    per_second: usize,
    progress: Arc<AtomicUsize>,
) -> anyhow::Result<Acknowledged> {
    let mut acknowledged = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_secs_f64(BATCH as f64 / per_second as f64));
    for batch in posts.chunks(BATCH) {
        pace.tick().await;
        let started = Instant::now();
        let response = loop {
            let request = pb::SubmitPostsRequest { posts: batch.to_vec() };
            match client.clone().submit_posts(request).await {
                Ok(response) => break response.into_inner(),
                Err(status) if started.elapsed() < RETRY_FOR => {
                    tracing::debug!(%status, "resending a batch");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => anyhow::bail!("a batch was refused for {RETRY_FOR:?}: {status}"),
            }
        };
        anyhow::ensure!(
            response.results.len() == batch.len(),
            "{} results for {} posts",
            response.results.len(),
            batch.len()
        );
        for (post, result) in batch.iter().zip(response.results) {
            let customer = post.author.as_ref().map(|a| a.external_id.clone()).unwrap_or_default();
            acknowledged.push((customer, result.post_id));
        }
        progress.store(acknowledged.len(), Ordering::Relaxed);
    }
    Ok(acknowledged)
}

/// What a drill ends with.
#[derive(Debug)]
struct Figures {
    acknowledged: usize,
    routed: usize,
    customers: usize,
    /// Customers whose posts went to more than one case.
    split_customers: usize,
    /// Queue entries over all queues, and distinct cases among them.
    queued_entries: usize,
    queued_cases: usize,
    /// Routed cases in no queue, and queued cases no acknowledged post was routed to.
    unqueued: usize,
    strays: usize,
    /// From the end of the load until every acknowledged post was seen routed (read one by one).
    drain: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acknowledged, {} routed, {} lost; {} customers, {} with two cases; {} queue entries for {} cases \
             ({} routed cases unqueued, {} strays); drained {:.1} s after the load",
            self.acknowledged,
            self.routed,
            self.acknowledged - self.routed,
            self.customers,
            self.split_customers,
            self.queued_entries,
            self.queued_cases,
            self.unqueued,
            self.strays,
            self.drain.as_secs_f64()
        )
    }
}

/// Waits until every acknowledged post is routed (or the deadline passes), then counts.
async fn settle(processes: &Processes, acknowledged: &Acknowledged) -> Figures {
    let client = processes.ingest_client().unwrap();
    let load_over = Instant::now();
    let mut cases_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut routed = 0;
    for (customer, post_id) in acknowledged {
        let case_id = RefCell::new(None);
        let _ = earshot_testkit::wait_until(DRAIN_DEADLINE.saturating_sub(load_over.elapsed()), || {
            let (mut client, post_id, case_id) = (client.clone(), post_id.clone(), &case_id);
            async move {
                let record = client.get_post(pb::GetPostRequest { post_id }).await.map(|r| r.into_inner());
                let routed = record.ok().filter(|record| record.state == "routed");
                routed.map(|record| case_id.replace(Some(record.case_id))).is_some()
            }
        })
        .await;
        if let Some(case_id) = case_id.into_inner() {
            routed += 1;
            cases_of.entry(customer).or_default().insert(case_id);
        }
    }
    let drain = load_over.elapsed();
    let routed_cases: BTreeSet<&String> = cases_of.values().flatten().collect();
    let cases = routed_cases.len();
    let queues = earshot_queue::Queues::connect(&processes.redis.url()).await.unwrap();
    let queued = RefCell::new(Vec::new());
    // What Redis lost comes back from routing's database in the background; give it time.
    let _ = earshot_testkit::wait_until(Duration::from_secs(30), || {
        let (queues, queued) = (&queues, &queued);
        async move {
            let mut entries = Vec::new();
            for queue in queues.queue_names("default").await.unwrap_or_default() {
                let head = queues.queue_head("default", &queue, u32::MAX).await.unwrap_or_default();
                entries.extend(head.into_iter().map(|(case_id, _)| case_id));
            }
            let enough = entries.len() >= cases;
            queued.replace(entries);
            enough
        }
    })
    .await;
    let queued = queued.into_inner();
    let queued_set: BTreeSet<&String> = queued.iter().collect();
    Figures {
        unqueued: routed_cases.difference(&queued_set).count(),
        strays: queued_set.difference(&routed_cases).count(),
        acknowledged: acknowledged.len(),
        routed,
        customers: cases_of.len(),
        split_customers: cases_of.values().filter(|cases| cases.len() > 1).count(),
        queued_entries: queued.len(),
        queued_cases: queued_set.len(),
        drain,
    }
}

impl Figures {
    /// Fails the test unless nothing was lost or doubled.
    fn assert_whole(&self, customers: usize, logs: impl FnOnce() -> String) {
        let whole = self.acknowledged == 2 * customers
            && self.routed == self.acknowledged
            && self.customers == customers
            && self.split_customers == 0
            && self.queued_entries == customers
            && self.queued_cases == customers
            && self.unqueued == 0
            && self.strays == 0;
        assert!(whole, "{self} for {customers} customers writing twice{}", logs());
    }
}

/// A load client submitting to a stack of processes in the background.
struct Load {
    progress: Arc<AtomicUsize>,
    started: Instant,
    task: tokio::task::JoinHandle<anyhow::Result<Acknowledged>>,
}

impl Load {
    /// Starts submitting `posts` to `processes` at about `per_second`.
    fn start(processes: &Processes, posts: Vec<pb::Post>, per_second: usize) -> Self {
        let progress = Arc::new(AtomicUsize::new(0));
        let client = processes.ingest_client().unwrap();
        let task = tokio::spawn(submit_load(client, posts, per_second, progress.clone()));
        Self { progress, started: Instant::now(), task }
    }

    /// Posts acknowledged so far.
    fn acknowledged(&self) -> usize {
        self.progress.load(Ordering::Relaxed)
    }

    /// Waits until `count` posts are acknowledged (or the load is over).
    async fn until(&self, count: usize) {
        let _ = earshot_testkit::wait_until(RETRY_FOR, || async {
            self.acknowledged() >= count || self.task.is_finished()
        })
        .await;
    }

    /// Waits for the last acknowledgement.
    async fn finish(self) -> Acknowledged {
        let acknowledged = self.task.await.unwrap().unwrap();
        eprintln!("{} acknowledged in {:.1} s", acknowledged.len(), self.started.elapsed().as_secs_f64());
        acknowledged
    }
}

/// Customers of the kill drill; each writes twice (all first posts, then all second posts, so
/// follow-ups arrive across the later kills).
const KILL_CUSTOMERS: usize = 3_000;
/// How long a killed service stays down.
const KILLED_FOR: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_killed_in_turn_under_load_loses_and_doubles_nothing() {
    let mut processes = Processes::start(TestRedis::single().await.unwrap(), &[]).await.unwrap();
    let load = Load::start(&processes, in_rounds(KILL_CUSTOMERS), LOAD_RATE);
    let total = 2 * KILL_CUSTOMERS;
    let order = [Service::Routing, Service::Classify, Service::Escalation, Service::Ingest];
    for (turn, service) in order.into_iter().enumerate() {
        load.until((turn + 1) * total / (order.len() + 2)).await;
        let at = load.acknowledged();
        processes.kill(service).await.unwrap();
        tokio::time::sleep(KILLED_FOR).await;
        processes.restart(service).await.unwrap();
        let back = load.started.elapsed().as_secs_f64();
        eprintln!("{} SIGKILLed at {at}/{total} acknowledged, back after {back:.1} s", service.name());
    }
    let acknowledged = load.finish().await;
    let figures = settle(&processes, &acknowledged).await;
    eprintln!("kill drill: {figures}");
    figures.assert_whole(KILL_CUSTOMERS, || processes.log_tails());
}

/// Customers of the Redis drill; Redis restarts once half their posts are acknowledged, so the
/// first half of them never write again and their cases come back only from routing's record.
const REDIS_CUSTOMERS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_empty_under_load_loses_and_doubles_nothing() {
    let mut processes = Processes::start(TestRedis::single().await.unwrap(), &[]).await.unwrap();
    let load = Load::start(&processes, in_pairs(REDIS_CUSTOMERS), LOAD_RATE / 2);
    load.until(REDIS_CUSTOMERS).await;
    let at = load.acknowledged();
    processes.redis.restart_empty().await.unwrap();
    eprintln!("redis restarted empty at {at}/{} acknowledged", 2 * REDIS_CUSTOMERS);
    let acknowledged = load.finish().await;
    let figures = settle(&processes, &acknowledged).await;
    eprintln!("redis drill: {figures}");
    figures.assert_whole(REDIS_CUSTOMERS, || processes.log_tails());
}
