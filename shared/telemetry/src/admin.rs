//! The admin HTTP port: `GET /metrics` in the Prometheus text format, `GET /healthz` for a
//! liveness probe. Plain HTTP/1.1 without credentials, so it belongs on loopback or a private
//! network (the default is loopback); it shows counts, never post text.

use std::convert::Infallible;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Scrape;

/// The content type Prometheus expects of the text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the admin port; `None` when `addr` is empty (admin port off).
pub async fn bind(addr: &str) -> std::io::Result<Option<TcpListener>> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Ok(None);
    }
    TcpListener::bind(addr).await.map(Some)
}

/// Serves the admin routes on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, scrape: Scrape) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin port: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let scrape = scrape.clone();
                async move { Ok::<_, Infallible>(answer(&request, &scrape)) }
            });
            let served = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = served.await {
                tracing::debug!(%error, "admin connection ended");
            }
        });
    }
}

fn answer(request: &Request<Incoming>, scrape: &Scrape) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => match scrape.render() {
            Ok(text) => reply(StatusCode::OK, PROMETHEUS_TEXT, text),
            Err(error) => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("{error}\n")),
        },
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n".to_owned()),
        (_, "/metrics" | "/healthz") => reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n".to_owned()),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "try /metrics or /healthz\n".to_owned()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}
