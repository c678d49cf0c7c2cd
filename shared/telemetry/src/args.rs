//! Flags every service shares: how much a caller may send, and how the service reports on itself.

use earshot_core::Limits;

/// How much a client may send: text length, batch size, message size.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Longest post text, in characters.
    #[arg(long, env = "EARSHOT_MAX_TEXT_CHARS", default_value_t = Limits::default().max_text_chars)]
    pub max_text_chars: usize,
    /// Most posts in one batch request.
    #[arg(long, env = "EARSHOT_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,
    /// Largest request message.
    #[command(flatten)]
    pub message: MessageArgs,
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
        Self { max_text_chars: limits.max_text_chars, max_batch: limits.max_batch, message: MessageArgs::default() }
    }
}

impl InputArgs {
    /// The validation limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_text_chars: self.max_text_chars,
            max_batch: self.max_batch,
            max_message_bytes: self.message.max_message_bytes,
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
