//! Where the services are, and requests that carry the tenant.

use std::time::Duration;

use anyhow::{Context, Result};
use earshot_core::Tenant;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use tonic::transport::Channel;

/// Service addresses and the tenant, shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoints {
    /// earshot-ingest.
    #[arg(long, global = true, env = "EARSHOT_INGEST_ADDR", default_value = "127.0.0.1:50051")]
    pub ingest: String,
    /// earshot-classify.
    #[arg(long, global = true, env = "EARSHOT_CLASSIFY_ADDR", default_value = "127.0.0.1:50052")]
    pub classify: String,
    /// earshot-routing.
    #[arg(long, global = true, env = "EARSHOT_ROUTING_ADDR", default_value = "127.0.0.1:50053")]
    pub routing: String,
    /// earshot-escalation.
    #[arg(long, global = true, env = "EARSHOT_ESCALATION_ADDR", default_value = "127.0.0.1:50054")]
    pub escalation: String,
    /// Tenant (brand account) to act for.
    #[arg(long, global = true, env = "EARSHOT_TENANT", default_value = "default")]
    pub tenant: String,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn channel(address: &str) -> Result<Channel> {
    Ok(earshot_telemetry::client::channel(address, CALL_TIMEOUT)?)
}

impl Endpoints {
    /// The tenant, validated.
    pub fn tenant(&self) -> Result<Tenant> {
        Tenant::parse(&self.tenant).context("--tenant")
    }

    /// A request for the tenant.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        self.tenant()?.attach(&mut request);
        Ok(request)
    }

    /// Ingest client.
    pub fn ingest(&self) -> Result<IngestServiceClient<Channel>> {
        Ok(IngestServiceClient::new(channel(&self.ingest)?))
    }

    /// Classifier client.
    pub fn classify(&self) -> Result<ClassifierServiceClient<Channel>> {
        Ok(ClassifierServiceClient::new(channel(&self.classify)?).max_decoding_message_size(64 * 1024 * 1024))
    }

    /// Routing client.
    pub fn routing(&self) -> Result<RoutingServiceClient<Channel>> {
        Ok(RoutingServiceClient::new(channel(&self.routing)?).max_decoding_message_size(64 * 1024 * 1024))
    }

    /// Agent client.
    pub fn agents(&self) -> Result<AgentServiceClient<Channel>> {
        Ok(AgentServiceClient::new(channel(&self.routing)?))
    }

    /// Escalation client.
    pub fn escalation(&self) -> Result<EscalationServiceClient<Channel>> {
        Ok(EscalationServiceClient::new(channel(&self.escalation)?))
    }
}

/// A failed call as a person reads it: which service, which code, what it said.
pub fn call_error(service: &str, status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{service}: {:?}: {}", status.code(), status.message())
}
