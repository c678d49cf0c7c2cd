//! `earshotctl replay`: would agents have reached the unhappy customers first?
//!
//! A replay runs its own Earshot: the four real services embedded in this process on loopback, a
//! private `redis-server` and SQLite files in a temporary folder, all reading a clock that runs
//! `--speed` times faster than the wall, so leases, the priority credit and SLA timers all act in
//! simulated time. It feeds the file's posts in at the moments they came (quiet periods cut
//! short), lets simulated agents work the queues (long-poll `NextCase`, accept, answer, handle
//! for a drawn time, resolve), and reports how long cases waited for their first offer, per
//! priority band of the case's first post — with Earshot's priority order and with first come,
//! first served, on the same posts and handling times, so the two can be compared.

pub(crate) mod feed;
mod handling;
pub(crate) mod stats;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Context, Result, bail};
use earshot_core::clock::ms_from_timestamp;
use earshot_core::{Clock, ScaledClock, SystemClock};
use earshot_embedded::Node;
use earshot_proto::v1 as pb;
use tokio::sync::Mutex;

use crate::connect::{Endpoints, call_error};
use feed::Arrival;
use handling::{HandleTime, SplitMix, parse_duration_ms};
use stats::{BANDS, BandStats, Waits, short_duration};

/// How routing orders each queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Earshot's effective key: enqueue time minus a minute of head start per priority point.
    Priority,
    /// First come, first served (no head start).
    Fifo,
}

/// `replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Posts to replay: a Customer Support on Twitter CSV (its inbound rows, e.g.
    /// ../shared/data/twcs_sample.csv) or JSONL posts with created_at.
    pub file: String,
    /// Simulated agents (capacity 1, every queue and language); by default enough for 90% load if
    /// every post opened a case (follow-ups join open cases, so the real load is lower).
    #[arg(long)]
    pub agents: Option<u32>,
    /// Handling time per case: exp:MEAN, fixed:D or uniform:MIN..MAX (durations like 90s, 4m, 1h).
    #[arg(long, default_value = "exp:4m")]
    pub handle_time: HandleTime,
    /// Simulated time per unit of wall time.
    #[arg(long, default_value_t = 300.0)]
    pub speed: f64,
    /// Run only this policy; by default both run and the report compares them.
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,
    /// Replay posts from this UTC time on (e.g. 2017-10-31T21:00Z).
    #[arg(long)]
    pub from: Option<String>,
    /// Replay posts before this UTC time.
    #[arg(long)]
    pub until: Option<String>,
    /// Quiet periods in the file longer than this are cut to it.
    #[arg(long, default_value = "2m")]
    pub max_gap: String,
    /// Replay only the first N posts (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Seed of the handling times (the same seed gives both policies the same work).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Agent load the default number of agents aims at.
const TARGET_LOAD: f64 = 0.9;

/// What one policy's replay measured.
struct Outcome {
    waits: Waits,
    /// Simulated ms agents spent handling cases.
    busy_ms: i64,
    /// Simulated ms from the first post to the last offer.
    makespan_ms: i64,
    /// Cases still waiting when the replay gave up draining the queues.
    unserved: u64,
    /// Offers that lapsed before the accept arrived (the replay runs too fast for this machine).
    lapsed: usize,
}

