//! `EscalationService` over gRPC.

use std::pin::Pin;

use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::state::{Action, Escalations};

/// How long one blocking stream read waits before checking that the watcher is still there.
const WATCH_BLOCK_MS: usize = 1_000;

fn tenant<T>(request: &Request<T>) -> Result<Tenant, Status> {
    earshot_auth::Principal::tenant_of(request)
}

/// A stream cursor looks like `1700000000000-0`.
fn check_cursor(cursor: &str) -> Result<(), InvalidArgument> {
    let valid = cursor.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.len() <= 20
            && seq.len() <= 20
            && ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
    });
    if valid {
        Ok(())
    } else {
        Err(InvalidArgument::new("cursor", format!("'{cursor}' is not a cursor from this stream")))
    }
}

#[tonic::async_trait]
impl pb::escalation_service_server::EscalationService for Escalations {
    async fn record_case_event(
        &self,
        request: Request<pb::CaseEvent>,
    ) -> Result<Response<pb::RecordCaseEventResponse>, Status> {
        let tenant = tenant(&request)?;
        let raised = self.record(&tenant, request.into_inner()).await?;
        Ok(Response::new(pb::RecordCaseEventResponse { raised }))
    }

    async fn record_case_events(
        &self,
        request: Request<pb::RecordCaseEventsRequest>,
    ) -> Result<Response<pb::RecordCaseEventsResponse>, Status> {
        let tenant = tenant(&request)?;
        let raised = self.record_all(&tenant, request.into_inner().events).await?;
        let results = raised.into_iter().map(|raised| pb::RecordCaseEventResponse { raised }).collect();
        Ok(Response::new(pb::RecordCaseEventsResponse { results }))
    }

    async fn list_escalations(
        &self,
        request: Request<pb::ListEscalationsRequest>,
    ) -> Result<Response<pb::ListEscalationsResponse>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(pb::ListEscalationsResponse { escalations: self.list(&tenant, request.into_inner()).await? }))
    }

    async fn get_escalation(
        &self,
        request: Request<pb::GetEscalationRequest>,
    ) -> Result<Response<pb::EscalationView>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.get(&tenant, &request.into_inner().escalation_id).await?))
    }

    async fn get_case_clocks(
        &self,
        request: Request<pb::GetCaseClocksRequest>,
    ) -> Result<Response<pb::CaseClocks>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.case_clocks(&tenant, &request.into_inner().case_id).await?))
    }

    type WatchEscalationsStream = Pin<Box<dyn Stream<Item = Result<pb::EscalationEvent, Status>> + Send>>;

    async fn watch_escalations(
        &self,
        request: Request<pb::WatchEscalationsRequest>,
    ) -> Result<Response<Self::WatchEscalationsStream>, Status> {
        let tenant = tenant(&request)?;
        let slot = self.watches.open(earshot_auth::Principal::of(&request)?)?;
        let cursor = request.into_inner().cursor;
        let mut cursor = if cursor.is_empty() {
            self.events.latest_cursor(tenant.as_str()).await.map_err(crate::Error::from)?
        } else {
            check_cursor(&cursor)?;
            cursor
        };
        let events = self.events.clone();
        let mut reader = events.reader().await.map_err(crate::Error::from)?;
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let _slot = slot; // held while the stream is open
            while !sender.is_closed() {
                let batch = match events.read_after(&mut reader, tenant.as_str(), &cursor, WATCH_BLOCK_MS).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::warn!(%error, "escalation watch ended");
                        let _ = sender
                            .send(Err(Status::unavailable("event stream unavailable; resume from your last cursor")))
                            .await;
                        return;
                    }
                };
                for item in batch {
                    cursor = item.cursor.clone();
                    let event = match serde_json::from_str::<pb::EscalationEvent>(&item.payload) {
                        Ok(event) => pb::EscalationEvent { cursor: item.cursor, ..event },
                        Err(error) => {
                            tracing::error!(%error, cursor = %item.cursor, "skipping undecodable escalation event");
                            continue;
                        }
                    };
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn acknowledge_escalation(
        &self,
        request: Request<pb::EscalationActionRequest>,
    ) -> Result<Response<pb::Escalation>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.act(&tenant, request.into_inner(), Action::Acknowledge).await?))
    }

    async fn resolve_escalation(
        &self,
        request: Request<pb::EscalationActionRequest>,
    ) -> Result<Response<pb::Escalation>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.act(&tenant, request.into_inner(), Action::Resolve).await?))
    }

    async fn put_sla_policy(&self, request: Request<pb::SlaPolicy>) -> Result<Response<pb::SlaPolicy>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.put_policy(&tenant, request.into_inner()).await?))
    }

    async fn list_sla_policies(
        &self,
        request: Request<pb::ListSlaPoliciesRequest>,
    ) -> Result<Response<pb::ListSlaPoliciesResponse>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.list_policies(&tenant).await?))
    }

    async fn put_webhook(&self, request: Request<pb::Webhook>) -> Result<Response<pb::Webhook>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.put_webhook(&tenant, request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_stream_ids() {
        assert!(check_cursor("1700000000000-0").is_ok());
        assert!(check_cursor("0-0").is_ok());
        assert!(check_cursor("$").is_err());
        assert!(check_cursor("1-").is_err());
        assert!(check_cursor("a-1").is_err());
    }
}
