//! The whole of Earshot on one machine for tests: a real `redis-server` (or Redis Cluster) on free
//! loopback ports, SQLite files in a temporary folder (or, with [`POSTGRES_ENV`] set, a database
//! of its own on that PostgreSQL server), a clock the test moves, and the four services embedded
//! on `127.0.0.1:0` (`earshot-embedded`), each in its own task so a test can kill one (drop it
//! mid-flight, as a crash would) and start it again.

pub mod process;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use earshot_core::{ManualClock, SharedClock};
use earshot_embedded::Node;
use earshot_proto::v1 as pb;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_testkit::TestRedis;

pub use earshot_embedded::{AuthChannel, Bearer, Running, Services, reserve_addr};

/// The PostgreSQL server the suite runs on instead of SQLite files when set, as a URL without a
/// database (`postgres://user@127.0.0.1:port`): `scripts/with-postgres.sh` starts one, sets this,
/// and removes the server afterwards. Each [`Stack`] makes a database of its own there.
pub const POSTGRES_ENV: &str = "EARSHOT_TEST_POSTGRES";

/// Redis, a data folder (or a PostgreSQL database) and a clock the services share.
pub struct Stack {
    /// The Redis server (or cluster).
    pub redis: TestRedis,
    /// SQLite files live here.
    pub dir: tempfile::TempDir,
    /// The clock of ingest, routing and escalation; it starts at the real time.
    pub clock: ManualClock,
    /// The service credential every node of this stack shares.
    pub service_key: String,
    /// The stack's own PostgreSQL database, which every service uses, when the suite runs on
    /// PostgreSQL ([`POSTGRES_ENV`]); else each service has a SQLite file in `dir`.
    pub database: Option<String>,
}

impl Stack {
    /// Starts one Redis server and prepares a data folder; the clock starts at the real time.
    pub async fn new() -> Result<Self> {
        Self::with_redis(TestRedis::single().await?).await
    }

    /// The same on a 3-master Redis Cluster.
    pub async fn on_cluster() -> Result<Self> {
        Self::with_redis(TestRedis::cluster().await?).await
    }

    /// The same on `redis`.
    pub async fn with_redis(redis: TestRedis) -> Result<Self> {
        earshot_telemetry::init_test_logging();
        let now = earshot_core::Clock::now_ms(&earshot_core::SystemClock);
        let service_key = earshot_auth::key::mint_service_secret()?;
        let database = match std::env::var(POSTGRES_ENV) {
            Ok(server) => Some(fresh_database(&server).await?),
            Err(_) => None,
        };
        Ok(Self { redis, dir: tempfile::tempdir()?, clock: ManualClock::new(now), service_key, database })
    }

    /// Where and how the services run: this stack's Redis, folder and clock.
    pub fn node(&self) -> Node {
        let clock: SharedClock = Arc::new(self.clock.clone());
        let mut node = Node::new(self.redis.url(), self.dir.path().to_owned(), clock);
        node.service_key = self.service_key.clone();
        node.database = self.database.clone();
        node
    }

    /// Starts all four services.
    pub async fn services(&self) -> Result<Services> {
        self.node().start().await
    }
}

/// A new, empty database on the PostgreSQL server at `server`; its URL.
async fn fresh_database(server: &str) -> Result<String> {
    use sea_orm::ConnectionTrait as _;
    let server = server.trim_end_matches('/');
    let name = format!("earshot_test_{}", earshot_core::ids::new_id('d').to_ascii_lowercase().replace('_', ""));
    let admin = earshot_store::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| format!("connecting to the PostgreSQL server {POSTGRES_ENV} names"))?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.context("creating a test database")?;
    admin.close().await?;
    Ok(format!("{server}/{name}"))
}

/// Generous bound for anything the pipeline does (it normally takes milliseconds).
pub const PIPELINE_DEADLINE: Duration = Duration::from_secs(20);

