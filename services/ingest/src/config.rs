//! Configuration of earshot-ingest: flags, each with an environment variable and a default.

use earshot_telemetry::args::{ClassifyPeer, CommonArgs, DEFAULT_REDIS_URL, RoutingPeer, addresses};
use earshot_telemetry::process::Service;
use std::time::Duration;

/// earshot-ingest: accepts customer posts and drives them through the pipeline.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-ingest", version)]
pub struct Config {
    /// Database holding accepted posts (the outbox).
    #[arg(long, env = "DATABASE_URL", default_value_t = earshot_store::default_url("ingest"))]
    pub database_url: String,
    /// Where classify is: the pipeline's first step.
    #[command(flatten)]
    pub classify: ClassifyPeer,
    /// Where routing is: the pipeline's second step.
    #[command(flatten)]
    pub routing: RoutingPeer,
    /// Most posts the pipeline classifies and routes in one batch.
    #[arg(long, env = "EARSHOT_PIPELINE_BATCH", default_value_t = 256)]
    pub pipeline_batch: u64,
    /// How long the pipeline waits for a batch to fill, in milliseconds.
    #[arg(long, env = "EARSHOT_PIPELINE_WAIT_MS", default_value_t = 5)]
    pub pipeline_wait_ms: u64,
    /// What a client may send.
    #[command(flatten)]
    pub input: earshot_telemetry::args::InputArgs,
    /// The flags every service has: addresses, Redis, credentials, TLS, telemetry.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Config {
    /// Defaults for a service embedded in another process (tests, the replay): any free
    /// loopback port, the given database and peers.
    pub fn local(database_url: &str, classify_addr: &str, routing_addr: &str) -> Self {
        Self {
            database_url: database_url.into(),
            classify: ClassifyPeer { addr: classify_addr.into() },
            routing: RoutingPeer { addr: routing_addr.into() },
            pipeline_batch: 256,
            pipeline_wait_ms: 5,
            input: Default::default(),
            common: CommonArgs::local(DEFAULT_REDIS_URL),
        }
    }

    /// How long a batch may wait to fill.
    pub fn pipeline_wait(&self) -> Duration {
        Duration::from_millis(self.pipeline_wait_ms)
    }
}

impl Service for Config {
    const NAME: &'static str = "earshot-ingest";
    const DEFAULT_LISTEN: &'static str = addresses::INGEST;
    const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9451";

    fn common(&self) -> &CommonArgs {
        &self.common
    }
}
