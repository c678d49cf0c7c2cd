//! Calls to other services: lazy channels with connect and call deadlines (retries are in
//! [`crate::retry`]).

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