/// How long a test watches for something that must not happen: five ticks of escalation's SLA
/// clock as the embedded stack runs it (every 100 ms).
pub const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// A public tweet by `author` (its external id; the handle is `@author`).
pub fn post(external_id: &str, author: &str, followers: u64, text: &str) -> pb::Post {
    pb::Post {
        channel: "twitter".into(),
        external_id: external_id.into(),
        visibility: pb::Visibility::Public as i32,
        author: Some(pb::Author {
            external_id: author.into(),
            handle: format!("@{author}"),
            followers,
            ..Default::default()
        }),
        text: text.into(),
        ..Default::default()
    }
}

/// What the end-to-end tests do with the services, in one call each.
#[allow(async_fn_in_trait)] // used only by these tests, on one runtime
pub trait Pipeline {
    /// Submits one post.
    async fn submit(&self, post: pb::Post) -> Result<pb::SubmitPostResponse>;
    /// Waits until the post is routed and returns its record.
    async fn routed(&self, post_id: &str) -> Result<pb::PostRecord>;
    /// Submits a post and waits until it is routed.
    async fn submit_routed(&self, post: pb::Post) -> Result<pb::PostRecord>;
    /// Whether the post a client presenting `key` submitted is routed within `deadline`.
    async fn routed_within(&self, key: &Bearer, post_id: &str, deadline: Duration) -> bool;
    /// Registers an available agent for every default queue.
    async fn register_agent(&self, agent_id: &str, capacity: u32, languages: &[&str]) -> Result<pb::AgentView>;
    /// The case `NextCase` offers the agent, if any.
    async fn offered(&self, agent_id: &str) -> Result<Option<pb::CaseView>>;
}

impl Pipeline for Services {
    async fn submit(&self, post: pb::Post) -> Result<pb::SubmitPostResponse> {
        Ok(self.ingest_client().submit_post(pb::SubmitPostRequest { post: Some(post) }).await?.into_inner())
    }

    async fn routed(&self, post_id: &str) -> Result<pb::PostRecord> {
        let client = self.ingest_client();
        let state = |client: IngestServiceClient<AuthChannel>, post_id: String| async move {
            let mut client = client;
            client.get_post(pb::GetPostRequest { post_id }).await.map(|r| r.into_inner())
        };
        earshot_testkit::wait_until(PIPELINE_DEADLINE, || {
            let pending = state(client.clone(), post_id.to_owned());
            async move { pending.await.is_ok_and(|record| record.state == "routed") }
        })
        .await
        .with_context(|| format!("post {post_id} was not routed"))?;
        Ok(state(client, post_id.to_owned()).await?)
    }

    async fn submit_routed(&self, post: pb::Post) -> Result<pb::PostRecord> {
        let accepted = self.submit(post).await?;
        self.routed(&accepted.post_id).await
    }

    async fn routed_within(&self, key: &Bearer, post_id: &str, deadline: Duration) -> bool {
        let client = self.ingest_client_as(key);
        earshot_testkit::wait_until(deadline, || {
            let mut client = client.clone();
            let post_id = post_id.to_owned();
            async move {
                client.get_post(pb::GetPostRequest { post_id }).await.is_ok_and(|r| r.into_inner().state == "routed")
            }
        })
        .await
        .is_ok()
    }

    async fn register_agent(&self, agent_id: &str, capacity: u32, languages: &[&str]) -> Result<pb::AgentView> {
        let request = pb::SetPresenceRequest {
            agent_id: agent_id.into(),
            presence: pb::Presence::Available as i32,
            capacity,
            skills: vec![],
            languages: languages.iter().map(|l| l.to_string()).collect(),
        };
        Ok(self.agent_client().set_presence(request).await?.into_inner())
    }

    async fn offered(&self, agent_id: &str) -> Result<Option<pb::CaseView>> {
        let request = pb::NextCaseRequest { agent_id: agent_id.into(), wait_ms: 0 };
        let response = self.agent_client().next_case(request).await?;
        Ok(response.into_inner().offer.and_then(|offer| offer.case))
    }
}
