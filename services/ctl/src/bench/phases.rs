//! One bench phase on a fresh embedded Earshot: the load, then what it cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use earshot_core::{Clock, SystemClock};
use earshot_embedded::{Node, Services};
use earshot_proto::v1 as pb;
use earshot_store::ingest::post;
use earshot_testkit::RedisServer;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use serde_json::json;
use tokio::time::Instant;

use super::cpu::CpuAccount;
use crate::connect::{Endpoints, call_error};
use crate::replay::stats::quantile;

/// GRPC connections the load is spread over, as a platform's client pool would.
const CONNECTIONS: usize = 4;

/// Latency percentiles in ms; `None` when nothing was measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Slowest.
    pub max: Option<f64>,
}

impl Percentiles {
    /// The percentiles of `values`.
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return Self::default();
        }
        Self { p50: Some(quantile(&values, 0.50)), p99: Some(quantile(&values, 0.99)), max: values.last().copied() }
    }

    pub fn to_json(self) -> serde_json::Value {
        json!({ "p50": self.p50, "p99": self.p99, "max": self.max })
    }
}

/// What one phase measured.
#[derive(Debug)]
pub struct Phase {
    /// `sustained` or `500/s`.
    pub name: String,
    /// Posts sent.
    pub posts: usize,
    /// Posts acknowledged per second, from the first submission to the last acknowledgement.
    pub acked_per_second: f64,
    /// Posts routed per second, from the first submission to the last post routed.
    pub routed_per_second: f64,
    /// Submission call latency (one post per call at fixed rates; one batch in the sustained phase).
    pub ack: Percentiles,
    /// Accepted → offerable, per post.
    pub offerable: Percentiles,
    /// Redis commands (all services) per post sent.
    pub redis_per_post: f64,
    /// SQL statements per post sent, per database.
    pub statements_per_post: BTreeMap<String, f64>,
    /// CPU seconds per 1,000 posts sent, per part ([`CpuAccount`]).
    pub cpu_per_thousand: BTreeMap<String, f64>,
    /// Posts whose submission failed.
    pub failed: usize,
    /// Posts not sent because `--max-in-flight` calls were already waiting.
    pub missed: usize,
    /// Accepted posts not routed within the drain time.
    pub unrouted: usize,
}

impl Phase {
    /// The phase in the JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "posts": self.posts,
            "acked_per_second": self.acked_per_second,
            "routed_per_second": self.routed_per_second,
            "ack_ms": self.ack.to_json(),
            "accepted_to_offerable_ms": self.offerable.to_json(),
            "redis_commands_per_post": self.redis_per_post,
            "sql_statements_per_post": self.statements_per_post,
            "cpu_seconds_per_1000_posts": self.cpu_per_thousand,
            "failed": self.failed,
            "missed": self.missed,
            "unrouted": self.unrouted,
        })
    }
}

/// What the submitters saw.
struct Load {
    name: String,
    total: usize,
    acked_per_second: f64,
    ack_latencies: Vec<f64>,
    failed: usize,
    missed: usize,
    start_ms: i64,
}

impl Load {
    fn accepted(&self) -> usize {
        self.total - self.failed - self.missed
    }
}

/// Redis commands, SQL statements and CPU time so far.
struct Counters {
    redis: u64,
    statements: BTreeMap<String, u64>,
    cpu: CpuAccount,
}

/// Posts not yet in a final pipeline state (routed, or set aside as failed); `own` counts the
/// bench's own statements, which are not the pipeline's.
async fn unsettled(db: &DatabaseConnection, own: &AtomicUsize) -> Result<u64> {
    own.fetch_add(1, Ordering::Relaxed);
    Ok(post::Entity::find().filter(post::waiting()).count(db).await?)
}

