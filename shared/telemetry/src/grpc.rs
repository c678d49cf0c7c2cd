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
//!
//! Stopping: health turns NOT_SERVING, the listener closes, calls in flight get a grace period.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

/// Limits of the server stack.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Deadline for one unary call.
    pub request_timeout: Duration,
    /// Calls in flight per connection.
    pub concurrency_per_connection: usize,
    /// How long calls in flight (and open streams) may take to finish once the server stops.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            concurrency_per_connection: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The descriptor set could not be served by reflection.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The TLS flags name files that cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The transport failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What the server's `grpc.health.v1` service reports: NOT_SERVING until the server starts
/// serving, and NOT_SERVING again the moment it begins to stop, so load balancers and probes
/// send no new calls while it drains.
struct Health {
    reporter: HealthReporter,
    /// The services the server serves, besides the server itself (`""`).
    services: Vec<&'static str>,
}

impl Health {
    /// Reports the server and each of its services as `status`.
    async fn report(&self, status: tonic_health::ServingStatus) {
        for name in self.services.iter().copied().chain([""]) {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// A health service starting NOT_SERVING for everything, and what reports to it.
async fn health()
-> (HealthReporter, tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
    (reporter, service)
}

/// A service's gRPC server, put together at the end of its `run` once its dependencies answer:
/// [`Server::with`] each service, then [`Server::serve`].
pub struct Server {
    routes: Routes,
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl Server {
    /// A server with `grpc.health.v1`, NOT_SERVING until it serves.
    pub async fn new() -> Self {
        let (reporter, service) = health().await;
        Self { routes: Routes::new(service), reporter, services: Vec::new() }
    }

    /// Adds `service`, reported SERVING once the server serves.
    pub fn with<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.services.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// Serves on `listener` with calls checked against `keys` and TLS as `tls` configures,
    /// until `shutdown` resolves; then reports NOT_SERVING, stops accepting, and lets calls in
    /// flight finish for at most the shutdown grace, so an open stream cannot hold the process
    /// up.
    pub async fn serve(
        self,
        listener: TcpListener,
        keys: earshot_auth::KeyDirectory,
        tls: &crate::tls::TlsArgs,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let Self { routes, reporter, services } = self;
        let tls = tls.server()?;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, ?services, "serving");
        }
        let health = Health { reporter, services };
        health.report(tonic_health::ServingStatus::Serving).await;
        serve(listener, routes, ServerLimits::default(), earshot_auth::AuthLayer::new(keys), tls, health, shutdown)
            .await
    }
}

/// Serves `routes` (plus reflection) on `listener` until `shutdown` resolves.
async fn serve(
    listener: TcpListener,
    routes: Routes,
    limits: ServerLimits,
    auth: earshot_auth::AuthLayer,
    tls: Option<tonic::transport::ServerTlsConfig>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        health.report(tonic_health::ServingStatus::NotServing).await;
        let _ = stopping.send(());
    };
    let descriptors = [earshot_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET];
    let mut v1 = tonic_reflection::server::Builder::configure();
    let mut v1alpha = tonic_reflection::server::Builder::configure();
    for set in descriptors {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    let routes = routes.add_service(v1.build_v1()?).add_service(v1alpha.build_v1alpha()?);
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    let served = server
        .trace_fn(call_span)
        .load_shed(true)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .timeout(limits.request_timeout)
        .layer(crate::rpc_metrics::RpcMetricsLayer::default())
        .layer(tower::util::MapResponseLayer::new(crate::status::decode_failure_response))
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(without_delay(listener), shutdown);
    let grace_over = async {
        if stopped.await.is_err() {
            return std::future::pending().await;
        }
        tokio::time::sleep(limits.shutdown_grace).await;
    };
    tokio::select! {
        served = served => served?,
        () = grace_over => {
            tracing::warn!(grace_s = limits.shutdown_grace.as_secs(), "calls still open after the shutdown grace; closing them");
        }
    }
    Ok(())
}

/// Accepted connections with Nagle's algorithm off. The builder's TCP options do not reach
/// sockets accepted here, and a response written in several pieces would otherwise wait for the
/// client's delayed ACK (40 ms on Linux) on every unary call.
fn without_delay(listener: TcpListener) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
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

#[cfg(test)]
mod tests {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    #[tokio::test]
    async fn health_is_off_until_ready_and_off_again_once_stopping() {
        type Named = tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>;
        let name = <Named as tonic::server::NamedService>::NAME;
        let (reporter, service) = health().await;
        let health = Health { reporter, services: vec![name] };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let server = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener));
        let _server = crate::TaskGuard::spawn(async move {
            let _ = server.await;
        });
        let channel = crate::client::channel(&addr.to_string(), Duration::from_secs(5), None);
        let mut client = HealthClient::new(channel.unwrap_or_else(|e| panic!("{e}")));
        let mut status = async |service: &str| {
            let request = HealthCheckRequest { service: service.into() };
            client.check(request).await.map_or(ServingStatus::Unknown, |r| r.into_inner().status())
        };
        assert_eq!(status("").await, ServingStatus::NotServing);
        health.report(tonic_health::ServingStatus::Serving).await;
        assert_eq!((status("").await, status(name).await), (ServingStatus::Serving, ServingStatus::Serving));
        health.report(tonic_health::ServingStatus::NotServing).await;
        assert_eq!((status("").await, status(name).await), (ServingStatus::NotServing, ServingStatus::NotServing));
    }
}
