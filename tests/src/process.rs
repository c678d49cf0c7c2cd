//! The four services, each in a process of its own, for what only a real process shows: a SIGKILL
//! (the kernel drops its sockets, no destructor runs, SQLite is left wherever it was) and
//! telemetry with one `service.name` per process.
//!
//! A service process is the calling test binary run again: every test binary that starts
//! [`Processes`] has an ignored test named `service_process` that calls [`serve_from_env`]. The
//! child installs the real telemetry (reading `OTEL_*` as a service does), serves an admin port,
//! starts the real service and prints where it listens. A restarted service takes the address it
//! had, so its peers find it again as they would behind a Kubernetes Service.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use earshot_auth::{AuthChannel, Bearer};
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_testkit::TestRedis;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// Which service a child runs; its presence makes the process a child.
const SERVICE: &str = "EARSHOT_PROCESS_SERVICE";
/// The child's Redis, data folder, service credential, peers (`name=addr,…`) and address.
const REDIS: &str = "EARSHOT_PROCESS_REDIS";
const DATA: &str = "EARSHOT_PROCESS_DATA";
const KEY: &str = "EARSHOT_PROCESS_KEY";
const PEERS: &str = "EARSHOT_PROCESS_PEERS";
const ADDR: &str = "EARSHOT_PROCESS_ADDR";
/// What a child prints once it serves: its address and its admin address.
const LISTENING: &str = "earshot-process-listening ";
/// How long a child may take to serve (a debug build on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a restart tries to take its old address back.
const RESTART_TRIES: usize = 20;
/// Deadline of a call from the clients below.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One of the four services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// earshot-classify.
    Classify,
    /// earshot-escalation.
    Escalation,
    /// earshot-routing.
    Routing,
    /// earshot-ingest.
    Ingest,
}

impl Service {
    /// Every service, in the order they start (each after its peers).
    pub const ALL: [Service; 4] = [Service::Classify, Service::Escalation, Service::Routing, Service::Ingest];

    /// Its short name (`routing`), as in log file names and the child's environment.
    pub fn name(self) -> &'static str {
        match self {
            Self::Classify => "classify",
            Self::Escalation => "escalation",
            Self::Routing => "routing",
            Self::Ingest => "ingest",
        }
    }

    /// Its `service.name` in telemetry (`earshot-routing`).
    pub fn service_name(self) -> &'static str {
        match self {
            Self::Classify => "earshot-classify",
            Self::Escalation => "earshot-escalation",
            Self::Routing => "earshot-routing",
            Self::Ingest => "earshot-ingest",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|service| service.name() == name).with_context(|| format!("unknown service {name}"))
    }
}

/// A service in a process of its own; killed when dropped.
pub struct ServiceProcess {
    /// Where it serves gRPC (the same across restarts).
    pub addr: SocketAddr,
    /// Where its admin port (metrics, health) serves; new with each start.
    pub admin: SocketAddr,
    child: Option<Child>,
}

