//! `KeyService`: admins make, list and revoke the API keys of their tenant. The database is the
//! record; every live key's grant is published to the key directory (Redis) for all services,
//! and re-published on start and every [`RESYNC`] so a Redis that lost its data heals by itself.

use std::time::Duration;

use earshot_auth::{KeyDirectory, KeyGrant, Principal, Role};
use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::check_name;
use earshot_core::{InvalidArgument, SharedClock, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::routing::api_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};

/// How often the directory is made to match the record.
pub const RESYNC: Duration = Duration::from_secs(10);
/// Longest key name.
const MAX_NAME_CHARS: usize = 200;
/// Highest rate a key may be given.
const MAX_RATE: u32 = 1_000_000;

/// The key service.
#[derive(Clone)]
pub struct Keys {
    /// The record.
    pub db: DatabaseConnection,
    /// Where grants are published.
    pub directory: KeyDirectory,
    /// Creation and revocation times.
    pub clock: SharedClock,
}

fn roles_of(row: &api_key::Model) -> Result<Vec<Role>> {
    serde_json::from_str(&row.roles).map_err(|error| Error::Corrupt(format!("roles of key {}: {error}", row.id)))
}

fn grant(row: &api_key::Model) -> Result<KeyGrant> {
    Ok(KeyGrant {
        key_id: row.id.clone(),
        tenant: row.tenant.clone(),
        roles: roles_of(row)?,
        agent_id: row.agent_id.clone(),
        rate_per_second: u32::try_from(row.rate_per_second).unwrap_or(0),
    })
}

fn view(row: &api_key::Model) -> Result<pb::ApiKey> {
    Ok(pb::ApiKey {
        key_id: row.id.clone(),
        tenant: row.tenant.clone(),
        name: row.name.clone(),
        roles: roles_of(row)?.iter().map(|role| role.as_str().to_owned()).collect(),
        agent_id: row.agent_id.clone().unwrap_or_default(),
        rate_per_second: u32::try_from(row.rate_per_second).unwrap_or(0),
        created_at: Some(timestamp_from_ms(row.created_at_ms)),
        revoked_at: row.revoked_at_ms.map(timestamp_from_ms),
    })
}

/// The roles of a request, validated and deduplicated.
fn parse_roles(roles: &[String]) -> std::result::Result<Vec<Role>, InvalidArgument> {
    if roles.is_empty() {
        return Err(InvalidArgument::new("roles", "needs at least one of integration, agent, supervisor, admin"));
    }
    let mut parsed = Vec::with_capacity(roles.len());
    for (index, name) in roles.iter().enumerate() {
        let role = Role::parse_issuable(name).ok_or_else(|| {
            InvalidArgument::new(format!("roles[{index}]"), "is not one of integration, agent, supervisor, admin")
        })?;
        if !parsed.contains(&role) {
            parsed.push(role);
        }
    }
    parsed.sort();
    Ok(parsed)
}

impl Keys {
    /// Publishes every live key and withdraws every other grant.
    pub async fn sync(&self) -> Result<()> {
        let rows = api_key::Entity::find().filter(api_key::Column::RevokedAtMs.is_null()).all(&self.db).await?;
        let live = rows.iter().map(|row| Ok((row.secret_hash.clone(), grant(row)?))).collect::<Result<Vec<_>>>()?;
        self.directory.sync(&live).await?;
        Ok(())
    }

    /// Keeps the directory in step with the record, forever.
    pub async fn sync_forever(self) {
        loop {
            tokio::time::sleep(RESYNC).await;
            if let Err(error) = self.sync().await {
                tracing::warn!(%error, "could not re-publish API keys");
            }
        }
    }

