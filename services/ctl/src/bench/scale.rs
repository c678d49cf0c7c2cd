//! The scale phase: what an agent's `NextCase` and a `Route` cost when a tenant already has many
//! cases waiting, and the agent has passed over many of them.
//!
//! A fresh Earshot is seeded with `waiting` queued cases of one queue (written as routing writes
//! them: rows in routing's database, entries in Redis), then an agent passes over the first
//! [`PASSED_OVER`] through the API (`NextCase`, `RejectCase`), so each offer that follows has to
//! look past them. Measured, one call at a time: `NextCase` (then `RejectCase`, to free the
//! agent), and `Route` of one new customer's post.

use std::time::Duration;

use anyhow::{Context, Result};
use earshot_core::ids::new_id;
use earshot_core::{Clock, SystemClock};
use earshot_proto::v1 as pb;
use earshot_queue::{CaseEntry, Queues, effective_score};
use earshot_store::insert_rows;
use earshot_store::routing::case;
use sea_orm::{IntoActiveModel, TransactionTrait};
use tokio::time::Instant;

use super::phases::{Percentiles, Stack, with_new_key};
use crate::connect::call_error;

/// Cases the agent rejects before the measured calls: they stay at the head of the queue.
pub const PASSED_OVER: usize = 500;
/// The queue seeded.
const QUEUE: &str = "general";
/// Rows per seeding transaction.
const SEED_CHUNK: usize = 10_000;

/// What one size measured.
#[derive(Debug)]
pub struct ScalePoint {
    /// Cases waiting before the measured calls.
    pub waiting: usize,
    /// How long seeding took, in seconds.
    pub seed_seconds: f64,
    /// `NextCase` latency.
    pub next_case: Percentiles,
    /// `RejectCase` latency.
    pub reject: Percentiles,
    /// `Route` of one post, latency.
    pub route: Percentiles,
}

impl ScalePoint {
    /// The point in the JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "waiting": self.waiting,
            "passed_over": PASSED_OVER,
            "seed_seconds": self.seed_seconds,
            "next_case_ms": self.next_case.to_json(),
            "reject_case_ms": self.reject.to_json(),
            "route_ms": self.route.to_json(),
        })
    }
}

impl Stack {
    /// Seeds `waiting` cases, has an agent pass over [`PASSED_OVER`], then times `calls` of each.
    pub async fn scale(&self, waiting: usize, calls: usize) -> Result<ScalePoint> {
        let started = Instant::now();
        self.seed(waiting).await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        let agent_id = "bench-agent";
        let agent = with_new_key(&self.endpoints, "bench-agent", "agent", agent_id).await?;
        let mut agents = agent.agents()?;
        let presence = pb::SetPresenceRequest {
            agent_id: agent_id.into(),
            presence: pb::Presence::Available as i32,
            capacity: 1,
            skills: vec![QUEUE.into()],
            languages: vec!["en".into()],
        };
        agents.set_presence(agent.request(presence)?).await.map_err(|s| call_error("routing", s))?;
        let offer_and_pass = || {
            let (mut agents, agent) = (agents.clone(), agent.clone());
            async move {
                let asked = Instant::now();
                let request = agent.request(pb::NextCaseRequest { agent_id: agent_id.into(), wait_ms: 0 })?;
                let offer = agents.next_case(request).await.map_err(|s| call_error("routing", s))?.into_inner();
                let next_ms = asked.elapsed().as_secs_f64() * 1e3;
                let case_id = offer.offer.and_then(|o| o.case).map(|c| c.case_id).context("nothing was offered")?;
                let passing = Instant::now();
                let request = agent.request(pb::CaseActionRequest { agent_id: agent_id.into(), case_id })?;
                agents.reject_case(request).await.map_err(|s| call_error("routing", s))?;
                let reject_ms = passing.elapsed().as_secs_f64() * 1e3;
                anyhow::Ok((next_ms, reject_ms))
            }
        };
        for _ in 0..PASSED_OVER.min(waiting.saturating_sub(calls)) {
            offer_and_pass().await?;
        }
        let (mut next_case, mut reject) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
        for _ in 0..calls.min(waiting) {
            let (next_ms, reject_ms) = offer_and_pass().await?;
            next_case.push(next_ms);
            reject.push(reject_ms);
        }
        // Route is for Earshot's own services: the service credential.
        let mut service = self.endpoints.clone();
        service.key = None;
        let mut routing = service.routing()?;
        let mut route = Vec::with_capacity(calls);
        for i in 0..calls {
            let item = route_item(i);
            let started = Instant::now();
            routing
                .route(service.request(pb::RouteRequest { items: vec![item] })?)
                .await
                .map_err(|s| call_error("routing", s))?;
            route.push(started.elapsed().as_secs_f64() * 1e3);
        }
        Ok(ScalePoint {
            waiting,
            seed_seconds,
            next_case: Percentiles::of(next_case),
            reject: Percentiles::of(reject),
            route: Percentiles::of(route),
        })
    }

