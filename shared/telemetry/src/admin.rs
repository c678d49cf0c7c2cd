//! The admin HTTP port: `GET /metrics` in the Prometheus text format, `GET /healthz` for a
//! liveness probe. Plain HTTP/1.1 without credentials, so it belongs on loopback or a private
//! network (the default is loopback); it shows counts, never post text. Served by axum, as the
//! console is.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{PROMETHEUS_TEXT, Scrape};

/// Binds the admin port; `None` when `addr` is empty (admin port off).
pub async fn bind(addr: &str) -> std::io::Result<Option<TcpListener>> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Ok(None);
    }
    TcpListener::bind(addr).await.map(Some)
}

/// The admin routes.
pub fn router(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "try /metrics or /healthz\n") })
        .with_state(scrape)
}

/// Serves the admin routes on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, scrape: Scrape) {
    if let Err(error) = axum::serve(listener, router(scrape)).await {
        tracing::warn!(%error, "admin port stopped");
    }
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    match scrape.render() {
        Ok(text) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response(),
    }
}
