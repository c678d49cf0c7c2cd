//! The gRPC server every service runs: its own services plus `grpc.health.v1` and server
//! reflection (v1 and v1alpha, so grpcurl and generated clients of any age can discover the API).
//!
//! Middleware, outermost first: a tracing span per call (named after the method, continuing the
//! caller's W3C trace context from the request headers), load shedding over a
//! per-connection concurrency limit (a call beyond it is answered `RESOURCE_EXHAUSTED` at once,
//! not queued), a deadline per call, the call's duration by method and status
//! ([`crate::rpc_metrics`]), a rewrite of undecodable requests from `INTERNAL` to
//! `INVALID_ARGUMENT` (they are the client's fault), then the credential check
//! (`earshot_auth::AuthLayer`), so a refused call costs no handler work.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;

/// Limits of the server stack.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Deadline for one unary call.
    pub request_timeout: Duration,
    /// Calls in flight per connection.
    pub concurrency_per_connection: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), concurrency_per_connection: 256 }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The descriptor set could not be served by reflection.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A health service starting NOT_SERVING for everything; flip it with [`HealthReporter`] once
/// the service's dependencies answer.
pub async fn health()
-> (HealthReporter, tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
    (reporter, service)
}

/// How a service's server runs: its limits, who may call it, and TLS when configured.
#[derive(Clone)]
pub struct Serving {
    /// Deadlines and concurrency.
    pub limits: ServerLimits,
    /// The credential check.
    pub auth: earshot_auth::AuthLayer,
    /// TLS (and mutual TLS); plaintext when `None`.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Serving {
    /// Default limits, calls checked against `keys`, TLS as `tls` configures it.
    pub fn new(keys: earshot_auth::KeyDirectory, tls: &crate::tls::TlsArgs) -> Result<Self, crate::tls::TlsError> {
        Ok(Self { limits: ServerLimits::default(), auth: earshot_auth::AuthLayer::new(keys), tls: tls.server()? })
    }
}

/// Serves `routes` (plus reflection) on `listener` as `serving` says until `shutdown` resolves,
/// then drains.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let Serving { limits, auth, tls } = serving;
    let descriptors = [earshot_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET];
    let mut v1 = tonic_reflection::server::Builder::configure();
    let mut v1alpha = tonic_reflection::server::Builder::configure();
    for set in descriptors {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    let routes = routes.add_service(v1.build_v1()?).add_service(v1alpha.build_v1alpha()?);
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .trace_fn(call_span)
        .load_shed(true)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .timeout(limits.request_timeout)
        .layer(crate::rpc_metrics::RpcMetricsLayer::default())
        .layer(tower::util::MapResponseLayer::new(crate::status::decode_failure_response))
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// The span of one call: `earshot.v1.IngestService/SubmitPost`, a server span whose parent is
/// whatever trace the caller's `traceparent` names.
fn call_span(request: &http::Request<()>) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let path = request.uri().path();
    let span = tracing::info_span!(
        "grpc",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        method = path,
    );
    // An error only means no exporter is installed.
    let _ = span.set_parent(earshot_trace::extract(request.headers()));
    span
}