/// Runs the replay and prints the report.
pub async fn run(args: ReplayArgs) -> Result<()> {
    // The embedded services log their warnings and errors (RUST_LOG overrides).
    earshot_telemetry::init_tool_logging("warn");
    if !(1.0..=10_000.0).contains(&args.speed) {
        bail!("--speed {} is outside 1..10000", args.speed);
    }
    let max_gap_ms = parse_duration_ms(&args.max_gap).context("--max-gap")?;
    let from_ms = args.from.as_deref().map(feed::utc_time).transpose().context("--from")?;
    let until_ms = args.until.as_deref().map(feed::utc_time).transpose().context("--until")?;
    let selection = feed::Selection { from_ms, until_ms, max_gap_ms, limit: args.limit };
    let arrivals = feed::load(&args.file, selection)?;
    let span_ms = arrivals.last().map_or(1, |a| a.at_ms).max(1);
    let mean_ms = args.handle_time.mean_ms();
    let work_ms = arrivals.len() as f64 * mean_ms;
    let agents = match args.agents {
        Some(0) => bail!("--agents must be at least 1"),
        Some(agents) => agents,
        None => (work_ms / (span_ms as f64 * TARGET_LOAD)).ceil().max(1.0) as u32,
    };
    outln!(
        "replay: {} posts over {} simulated (quiet periods cut to {}), {agents} agents, handling {} (mean {})",
        arrivals.len(),
        short_duration(span_ms),
        short_duration(max_gap_ms),
        args.handle_time,
        short_duration(mean_ms as i64),
    );
    outln!(
        "offered load at most {:.2} (if every post opened a case; follow-ups join open cases); \
         {:.0}× speed: about {} of wall time per policy",
        work_ms / (span_ms as f64 * f64::from(agents)),
        args.speed,
        short_duration((span_ms as f64 / args.speed) as i64),
    );
    let policies = args.policy.map_or_else(|| vec![Policy::Priority, Policy::Fifo], |p| vec![p]);
    let mut outcomes = Vec::new();
    for policy in policies {
        let outcome = simulate(&args, &arrivals, policy, agents).await?;
        outcomes.push((policy, outcome));
    }
    report(&outcomes, agents, span_ms, mean_ms);
    Ok(())
}

/// One replay of `arrivals` under `policy`, on a fresh Earshot.
async fn simulate(args: &ReplayArgs, arrivals: &[Arrival], policy: Policy, agents: u32) -> Result<Outcome> {
    let redis = earshot_testkit::RedisServer::start().await.context("starting a private redis-server")?;
    let dir = tempfile::tempdir()?;
    let clock = ScaledClock::new(SystemClock.now_ms(), args.speed);
    let mut node = Node::new(redis.url(), dir.path().to_owned(), Arc::new(clock));
    if policy == Policy::Fifo {
        node.priority_credit_ms = 0;
    }
    let services = node.start().await?;
    let endpoints = Endpoints::embedded(&services, &node.service_key, "replay");
    endpoints.ready().await?;

    let shared = Arc::new(Shared::default());
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..agents {
        let agent_id = format!("agent-{:03}", index + 1);
        let request = pb::SetPresenceRequest {
            agent_id: agent_id.clone(),
            presence: pb::Presence::Available as i32,
            capacity: 1,
            ..Default::default()
        };
        endpoints.agents()?.set_presence(endpoints.request(request)?).await.map_err(|s| call_error("routing", s))?;
        let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(index));
        let agent = Agent { endpoints: endpoints.clone(), agent_id, clock, handle: args.handle_time, seed };
        workers.spawn(agent.work(shared.clone()));
    }

    let label = match policy {
        Policy::Priority => "priority",
        Policy::Fifo => "fifo",
    };
    let start_ms = clock.now_ms();
    let progress = Progress::new(label, arrivals.len(), start_ms, clock);
    feed_in(&endpoints, arrivals, clock, start_ms, &progress).await?;
    let unserved = drain(&endpoints, clock, &progress).await?;
    shared.stop.store(true, Ordering::SeqCst);
    workers.abort_all();
    while let Some(joined) = workers.join_next().await {
        if let Ok(Err(error)) = joined {
            return Err(error.context("a simulated agent failed"));
        }
    }
    progress.finish();
    let waits = shared.waits.lock().await.clone();
    Ok(Outcome {
        waits,
        busy_ms: shared.busy_ms.load(Ordering::SeqCst),
        makespan_ms: shared.last_offer_ms.load(Ordering::SeqCst).max(start_ms) - start_ms,
        unserved,
        lapsed: shared.lapsed.load(Ordering::SeqCst),
    })
}

