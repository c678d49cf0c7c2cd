//! Configuration of earshot-routing: flags, each with an environment variable and a default.

use std::time::Duration;

use earshot_telemetry::args::{CommonArgs, EscalationPeer, WeightsArgs, addresses};
use earshot_telemetry::process::Service;

/// earshot-routing: cases, queues, agents and leases.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-routing", version)]
pub struct Config {
    /// Database for cases, agents and the audit trail.
    #[arg(long, env = "DATABASE_URL", default_value_t = earshot_store::default_url("routing"))]
    pub database_url: String,
    /// Where escalation is, which hears of every case event.
    #[command(flatten)]
    pub escalation: EscalationPeer,
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
    /// Risk weights.
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// Bounds on open `WatchCaseEvents` streams.
    #[command(flatten)]
    pub watches: earshot_auth::WatchArgs,
    /// The flags every service has: addresses, Redis, credentials, TLS, telemetry.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Config {
    /// Defaults for a service embedded in another process (tests, the replay): any free
    /// loopback port, the given Redis, database and escalation.
    pub fn local(redis_url: &str, database_url: &str, escalation_addr: &str) -> Self {
        Self {
            database_url: database_url.into(),
            escalation: EscalationPeer { addr: escalation_addr.into() },
            lease_ms: 120_000,
            sticky_timeout_ms: 300_000,
            priority_credit_ms: 60_000,
            sweep_ms: 200,
            weights: WeightsArgs::default(),
            watches: Default::default(),
            common: CommonArgs::local(redis_url),
        }
    }

    /// The sweep period.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_ms.max(10))
    }
}

impl Service for Config {
    const NAME: &'static str = "earshot-routing";
    const DEFAULT_LISTEN: &'static str = addresses::ROUTING;
    const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9453";

    fn common(&self) -> &CommonArgs {
        &self.common
    }
}
