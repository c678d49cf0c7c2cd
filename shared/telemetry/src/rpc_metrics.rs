//! Calls served, by method and gRPC status, with their duration: the rate, errors and latency of
//! every service without code in any handler. Measured up to the response headers, which for a
//! unary call is the whole call; a status is read from the headers (where tonic puts every
//! error of a unary call) and is `Ok` otherwise, so a stream that fails after it began counts as
//! `Ok` here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;

/// Adds [`RpcMetrics`] to a service stack.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    duration: Histogram<f64>,
}

impl Default for RpcMetricsLayer {
    fn default() -> Self {
        Self {
            duration: crate::metrics::seconds_histogram(
                "earshot.rpc.server.duration",
                "gRPC calls served, by method and status, and how long each took",
            ),
        }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner, duration: self.duration.clone() }
    }
}

/// Times each call and records it with its method and status.
#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    duration: Histogram<f64>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let started = Instant::now();
        let duration = self.duration.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            let code = match &response {
                Ok(response) => status_of(response.headers()),
                Err(_) => tonic::Code::Internal,
            };
            let attributes = [KeyValue::new("method", method), KeyValue::new("code", format!("{code:?}"))];
            duration.record(started.elapsed().as_secs_f64(), &attributes);
            response
        })
    }
}

fn status_of(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from)
}
