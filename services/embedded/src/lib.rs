//! Earshot in one process: the four services on `127.0.0.1:0`, each in its own task, sharing one
//! clock, one Redis and one data folder. The end-to-end tests drive it with a clock they move by
//! hand; `earshotctl replay` with a clock that runs faster than the wall. Each service is the real
//! one (its `run`), reached over real gRPC; dropping a [`Running`] kills that service, as a crash
//! would, so a test can start it again.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use earshot_core::SharedClock;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_telemetry::args::CommonArgs;
use earshot_telemetry::tls::TlsArgs;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig};

pub use earshot_auth::{AuthArgs, AuthChannel, Bearer};
use earshot_proto::v1 as pb;
use earshot_proto::v1::key_service_client::KeyServiceClient;

/// Deadline of a call from the clients below: longer than any test's stream.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A running service; dropping it kills it.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    tls: Option<ClientTlsConfig>,
    task: JoinHandle<()>,
    /// The service's own runtime, when it has one ([`Node::runtime_per_service`]).
    runtime: Option<tokio::runtime::Runtime>,
}

/// The name of the threads of a service on a runtime of its own: what a profile or the bench's
/// CPU account reads (at most 15 bytes, the kernel's limit).
pub fn thread_name(service: &str) -> String {
    format!("es-{service}")
}

