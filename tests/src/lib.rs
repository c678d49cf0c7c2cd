//! The whole of Earshot on one machine for tests: a real `redis-server` on a free loopback port,
//! SQLite files in a temporary folder, and the four services on `127.0.0.1:0`, each in its own
//! task so a test can kill one (drop it mid-flight, as a crash would) and start it again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use earshot_core::{ManualClock, SharedClock};
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_testkit::{TestRedis, sqlite_url};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A running service; dropping it kills it.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Running {
    async fn spawn<F, Fut>(listener: TcpListener, name: &'static str, run: F) -> Result<Self>
    where
        F: FnOnce(TcpListener) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let future = run(listener);
        let task = tokio::spawn(async move {
            if let Err(error) = future.await {
                eprintln!("{name} stopped: {error:#}");
            }
        });
        Ok(Self { addr, task })
    }

    /// A channel to it.
    pub fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).expect("loopback url").connect_lazy()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback address nothing listens on yet (connections are refused until a service takes it).
pub fn reserve_addr() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

async fn bind(addr: Option<SocketAddr>) -> Result<TcpListener> {
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
}

/// Redis, a data folder and a clock the services share.
pub struct Stack {
    /// The Redis server (or cluster).
    pub redis: TestRedis,
    /// SQLite files live here.
    pub dir: tempfile::TempDir,
    /// The clock of ingest, routing and escalation; it starts at the real time.
    pub clock: ManualClock,
}

impl Stack {
    /// Starts one Redis server and prepares a data folder; the clock starts at the real time.
    pub async fn new() -> Result<Self> {
        Self::with_redis(TestRedis::single().await?)
    }

    /// The same on a 3-master Redis Cluster.
    pub async fn on_cluster() -> Result<Self> {
        Self::with_redis(TestRedis::cluster().await?)
    }

    /// The same on `redis`.
    pub fn with_redis(redis: TestRedis) -> Result<Self> {
        earshot_telemetry::init_test_logging();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
        Ok(Self { redis, dir: tempfile::tempdir()?, clock: ManualClock::new(now) })
    }

    fn shared_clock(&self) -> SharedClock {
        Arc::new(self.clock.clone())
    }

    /// Starts the classifier.
    pub async fn classify(&self) -> Result<Running> {
        let config = earshot_classify::Config::for_test();
        Running::spawn(bind(None).await?, "classify", move |l| earshot_classify::run(config, l, std::future::pending()))
            .await
    }

    /// Starts escalation.
    pub async fn escalation(&self) -> Result<Running> {
        let config =
            earshot_escalation::Config::for_test(&self.redis.url(), &sqlite_url(self.dir.path(), "escalation"));
        let clock = self.shared_clock();
        Running::spawn(bind(None).await?, "escalation", move |l| {
            earshot_escalation::run(config, l, clock, std::future::pending())
        })
        .await
    }

    /// Starts routing, at `addr` when given.
    pub async fn routing(&self, escalation: SocketAddr, addr: Option<SocketAddr>) -> Result<Running> {
        let config = earshot_routing::Config::for_test(
            &self.redis.url(),
            &sqlite_url(self.dir.path(), "routing"),
            &escalation.to_string(),
        );
        let clock = self.shared_clock();
        Running::spawn(bind(addr).await?, "routing", move |l| {
            earshot_routing::run(config, l, clock, std::future::pending())
        })
        .await
    }

    /// Starts ingest.
    pub async fn ingest(&self, classify: SocketAddr, routing: SocketAddr) -> Result<Running> {
        let config = earshot_ingest::Config::for_test(
            &sqlite_url(self.dir.path(), "ingest"),
            &classify.to_string(),
            &routing.to_string(),
        );
        let clock = self.shared_clock();
        Running::spawn(bind(None).await?, "ingest", move |l| {
            earshot_ingest::run(config, l, clock, std::future::pending())
        })
        .await
    }
}

/// All four services and clients for them.
pub struct Services {
    /// Classifier.
    pub classify: Running,
    /// Escalation.
    pub escalation: Running,
    /// Routing.
    pub routing: Running,
    /// Ingest.
    pub ingest: Running,
}

impl Services {
    /// Starts all four on `stack`.
    pub async fn start(stack: &Stack) -> Result<Self> {
        let classify = stack.classify().await?;
        let escalation = stack.escalation().await?;
        let routing = stack.routing(escalation.addr, None).await?;
        let ingest = stack.ingest(classify.addr, routing.addr).await?;
        Ok(Self { classify, escalation, routing, ingest })
    }

    /// Ingest client.
    pub fn ingest_client(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.ingest.channel())
    }

    /// Classifier client.
    pub fn classify_client(&self) -> ClassifierServiceClient<Channel> {
        ClassifierServiceClient::new(self.classify.channel())
    }

    /// Routing client.
    pub fn routing_client(&self) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(self.routing.channel())
    }

    /// Agent client.
    pub fn agent_client(&self) -> AgentServiceClient<Channel> {
        AgentServiceClient::new(self.routing.channel())
    }

    /// Escalation client.
    pub fn escalation_client(&self) -> EscalationServiceClient<Channel> {
        EscalationServiceClient::new(self.escalation.channel())
    }
}

/// Generous bound for anything the pipeline does (it normally takes milliseconds).
pub const PIPELINE_DEADLINE: Duration = Duration::from_secs(20);

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

impl Services {
    /// Submits one post.
    pub async fn submit(&self, post: pb::Post) -> Result<pb::SubmitPostResponse> {
        Ok(self.ingest_client().submit_post(pb::SubmitPostRequest { post: Some(post) }).await?.into_inner())
    }

    /// Waits until the post is routed and returns its record.
    pub async fn routed(&self, post_id: &str) -> Result<pb::PostRecord> {
        let client = self.ingest_client();
        let state = |client: IngestServiceClient<Channel>, post_id: String| async move {
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

    /// Submits a post and waits until it is routed.
    pub async fn submit_routed(&self, post: pb::Post) -> Result<pb::PostRecord> {
        let accepted = self.submit(post).await?;
        self.routed(&accepted.post_id).await
    }

    /// Registers an available agent for every default queue.
    pub async fn register_agent(&self, agent_id: &str, capacity: u32, languages: &[&str]) -> Result<pb::AgentView> {
        let request = pb::SetPresenceRequest {
            agent_id: agent_id.into(),
            presence: pb::Presence::Available as i32,
            capacity,
            skills: vec![],
            languages: languages.iter().map(|l| l.to_string()).collect(),
        };
        Ok(self.agent_client().set_presence(request).await?.into_inner())
    }

    /// The case `NextCase` offers the agent, if any.
    pub async fn offered(&self, agent_id: &str) -> Result<Option<pb::CaseView>> {
        let request = pb::NextCaseRequest { agent_id: agent_id.into(), wait_ms: 0 };
        let response = self.agent_client().next_case(request).await?;
        Ok(response.into_inner().offer.and_then(|offer| offer.case))
    }
}