/// `endpoints` presenting a new key with `role` (and `agent_id`, for an agent), made with the
/// service credential; the bench's keys have no rate limit to speak of.
pub(super) async fn with_new_key(endpoints: &Endpoints, name: &str, role: &str, agent_id: &str) -> Result<Endpoints> {
    let mut keyed = endpoints.clone();
    keyed.key = None;
    let request = pb::CreateKeyRequest {
        name: name.into(),
        roles: vec![role.into()],
        agent_id: agent_id.into(),
        rate_per_second: 1_000_000,
    };
    let created = keyed.keys()?.create_key(keyed.request(request)?).await.map_err(|s| call_error("routing", s))?;
    keyed.key = Some(created.into_inner().secret);
    Ok(keyed)
}

/// A database of its own on a PostgreSQL server, for one phase.
struct FreshDatabase {
    /// The server, as given.
    server: String,
    /// The phase's database on it.
    url: String,
    name: String,
}

impl FreshDatabase {
    async fn create(server: &str) -> Result<Self> {
        let name = format!("earshot_bench_{}", earshot_core::ids::new_id('d').to_ascii_lowercase().replace('_', ""));
        let admin = earshot_store::connect(server).await.context("connecting to DATABASE_URL")?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.context("creating the phase's database")?;
        let (base, query) = server.split_once('?').map_or((server, None), |(base, query)| (base, Some(query)));
        let (scheme, rest) = base.split_once("://").context("DATABASE_URL is not a postgres://… URL")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let query = query.map(|query| format!("?{query}")).unwrap_or_default();
        let url = format!("{scheme}://{authority}/{name}{query}");
        Ok(Self { server: server.to_owned(), url, name })
    }

    async fn remove(self) -> Result<()> {
        let admin = earshot_store::connect(&self.server).await?;
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await?;
        Ok(())
    }
}

/// A fresh Earshot for one phase.
pub struct Stack {
    pub(super) redis: RedisServer,
    /// Where the services' SQLite files are (removed with the stack).
    _dir: tempfile::TempDir,
    _services: Services,
    /// Presents the bench's integration key.
    pub(super) endpoints: Endpoints,
    /// Routing's head start per priority point (what orders its queues).
    pub(super) credit_ms: i64,
    /// Routing's database.
    pub(super) routing_url: String,
    /// The phase's own PostgreSQL database, when the bench runs on PostgreSQL.
    postgres: Option<FreshDatabase>,
    /// The bench's own connection to ingest's database (its statements are not the pipeline's).
    ingest_db: DatabaseConnection,
    own_statements: Arc<AtomicUsize>,
    /// The bench's own connection to routing's database, and the statements it ran there.
    routing_db: DatabaseConnection,
    own_routing_statements: AtomicUsize,
}

