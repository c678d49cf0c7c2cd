//! The services the console calls, as the signed-in user: every call presents the user's own key,
//! so the services decide what the user may see and do, exactly as for any other client.

use std::time::Duration;

use earshot_auth::{AuthChannel, Bearer};
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::v1::key_service_client::KeyServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use tonic::transport::Channel;

use crate::Config;
use crate::error::Failure;

/// Deadline of a call; `NextCase` long-polls for less than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(40);

/// Channels to routing and escalation, shared by every user (each call carries its own key).
#[derive(Clone)]
pub struct Backend {
    routing: Channel,
    escalation: Channel,
}

/// Clients acting as one user.
pub struct Clients {
    /// Cases and queues.
    pub routing: RoutingServiceClient<AuthChannel>,
    /// The agent's own work.
    pub agents: AgentServiceClient<AuthChannel>,
    /// Escalations, SLA policies, webhooks.
    pub escalation: EscalationServiceClient<AuthChannel>,
    /// API keys.
    pub keys: KeyServiceClient<AuthChannel>,
}

impl Backend {
    /// Channels to the configured services (connected on first use).
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let tls = config.tls.client()?;
        let channel = |addr: &str| earshot_telemetry::client::channel(addr, CALL_TIMEOUT, tls.as_ref());
        Ok(Self { routing: channel(&config.routing.addr)?, escalation: channel(&config.escalation.addr)? })
    }

    /// Clients presenting `secret`.
    pub fn as_user(&self, secret: &str) -> Result<Clients, Failure> {
        let bearer = Bearer::new(secret).map_err(|_| Failure::BadKey)?;
        Ok(Clients {
            routing: RoutingServiceClient::new(bearer.channel(self.routing.clone())),
            agents: AgentServiceClient::new(bearer.channel(self.routing.clone())),
            escalation: EscalationServiceClient::new(bearer.channel(self.escalation.clone())),
            keys: KeyServiceClient::new(bearer.channel(self.routing.clone())),
        })
    }
}

impl Clients {
    /// The case's SLA clocks and escalations; `None` while escalation knows nothing of the case.
    pub async fn clocks(&mut self, case_id: &str) -> Result<Option<pb::CaseClocks>, tonic::Status> {
        match self.escalation.get_case_clocks(pb::GetCaseClocksRequest { case_id: case_id.to_owned() }).await {
            Ok(clocks) => Ok(Some(clocks.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }
}
