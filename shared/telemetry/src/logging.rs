//! The global `tracing` subscriber: logs (human in a terminal, JSON when
//! `EARSHOT_LOG_FORMAT=json`, level from `RUST_LOG`) and, when an OTLP endpoint is configured,
//! spans exported as OpenTelemetry traces with the service's name and version; and the global
//! meter provider (see [`crate::metrics`]).
//!
//! Without an endpoint no OpenTelemetry layer is installed at all: spans cost what plain
//! `tracing` spans cost, and no trace context travels (see `earshot_trace`).

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::TaskGuard;
use crate::args::{LogFormat, TelemetryArgs};
use crate::metrics::Metrics;

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (a malformed endpoint, usually).
    #[error("OTLP exporter for {endpoint}: {source}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the exporter said.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The metric exporter could not be built.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A global subscriber is already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// The admin port, served until dropped.
pub struct AdminPort {
    addr: std::net::SocketAddr,
    _task: TaskGuard,
}

impl AdminPort {
    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

/// What must be flushed before the process exits; see [`Telemetry::shutdown`].
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Metrics,
}

impl Telemetry {
    /// Serves `/metrics` and `/healthz` on `addr` (nothing when it is empty) until the guard is
    /// dropped.
    pub async fn serve_admin(&self, addr: &str) -> std::io::Result<Option<AdminPort>> {
        let Some(listener) = crate::admin::bind(addr).await? else {
            return Ok(None);
        };
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "admin port serving /metrics and /healthz");
        Ok(Some(AdminPort { addr, _task: TaskGuard::spawn(crate::admin::serve(listener, self.metrics.scrape())) }))
    }

    /// Exports the spans and metrics still buffered and stops the exporters.
    pub async fn shutdown(self) {
        self.metrics.shutdown().await;
        if let Some(provider) = self.traces {
            // The batch exporter blocks its caller while it flushes.
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = flushed {
                eprintln!("flushing traces: {error}");
            }
        }
    }
}

/// Installs the global subscriber for `service` (its OpenTelemetry `service.name`) at `version`.
/// `RUST_LOG` overrides the `info` default. Call it inside the Tokio runtime: the OTLP exporter
/// is a gRPC client.
pub fn init(args: &TelemetryArgs, service: &'static str, version: &'static str) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (text, json) = match args.log_format {
        LogFormat::Text => (Some(tracing_subscriber::fmt::layer().with_target(false)), None),
        LogFormat::Json => (None, Some(tracing_subscriber::fmt::layer().json().with_target(false))),
    };
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", version))
        .build();
    let traces = args.otlp_endpoint().map(|endpoint| tracer_provider(endpoint, resource.clone())).transpose()?;
    let metrics = Metrics::new(resource, args.otlp_endpoint())?;
    let otel = traces.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));
    tracing_subscriber::registry().with(filter).with(text).with(json).with(otel).try_init()?;
    if let Some(endpoint) = args.otlp_endpoint() {
        tracing::info!(endpoint, "exporting traces and metrics over OTLP");
    }
    metrics.install();
    Ok(Telemetry { traces, metrics })
}

/// Spans batched to `endpoint` over OTLP/gRPC, tagged with the service's `resource`.
fn tracer_provider(endpoint: &str, resource: Resource) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter { endpoint: endpoint.to_owned(), source })?;
    Ok(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build())
}

/// Logs of a command-line tool: on stderr, so they never mix with its output; `RUST_LOG`
/// overrides `default_level`.
pub fn init_tool_logging(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Logs for tests: captured per test by the test harness, `warn` unless `RUST_LOG` says otherwise.
pub fn init_test_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
