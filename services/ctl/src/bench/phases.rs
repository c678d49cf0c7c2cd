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
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde_json::json;
use tokio::time::Instant;

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
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        if values.is_empty() {
            return Self::default();
        }
        Self { p50: Some(quantile(&values, 0.50)), p99: Some(quantile(&values, 0.99)), max: values.last().copied() }
    }

    fn to_json(self) -> serde_json::Value {
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

/// Redis commands and SQL statements so far.
struct Counters {
    redis: u64,
    statements: BTreeMap<String, u64>,
}

/// A fresh Earshot for one phase.
pub struct Stack {
    redis: RedisServer,
    _dir: tempfile::TempDir,
    _services: Services,
    /// Presents the bench's integration key.
    endpoints: Endpoints,
    /// The bench's own connection to ingest's database (its statements are not the pipeline's).
    ingest_db: DatabaseConnection,
    own_statements: AtomicUsize,
}

impl Stack {
    /// Starts Redis and the four services, waits until they answer and makes an integration key.
    pub async fn start() -> Result<Self> {
        let redis = RedisServer::start().await.context("starting a private redis-server")?;
        let dir = tempfile::tempdir()?;
        let node = Node::new(redis.url(), dir.path().to_owned(), Arc::new(SystemClock));
        let services = node.start().await?;
        let mut endpoints = Endpoints::embedded(&services, &node.service_key, "bench");
        endpoints.ready().await?;
        let request = pb::CreateKeyRequest {
            name: "bench".into(),
            roles: vec!["integration".into()],
            agent_id: String::new(),
            rate_per_second: 1_000_000,
        };
        let created = endpoints
            .keys()?
            .create_key(endpoints.request(request)?)
            .await
            .map_err(|s| call_error("routing", s))?
            .into_inner();
        endpoints.key = Some(created.secret);
        let ingest_db =
            earshot_store::connect(&format!("sqlite://{}/ingest.db?mode=rwc", dir.path().display())).await?;
        Ok(Self { redis, _dir: dir, _services: services, endpoints, ingest_db, own_statements: AtomicUsize::new(0) })
    }

    async fn counters(&self) -> Result<Counters> {
        let client = redis::Client::open(self.redis.url())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await?;
        let redis =
            info.lines().filter_map(|line| line.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok()).sum();
        let mut statements = earshot_store::statements_run();
        if let Some(ingest) = statements.get_mut("ingest") {
            *ingest = ingest.saturating_sub(self.own_statements.load(Ordering::Relaxed) as u64);
        }
        Ok(Counters { redis, statements })
    }

    /// Posts in a final pipeline state (routed, or set aside as failed).
    async fn settled(&self) -> Result<u64> {
        self.own_statements.fetch_add(1, Ordering::Relaxed);
        Ok(post::Entity::find().filter(post::Column::State.is_in(["routed", "failed"])).count(&self.ingest_db).await?)
    }

    /// Waits until `accepted` posts have settled or `drain` has passed; then reads each post's
    /// accepted → routed time. Returns them and the moment the last post was routed (Unix ms).
    async fn drain(&self, accepted: usize, drain: Duration) -> Result<(Vec<f64>, i64)> {
        let deadline = Instant::now() + drain;
        while self.settled().await? < accepted as u64 && Instant::now() < deadline {
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
    pub async fn sustained(self, posts: Vec<pb::Post>, clients: usize, batch: usize, drain: Duration) -> Result<Phase> {
        let total = posts.len();
        let batches: Arc<Vec<Vec<pb::Post>>> = Arc::new(posts.chunks(batch).map(<[pb::Post]>::to_vec).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let pool = self.clients()?;
        let before = self.counters().await?;
        let start_ms = SystemClock.now_ms();
        let start = Instant::now();
        let mut submitters = tokio::task::JoinSet::new();
        for index in 0..clients {
            let mut client = pool[index % pool.len()].clone();
            let (batches, next) = (Arc::clone(&batches), Arc::clone(&next));
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
        self.finish(load, before, drain).await
    }

    /// Open loop: one post per `SubmitPost` call at `rate` calls per second.
    pub async fn fixed_rate(
        self,
        posts: Vec<pb::Post>,
        rate: u32,
        max_in_flight: usize,
        drain: Duration,
    ) -> Result<Phase> {
        let total = posts.len();
        let pool = self.clients()?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
        let before = self.counters().await?;
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
            calls.spawn(async move {
                let answer = client.submit_post(pb::SubmitPostRequest { post: Some(post) }).await;
                drop(permit);
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
        self.finish(load, before, drain).await
    }

    /// Waits for the pipeline, then adds up what the phase cost.
    async fn finish(self, load: Load, before: Counters, drain: Duration) -> Result<Phase> {
        let accepted = load.accepted();
        let total = load.total;
        let (offerable, last_routed_ms) = self.drain(accepted, drain).await?;
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
            failed: load.failed,
            missed: load.missed,
            unrouted: accepted.saturating_sub(routed),
        })
    }
}
