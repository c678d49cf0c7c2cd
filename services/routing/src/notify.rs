//! Case events for the escalation service.
//!
//! `Route` reports synchronously, so a failure fails the call and ingest's durable retry delivers
//! the event again (escalation applies each event once). Agent actions are reported through a
//! background queue that retries until escalation takes the event.

use std::time::Duration;

use earshot_auth::AuthChannel;
use earshot_core::Tenant;
use earshot_core::clock::timestamp_from_ms;
use earshot_proto::v1 as pb;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Events waiting for delivery before agent actions see back-pressure.
const BACKLOG: usize = 10_000;

/// Sends case events to earshot-escalation.
#[derive(Clone)]
pub struct Notifier {
    client: EscalationServiceClient<AuthChannel>,
    background: mpsc::Sender<(Tenant, pb::CaseEvent, tracing::Span)>,
}

/// A case event with its tenant, as gRPC metadata carries it.
fn request(tenant: &Tenant, event: pb::CaseEvent) -> tonic::Request<pb::CaseEvent> {
    let mut request = tonic::Request::new(event);
    tenant.attach(&mut request);
    request
}

impl Notifier {
    /// A notifier over `channel`; spawns the background delivery task.
    pub fn new(channel: AuthChannel) -> Self {
        let client = EscalationServiceClient::new(channel);
        let (background, mut pending) = mpsc::channel::<(Tenant, pb::CaseEvent, tracing::Span)>(BACKLOG);
        let mut delivery = client.clone();
        tokio::spawn(async move {
            while let Some((tenant, event, span)) = pending.recv().await {
                let mut delay = Duration::from_millis(100);
                loop {
                    match delivery.record_case_event(request(&tenant, event.clone())).instrument(span.clone()).await {
                        Ok(_) => break,
                        Err(status) if earshot_telemetry::client::is_retryable(&status) => {
                            tracing::warn!(case_id = %event.case_id, code = ?status.code(), "escalation unavailable; will retry");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(10));
                        }
                        Err(status) => {
                            let message = earshot_core::pii::mask(status.message());
                            tracing::error!(case_id = %event.case_id, code = ?status.code(), %message, "escalation rejected a case event");
                            break;
                        }
                    }
                }
            }
        });
        Self { client, background }
    }

    /// Delivers an event now (a few quick retries), returning the escalations it raised.
    pub async fn send(&self, tenant: &Tenant, event: pb::CaseEvent) -> Result<Vec<pb::Escalation>, tonic::Status> {
        let response = earshot_telemetry::client::retry(3, || {
            let mut client = self.client.clone();
            let request = request(tenant, event.clone());
            async move { client.record_case_event(request).await }
        })
        .await?;
        Ok(response.into_inner().raised)
    }

    /// Delivers events now, in order and in one call (a few quick retries), returning what each
    /// raised.
    pub async fn send_all(
        &self,
        tenant: &Tenant,
        events: Vec<pb::CaseEvent>,
    ) -> Result<Vec<Vec<pb::Escalation>>, tonic::Status> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let count = events.len();
        let request = pb::RecordCaseEventsRequest { events };
        let response = earshot_telemetry::client::retry(3, || {
            let mut client = self.client.clone();
            let mut request = tonic::Request::new(request.clone());
            tenant.attach(&mut request);
            async move { client.record_case_events(request).await }
        })
        .await?;
        let results = response.into_inner().results;
        if results.len() != count {
            return Err(tonic::Status::internal("escalation answered a different number of events"));
        }
        Ok(results.into_iter().map(|result| result.raised).collect())
    }

    /// Queues an event for delivery in the background, in the trace of the current span.
    pub async fn send_later(&self, tenant: &Tenant, event: pb::CaseEvent) {
        if self.background.send((tenant.clone(), event, tracing::Span::current())).await.is_err() {
            tracing::error!("escalation delivery task stopped; event dropped");
        }
    }
}

/// An event about a case at `at_ms`.
pub fn event(kind: pb::CaseEventKind, case_id: &str, at_ms: i64) -> pb::CaseEvent {
    pb::CaseEvent {
        case_id: case_id.to_owned(),
        kind: kind as i32,
        at: Some(timestamp_from_ms(at_ms)),
        ..Default::default()
    }
}
