//! The tenant's SLA policies: stored as validated wire JSON, chosen per case by its queue.

use earshot_core::clock::timestamp_from_ms;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::escalation::sla_policy;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::{Error, Result};
use crate::policy::{DEFAULT_POLICY, Policy};
use crate::state::Escalations;

/// Policies one tenant may have.
const MAX_POLICIES: usize = 100;

impl Escalations {
    pub(crate) async fn stored_policies(&self, db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<Policy>> {
        let rows = sla_policy::Entity::find()
            .filter(sla_policy::Column::Tenant.eq(tenant.as_str()))
            .order_by_asc(sla_policy::Column::Name)
            .all(db)
            .await?;
        let mut policies = Vec::with_capacity(rows.len());
        for row in rows {
            let parsed = serde_json::from_str::<pb::SlaPolicy>(&row.body)
                .map_err(|e| InvalidArgument::new("body", e.to_string()))
                .and_then(|wire| Policy::from_wire(&wire, &self.builtin));
            match parsed {
                Ok(mut policy) => {
                    policy.updated_at_ms = row.updated_at_ms;
                    policies.push(policy);
                }
                Err(error) => {
                    tracing::error!(%tenant, policy = %row.name, %error, "stored sla policy unreadable; skipped")
                }
            }
        }
        Ok(policies)
    }

    /// The policy that governs `queue`: the one naming it, else the tenant's `default`, else the
    /// built-in one.
    pub async fn policy_for(&self, db: &impl ConnectionTrait, tenant: &Tenant, queue: &str) -> Result<Policy> {
        Ok(self.choose_policy(&self.stored_policies(db, tenant).await?, queue))
    }

    /// [`Escalations::policy_for`] among policies already read (a batch reads them once).
    pub(crate) fn choose_policy(&self, stored: &[Policy], queue: &str) -> Policy {
        let named = stored.iter().find(|p| p.queues.iter().any(|q| q == queue));
        let chosen = named.or_else(|| stored.iter().find(|p| p.name == DEFAULT_POLICY));
        chosen.cloned().unwrap_or_else(|| self.builtin.as_ref().clone())
    }

    /// Creates or replaces a policy. A queue belongs to one policy at most.
    pub async fn put_policy(&self, tenant: &Tenant, wire: pb::SlaPolicy) -> Result<pb::SlaPolicy> {
        let mut policy = Policy::from_wire(&wire, &self.builtin)?;
        let others = self.stored_policies(&self.db, tenant).await?;
        for (i, queue) in policy.queues.iter().enumerate() {
            if let Some(owner) = others.iter().find(|p| p.name != policy.name && p.queues.contains(queue)) {
                return Err(Error::FailedPrecondition(format!(
                    "queues[{i}]: '{queue}' is governed by policy '{}'; remove it there first",
                    owner.name
                )));
            }
        }
        if others.len() >= MAX_POLICIES && !others.iter().any(|p| p.name == policy.name) {
            return Err(Error::FailedPrecondition(format!("a tenant may have at most {MAX_POLICIES} policies")));
        }
        policy.updated_at_ms = self.clock.now_ms();
        let mut stored = policy.to_wire();
        stored.updated_at = None;
        let row = sla_policy::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            name: Set(policy.name.clone()),
            body: Set(serde_json::to_string(&stored)?),
            updated_at_ms: Set(policy.updated_at_ms),
        };
        sla_policy::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([sla_policy::Column::Tenant, sla_policy::Column::Name])
                    .update_columns([sla_policy::Column::Body, sla_policy::Column::UpdatedAtMs])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        tracing::info!(%tenant, policy = %policy.name, queues = ?policy.queues, "sla policy saved");
        Ok(pb::SlaPolicy { updated_at: Some(timestamp_from_ms(policy.updated_at_ms)), ..policy.to_wire() })
    }

    /// The tenant's policies, and the built-in one.
    pub async fn list_policies(&self, tenant: &Tenant) -> Result<pb::ListSlaPoliciesResponse> {
        let policies = self.stored_policies(&self.db, tenant).await?;
        Ok(pb::ListSlaPoliciesResponse {
            policies: policies.iter().map(Policy::to_wire).collect(),
            builtin: Some(self.builtin.to_wire()),
        })
    }
}
