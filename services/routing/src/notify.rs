//! The routing service's client of escalation: case events sent now (with a few quick retries),
//! and the events themselves. What must reach escalation even if routing crashes goes through the
//! outbox (`crate::outbox`).

use earshot_auth::AuthChannel;
use earshot_core::Tenant;
use earshot_core::clock::timestamp_from_ms;
use earshot_proto::v1 as pb;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_queue::{Queues, Wake, Wakeups};

/// Sends case events to earshot-escalation.
#[derive(Clone)]
pub struct Notifier {
    client: EscalationServiceClient<AuthChannel>,
    /// Woken (in every replica) when an outbox write commits.
    pub outbox_ready: Wakeups,
}

/// A case event with its tenant, as gRPC metadata carries it.
fn request(tenant: &Tenant, event: pb::CaseEvent) -> tonic::Request<pb::CaseEvent> {
    let mut request = tonic::Request::new(event);
    tenant.attach(&mut request);
    request
}

impl Notifier {
    /// A notifier over `channel`, its deliverer woken through `queues` in whichever replica
    /// delivers.
    pub fn new(channel: AuthChannel, queues: &Queues) -> Self {
        Self {
            client: EscalationServiceClient::new(channel),
            outbox_ready: Wakeups::new(queues, "es:wake:routing:outbox", Wake::One),
        }
    }

    /// Wakes the outbox deliverer (after a transaction that wrote to the outbox committed).
    pub fn wake(&self) {
        self.outbox_ready.wake();
    }

    /// Delivers an event now (a few quick retries), returning the escalations it raised.
    pub async fn send(&self, tenant: &Tenant, event: pb::CaseEvent) -> Result<Vec<pb::Escalation>, tonic::Status> {
        let response = earshot_telemetry::retry::call(3, || {
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
        let response = earshot_telemetry::retry::call(3, || {
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
