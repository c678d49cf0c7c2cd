//! What happens on the clock: SLA warnings, SLA breaches, and escalations rising a level when
//! nobody acknowledges them. Each is claimed by a conditional update in the transaction that
//! records its consequences, and everything lives in the database, so a restart (or a second
//! instance) neither loses nor repeats one.

use earshot_core::Tenant;
use earshot_core::clock::timestamp_from_ms;
use earshot_proto::v1 as pb;
use earshot_store::escalation::escalation::{self, EscalationState};
use earshot_store::escalation::sla_timer::{self, TimerState};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::error::Result;
use crate::policy::{ClockKind, duration_label};
use crate::state::{Escalations, Raise, SYSTEM, events};

/// Items handled per kind and tick at most; the rest wait for the next tick.
const BATCH: u64 = 500;

/// SLA targets missed, by clock (`first_response`, `resolution`).
static BREACHES: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
    earshot_telemetry::metrics::meter()
        .u64_counter("earshot.sla.breaches")
        .with_description("SLA targets missed, by clock (first_response, resolution)")
        .build()
});

/// The timer row, if it is still running (the condition every claim on a timer shares).
fn still_running(timer: &sla_timer::Model) -> Condition {
    Condition::all()
        .add(sla_timer::Column::Tenant.eq(timer.tenant.clone()))
        .add(sla_timer::Column::CaseId.eq(timer.case_id.clone()))
        .add(sla_timer::Column::Kind.eq(timer.kind.clone()))
        .add(sla_timer::Column::State.eq(TimerState::Running))
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// SLA warnings given.
    pub warned: usize,
    /// SLA breaches escalated.
    pub breached: usize,
    /// Escalations raised a level.
    pub levelled: usize,
}

impl Escalations {
    /// Gives every warning, fires every breach and raises every level due by now.
    pub async fn tick(&self) -> Result<Tick> {
        Ok(Tick { warned: self.warn_due().await?, breached: self.fire_due().await?, levelled: self.level_due().await? })
    }

    async fn warn_due(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let due = sla_timer::Entity::find()
            .filter(sla_timer::Column::State.eq(TimerState::Running))
            .filter(sla_timer::Column::Warned.eq(false))
            .filter(sla_timer::Column::WarnAtMs.lte(now))
            .order_by_asc(sla_timer::Column::WarnAtMs)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut warned = 0;
        for timer in due {
            let Ok(tenant) = Tenant::parse(&timer.tenant) else { continue };
            let txn = self.db.begin().await?;
            let claimed = sla_timer::Entity::update_many()
                .col_expr(sla_timer::Column::Warned, Expr::value(true))
                .filter(still_running(&timer))
                .filter(sla_timer::Column::Warned.eq(false))
                .exec(&txn)
                .await?;
            if claimed.rows_affected != 1 {
                continue;
            }
            let clock = ClockKind::parse(&timer.kind).unwrap_or(ClockKind::FirstResponse);
            let left = (timer.due_at_ms - now).max(0);
            let warning = pb::SlaWarning {
                case_id: timer.case_id.clone(),
                clock: timer.kind.clone(),
                queue: timer.queue.clone(),
                priority: u32::try_from(timer.priority).unwrap_or(0),
                due_at: Some(timestamp_from_ms(timer.due_at_ms)),
                detail: format!(
                    "{} target {} due in {}",
                    clock.label(),
                    duration_label(timer.target_ms),
                    duration_label(left)
                ),
            };
            self.emit(&txn, &tenant, events::SLA_WARNING, SYSTEM, None, Some(warning)).await?;
            txn.commit().await?;
            warned += 1;
        }
        Ok(warned)
    }