/// Submits each post when its moment comes, in batches of those that are due together.
async fn feed_in(
    endpoints: &Endpoints,
    arrivals: &[Arrival],
    clock: ScaledClock,
    start_ms: i64,
    progress: &Progress,
) -> Result<()> {
    let mut ingest = endpoints.ingest()?;
    let mut next = 0;
    while next < arrivals.len() {
        let due_ms = start_ms + arrivals[next].at_ms;
        let now = clock.now_ms();
        if due_ms > now {
            tokio::time::sleep(clock.wall(due_ms - now)).await;
        }
        let now_offset = clock.now_ms() - start_ms;
        let due = arrivals[next..].iter().take_while(|a| a.at_ms <= now_offset).count().max(1);
        let posts = arrivals[next..next + due].iter().map(|a| a.post.clone()).collect();
        let answer = ingest
            .submit_posts(endpoints.request(pb::SubmitPostsRequest { posts })?)
            .await
            .map_err(|s| call_error("ingest", s))?;
        drop(answer);
        next += due;
        progress.fed(next, endpoints).await;
    }
    Ok(())
}

/// Waits until no case is waiting or offered (every post routed and offered), or gives up after
/// a simulated day; answers how many cases were still waiting.
async fn drain(endpoints: &Endpoints, clock: ScaledClock, progress: &Progress) -> Result<u64> {
    let give_up_ms = clock.now_ms() + 24 * 3_600_000;
    let mut settled = 0;
    loop {
        let waiting = waiting(endpoints).await?;
        progress.show(waiting);
        settled = if waiting == 0 { settled + 1 } else { 0 };
        // Three quiet looks in a row: the pipeline has nothing in flight either.
        if settled >= 3 || clock.now_ms() >= give_up_ms {
            return Ok(waiting);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Cases queued or offered across every queue.
async fn waiting(endpoints: &Endpoints) -> Result<u64> {
    let stats = endpoints
        .routing()?
        .queue_stats(endpoints.request(pb::QueueStatsRequest {})?)
        .await
        .map_err(|s| call_error("routing", s))?
        .into_inner();
    Ok(stats.queues.iter().map(|q| q.waiting + q.offered).sum())
}

/// What the simulated agents record together.
#[derive(Default)]
struct Shared {
    waits: Mutex<Waits>,
    offered_cases: Mutex<HashSet<String>>,
    busy_ms: AtomicI64,
    last_offer_ms: AtomicI64,
    /// Offers whose lease ran out before the agent's accept arrived.
    lapsed: AtomicUsize,
    stop: AtomicBool,
}

/// One simulated agent.
struct Agent {
    endpoints: Endpoints,
    agent_id: String,
    clock: ScaledClock,
    handle: HandleTime,
    seed: u64,
}

impl Agent {
    /// Takes offers until told to stop: accept, answer, handle for a drawn time, resolve.
    async fn work(self, shared: Arc<Shared>) -> Result<()> {
        let mut agents = self.endpoints.agents()?;
        let mut rng = SplitMix::new(self.seed);
        let action = |case_id: &str| pb::CaseActionRequest { agent_id: self.agent_id.clone(), case_id: case_id.into() };
        while !shared.stop.load(Ordering::SeqCst) {
            let request = pb::NextCaseRequest { agent_id: self.agent_id.clone(), wait_ms: 1_000 };
            let offer = agents
                .next_case(self.endpoints.request(request)?)
                .await
                .map_err(|s| call_error("routing", s))?
                .into_inner()
                .offer;
            let Some(case) = offer.and_then(|o| o.case) else {
                continue;
            };
            let now = self.clock.now_ms();
            if shared.offered_cases.lock().await.insert(case.case_id.clone()) {
                let enqueued = case.enqueued_at.as_ref().map_or(now, ms_from_timestamp);
                // The band is the risk the customer first spoke up with: a case's priority at the
                // offer also counts the follow-ups a long wait provoked, which would credit slow
                // service with "high-risk" cases.
                let first_post = case.posts.iter().min_by_key(|p| p.created_at.as_ref().map(ms_from_timestamp));
                let risk = first_post.map_or(case.priority, |p| p.priority);
                shared.waits.lock().await.offers.push((risk, now - enqueued));
                shared.last_offer_ms.fetch_max(now, Ordering::SeqCst);
            }
            match agents.accept_case(self.endpoints.request(action(&case.case_id))?).await {
                // The lease ran out before the accept arrived (at high speed, 120 s is a blink):
                // routing took the case back and set this agent away; it comes back at once.
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                    shared.lapsed.fetch_add(1, Ordering::SeqCst);
                    let back = pb::SetPresenceRequest {
                        agent_id: self.agent_id.clone(),
                        presence: pb::Presence::Available as i32,
                        ..Default::default()
                    };
                    agents.set_presence(self.endpoints.request(back)?).await.map_err(|s| call_error("routing", s))?;
                    continue;
                }
                Err(status) => return Err(call_error("routing", status)),
                Ok(_) => {}
            }
            let answer = pb::RecordResponseRequest {
                agent_id: self.agent_id.clone(),
                case_id: case.case_id.clone(),
                text: "Sorry about this, we are on it.".into(),
            };
            agents.record_response(self.endpoints.request(answer)?).await.map_err(|s| call_error("routing", s))?;
            let handle_ms = self.handle.draw(&mut rng);
            tokio::time::sleep(self.clock.wall(handle_ms)).await;
            shared.busy_ms.fetch_add(handle_ms, Ordering::SeqCst);
            match agents.resolve_case(self.endpoints.request(action(&case.case_id))?).await {
                // A follow-up the agent did not answer in time took the case back to its queue.
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {}
                Err(status) => return Err(call_error("routing", status)),
                Ok(_) => {}
            }
        }
        Ok(())
    }
}

/// A one-line progress bar on a terminal; a line per tenth of the posts elsewhere.
struct Progress {
    label: &'static str,
    total: usize,
    start_ms: i64,
    clock: ScaledClock,
    terminal: bool,
    last_tenth: AtomicUsize,
    started: Instant,
    fed: AtomicUsize,
}

impl Progress {
    fn new(label: &'static str, total: usize, start_ms: i64, clock: ScaledClock) -> Self {
        Self {
            label,
            total,
            start_ms,
            clock,
            terminal: std::io::stderr().is_terminal(),
            last_tenth: AtomicUsize::new(0),
            started: Instant::now(),
            fed: AtomicUsize::new(0),
        }
    }

    async fn fed(&self, fed: usize, endpoints: &Endpoints) {
        self.fed.store(fed, Ordering::SeqCst);
        let tenth = fed * 10 / self.total.max(1);
        let redraw = self.started.elapsed().as_millis() % 250 < 20 || tenth != self.last_tenth.load(Ordering::SeqCst);
        if redraw {
            let waiting = waiting(endpoints).await.unwrap_or(0);
            self.show(waiting);
        }
    }

    fn show(&self, waiting: u64) {
        let fed = self.fed.load(Ordering::SeqCst);
        let simulated = short_duration(self.clock.now_ms() - self.start_ms);
        let tenth = fed * 10 / self.total.max(1);
        if self.terminal {
            let filled = fed * 30 / self.total.max(1);
            let bar = format!("{}{}", "█".repeat(filled), "·".repeat(30 - filled));
            eprint!(
                "\r{:<8} {bar} {fed}/{} posts · {waiting:>4} waiting · {simulated} simulated   ",
                self.label, self.total
            );
            let _ = std::io::stderr().flush();
        } else if tenth > self.last_tenth.load(Ordering::SeqCst) {
            eprintln!("{}: {fed}/{} posts, {waiting} waiting, {simulated} simulated", self.label, self.total);
        }
        self.last_tenth.store(tenth, Ordering::SeqCst);
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

fn cells(stats: Option<BandStats>) -> String {
    match stats {
        Some(s) => format!(
            "{:>6} {:>7} {:>7} {:>7}",
            s.cases,
            short_duration(s.p50),
            short_duration(s.p90),
            short_duration(s.p99)
        ),
        None => format!("{:>6} {:>7} {:>7} {:>7}", 0, "-", "-", "-"),
    }
}

fn report(outcomes: &[(Policy, Outcome)], agents: u32, span_ms: i64, mean_handle_ms: f64) {
    outln!();
    outln!("time from queueing to first offer (simulated), by the priority of the case's first post");
    let mut header = format!("{:<14}", "band");
    for (policy, _) in outcomes {
        header.push_str(&format!(
            " │ {:<6} {:>6} {:>7} {:>7} {:>7}",
            format!("{policy:?}").to_lowercase(),
            "cases",
            "p50",
            "p90",
            "p99"
        ));
    }
    if outcomes.len() == 2 {
        header.push_str(" │ p90 ratio");
    }
    outln!("{header}");
    let all = ("all", 0, 100);
    for (name, low, high) in BANDS.iter().copied().chain([all]) {
        let mut line = format!("{name:<14}");
        let mut p90s = Vec::new();
        for (_, outcome) in outcomes {
            let stats = outcome.waits.band(low, high);
            p90s.push(stats.map(|s| s.p90));
            line.push_str(&format!(" │ {:<6} {}", "", cells(stats)));
        }
        if let [Some(priority), Some(fifo)] = p90s.as_slice() {
            line.push_str(&format!(" │ {:>9.2}", *priority as f64 / (*fifo).max(1) as f64));
        }
        outln!("{line}");
    }
    for (policy, outcome) in outcomes {
        let cases = outcome.waits.offers.len();
        let offered_load = cases as f64 * mean_handle_ms / (f64::from(agents) * span_ms as f64);
        let utilisation = outcome.busy_ms as f64 / (f64::from(agents) * outcome.makespan_ms.max(1) as f64);
        let mut notes = String::new();
        if outcome.unserved > 0 {
            notes.push_str(&format!(", {} cases never offered", outcome.unserved));
        }
        if outcome.lapsed > 0 {
            notes.push_str(&format!(", {} offers lapsed before the accept arrived (lower --speed)", outcome.lapsed));
        }
        outln!(
            "{}: {cases} cases; offered load {offered_load:.2} (cases × mean handling ÷ agents × {} of arrivals); \
             agent utilisation {:.2} until the last offer at {}{notes}",
            format!("{policy:?}").to_lowercase(),
            short_duration(span_ms),
            utilisation.min(1.0),
            short_duration(outcome.makespan_ms),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, author: &str, text: &str, followers: u64) -> pb::Post {
        let mut post = earshot_core::Post::example(text, followers).to_wire();
        post.external_id = id.into();
        post.created_at = None;
        if let Some(a) = post.author.as_mut() {
            a.external_id = author.into();
        }
        post
    }

    /// One agent, five-minute cases: six calm questions, then a furious high-reach customer.
    /// Earshot offers the furious one next; first come, first served makes it wait for all six.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn priority_reaches_the_furious_customer_first_and_fifo_does_not() {
        let questions = (0..6i64).map(|i| Arrival {
            at_ms: i * 1_000,
            post: post(&format!("q{i}"), &format!("calm{i}"), "Do you ship to Canada? Thanks", 0),
        });
        let furious = Arrival {
            at_ms: 10_000,
            post: post(
                "angry",
                "furious",
                "This is a scam!!! You charged me twice, worst service ever, my lawyer will hear about this",
                250_000,
            ),
        };
        let arrivals: Vec<Arrival> = questions.chain([furious]).collect();
        let args = ReplayArgs {
            file: String::new(),
            agents: Some(1),
            handle_time: HandleTime::Fixed(300_000),
            speed: 600.0,
            policy: None,
            from: None,
            until: None,
            max_gap: "2m".into(),
            limit: 0,
            seed: 1,
        };
        let furious_wait = |outcome: &Outcome| outcome.waits.offers.iter().max_by_key(|(risk, _)| *risk).map(|o| o.1);
        let priority = simulate(&args, &arrivals, Policy::Priority, 1).await.unwrap();
        let fifo = simulate(&args, &arrivals, Policy::Fifo, 1).await.unwrap();
        for outcome in [&priority, &fifo] {
            assert_eq!((outcome.waits.offers.len(), outcome.unserved), (7, 0), "every case offered once");
        }
        let (ahead, behind) = (furious_wait(&priority).unwrap(), furious_wait(&fifo).unwrap());
        assert!(ahead <= 10 * 60_000, "priority: offered when the first case is done, waited {ahead} ms");
        assert!(behind >= 20 * 60_000, "fifo: waited behind all six, waited {behind} ms");
    }
}
