//! Configuration of earshot-classify: flags, each with an environment variable and a default.

use std::path::PathBuf;

use earshot_core::Weights;

/// earshot-classify: classifies customer posts.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-classify", version)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "EARSHOT_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: String,
    /// Address of the admin HTTP port (`/metrics` in Prometheus text, `/healthz`); empty turns
    /// it off.
    #[arg(long, env = "EARSHOT_ADMIN_LISTEN", default_value = "127.0.0.1:9452")]
    pub admin_listen: String,
    /// Risk weights (TOML, like shared/core/weights.toml); the built-in weights when unset.
    #[arg(long, env = "EARSHOT_WEIGHTS")]
    pub weights: Option<PathBuf>,
    /// The learned model's weights file (made by `earshotctl train`); the built-in one when unset.
    #[arg(long, env = "EARSHOT_MODEL")]
    pub model: Option<PathBuf>,
    /// Folder of extra cue files (`<lang>.tsv`) added to the built-in ones.
    #[arg(long, env = "EARSHOT_CUES_DIR")]
    pub cues_dir: Option<PathBuf>,
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
    /// loopback port.
    pub fn local() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            admin_listen: String::new(),
            weights: None,
            model: None,
            cues_dir: None,
            input: Default::default(),
            redis_url: "redis://127.0.0.1:6379".into(),
            auth: earshot_auth::AuthArgs::private(),
            tls: Default::default(),
            telemetry: Default::default(),
        }
    }

    /// The configured weights.
    pub fn weights(&self) -> Result<Weights, earshot_core::scoring::WeightsError> {
        Weights::load(self.weights.as_deref())
    }
}
