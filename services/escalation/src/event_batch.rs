//! What one `RecordCaseEvents` call changes, held in memory and written set-based. The batch
//! reads what its events need in a few queries (the event keys already applied, the clocks of its
//! cases, their open escalations, whether the tenant has a webhook), applies every event in order
//! to that state, and writes each table once: one upsert of the clocks it changed, one insert each
//! of escalations, audit lines, outbox events and applied keys. Routing's outbox deliverer sends up
//! to 500 events of a tenant per call, so the cost per post is memory work, not round trips.
//!
//! The rare events that act on escalations one by one (a transfer moves them, an answer that
//! reached escalation late withdraws a breach, a replay reports the standing ones) first write
//! what the batch holds, so they read and change the record as it stands.

use std::collections::{BTreeSet, HashMap, HashSet};

use earshot_core::Tenant;
use earshot_store::escalation::sla_timer::{self, Model as Timer};
use earshot_store::escalation::{applied_event, escalation, escalation_audit, outbox};
use earshot_store::insert_rows;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable,
    QueryFilter, QuerySelect,
};

use crate::error::Result;
use crate::policy::Policy;
use crate::state::{Escalations, Raise, Raised, has_webhook, open_escalations};

/// One SLA clock of a case as the batch sees it.
pub(crate) struct Clock {
    /// The timer row.
    pub timer: Timer,
    /// Whether the batch changed it (written by the upsert).
    pub changed: bool,
}

/// The state a batch of case events reads once and changes in memory.
pub(crate) struct EventBatch<'t> {
    tenant: &'t Tenant,
    /// Event keys applied before or earlier in the batch.
    applied: HashSet<String>,
    /// The clocks of each case of the batch.
    clocks: HashMap<String, Vec<Clock>>,
    /// Open escalations, by (case, reason).
    open: HashSet<(String, String)>,
    has_webhook: bool,
    new_applied: Vec<applied_event::ActiveModel>,
    new_escalations: Vec<escalation::ActiveModel>,
    new_audits: Vec<escalation_audit::ActiveModel>,
    new_events: Vec<outbox::ActiveModel>,
}

impl<'t> EventBatch<'t> {
    /// Reads what events for `case_ids` with `keys` need.
    pub async fn load(
        txn: &DatabaseTransaction,
        tenant: &'t Tenant,
        keys: Vec<String>,
        case_ids: BTreeSet<String>,
    ) -> Result<Self> {
        let applied = applied_event::Entity::find()
            .filter(applied_event::Column::Key.is_in(keys))
            .all(txn)
            .await?
            .into_iter()
            .map(|row| row.key)
            .collect();
        let mut clocks: HashMap<String, Vec<Clock>> = HashMap::new();
        let timers = sla_timer::Entity::find()
            .filter(sla_timer::Column::Tenant.eq(tenant.as_str()))
            .filter(sla_timer::Column::CaseId.is_in(case_ids.iter().cloned()))
            // Held until the batch commits (PostgreSQL): another replica's batch for these cases
            // waits, then reads what this one wrote.
            .lock_exclusive()
            .all(txn)
            .await?;
        for timer in timers {
            clocks.entry(timer.case_id.clone()).or_default().push(Clock { timer, changed: false });
        }
        let open = open_escalations(tenant, case_ids)
            .all(txn)
            .await?
            .into_iter()
            .map(|row| (row.case_id, row.reason))
            .collect();
        Ok(Self {
            tenant,
            applied,
            clocks,
            open,
            has_webhook: has_webhook(txn, tenant).await?,
            new_applied: Vec::new(),
            new_escalations: Vec::new(),
            new_audits: Vec::new(),
            new_events: Vec::new(),
        })
    }

    /// Whether the event with `key` was applied already.
    pub fn was_applied(&self, key: &str) -> bool {
        self.applied.contains(key)
    }

    /// Notes the event with `key` as applied at `now`.
    pub fn mark_applied(&mut self, key: String, now: i64) {
        self.applied.insert(key.clone());
        self.new_applied.push(applied_event::ActiveModel { key: Set(key), applied_at_ms: Set(now) });
    }

    /// The clocks of `case_id`, to read and change (set `changed` on what changes).
    pub fn clocks(&mut self, case_id: &str) -> &mut Vec<Clock> {
        self.clocks.entry(case_id.to_owned()).or_default()
    }

    /// Raises an escalation unless one for the same case and reason is open; returns it when
    /// raised.
    pub fn raise(
        &mut self,
        escalations: &Escalations,
        raise: Raise<'_>,
        policy: &Policy,
    ) -> Result<Option<escalation::Model>> {
        let key = (raise.case_id.to_owned(), raise.reason.to_owned());
        if self.open.contains(&key) {
            return Ok(None);
        }
        let Raised { row, audit, event } = escalations.raised(self.tenant, raise, policy, self.has_webhook)?;
        self.open.insert(key);
        self.new_escalations.push(row.clone().into_active_model().reset_all());
        self.new_audits.push(audit);
        self.new_events.push(event);
        Ok(Some(row))
    }

    /// Notes that the open escalation of `case_id` for `reason` was resolved outside the batch.
    pub fn forget_open(&mut self, case_id: &str, reason: &str) {
        self.open.remove(&(case_id.to_owned(), reason.to_owned()));
    }

    /// Writes what the batch holds, each table in one statement per chunk; wakes the outbox
    /// publisher when there are new events (it reads them once the transaction commits).
    pub async fn write(&mut self, txn: &DatabaseTransaction, escalations: &Escalations) -> Result<()> {
        let changed: Vec<sla_timer::ActiveModel> = self
            .clocks
            .values_mut()
            .flatten()
            .filter(|clock| clock.changed)
            .map(|clock| {
                clock.changed = false;
                clock.timer.clone().into_active_model().reset_all()
            })
            .collect();
        let key = [sla_timer::Column::Tenant, sla_timer::Column::CaseId, sla_timer::Column::Kind];
        let every_other = sla_timer::Column::iter().filter(|column| {
            !matches!(column, sla_timer::Column::Tenant | sla_timer::Column::CaseId | sla_timer::Column::Kind)
        });
        insert_rows(txn, changed, Some(OnConflict::columns(key).update_columns(every_other).to_owned())).await?;
        insert_rows(txn, std::mem::take(&mut self.new_escalations), None).await?;
        insert_rows(txn, std::mem::take(&mut self.new_audits), None).await?;
        let events = std::mem::take(&mut self.new_events);
        let wake = !events.is_empty();
        insert_rows(txn, events, None).await?;
        insert_rows(txn, std::mem::take(&mut self.new_applied), None).await?;
        if wake {
            escalations.outbox_ready.wake();
        }
        Ok(())
    }
}
