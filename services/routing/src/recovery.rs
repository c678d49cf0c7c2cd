//! Recovery: Redis holds the live queues, the database the record. If Redis lost its data
//! (restarted without persistence, flushed, failed over), every open case and every agent is put
//! back from the record, so no customer silently drops out of a queue: at start, and while running,
//! as soon as the restore mark (`es:restored`) is seen missing.

use std::collections::BTreeMap;

use earshot_core::Tenant;
use earshot_queue::AgentState;
use earshot_store::routing::case::CaseState;
use earshot_store::routing::{agent, case};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::error::{Error, Result};
use crate::state::Routing;

/// The lease of the replica restoring Redis: one at a time, the others leave it to that one.
const RESTORE_LEASE: &str = "routing:restore";
/// Cases restored between two renewals of the restore lease.
const RENEW_EVERY: usize = 500;

impl Routing {
    /// Restores agents and open cases Redis does not know; returns how many cases came back, or
    /// `None` when another replica is restoring now.
    ///
    /// It never overwrites what Redis knows (Redis is the fresher of the two), so a replica that
    /// starts beside running ones changes nothing they did; only one replica restores at a time.
    pub async fn restore_live_state(&self) -> Result<Option<usize>> {
        // Held from before the restore to after it: a replica's own earlier restore that crashed
        // (same holder) is taken straight over.
        if !self.leases.hold(RESTORE_LEASE).await? {
            return Ok(None);
        }
        let restored = self.restore_unknown().await;
        if let Err(error) = self.leases.release([RESTORE_LEASE]).await {
            tracing::warn!(%error, "cannot let go of the restore lease; it lapses by itself");
        }
        restored.map(Some)
    }

    /// The restore a starting replica does: after waiting (a few lease lifetimes at most) for one
    /// that another replica is doing now, so a restore cut short by a crash is completed by the
    /// next start. Returns how many cases came back.
    pub async fn restore_at_start(&self) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + 3 * self.leases.ttl();
        loop {
            if let Some(restored) = self.restore_live_state().await? {
                return Ok(restored);
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("another replica is still restoring redis; leaving it to that one");
                return Ok(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn restore_unknown(&self) -> Result<usize> {
        self.queues.mark_restored().await?;
        for agent in agent::Entity::find().all(&self.db).await? {
            let state = AgentState {
                agent_id: agent.id.clone(),
                presence: agent.presence.clone(),
                capacity: u32::try_from(agent.capacity).unwrap_or(1),
                skills: serde_json::from_str(&agent.skills).unwrap_or_default(),
                languages: serde_json::from_str(&agent.languages).unwrap_or_default(),
            };
            self.queues.restore_agent(&agent.tenant, &state).await?;
        }
        let open = case::Entity::find().filter(case::Column::State.ne(CaseState::Resolved)).all(&self.db).await?;
        let mut restored: BTreeMap<String, Vec<case::Model>> = BTreeMap::new();
        for (n, case) in open.into_iter().enumerate() {
            if n % RENEW_EVERY == RENEW_EVERY - 1 && !self.leases.hold(RESTORE_LEASE).await? {
                tracing::warn!("the restore lease went to another replica; leaving the rest to it");
                break;
            }
            let holder = (case.state == CaseState::Assigned).then(|| case.agent.clone()).flatten();
            if !self.queues.restore(&case.tenant, &self.entry(&case), holder.as_deref()).await? {
                continue;
            }
            let case = match case.state {
                // The lease went with Redis: the case waits in its queue again, in its place.
                CaseState::Offered => self.record_requeued(case.clone()).await?.unwrap_or(case),
                _ => case,
            };
            restored.entry(case.tenant.clone()).or_default().push(case);
        }
        // Running replicas serve meanwhile: a case an agent resolved after it was read above was
        // put back, so Redis forgets it again (a resolve writes the record, then Redis).
        for (tenant, cases) in &restored {
            let tenant = Tenant::parse(tenant).map_err(|error| Error::Corrupt(format!("case tenant: {error}")))?;
            self.forget_resolved_meanwhile(&tenant, &cases.iter().collect::<Vec<_>>()).await?;
        }
        let restored = restored.values().map(Vec::len).sum::<usize>();
        if restored > 0 {
            tracing::warn!(restored, "redis had lost open cases; restored them from the database");
        }
        Ok(restored)
    }

    /// Checks every `interval` that Redis still holds the live state, and restores it when not.
    pub async fn recover_forever(self, interval: std::time::Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.queues.still_restored().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!("redis lost the live queues; restoring them from the database");
                    if let Err(error) = self.restore_live_state().await {
                        tracing::warn!(%error, "restoring the live queues failed; will retry");
                        if let Err(error) = self.queues.unmark_restored().await {
                            tracing::warn!(%error, "cannot take the restore mark back");
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot check redis for the live queues"),
            }
        }
    }
}
