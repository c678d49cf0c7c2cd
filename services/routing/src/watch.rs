//! `WatchCaseEvents`: the audit trail of a tenant's cases as a stream a connector follows, to post
//! agents' replies on the customer's channel and mirror case state. Every change writes its audit
//! row in the change's own transaction, so the stream holds exactly the changes the record holds,
//! in id order, and a cursor (the id of the last event received) resumes it without a gap or a
//! repeat. A watcher looks again whenever this process writes an audit row, and every half second
//! for what other writers committed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use earshot_auth::StreamSlot;
use earshot_core::clock::timestamp_from_ms;
use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::routing::{audit, case, case_post};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::Result;
use crate::state::Routing;

/// Events read per query.
const PAGE: u64 = 200;
/// How long a quiet stream waits before it looks again without being woken.
const QUIET_LOOK: Duration = Duration::from_millis(500);
/// After a wake-up (the audit row is written before its transaction commits), how long to give
/// the commit before looking.
const COMMIT_GRACE: Duration = Duration::from_millis(20);

/// The event kind a connector acts on, for an audit action.
pub fn kind_of(action: &str) -> &str {
    match action {
        "routed" => "opened",
        "rejected" | "lease_expired" | "sticky_timeout" | "unstuck" => "queued",
        "reassigned" => "transferred",
        other => other,
    }
}

/// The id after which a stream starts: the cursor's, or the latest event's for an empty cursor.
async fn start_after(routing: &Routing, tenant: &Tenant, cursor: &str) -> Result<i64> {
    if cursor.is_empty() {
        let latest = audit::Entity::find()
            .filter(audit::Column::Tenant.eq(tenant.as_str()))
            .order_by_desc(audit::Column::Id)
            .one(&routing.db)
            .await?;
        return Ok(latest.map_or(0, |event| event.id));
    }
    let id = cursor
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| InvalidArgument::new("cursor", format!("'{cursor}' is not a cursor from this stream")))?;
    Ok(id)
}

impl Routing {
    /// Up to a page of the tenant's case events after the one with id `after`, oldest first.
    pub async fn case_activity_after(&self, tenant: &Tenant, after: i64) -> Result<Vec<pb::CaseActivity>> {
        let events = audit::Entity::find()
            .filter(audit::Column::Tenant.eq(tenant.as_str()))
            .filter(audit::Column::Id.gt(after))
            .order_by_asc(audit::Column::Id)
            .limit(PAGE)
            .all(&self.db)
            .await?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let case_ids: HashSet<String> = events.iter().map(|e| e.case_id.clone()).collect();
        let customers: HashMap<String, String> = case::Entity::find()
            .filter(case::Column::Id.is_in(case_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.customer))
            .collect();
        let post_ids: HashSet<String> = events.iter().filter_map(|e| e.post_id.clone()).collect();
        let channels: HashMap<String, String> = if post_ids.is_empty() {
            HashMap::new()
        } else {
            case_post::Entity::find()
                .filter(case_post::Column::PostId.is_in(post_ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|p| (p.post_id, p.channel))
                .collect()
        };
        Ok(events
            .into_iter()
            .map(|event| {
                let post_id = event.post_id.unwrap_or_default();
                pb::CaseActivity {
                    cursor: event.id.to_string(),
                    kind: kind_of(&event.action).to_owned(),
                    customer: customers.get(&event.case_id).cloned().unwrap_or_default(),
                    channel: channels.get(&post_id).cloned().unwrap_or_default(),
                    case_id: event.case_id,
                    action: event.action,
                    at: Some(timestamp_from_ms(event.at_ms)),
                    agent_id: event.agent.unwrap_or_default(),
                    detail: event.detail,
                    post_id,
                    text: event.text.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// The tenant's case events after `cursor` (from now on when empty), streamed until the
    /// client goes away; `slot` is held while it is open.
    pub async fn watch_case_events(
        &self,
        tenant: Tenant,
        cursor: &str,
        slot: StreamSlot,
    ) -> Result<ReceiverStream<std::result::Result<pb::CaseActivity, tonic::Status>>> {
        let mut after = start_after(self, &tenant, cursor).await?;
        let routing = self.clone();
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let _slot = slot;
            loop {
                // Register for a wake-up before looking, so a write in between is not missed.
                let woken = routing.case_events.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match routing.case_activity_after(&tenant, after).await {
                    Ok(events) if !events.is_empty() => {
                        for event in events {
                            after = event.cursor.parse().unwrap_or(after);
                            if sender.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {
                        tokio::select! {
                            () = &mut woken => tokio::time::sleep(COMMIT_GRACE).await,
                            () = tokio::time::sleep(QUIET_LOOK) => {}
                            () = sender.closed() => return,
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "case-event watch ended");
                        let gone = tonic::Status::unavailable("case events unavailable; resume from your last cursor");
                        let _ = sender.send(Err(gone)).await;
                        return;
                    }
                }
            }
        });
        Ok(ReceiverStream::new(receiver))
    }
}

#[cfg(test)]
mod tests {
    use super::kind_of;

    #[test]
    fn every_return_to_a_queue_is_queued_and_a_new_case_is_opened() {
        for action in ["rejected", "lease_expired", "sticky_timeout", "unstuck"] {
            assert_eq!(kind_of(action), "queued", "{action}");
        }
        assert_eq!(kind_of("routed"), "opened");
        assert_eq!(kind_of("reassigned"), "transferred");
        assert_eq!(kind_of("responded"), "responded");
    }
}
