//! The caller's side: an interceptor that puts a credential (and, for the service credential,
//! the tenant) on every outgoing call, along with the caller's trace context.

use earshot_core::Tenant;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::AuthError;

/// A channel whose calls carry a credential.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <secret>` (and `x-earshot-tenant` when set) to calls that do not
/// carry their own, and the current span's W3C trace context when it is traced.
#[derive(Clone, Debug)]
pub struct Bearer {
    authorization: Option<AsciiMetadataValue>,
    tenant: Option<AsciiMetadataValue>,
}

impl Bearer {
    /// Calls authenticated by `secret`.
    pub fn new(secret: &str) -> Result<Self, AuthError> {
        let authorization = format!("Bearer {}", secret.trim()).parse().map_err(|_| AuthError::MalformedSecret)?;
        Ok(Self { authorization: Some(authorization), tenant: None })
    }

    /// Calls without a credential: for health checks, and for tests of what is refused.
    pub fn anonymous() -> Self {
        Self { authorization: None, tenant: None }
    }

    /// The same, naming `tenant` (honoured for the service credential only).
    pub fn for_tenant(mut self, tenant: &Tenant) -> Self {
        self.tenant = MetadataValue::try_from(tenant.as_str()).ok();
        self
    }

    /// `channel` with this credential on every call.
    pub fn channel(&self, channel: Channel) -> AuthChannel {
        InterceptedService::new(channel, self.clone())
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        if let Some(authorization) = &self.authorization
            && !metadata.contains_key("authorization")
        {
            metadata.insert("authorization", authorization.clone());
        }
        if let Some(tenant) = &self.tenant
            && !metadata.contains_key(earshot_core::tenant::TENANT_HEADER)
        {
            metadata.insert(earshot_core::tenant::TENANT_HEADER, tenant.clone());
        }
        if !metadata.contains_key(earshot_trace::TRACEPARENT) {
            earshot_trace::inject(metadata);
        }
        Ok(request)
    }
}
