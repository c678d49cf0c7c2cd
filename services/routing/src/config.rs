//! Configuration of earshot-routing: flags, each with an environment variable and a default.

use std::path::PathBuf;
use std::time::Duration;

use earshot_core::Weights;

/// earshot-routing: cases, queues, agents and leases.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-routing", version)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "EARSHOT_LISTEN", default_value = "127.0.0.1:50053")]
    pub listen: String,
    /// Address of the admin HTTP port (`/metrics` in Prometheus text, `/healthz`); empty turns
    /// it off.
    #[arg(long, env = "EARSHOT_ADMIN_LISTEN", default_value = "127.0.0.1:9453")]
    pub admin_listen: String,
    /// Redis holding the live queues.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Database for cases, agents and the audit trail.
    #[arg(long, env = "DATABASE_URL", default_value_t = earshot_store::default_url("routing"))]
    pub database_url: String,
    /// Address of earshot-escalation.
    #[arg(long, env = "EARSHOT_ESCALATION_ADDR", default_value = "127.0.0.1:50054")]
    pub escalation_addr: String,
    /// How long an agent has to accept an offer, in milliseconds.
    #[arg(long, env = "EARSHOT_LEASE_MS", default_value_t = 120_000)]
    pub lease_ms: i64,
    /// How long a follow-up waits for the agent who holds its case to answer before the case goes
    /// back to its queue, in milliseconds.
    #[arg(long, env = "EARSHOT_STICKY_TIMEOUT_MS", default_value_t = 300_000)]
    pub sticky_timeout_ms: i64,
    /// Head start one priority point buys in a queue, in milliseconds.
    #[arg(long, env = "EARSHOT_PRIORITY_CREDIT_MS", default_value_t = 60_000)]
    pub priority_credit_ms: i64,
    /// How often expired leases are reclaimed, in milliseconds.
    #[arg(long, env = "EARSHOT_SWEEP_MS", default_value_t = 1_000)]
    pub sweep_ms: u64,
    /// Risk weights (for the repeat-contact factor); the built-in weights when unset.
    #[arg(long, env = "EARSHOT_WEIGHTS")]
    pub weights: Option<PathBuf>,
    /// Bounds on open `WatchCaseEvents` streams.
    #[command(flatten)]
    pub watches: earshot_auth::WatchArgs,
    /// The largest message callers may send (the same flag every service has).
    #[command(flatten)]
    pub message: earshot_telemetry::args::MessageArgs,
    /// Credentials: the service key, key cache and per-key rate.
    #[command(flatten)]
    pub auth: earshot_auth::AuthArgs,
    /// TLS for this server and its calls to peers.
    #[command(flatten)]
    pub tls: earshot_telemetry::tls::TlsArgs,
    /// Log format and trace export.
    #[command(flatten)]
    pub telemetry: earshot_telemetry::args::TelemetryArgs,
}

impl Config {
    /// Defaults for a service embedded in another process (tests, the replay): any free
    /// loopback port, the given Redis, database and escalation.
    pub fn local(redis_url: &str, database_url: &str, escalation_addr: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            admin_listen: String::new(),
            redis_url: redis_url.into(),
            database_url: database_url.into(),
            escalation_addr: escalation_addr.into(),
            lease_ms: 120_000,
            sticky_timeout_ms: 300_000,
            priority_credit_ms: 60_000,
            sweep_ms: 200,
            weights: None,
            watches: Default::default(),
            message: Default::default(),
            auth: earshot_auth::AuthArgs::private(),
            tls: Default::default(),
            telemetry: Default::default(),
        }
    }

    /// The sweep period.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_ms.max(10))
    }

    /// The configured weights.
    pub fn weights(&self) -> Result<Weights, earshot_core::scoring::WeightsError> {
        Weights::load(self.weights.as_deref())
    }
}
