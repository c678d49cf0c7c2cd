//! The one place every call is checked: a tower layer in front of each service that finds the
//! caller's key, refuses what its roles do not allow, charges its rate, and hands the handlers a
//! [`Principal`] in the request's extensions.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;

use crate::rules::{Access, access};
use crate::{AuthError, KeyDirectory, Principal, Role};

/// Adds the credential check to a service.
#[derive(Clone)]
pub struct AuthLayer {
    directory: KeyDirectory,
}

impl AuthLayer {
    /// Checks calls against `directory`.
    pub fn new(directory: KeyDirectory) -> Self {
        Self { directory }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated { inner, directory: self.directory.clone() }
    }
}

/// A service behind the credential check.
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    directory: KeyDirectory,
}

/// The secret of `authorization: Bearer <secret>`.
fn bearer(headers: &http::HeaderMap) -> Result<&str, Status> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing 'authorization: Bearer <API key>'"))?;
    let value = value.to_str().map_err(|_| Status::unauthenticated("authorization is not ASCII"))?;
    let secret = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <API key>'"))?;
    Ok(secret.trim())
}

/// The principal of a call to `path` with `headers`, or the status that refuses it; `None` for
/// open methods.
async fn authorize(
    directory: &KeyDirectory,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Option<Principal>, Status> {
    let rule = access(path);
    if rule == Access::Open {
        return Ok(None);
    }
    let secret = bearer(headers)?;
    let tenant = headers.get(earshot_core::tenant::TENANT_HEADER).and_then(|value| value.to_str().ok());
    let principal = directory.principal(secret, tenant).await.map_err(Status::from)?;
    let allowed = match rule {
        Access::Open => true,
        Access::ServiceOnly => principal.has(Role::Service),
        Access::Roles(roles) => principal.has_any(roles),
    };
    if !allowed {
        let needed = match rule {
            Access::Roles(roles) => roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(" or "),
            _ => "Earshot's service credential".to_owned(),
        };
        let method = path.rsplit('/').next().unwrap_or(path);
        return Err(Status::permission_denied(format!("{method} needs {needed}; key {} has not", principal.key_id)));
    }
    principal.spend(1).await?;
    Ok(Some(principal))
}

impl<S> tower::Service<http::Request<Body>> for Authenticated<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready service serves this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let directory = self.directory.clone();
        Box::pin(async move {
            match authorize(&directory, request.uri().path(), request.headers()).await {
                Ok(principal) => {
                    if let Some(principal) = principal {
                        request.extensions_mut().insert(principal);
                    }
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::UnknownKey | AuthError::MalformedSecret => Status::unauthenticated(error.to_string()),
            AuthError::Tenant(invalid) => invalid.into(),
            AuthError::Redis(source) => earshot_core::status::unavailable("key directory", &source),
            // Internals stay in the log: the client is told only that it failed.
            AuthError::Corrupt(_) | AuthError::Randomness(_) | AuthError::KeyFile { .. } => {
                earshot_core::status::internal(&error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_stay_in_the_log_and_the_client_learns_what_to_do() {
        let file = AuthError::KeyFile { path: "/secret/place/service.key".into(), reason: "denied".into() };
        let status = Status::from(file);
        assert_eq!((status.code(), status.message()), (tonic::Code::Internal, "internal error"));
        let status = Status::from(AuthError::Corrupt("grant of tenant acme".into()));
        assert_eq!(status.message(), "internal error", "no stored data in the answer");
        let down = redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "10.1.2.3:6379"));
        let status = Status::from(AuthError::Redis(down));
        assert_eq!((status.code(), status.message()), (tonic::Code::Unavailable, "key directory unavailable; retry"));
        assert_eq!(Status::from(AuthError::UnknownKey).code(), tonic::Code::Unauthenticated);
    }
}