    /// Makes a key for `tenant`.
    pub async fn create(&self, tenant: &Tenant, request: pb::CreateKeyRequest) -> Result<pb::CreatedKey> {
        let name = request.name.trim().to_owned();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(InvalidArgument::new("name", format!("is longer than {MAX_NAME_CHARS} characters")).into());
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidArgument::new("name", "contains control characters").into());
        }
        let roles = parse_roles(&request.roles)?;
        let agent_id = match (roles.contains(&Role::Agent), request.agent_id.is_empty()) {
            (true, true) => return Err(InvalidArgument::new("agent_id", "is required with the agent role").into()),
            (false, false) => {
                return Err(InvalidArgument::new("agent_id", "is only for keys with the agent role").into());
            }
            (true, false) => {
                check_name("agent_id", &request.agent_id)?;
                Some(request.agent_id)
            }
            (false, true) => None,
        };
        if request.rate_per_second > MAX_RATE {
            return Err(InvalidArgument::new("rate_per_second", format!("is above {MAX_RATE}")).into());
        }
        let minted = earshot_auth::key::mint()?;
        let roles_json =
            serde_json::to_string(&roles).map_err(|error| Error::Corrupt(format!("encoding roles: {error}")))?;
        let row = api_key::ActiveModel {
            id: Set(minted.key_id.clone()),
            tenant: Set(tenant.as_str().to_owned()),
            secret_hash: Set(earshot_auth::key::hash(&minted.secret)),
            name: Set(name),
            roles: Set(roles_json),
            agent_id: Set(agent_id),
            rate_per_second: Set(i64::from(request.rate_per_second)),
            created_at_ms: Set(self.clock.now_ms()),
            revoked_at_ms: Set(None),
        }
        .insert(&self.db)
        .await?;
        self.directory.publish(&row.secret_hash, &grant(&row)?).await?;
        tracing::info!(tenant = %tenant, key_id = %row.id, roles = %row.roles, "API key created");
        Ok(pb::CreatedKey { key: Some(view(&row)?), secret: minted.secret })
    }

    /// The tenant's keys, newest first.
    pub async fn list(&self, tenant: &Tenant) -> Result<Vec<pb::ApiKey>> {
        let rows = api_key::Entity::find()
            .filter(api_key::Column::Tenant.eq(tenant.as_str()))
            .order_by_desc(api_key::Column::CreatedAtMs)
            .order_by_desc(api_key::Column::Id)
            .all(&self.db)
            .await?;
        rows.iter().map(view).collect()
    }

    /// Revokes a key of the tenant (again: no change).
    pub async fn revoke(&self, tenant: &Tenant, key_id: &str) -> Result<pb::ApiKey> {
        let well_formed = key_id.len() == 12 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(InvalidArgument::new("key_id", "is not a key id (12 hex digits)").into());
        }
        let row = api_key::Entity::find_by_id(key_id.to_owned())
            .filter(api_key::Column::Tenant.eq(tenant.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no key {key_id}")))?;
        let row = if row.revoked_at_ms.is_some() {
            row
        } else {
            let mut active: api_key::ActiveModel = row.into();
            active.revoked_at_ms = Set(Some(self.clock.now_ms()));
            active.update(&self.db).await?
        };
        self.directory.withdraw(&row.secret_hash).await?;
        tracing::info!(tenant = %tenant, key_id = %row.id, "API key revoked");
        view(&row)
    }
}

impl Keys {
    /// The key a call is made with, as the tenant's list shows it (the service credential has no row).
    pub async fn who_am_i(&self, principal: &Principal) -> Result<pb::ApiKey> {
        let row = api_key::Entity::find_by_id(principal.key_id.clone())
            .filter(api_key::Column::Tenant.eq(principal.tenant.as_str()))
            .one(&self.db)
            .await?;
        match row {
            Some(row) => view(&row),
            None => Ok(pb::ApiKey {
                key_id: principal.key_id.clone(),
                tenant: principal.tenant.as_str().to_owned(),
                name: "service credential".into(),
                roles: principal.roles.iter().map(|role| role.as_str().to_owned()).collect(),
                agent_id: principal.agent_id.clone().unwrap_or_default(),
                ..Default::default()
            }),
        }
    }
}

#[tonic::async_trait]
impl pb::key_service_server::KeyService for Keys {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> std::result::Result<Response<pb::CreatedKey>, Status> {
        let tenant = Principal::tenant_of(&request)?;
        Ok(Response::new(self.create(&tenant, request.into_inner()).await?))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> std::result::Result<Response<pb::ListKeysResponse>, Status> {
        let tenant = Principal::tenant_of(&request)?;
        Ok(Response::new(pb::ListKeysResponse { keys: self.list(&tenant).await? }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> std::result::Result<Response<pb::ApiKey>, Status> {
        let tenant = Principal::tenant_of(&request)?;
        Ok(Response::new(self.revoke(&tenant, &request.into_inner().key_id).await?))
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> std::result::Result<Response<pb::ApiKey>, Status> {
        let principal = Principal::of(&request)?;
        Ok(Response::new(self.who_am_i(principal).await?))
    }
}
