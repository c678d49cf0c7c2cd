//! The sweep: every second or so, for every tenant with live queues, offers nobody accepted in
//! time go back to their queues in their place (their agents set away), held cases whose
//! follow-up went unanswered past the sticky timeout go back for others, and the queues' depths
//! are sampled for the metrics. The expiry itself is atomic in Redis (`lua/expire_leases.lua`,
//! `lua/expire_sticky.lua`), so replicas sweeping side by side each get different cases.

use earshot_core::Tenant;
use earshot_store::routing::agent;
use opentelemetry::KeyValue;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

use crate::error::Result;
use crate::state::Routing;

impl Routing {
    /// Returns expired offers to their queues (original place) and marks those agents away; returns
    /// held cases whose follow-up went unanswered too long to their queues.
    pub async fn reclaim_expired(&self, tenant: &Tenant) -> Result<usize> {
        let now = self.clock.now_ms();
        let expired = self.queues.expire_leases(tenant.as_str(), now, 100).await?;
        for (case_id, agent_id) in &expired {
            // Redis set the agent away with the lapse: the record follows even when the case
            // itself was resolved meanwhile (and so stays resolved).
            let requeued = self.record_requeued_id(case_id).await?;
            if let Some(agent) =
                agent::Entity::find_by_id((tenant.as_str().to_owned(), agent_id.clone())).one(&self.db).await?
            {
                let mut active = agent.into_active_model();
                active.presence = Set("away".to_owned());
                active.updated_at_ms = Set(now);
                active.update(&self.db).await?;
            }
            if requeued {
                let detail = format!("{agent_id} did not accept in time; back in its place, agent set away");
                self.audit(&self.db, tenant, case_id, "lease_expired", Some(agent_id), detail).await?;
            }
        }
        let unanswered = self.queues.expire_sticky(tenant.as_str(), now, 100).await?;
        for (case_id, agent_id) in &unanswered {
            if !self.record_requeued_id(case_id).await? {
                continue;
            }
            let detail = format!("{agent_id} did not answer the follow-up in time; back in its place for others");
            self.audit(&self.db, tenant, case_id, "sticky_timeout", Some(agent_id), detail).await?;
        }
        if !expired.is_empty() || !unanswered.is_empty() {
            self.work_available.wake();
        }
        Ok(expired.len() + unanswered.len())
    }

    /// Reclaims expired leases of every tenant, every `interval`, until the task is dropped.
    pub async fn sweep_forever(self, interval: std::time::Duration) {
        let depth = earshot_telemetry::metrics::meter()
            .u64_gauge("earshot.queue.depth")
            .with_description("Cases waiting in a queue, by tenant and queue (sampled each sweep)")
            .build();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let tenants = match self.queues.tenants().await {
                Ok(tenants) => tenants,
                Err(error) => {
                    tracing::warn!(%error, "lease sweep: cannot list tenants");
                    continue;
                }
            };
            for tenant in tenants.iter().filter_map(|t| Tenant::parse(t).ok()) {
                if let Err(error) = self.reclaim_expired(&tenant).await {
                    tracing::warn!(%error, %tenant, "lease sweep failed");
                }
                if let Err(error) = self.record_depths(&tenant, &depth).await {
                    tracing::warn!(%error, %tenant, "sampling queue depths failed");
                }
            }
        }
    }

    /// Records how many cases wait in each of the tenant's queues.
    async fn record_depths(&self, tenant: &Tenant, gauge: &opentelemetry::metrics::Gauge<u64>) -> Result<()> {
        for queue in self.queues.queue_names(tenant.as_str()).await? {
            let waiting = self.queues.depth(tenant.as_str(), &queue).await?;
            let attributes = [KeyValue::new("tenant", tenant.as_str().to_owned()), KeyValue::new("queue", queue)];
            gauge.record(waiting, &attributes);
        }
        Ok(())
    }
}
