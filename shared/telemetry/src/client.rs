//! Calls to other services: lazy channels with connect and call deadlines, and retries with
//! backoff for failures that are worth retrying.

use std::future::Future;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// An invalid peer address.
#[derive(Debug, thiserror::Error)]
#[error("invalid address '{address}': {source}")]
pub struct AddressError {
    address: String,
    source: tonic::transport::Error,
}

/// A channel to `address` (`host:port` or a full URL) that connects on first use and reconnects
/// by itself; over TLS when `tls` is given (the certificate must name the address's host).
pub fn channel(address: &str, call_timeout: Duration, tls: Option<&ClientTlsConfig>) -> Result<Channel, AddressError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = if address.contains("://") { address.to_owned() } else { format!("{scheme}://{address}") };
    let error = |source| AddressError { address: address.to_owned(), source };
    let mut endpoint = Endpoint::from_shared(url).map_err(error)?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.clone()).map_err(error)?;
    }
    Ok(endpoint.connect_timeout(Duration::from_secs(2)).timeout(call_timeout).tcp_nodelay(true).connect_lazy())
}

/// Whether a failed call may succeed if repeated.
pub fn is_retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
    )
}

/// Runs `call` up to `attempts` times, backing off exponentially from 50 ms between retryable
/// failures; returns the last status otherwise.
pub async fn retry<T, F, Fut>(attempts: u32, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(status) if attempt < attempts && is_retryable(&status) => {
                tracing::debug!(attempt, code = ?status.code(), "retrying call");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}
