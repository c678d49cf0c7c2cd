//! Flags every service shares: where it listens, Redis, credentials, TLS, how much a caller may
//! send, and how the service reports on itself. A service's `Config` flattens [`CommonArgs`] and
//! adds only what is its own.

use earshot_core::Limits;

/// The flags every gRPC service has. The two addresses default per service (see
/// [`crate::process::Service`]), so they carry no default here.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "EARSHOT_LISTEN")]
    pub listen: String,
    /// Address of the admin HTTP port (`/metrics` in Prometheus text, `/healthz`); empty turns
    /// it off.
    #[arg(long, env = "EARSHOT_ADMIN_LISTEN")]
    pub admin_listen: String,
    /// Redis: API keys and rate limits, and the live state of the services that keep one there.
    #[arg(long, env = "REDIS_URL", default_value = DEFAULT_REDIS_URL)]
    pub redis_url: String,
    /// The largest message callers may send (every service should get the same value).
    #[command(flatten)]
    pub message: MessageArgs,
    /// Credentials: the service key, key cache and per-key rate.
    #[command(flatten)]
    pub auth: earshot_auth::AuthArgs,
    /// TLS for this server and its calls to peers.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// Log format and trace export.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

/// Where each service listens when nobody says otherwise, which is also where its callers look.
pub mod addresses {
    /// earshot-ingest's gRPC port.
    pub const INGEST: &str = "127.0.0.1:50051";
    /// earshot-classify's gRPC port.
    pub const CLASSIFY: &str = "127.0.0.1:50052";
    /// earshot-routing's gRPC port.
    pub const ROUTING: &str = "127.0.0.1:50053";
    /// earshot-escalation's gRPC port.
    pub const ESCALATION: &str = "127.0.0.1:50054";
}

/// Where earshot-classify is, for the services that call it.
#[derive(Debug, Clone, clap::Args)]
pub struct ClassifyPeer {
    /// Address of earshot-classify.
    #[arg(id = "classify_addr", long = "classify-addr", value_name = "CLASSIFY_ADDR", env = "EARSHOT_CLASSIFY_ADDR", default_value = addresses::CLASSIFY)]
    pub addr: String,
}

/// Where earshot-routing is, for the services that call it.
#[derive(Debug, Clone, clap::Args)]
pub struct RoutingPeer {
    /// Address of earshot-routing.
    #[arg(id = "routing_addr", long = "routing-addr", value_name = "ROUTING_ADDR", env = "EARSHOT_ROUTING_ADDR", default_value = addresses::ROUTING)]
    pub addr: String,
}

/// Where earshot-escalation is, for the services that call it.
#[derive(Debug, Clone, clap::Args)]
pub struct EscalationPeer {
    /// Address of earshot-escalation.
    #[arg(
        id = "escalation_addr",
        long = "escalation-addr",
        value_name = "ESCALATION_ADDR",
        env = "EARSHOT_ESCALATION_ADDR",
        default_value = addresses::ESCALATION
    )]
    pub addr: String,
}

/// The risk weights, for the services that score (classify) or weigh repeat contacts (routing).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WeightsArgs {
    /// Risk weights (TOML, like shared/core/weights.toml); the built-in weights when unset.
    #[arg(long, env = "EARSHOT_WEIGHTS")]
    pub weights: Option<std::path::PathBuf>,
}

impl WeightsArgs {
    /// The configured weights, or the built-in ones.
    pub fn load(&self) -> Result<earshot_core::Weights, earshot_core::scoring::WeightsError> {
        earshot_core::Weights::load(self.weights.as_deref())
    }
}

/// Where Redis is when nobody says otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

impl CommonArgs {
    /// For a service embedded in another process (tests, the replay): any free loopback port, no
    /// admin port, the given Redis, a service credential of its own until told the shared one.
    pub fn local(redis_url: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            admin_listen: String::new(),
            redis_url: redis_url.into(),
            message: MessageArgs::default(),
            auth: earshot_auth::AuthArgs::private(),
            tls: Default::default(),
            telemetry: Default::default(),
        }
    }
}

/// How much a client may send in a post and a batch (the message size is in [`CommonArgs`]).
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Longest post text, in characters.
    #[arg(long, env = "EARSHOT_MAX_TEXT_CHARS", default_value_t = Limits::default().max_text_chars)]
    pub max_text_chars: usize,
    /// Most posts in one batch request.
    #[arg(long, env = "EARSHOT_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,
}

/// The largest gRPC message a service accepts: every service has this flag, and all should get
/// the same value (ingest sizes its pipeline batches to it).
#[derive(Debug, Clone, clap::Args)]
pub struct MessageArgs {
    /// Largest request message, in bytes.
    #[arg(long, env = "EARSHOT_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
}

impl Default for MessageArgs {
    fn default() -> Self {
        Self { max_message_bytes: Limits::default().max_message_bytes }
    }
}

impl Default for InputArgs {
    fn default() -> Self {
        let limits = Limits::default();
        Self { max_text_chars: limits.max_text_chars, max_batch: limits.max_batch }
    }
}

impl InputArgs {
    /// The validation limits, with the largest message `message` allows.
    pub fn limits(&self, message: &MessageArgs) -> Limits {
        Limits {
            max_text_chars: self.max_text_chars,
            max_batch: self.max_batch,
            max_message_bytes: message.max_message_bytes,
        }
    }
}

/// How a service reports on itself: log format and where traces go.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TelemetryArgs {
    /// Log lines: `text` for people at a terminal, `json` for log collectors. The level comes
    /// from `RUST_LOG`.
    #[arg(long, env = "EARSHOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// OTLP/gRPC collector to send traces to (e.g. `http://127.0.0.1:4317`); nothing is exported
    /// when unset or empty.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

impl TelemetryArgs {
    /// The collector, when one is configured.
    pub fn otlp_endpoint(&self) -> Option<&str> {
        self.otlp_endpoint.as_deref().map(str::trim).filter(|endpoint| !endpoint.is_empty())
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