/// How often a running phase says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Says on stderr how far a phase is, every [`PROGRESS_EVERY`], until dropped.
struct Progress(tokio::task::JoinHandle<()>);

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Stack {
    /// Starts Redis and the four services, waits until they answer and makes an integration key.
    /// With `postgres` (a server's URL), the services share a database of their own on it, made
    /// for this phase; otherwise each has a SQLite file.
    pub async fn start(postgres: Option<&str>) -> Result<Self> {
        let redis = RedisServer::start().await.context("starting a private redis-server")?;
        let dir = tempfile::tempdir()?;
        let mut node = Node::new(redis.url(), dir.path().to_owned(), Arc::new(SystemClock));
        node.runtime_per_service = true;
        let postgres = match postgres {
            Some(server) => Some(FreshDatabase::create(server).await?),
            None => None,
        };
        node.database = postgres.as_ref().map(|database| database.url.clone());
        let services = node.start().await?;
        let service = Endpoints::embedded(&services, &node.service_key, "bench");
        service.ready().await?;
        let endpoints = with_new_key(&service, "bench", "integration", "").await?;
        let ingest_db = earshot_store::connect(&node.database_url("ingest")).await?;
        let routing_db = earshot_store::connect(&node.database_url("routing")).await?;
        Ok(Self {
            redis,
            _dir: dir,
            _services: services,
            endpoints,
            credit_ms: node.priority_credit_ms,
            routing_url: node.database_url("routing"),
            postgres,
            ingest_db,
            own_statements: Arc::default(),
            routing_db,
            own_routing_statements: AtomicUsize::default(),
        })
    }

    /// Stops the phase's Earshot and removes its PostgreSQL database, if it had one.
    pub async fn discard(self) -> Result<()> {
        let Self { postgres, _services, ingest_db, routing_db, .. } = self;
        drop(_services);
        drop((ingest_db, routing_db));
        match postgres {
            Some(database) => database.remove().await,
            None => Ok(()),
        }
    }

    async fn counters(&self) -> Result<Counters> {
        let client = redis::Client::open(self.redis.url())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await?;
        let redis =
            info.lines().filter_map(|line| line.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok()).sum();
        let mut statements = earshot_store::statements_run();
        // The bench's own reads are counted with ingest's and routing's databases; they are not
        // the pipeline's.
        let label = |service: &str| {
            self.postgres.as_ref().map_or_else(|| service.to_owned(), |db| earshot_store::database_label(&db.url))
        };
        for (service, own) in [("ingest", &*self.own_statements), ("routing", &self.own_routing_statements)] {
            if let Some(count) = statements.get_mut(&label(service)) {
                *count = count.saturating_sub(own.load(Ordering::Relaxed) as u64);
            }
        }
        Ok(Counters { redis, statements, cpu: CpuAccount::read(Some(self.redis.pid())) })
    }

    /// Posts not yet routed (nor set aside as failed).
    async fn unsettled(&self) -> Result<u64> {
        unsettled(&self.ingest_db, &self.own_statements).await
    }

    /// Case events routing has still to deliver to escalation: the phase's work is not done
    /// (nor its CPU counted) until escalation has them.
    async fn undelivered(&self) -> Result<u64> {
        self.own_routing_statements.fetch_add(1, Ordering::Relaxed);
        Ok(earshot_store::routing::case_event_outbox::Entity::find().count(&self.routing_db).await?)
    }

    /// Starts telling how far the phase `name` is: `acked` of `total` posts acknowledged, and
    /// how many of them wait for the pipeline.
    fn progress(&self, name: String, total: usize, acked: Arc<AtomicUsize>) -> Progress {
        let (db, own) = (self.ingest_db.clone(), Arc::clone(&self.own_statements));
        let started = Instant::now();
        Progress(tokio::spawn(async move {
            let mut every = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
            loop {
                every.tick().await;
                let waiting = unsettled(&db, &own).await.map_or_else(|_| "?".to_owned(), |n| n.to_string());
                let acked = acked.load(Ordering::Relaxed);
                eprintln!(
                    "{name}: {:>5.1} s · {acked}/{total} acknowledged · {waiting} waiting",
                    started.elapsed().as_secs_f64()
                );
            }
        }))
    }

    /// Waits until every accepted post has settled and escalation has heard of every one, or
    /// `drain` has passed; then reads each post's accepted → routed time. Returns them and the
    /// moment the last post was routed (Unix ms).
    async fn drain(&self, drain: Duration) -> Result<(Vec<f64>, i64)> {
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline && (self.unsettled().await? > 0 || self.undelivered().await? > 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.own_statements.fetch_add(1, Ordering::Relaxed);
        let times: Vec<(i64, Option<i64>)> = post::Entity::find()
            .select_only()
            .column(post::Column::ReceivedAtMs)
            .column(post::Column::RoutedAtMs)
            .into_tuple()
            .all(&self.ingest_db)
            .await?;
        let last = times.iter().filter_map(|(_, routed)| *routed).max().unwrap_or(0);
        let waits = times.iter().filter_map(|(received, routed)| Some((routed.as_ref()? - received) as f64)).collect();
        Ok((waits, last))
    }

    fn clients(
        &self,
    ) -> Result<Vec<earshot_proto::v1::ingest_service_client::IngestServiceClient<earshot_auth::AuthChannel>>> {
        (0..CONNECTIONS).map(|_| self.endpoints.ingest()).collect()
    }

    /// Closed loop: `clients` submitters send `batch`-post calls as fast as they are answered.
    pub async fn sustained(
        &self,
        posts: Vec<pb::Post>,
        clients: usize,
        batch: usize,
        drain: Duration,
    ) -> Result<Phase> {
        let total = posts.len();
        let batches: Arc<Vec<Vec<pb::Post>>> = Arc::new(posts.chunks(batch).map(<[pb::Post]>::to_vec).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let pool = self.clients()?;
        let before = self.counters().await?;
        let acked = Arc::new(AtomicUsize::new(0));
        let progress = self.progress("sustained".into(), total, Arc::clone(&acked));
        let start_ms = SystemClock.now_ms();
        let start = Instant::now();
        let mut submitters = tokio::task::JoinSet::new();
        for index in 0..clients {
            let mut client = pool[index % pool.len()].clone();
            let (batches, next, acked) = (Arc::clone(&batches), Arc::clone(&next), Arc::clone(&acked));
            submitters.spawn(async move {
                let (mut latencies, mut failed, mut last_ack) = (Vec::new(), 0, start);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(posts) = batches.get(index) else { break };
                    let sent = Instant::now();
                    let size = posts.len();
                    match client.submit_posts(pb::SubmitPostsRequest { posts: posts.clone() }).await {
                        Ok(_) => {
                            last_ack = Instant::now();
                            latencies.push((last_ack - sent).as_secs_f64() * 1e3);
                            acked.fetch_add(size, Ordering::Relaxed);
                        }
                        Err(status) => {
                            if failed == 0 {
                                tracing::warn!(code = ?status.code(), message = status.message(), "a batch failed");
                            }
                            failed += size;
                        }
                    }
                }
                (latencies, failed, last_ack)
            });
        }
        let (mut latencies, mut failed, mut last_ack) = (Vec::new(), 0, start);
        while let Some(done) = submitters.join_next().await {
            let (mine, my_failed, my_last) = done?;
            latencies.extend(mine);
            failed += my_failed;
            last_ack = last_ack.max(my_last);
        }
        let acked_per_second = (total - failed) as f64 / (last_ack - start).as_secs_f64().max(1e-3);
        let load = Load {
            name: "sustained".into(),
            total,
            acked_per_second,
            ack_latencies: latencies,
            failed,
            missed: 0,
            start_ms,
        };
        let phase = self.finish(load, before, drain).await;
        drop(progress);
        phase
    }

    /// Open loop: one post per `SubmitPost` call at `rate` calls per second.
    pub async fn fixed_rate(
        &self,
        posts: Vec<pb::Post>,
        rate: u32,
        max_in_flight: usize,
        drain: Duration,
    ) -> Result<Phase> {
        let total = posts.len();
        let pool = self.clients()?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
        let before = self.counters().await?;
        let acked = Arc::new(AtomicUsize::new(0));
        let progress = self.progress(format!("{rate}/s"), total, Arc::clone(&acked));
        let start_ms = SystemClock.now_ms();
        let start = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        let mut missed = 0;
        for (index, post) in posts.into_iter().enumerate() {
            let due = start + Duration::from_secs_f64(index as f64 / f64::from(rate));
            tokio::time::sleep_until(due).await;
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                missed += 1;
                continue;
            };
            let mut client = pool[index % pool.len()].clone();
            let acked = Arc::clone(&acked);
            calls.spawn(async move {
                let answer = client.submit_post(pb::SubmitPostRequest { post: Some(post) }).await;
                drop(permit);
                if answer.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                let answered = Instant::now();
                answer.map(|_| ((answered - due).as_secs_f64() * 1e3, answered))
            });
        }
        let (mut latencies, mut failed, mut last_ack) = (Vec::with_capacity(total), 0, start);
        while let Some(done) = calls.join_next().await {
            match done? {
                Ok((latency, answered)) => {
                    latencies.push(latency);
                    last_ack = last_ack.max(answered);
                }
                Err(status) => {
                    if failed == 0 {
                        tracing::warn!(code = ?status.code(), message = status.message(), "a submission failed");
                    }
                    failed += 1;
                }
            }
        }
        let acked_per_second = (total - failed - missed) as f64 / (last_ack - start).as_secs_f64().max(1e-3);
        let load = Load {
            name: format!("{rate}/s"),
            total,
            acked_per_second,
            ack_latencies: latencies,
            failed,
            missed,
            start_ms,
        };
        let phase = self.finish(load, before, drain).await;
        drop(progress);
        phase
    }

    /// Waits for the pipeline, then adds up what the phase cost.
    async fn finish(&self, load: Load, before: Counters, drain: Duration) -> Result<Phase> {
        let accepted = load.accepted();
        let total = load.total;
        let (offerable, last_routed_ms) = self.drain(drain).await?;
        let after = self.counters().await?;
        let routed = offerable.len();
        let per_post = |count: u64| count as f64 / total.max(1) as f64;
        let statements_per_post = after
            .statements
            .iter()
            .map(|(db, count)| (db.clone(), per_post(count - before.statements.get(db).copied().unwrap_or(0))))
            .collect();
        Ok(Phase {
            name: load.name,
            posts: total,
            acked_per_second: load.acked_per_second,
            routed_per_second: routed as f64 / ((last_routed_ms - load.start_ms).max(1) as f64 / 1e3),
            ack: Percentiles::of(load.ack_latencies),
            offerable: Percentiles::of(offerable),
            redis_per_post: per_post(after.redis.saturating_sub(before.redis)),
            statements_per_post,
            cpu_per_thousand: after.cpu.per_thousand_since(&before.cpu, total),
            failed: load.failed,
            missed: load.missed,
            unrouted: accepted.saturating_sub(routed),
        })
    }

    /// Unary calls on loopback, one at a time: `calls` each of `GetPost`, `GetCase` and
    /// `QueueStats` as a supervisor, on what the phases before left (routed posts and their
    /// cases). Returns the latency of each method.
    pub async fn unary(&self, calls: usize) -> Result<Vec<(&'static str, Percentiles)>> {
        let supervisor = with_new_key(&self.endpoints, "bench-supervisor", "supervisor", "").await?;
        self.own_statements.fetch_add(1, Ordering::Relaxed);
        let routed: Vec<(String, Option<String>)> = post::Entity::find()
            .select_only()
            .column(post::Column::Id)
            .column(post::Column::CaseId)
            .filter(post::Column::State.eq("routed"))
            .limit(calls as u64)
            .into_tuple()
            .all(&self.ingest_db)
            .await?;
        anyhow::ensure!(!routed.is_empty(), "no routed post to read back");
        let (mut ingest, mut routing) = (supervisor.ingest()?, supervisor.routing()?);
        let mut timed = Vec::new();
        let mut latencies = (Vec::new(), Vec::new(), Vec::new());
        for (post_id, case_id) in routed.iter().cycle().take(calls) {
            let started = Instant::now();
            ingest
                .get_post(pb::GetPostRequest { post_id: post_id.clone() })
                .await
                .map_err(|s| call_error("ingest", s))?;
            latencies.0.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            let case_id = case_id.clone().unwrap_or_default();
            routing.get_case(pb::GetCaseRequest { case_id }).await.map_err(|s| call_error("routing", s))?;
            latencies.1.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            routing.queue_stats(pb::QueueStatsRequest {}).await.map_err(|s| call_error("routing", s))?;
            latencies.2.push(started.elapsed().as_secs_f64() * 1e3);
        }
        timed.push(("GetPost", Percentiles::of(latencies.0)));
        timed.push(("GetCase", Percentiles::of(latencies.1)));
        timed.push(("QueueStats", Percentiles::of(latencies.2)));
        Ok(timed)
    }
}