/// The four services as processes sharing one Redis, one data folder and one service credential.
pub struct Processes {
    /// The classifier.
    pub classify: ServiceProcess,
    /// Escalation.
    pub escalation: ServiceProcess,
    /// Routing.
    pub routing: ServiceProcess,
    /// Ingest.
    pub ingest: ServiceProcess,
    /// The credential every service shares; the clients below present it.
    pub service_key: String,
    /// The Redis they share.
    pub redis: TestRedis,
    /// SQLite files and each service's log (`routing.log`, appended across restarts).
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Processes {
    /// Starts the four on `redis`, each child also given `env` (e.g. `OTEL_*`).
    pub async fn start(redis: TestRedis, env: &[(&str, String)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let service_key = earshot_auth::key::mint_service_secret()?;
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        env.extend([
            (REDIS.to_owned(), redis.url()),
            (DATA.to_owned(), dir.path().display().to_string()),
            (KEY.to_owned(), service_key.clone()),
        ]);
        let classify = spawn(Service::Classify, &env, None, String::new(), dir.path()).await?;
        let escalation = spawn(Service::Escalation, &env, None, String::new(), dir.path()).await?;
        let peers = format!("escalation={}", escalation.addr);
        let routing = spawn(Service::Routing, &env, None, peers, dir.path()).await?;
        let peers = format!("classify={},routing={}", classify.addr, routing.addr);
        let ingest = spawn(Service::Ingest, &env, None, peers, dir.path()).await?;
        Ok(Self { classify, escalation, routing, ingest, service_key, redis, dir, env })
    }

    fn process(&mut self, service: Service) -> &mut ServiceProcess {
        match service {
            Service::Classify => &mut self.classify,
            Service::Escalation => &mut self.escalation,
            Service::Routing => &mut self.routing,
            Service::Ingest => &mut self.ingest,
        }
    }

    /// Sends `service` SIGKILL and waits until it is gone.
    pub async fn kill(&mut self, service: Service) -> Result<()> {
        if let Some(mut child) = self.process(service).child.take() {
            child.kill().await.with_context(|| format!("killing {}", service.name()))?;
        }
        Ok(())
    }

    /// Starts `service` again at its address (after [`Processes::kill`]).
    pub async fn restart(&mut self, service: Service) -> Result<()> {
        let peers = match service {
            Service::Routing => format!("escalation={}", self.escalation.addr),
            Service::Ingest => format!("classify={},routing={}", self.classify.addr, self.routing.addr),
            Service::Classify | Service::Escalation => String::new(),
        };
        let addr = self.process(service).addr;
        // The port is ephemeral: while the service was down a client's outgoing socket may have
        // taken it for a moment. Try again until it is free.
        let mut last = None;
        for _ in 0..RESTART_TRIES {
            match spawn(service, &self.env, Some(addr), peers.clone(), self.dir.path()).await {
                Ok(started) => {
                    *self.process(service) = started;
                    return Ok(());
                }
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("{} did not start again", service.name())))
    }

    /// The service credential, acting for tenant `default`.
    pub fn credential(&self) -> Result<Bearer> {
        Ok(Bearer::new(&self.service_key)?)
    }

    fn channel(&self, addr: SocketAddr) -> Result<AuthChannel> {
        let channel: Channel = earshot_telemetry::client::channel(&addr.to_string(), CALL_TIMEOUT, None)?;
        Ok(self.credential()?.channel(channel))
    }

    /// A client of ingest, as the service credential.
    pub fn ingest_client(&self) -> Result<IngestServiceClient<AuthChannel>> {
        Ok(IngestServiceClient::new(self.channel(self.ingest.addr)?))
    }

    /// A client of routing, as the service credential.
    pub fn routing_client(&self) -> Result<RoutingServiceClient<AuthChannel>> {
        Ok(RoutingServiceClient::new(self.channel(self.routing.addr)?))
    }

    /// A client of routing's agent API, as the service credential.
    pub fn agent_client(&self) -> Result<AgentServiceClient<AuthChannel>> {
        Ok(AgentServiceClient::new(self.channel(self.routing.addr)?))
    }

    /// The end of every service's log, for a failure's message.
    pub fn log_tails(&self) -> String {
        let mut tails = String::new();
        for service in Service::ALL {
            let log = std::fs::read_to_string(self.dir.path().join(format!("{}.log", service.name())));
            let log = log.unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            tails += &format!("\n--- {} ---\n{}", service.name(), lines[lines.len().saturating_sub(15)..].join("\n"));
        }
        tails
    }
}

/// Starts the calling test binary again as `service` and waits until it serves.
async fn spawn(
    service: Service,
    env: &[(String, String)],
    addr: Option<SocketAddr>,
    peers: String,
    logs: &std::path::Path,
) -> Result<ServiceProcess> {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("{}.log", service.name())))?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["service_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SERVICE, service.name())
        .env(PEERS, peers)
        .env(ADDR, addr.map(|a| a.to_string()).unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("EARSHOT_LOG_FORMAT")
        // The child exits when this pipe closes: when the test process dies, however it dies.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (addr, admin) = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some((addr, admin)) = line.strip_prefix(LISTENING).and_then(|addrs| addrs.trim().split_once(' ')) {
                return Ok::<_, anyhow::Error>((addr.parse::<SocketAddr>()?, admin.parse::<SocketAddr>()?));
            }
        }
        bail!("{} exited before serving (see its log in {})", service.name(), logs.display())
    })
    .await
    .with_context(|| format!("{} did not start within {START_TIMEOUT:?}", service.name()))??;
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ServiceProcess { addr, admin, child: Some(child) })
}

/// The body of a service process: runs the service the environment names until killed or until
/// its parent goes away. Without that environment (a run of the ignored tests) it does nothing.
pub fn serve_from_env() -> Result<()> {
    let Ok(service) = std::env::var(SERVICE) else {
        return Ok(());
    };
    let service = Service::parse(&service)?;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let telemetry = earshot_telemetry::args::TelemetryArgs {
            log_format: earshot_telemetry::args::LogFormat::Text,
            otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
        };
        let telemetry = earshot_telemetry::init(&telemetry, service.service_name(), env!("CARGO_PKG_VERSION"))?;
        let admin = telemetry.serve_admin("127.0.0.1:0").await?.context("the admin port")?;
        let clock: earshot_core::SharedClock = Arc::new(earshot_core::SystemClock);
        let mut node = earshot_embedded::Node::new(std::env::var(REDIS)?, std::env::var(DATA)?.into(), clock);
        node.service_key = std::env::var(KEY)?;
        let peers: HashMap<String, SocketAddr> = std::env::var(PEERS)?
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, addr) = pair.split_once('=').context("peer name=addr")?;
                Ok((name.to_owned(), addr.parse()?))
            })
            .collect::<Result<_>>()?;
        let peer = |name: &str| peers.get(name).copied().with_context(|| format!("peer {name}"));
        let addr = std::env::var(ADDR).ok().filter(|a| !a.is_empty()).map(|a| a.parse()).transpose()?;
        let running = match service {
            Service::Classify => node.classify_at(addr).await?,
            Service::Escalation => node.escalation_until(addr, std::future::pending()).await?,
            Service::Routing => node.routing(peer("escalation")?, addr).await?,
            Service::Ingest => node.ingest_at(peer("classify")?, peer("routing")?, addr).await?,
        };
        println!("{LISTENING}{} {}", running.addr, admin.addr());
        // Serves until the test kills this process.
        std::future::pending::<()>().await;
        Ok(())
    })
}