    /// Writes `waiting` queued cases as routing would: rows in its database, then entries in its
    /// queue in Redis, oldest first.
    async fn seed(&self, waiting: usize) -> Result<()> {
        let tenant = self.endpoints.tenant()?;
        let db = earshot_store::connect(&self.routing_url).await?;
        let queues = Queues::connect(&self.redis.url()).await?;
        let now = SystemClock.now_ms();
        let mut progress = Instant::now();
        for start in (0..waiting).step_by(SEED_CHUNK) {
            let cases: Vec<case::Model> = (start..(start + SEED_CHUNK).min(waiting))
                .map(|i| seeded(tenant.as_str(), i, now - (waiting - i) as i64))
                .collect();
            let txn = db.begin().await?;
            insert_rows(&txn, cases.iter().cloned().map(|c| c.into_active_model()).collect(), None).await?;
            txn.commit().await?;
            let entries: Vec<CaseEntry> = cases
                .iter()
                .map(|c| {
                    let priority = u32::try_from(c.priority).unwrap_or(0);
                    CaseEntry {
                        case_id: c.id.clone(),
                        queue: c.queue.clone(),
                        priority,
                        enqueued_at_ms: c.enqueued_at_ms,
                        score: effective_score(c.enqueued_at_ms, priority, self.credit_ms),
                        language: c.language.clone(),
                    }
                })
                .collect();
            queues.upsert_all(tenant.as_str(), &entries).await?;
            if progress.elapsed() >= Duration::from_secs(2) {
                eprintln!("scale {waiting}: {} cases seeded", start + cases.len());
                progress = Instant::now();
            }
        }
        Ok(())
    }
}

/// The `i`-th seeded case: its own customer and conversation thread, English, a priority from 0
/// to 99.
fn seeded(tenant: &str, i: usize, enqueued_at_ms: i64) -> case::Model {
    case::Model {
        id: new_id('c'),
        tenant: tenant.to_owned(),
        customer: format!("seeded-{i}"),
        thread_id: Some(format!("seeded-thread-{i}")),
        queue: QUEUE.to_owned(),
        topic: QUEUE.to_owned(),
        language: "en".to_owned(),
        priority: i32::try_from(i % 100).unwrap_or(0),
        post_priority: i32::try_from(i % 100).unwrap_or(0),
        state: earshot_store::routing::case::CaseState::Queued,
        agent: None,
        contact_count: 1,
        escalated: false,
        waiting: false,
        reasons: "[]".to_owned(),
        opened_at_ms: enqueued_at_ms,
        enqueued_at_ms,
        updated_at_ms: enqueued_at_ms,
    }
}

/// A classified post of a new customer in a thread of its own, for `Route` (a reply is looked up by
/// its customer and by its thread).
fn route_item(i: usize) -> pb::RouteItem {
    pb::RouteItem {
        post_id: new_id('p'),
        post: Some(pb::Post {
            channel: "twitter".into(),
            external_id: format!("scale-{i}"),
            author: Some(pb::Author {
                external_id: format!("scale-customer-{i}"),
                handle: format!("@scale{i}"),
                ..Default::default()
            }),
            text: "my order never arrived".into(),
            thread_id: format!("scale-thread-{i}"),
            ..Default::default()
        }),
        classification: Some(pb::Classification { priority: 50, language: "en".into(), ..Default::default() }),
    }
}
