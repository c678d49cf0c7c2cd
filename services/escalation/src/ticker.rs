//! Fires due SLA timers. A timer fires at most once: it is claimed by a conditional update
//! (`running` → `fired`) in the same transaction that raises its escalation, and timers live in
//! the database, so a restart neither loses nor repeats one.

use earshot_core::Tenant;
use earshot_store::escalation::sla_timer;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::case_events::timers;
use crate::error::Result;
use crate::sla::duration_label;
use crate::state::{Escalations, Raise};

/// Timers handled per tick at most; the rest wait for the next tick.
const BATCH: u64 = 500;

impl Escalations {
    /// Fires every timer due by now; returns how many escalated.
    pub async fn fire_due(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let due = sla_timer::Entity::find()
            .filter(sla_timer::Column::State.eq(timers::RUNNING))
            .filter(sla_timer::Column::DueAtMs.lte(now))
            .order_by_asc(sla_timer::Column::DueAtMs)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut fired = 0;
        for timer in due {
            let Ok(tenant) = Tenant::parse(&timer.tenant) else {
                continue;
            };
            let txn = self.db.begin().await?;
            let claimed = sla_timer::Entity::update_many()
                .col_expr(sla_timer::Column::State, Expr::value(timers::FIRED))
                .filter(sla_timer::Column::Tenant.eq(timer.tenant.clone()))
                .filter(sla_timer::Column::CaseId.eq(timer.case_id.clone()))
                .filter(sla_timer::Column::Kind.eq(timer.kind.clone()))
                .filter(sla_timer::Column::State.eq(timers::RUNNING))
                .exec(&txn)
                .await?;
            if claimed.rows_affected != 1 {
                continue;
            }
            let target = timer.due_at_ms - timer.started_at_ms;
            let late = now - timer.due_at_ms;
            let what = if timer.kind == timers::FIRST_RESPONSE { "first response" } else { "next response" };
            let detail = format!(
                "{what} target {} missed{}",
                duration_label(target),
                if late >= 60_000 { format!(" by {}", duration_label(late)) } else { String::new() }
            );
            let reason = format!("sla_{}", timer.kind);
            let priority = u32::try_from(timer.priority).unwrap_or(0);
            let raise = Raise { case_id: &timer.case_id, reason: &reason, detail, queue: &timer.queue, priority };
            let raised = self.raise(&txn, &tenant, raise).await?;
            txn.commit().await?;
            if let Some(row) = raised {
                self.publish(&tenant, "raised", &row).await;
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Fires due timers every `interval` until the task is dropped.
    pub async fn tick_forever(self, interval: std::time::Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.fire_due().await {
                tracing::warn!(%error, "sla timer check failed");
            }
        }
    }
}