    /// Fires every timer due by now; returns how many escalated.
    pub async fn fire_due(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let due = sla_timer::Entity::find()
            .filter(sla_timer::Column::State.eq(TimerState::Running))
            .filter(sla_timer::Column::DueAtMs.lte(now))
            .order_by_asc(sla_timer::Column::DueAtMs)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut fired = 0;
        for timer in due {
            let Ok(tenant) = Tenant::parse(&timer.tenant) else { continue };
            let txn = self.db.begin().await?;
            let claimed = sla_timer::Entity::update_many()
                .col_expr(sla_timer::Column::State, Expr::value(TimerState::Fired))
                .filter(still_running(&timer))
                .exec(&txn)
                .await?;
            if claimed.rows_affected != 1 {
                continue;
            }
            let clock = ClockKind::parse(&timer.kind).unwrap_or(ClockKind::FirstResponse);
            let late = now - timer.due_at_ms;
            let detail = format!(
                "{} target {} missed{}",
                clock.label(),
                duration_label(timer.target_ms),
                if late >= 60_000 { format!(" by {}", duration_label(late)) } else { String::new() }
            );
            let reason = format!("sla_{}", timer.kind);
            let policy = self.policy_for(&txn, &tenant, &timer.queue).await?;
            let raise = Raise {
                case_id: &timer.case_id,
                reason: &reason,
                detail,
                queue: &timer.queue,
                priority: u32::try_from(timer.priority).unwrap_or(0),
                actor: SYSTEM,
            };
            let raised = self.raise(&txn, &tenant, raise, &policy).await?;
            txn.commit().await?;
            BREACHES.add(1, &[opentelemetry::KeyValue::new("clock", timer.kind.clone())]);
            fired += usize::from(raised.is_some());
        }
        Ok(fired)
    }

    /// Raises every escalation nobody acknowledged in time to its next level.
    async fn level_due(&self) -> Result<usize> {
        let now = self.clock.now_ms();
        let due = escalation::Entity::find()
            .filter(escalation::Column::State.eq(EscalationState::Open))
            .filter(escalation::Column::NextLevelAtMs.lte(now))
            .order_by_asc(escalation::Column::NextLevelAtMs)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut levelled = 0;
        for row in due {
            let Ok(tenant) = Tenant::parse(&row.tenant) else { continue };
            let level = u32::try_from(row.level).unwrap_or(1) + 1;
            // Claim first: a transaction that writes before it reads never deadlocks on SQLite.
            let txn = self.db.begin().await?;
            let claimed = escalation::Entity::update_many()
                .col_expr(escalation::Column::Level, Expr::value(i32::try_from(level).unwrap_or(i32::MAX)))
                .filter(escalation::Column::Id.eq(row.id.clone()))
                .filter(escalation::Column::State.eq(EscalationState::Open))
                .filter(escalation::Column::Level.eq(row.level))
                .exec(&txn)
                .await?;
            if claimed.rows_affected != 1 {
                continue;
            }
            let policy = self.policy_for(&txn, &tenant, &row.queue).await?;
            let audience = policy.level(level).map_or_else(|| row.audience.clone(), |l| l.audience.clone());
            let next = match (policy.level(level + 1), row.next_level_at_ms) {
                (Some(next), Some(at)) => Some(at + next.after_ms),
                _ => None,
            };
            escalation::Entity::update_many()
                .col_expr(escalation::Column::Audience, Expr::value(audience.clone()))
                .col_expr(escalation::Column::NextLevelAtMs, Expr::value(next))
                .filter(escalation::Column::Id.eq(row.id.clone()))
                .exec(&txn)
                .await?;
            let Some(row) = escalation::Entity::find_by_id(row.id.clone()).one(&txn).await? else { continue };
            let detail = format!("not acknowledged; level {level} → {audience}");
            self.audit(&txn, &tenant, &row.id, events::LEVEL_RAISED, SYSTEM, detail).await?;
            self.emit(&txn, &tenant, events::LEVEL_RAISED, SYSTEM, Some(&row), None).await?;
            txn.commit().await?;
            levelled += 1;
        }
        Ok(levelled)
    }

    /// Ticks every `interval` until the task is dropped.
    pub async fn tick_forever(self, interval: std::time::Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "sla tick failed");
            }
        }
    }
}