impl Running {
    async fn spawn<F, Fut>(listener: TcpListener, node: &Node, name: &'static str, run: F) -> Result<Self>
    where
        F: FnOnce(TcpListener) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let (task, runtime) = if node.runtime_per_service {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name(thread_name(name))
                // Idle blocking threads stay, so the CPU they used stays on the account.
                .thread_keep_alive(std::time::Duration::from_secs(24 * 3600))
                .enable_all()
                .build()
                .with_context(|| format!("starting a runtime for {name}"))?;
            // The listener moves to the service's runtime, so its connections are polled there.
            let listener = listener.into_std()?;
            let task = runtime.spawn(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => stopped(name, run(listener).await),
                    Err(error) => stopped(name, Err(error.into())),
                }
            });
            (task, Some(runtime))
        } else {
            (tokio::spawn(async move { stopped(name, run(listener).await) }), None)
        };
        Ok(Self { addr, tls: node.tls.client()?, task, runtime })
    }

    /// Whether it has stopped.
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// A channel to it (connects on first use), over TLS when the node has it.
    pub fn channel(&self) -> Channel {
        let channel = earshot_telemetry::client::channel(&self.addr.to_string(), CALL_TIMEOUT, self.tls.as_ref());
        // A socket address always makes a valid URI, and the TLS settings were read at start.
        channel.unwrap_or_else(|error| unreachable!("{error}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Says why a service stopped, when it stopped on an error.
fn stopped(name: &str, outcome: anyhow::Result<()>) {
    if let Err(error) = outcome {
        eprintln!("{name} stopped: {error:#}");
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

fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}/{name}.db?mode=rwc", dir.display())
}

impl Node {
    /// The database `service` keeps its state in: the node's PostgreSQL database when it has one
    /// (shared by every service, each with its own tables), else a SQLite file of its own.
    pub fn database_url(&self, service: &str) -> String {
        self.database.clone().unwrap_or_else(|| sqlite_url(&self.data_dir, service))
    }
}

/// Where the services keep their state and how they read time.
#[derive(Clone)]
pub struct Node {
    /// `REDIS_URL` (one server, or cluster seeds).
    pub redis_url: String,
    /// Each service's SQLite file goes here.
    pub data_dir: PathBuf,
    /// The clock of ingest, routing and escalation.
    pub clock: SharedClock,
    /// Routing's head start per priority point; 0 serves every queue first come, first served.
    pub priority_credit_ms: i64,
    /// The service credential the services share (minted per node).
    pub service_key: String,
    /// TLS for every service and call (none by default).
    pub tls: TlsArgs,
    /// One PostgreSQL database for every service instead of SQLite files in `data_dir`.
    pub database: Option<String>,
    /// Where escalation may deliver webhooks besides public addresses (`--webhook-allow`: none
    /// by default; tests with a receiver on loopback allow `127.0.0.1`).
    pub webhook_allow: String,
    /// Each service on a tokio runtime of its own, its threads named by [`thread_name`], so
    /// their CPU time can be told apart (the bench); by default all share the caller's.
    pub runtime_per_service: bool,
}

impl Node {
    /// Services on `redis_url`, keeping state in `data_dir`, reading `clock`, with the default
    /// priority credit.
    pub fn new(redis_url: String, data_dir: PathBuf, clock: SharedClock) -> Self {
        let routing = earshot_routing::Config::local("", "", "");
        let service_key = routing.common.auth.service_secret().unwrap_or_default();
        Self {
            redis_url,
            data_dir,
            clock,
            priority_credit_ms: routing.priority_credit_ms,
            service_key,
            tls: TlsArgs::default(),
            runtime_per_service: false,
            database: None,
            webhook_allow: String::new(),
        }
    }

    /// The flags every service shares, as this node sets them: its Redis, its service key, its
    /// TLS; any free port, no admin port.
    fn common(&self) -> CommonArgs {
        CommonArgs {
            auth: AuthArgs::local(&self.service_key),
            tls: self.tls.clone(),
            ..CommonArgs::local(&self.redis_url)
        }
    }

    /// The service credential, acting for tenant `default`.
    pub fn credential(&self) -> Result<Bearer> {
        Ok(Bearer::new(&self.service_key)?)
    }

    /// Starts the classifier.
    pub async fn classify(&self) -> Result<Running> {
        self.classify_at(None).await
    }

    /// Starts the classifier, at `addr` when given.
    pub async fn classify_at(&self, addr: Option<SocketAddr>) -> Result<Running> {
        let mut config = earshot_classify::Config::local();
        config.common = self.common();
        let clock = self.clock.clone();
        Running::spawn(bind(addr).await?, self, "classify", move |l| {
            earshot_classify::run(config, l, clock, std::future::pending())
        })
        .await
    }

    /// Starts escalation.
    pub async fn escalation(&self) -> Result<Running> {
        self.escalation_until(None, std::future::pending()).await
    }

    /// Starts escalation (at `addr` when given), stopping gracefully (as on SIGTERM) when
    /// `shutdown` resolves.
    pub async fn escalation_until(
        &self,
        addr: Option<SocketAddr>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Running> {
        let mut config = earshot_escalation::Config::local(&self.redis_url, &self.database_url("escalation"));
        config.webhook_allow = self.webhook_allow.clone();
        config.common = self.common();
        let clock = self.clock.clone();
        Running::spawn(bind(addr).await?, self, "escalation", move |l| {
            earshot_escalation::run(config, l, clock, shutdown)
        })
        .await
    }

    /// Starts routing, at `addr` when given.
    pub async fn routing(&self, escalation: SocketAddr, addr: Option<SocketAddr>) -> Result<Running> {
        let mut config =
            earshot_routing::Config::local(&self.redis_url, &self.database_url("routing"), &escalation.to_string());
        config.priority_credit_ms = self.priority_credit_ms;
        config.common = self.common();
        let clock = self.clock.clone();
        Running::spawn(bind(addr).await?, self, "routing", move |l| {
            earshot_routing::run(config, l, clock, std::future::pending())
        })
        .await
    }

    /// Starts ingest.
    pub async fn ingest(&self, classify: SocketAddr, routing: SocketAddr) -> Result<Running> {
        self.ingest_at(classify, routing, None).await
    }

    /// Starts ingest, at `addr` when given.
    pub async fn ingest_at(
        &self,
        classify: SocketAddr,
        routing: SocketAddr,
        addr: Option<SocketAddr>,
    ) -> Result<Running> {
        let mut config =
            earshot_ingest::Config::local(&self.database_url("ingest"), &classify.to_string(), &routing.to_string());
        config.common = self.common();
        let clock = self.clock.clone();
        Running::spawn(bind(addr).await?, self, "ingest", move |l| {
            earshot_ingest::run(config, l, clock, std::future::pending())
        })
        .await
    }

    /// Starts the web console calling `routing` and `escalation`; it serves HTTP at its `addr`.
    pub async fn console(&self, routing: SocketAddr, escalation: SocketAddr) -> Result<Running> {
        let mut config = earshot_console::Config::local(&routing.to_string(), &escalation.to_string());
        config.tls = self.tls.clone();
        Running::spawn(bind(None).await?, self, "console", move |l| {
            earshot_console::run(config, l, std::future::pending())
        })
        .await
    }

    /// Starts all four.
    pub async fn start(&self) -> Result<Services> {
        let classify = self.classify().await?;
        let escalation = self.escalation().await?;
        let routing = self.routing(escalation.addr, None).await?;
        let ingest = self.ingest(classify.addr, routing.addr).await?;
        Ok(Services { classify, escalation, routing, ingest, credential: self.credential()? })
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
    /// What the clients without a key of their own present: the service credential.
    pub credential: Bearer,
}

impl Services {
    /// Ingest client.
    pub fn ingest_client(&self) -> IngestServiceClient<AuthChannel> {
        self.ingest_client_as(&self.credential)
    }

    /// Ingest client presenting `key`.
    pub fn ingest_client_as(&self, key: &Bearer) -> IngestServiceClient<AuthChannel> {
        IngestServiceClient::new(key.channel(self.ingest.channel()))
    }

    /// Classifier client.
    pub fn classify_client(&self) -> ClassifierServiceClient<AuthChannel> {
        self.classify_client_as(&self.credential)
    }

    /// Classifier client presenting `key`.
    pub fn classify_client_as(&self, key: &Bearer) -> ClassifierServiceClient<AuthChannel> {
        ClassifierServiceClient::new(key.channel(self.classify.channel()))
    }

    /// Routing client.
    pub fn routing_client(&self) -> RoutingServiceClient<AuthChannel> {
        self.routing_client_as(&self.credential)
    }

    /// Routing client presenting `key`.
    pub fn routing_client_as(&self, key: &Bearer) -> RoutingServiceClient<AuthChannel> {
        RoutingServiceClient::new(key.channel(self.routing.channel()))
    }

    /// Agent client.
    pub fn agent_client(&self) -> AgentServiceClient<AuthChannel> {
        self.agent_client_as(&self.credential)
    }

    /// Agent client presenting `key`.
    pub fn agent_client_as(&self, key: &Bearer) -> AgentServiceClient<AuthChannel> {
        AgentServiceClient::new(key.channel(self.routing.channel()))
    }

    /// Escalation client.
    pub fn escalation_client(&self) -> EscalationServiceClient<AuthChannel> {
        self.escalation_client_as(&self.credential)
    }

    /// Escalation client presenting `key`.
    pub fn escalation_client_as(&self, key: &Bearer) -> EscalationServiceClient<AuthChannel> {
        EscalationServiceClient::new(key.channel(self.escalation.channel()))
    }

    /// Key client presenting `key`.
    pub fn key_client_as(&self, key: &Bearer) -> KeyServiceClient<AuthChannel> {
        KeyServiceClient::new(key.channel(self.routing.channel()))
    }

    /// Makes an API key for `tenant` with `roles` (and the agent it acts as), through the key
    /// service with the service credential; returns its public id and a credential presenting it.
    pub async fn create_key(&self, tenant: &str, roles: &[&str], agent_id: Option<&str>) -> Result<(String, Bearer)> {
        let (key_id, secret) = self.mint_key(tenant, roles, agent_id).await?;
        Ok((key_id, Bearer::new(&secret)?))
    }

    /// Makes a key of `tenant` with `roles` (and `agent_id` for an agent key); returns its id and
    /// its secret, as a person would paste it.
    pub async fn mint_key(&self, tenant: &str, roles: &[&str], agent_id: Option<&str>) -> Result<(String, String)> {
        let tenant = earshot_core::Tenant::parse(tenant)?;
        let request = pb::CreateKeyRequest {
            name: format!("test {}", roles.join("+")),
            roles: roles.iter().map(|role| role.to_string()).collect(),
            agent_id: agent_id.unwrap_or_default().to_owned(),
            rate_per_second: 0,
        };
        let created = self.key_client_as(&self.credential.clone().for_tenant(&tenant)).create_key(request).await?;
        let created = created.into_inner();
        let key_id = created.key.map(|key| key.key_id).unwrap_or_default();
        Ok((key_id, created.secret))
    }
}
