//! Who is calling: the tenant, roles and key the auth layer found for a request, carried in the
//! request's extensions for the handlers.

use earshot_core::Tenant;
use tonic::Status;

use crate::Role;
use crate::limit::Limit;

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant every read and write of the request is scoped to.
    pub tenant: Tenant,
    /// What the caller may do.
    pub roles: Vec<Role>,
    /// The key's public id (`service` for the service credential).
    pub key_id: String,
    /// The agent an agent key acts as.
    pub agent_id: Option<String>,
    pub(crate) limit: Option<Limit>,
}

impl Principal {
    /// The principal of a request that passed the auth layer.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
        request.extensions().get::<Principal>().ok_or_else(|| Status::unauthenticated("no credential on this call"))
    }

    /// The tenant of a request that passed the auth layer.
    pub fn tenant_of<T>(request: &tonic::Request<T>) -> Result<Tenant, Status> {
        Ok(Self::of(request)?.tenant.clone())
    }

    /// The tenant of a request that submits `posts` posts, once the key's rate covers them (the
    /// auth layer charged the call itself).
    pub async fn tenant_for_posts<T>(request: &tonic::Request<T>, posts: usize) -> Result<Tenant, Status> {
        let principal = Self::of(request)?;
        principal.spend(posts as u64).await?;
        Ok(principal.tenant.clone())
    }

    /// The service credential acting for `tenant`.
    pub fn service(tenant: Tenant) -> Self {
        Self { tenant, roles: vec![Role::Service], key_id: "service".into(), agent_id: None, limit: None }
    }

    /// Whether the caller has `role` (the service credential has every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Service)
    }

    /// Whether the caller has any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has(*role))
    }

    /// Charges `cost` against the key's rate; `RESOURCE_EXHAUSTED` when it is spent.
    pub async fn spend(&self, cost: u64) -> Result<(), Status> {
        let Some(limit) = &self.limit else {
            return Ok(());
        };
        if limit.limiter.try_spend(&self.key_id, limit.rate, cost).await {
            return Ok(());
        }
        Err(Status::resource_exhausted(format!(
            "key {} is over its rate of {} calls and posts per second; retry later",
            self.key_id, limit.rate
        )))
    }

    /// Checks that the caller may act as agent `agent_id`: an agent key only as its own agent;
    /// admins and services as any.
    pub fn may_act_as(&self, agent_id: &str) -> Result<(), Status> {
        if self.has(Role::Admin) || self.agent_id.as_deref() == Some(agent_id) {
            return Ok(());
        }
        let own = self.agent_id.as_deref().unwrap_or("none");
        Err(Status::permission_denied(format!("this key acts as agent '{own}', not as agent_id '{agent_id}'")))
    }
}
