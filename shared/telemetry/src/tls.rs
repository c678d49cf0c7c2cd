//! TLS (rustls) for every service's server and for the calls it makes, when a certificate is
//! configured; plaintext on loopback otherwise. With a client CA, the server also requires a client
//! certificate signed by it (mutual TLS between services); a service presents its own certificate
//! when it calls a peer.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// TLS flags of a service (and of earshotctl, for its calls).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate (chain) this process serves with and presents to peers; enables TLS.
    #[arg(long, global = true, env = "EARSHOT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, env = "EARSHOT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA whose client certificates this server requires (mutual TLS).
    #[arg(long, global = true, env = "EARSHOT_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM CA that signs the peers' certificates; calls to peers use TLS when set.
    #[arg(long, global = true, env = "EARSHOT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

/// A TLS file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("TLS file {path}: {source}")]
pub struct TlsError {
    path: PathBuf,
    source: std::io::Error,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError { path: path.to_owned(), source })
}

impl TlsArgs {
    fn identity(&self) -> Result<Option<Identity>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(Identity::from_pem(read(cert)?, read(key)?))),
            _ => Ok(None),
        }
    }

    /// The server's TLS, when a certificate is configured.
    pub fn server(&self) -> Result<Option<ServerTlsConfig>, TlsError> {
        let Some(identity) = self.identity()? else {
            return Ok(None);
        };
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.tls_client_ca {
            config = config.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Ok(Some(config))
    }

    /// TLS for calls to peers, when a CA for them is configured; presents this process's
    /// certificate, if it has one, for mutual TLS.
    pub fn client(&self) -> Result<Option<ClientTlsConfig>, TlsError> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let Some(identity) = self.identity()? {
            config = config.identity(identity);
        }
        Ok(Some(config))
    }
}
