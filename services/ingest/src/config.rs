//! Configuration of earshot-ingest: flags, each with an environment variable and a default.

use std::time::Duration;

/// earshot-ingest: accepts customer posts and drives them through the pipeline.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-ingest", version)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "EARSHOT_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Address of the admin HTTP port (`/metrics` in Prometheus text, `/healthz`); empty turns
    /// it off.
    #[arg(long, env = "EARSHOT_ADMIN_LISTEN", default_value = "127.0.0.1:9451")]
    pub admin_listen: String,
    /// Database holding accepted posts (the outbox).
    #[arg(long, env = "DATABASE_URL", default_value_t = earshot_store::default_url("ingest"))]
    pub database_url: String,
    /// Address of earshot-classify.
    #[arg(long, env = "EARSHOT_CLASSIFY_ADDR", default_value = "127.0.0.1:50052")]
    pub classify_addr: String,
    /// Address of earshot-routing.
    #[arg(long, env = "EARSHOT_ROUTING_ADDR", default_value = "127.0.0.1:50053")]
    pub routing_addr: String,
    /// Most posts the pipeline classifies and routes in one batch.
    #[arg(long, env = "EARSHOT_PIPELINE_BATCH", default_value_t = 256)]
    pub pipeline_batch: u64,
    /// How long the pipeline waits for a batch to fill, in milliseconds.
    #[arg(long, env = "EARSHOT_PIPELINE_WAIT_MS", default_value_t = 5)]
    pub pipeline_wait_ms: u64,
    /// What a client may send.
    #[command(flatten)]
    pub input: earshot_telemetry::args::InputArgs,
    /// Redis, where API keys are published.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
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
    /// loopback port, the given database and peers.
    pub fn local(database_url: &str, classify_addr: &str, routing_addr: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            admin_listen: String::new(),
            database_url: database_url.into(),
            classify_addr: classify_addr.into(),
            routing_addr: routing_addr.into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            pipeline_batch: 256,
            pipeline_wait_ms: 5,
            input: Default::default(),
            auth: earshot_auth::AuthArgs::private(),
            tls: Default::default(),
            telemetry: Default::default(),
        }
    }

    /// How long a batch may wait to fill.
    pub fn pipeline_wait(&self) -> Duration {
        Duration::from_millis(self.pipeline_wait_ms)
    }
}
