//! Where the services are, and the credential every call presents.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use earshot_auth::{AuthChannel, Bearer};
use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use earshot_proto::v1::agent_service_client::AgentServiceClient;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;
use earshot_proto::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_proto::v1::key_service_client::KeyServiceClient;
use earshot_proto::v1::routing_service_client::RoutingServiceClient;
use earshot_telemetry::args::addresses;

/// Service addresses and the tenant, shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoints {
    /// earshot-ingest.
    #[arg(long, global = true, env = "EARSHOT_INGEST_ADDR", default_value = addresses::INGEST)]
    pub ingest: String,
    /// earshot-classify.
    #[arg(long, global = true, env = "EARSHOT_CLASSIFY_ADDR", default_value = addresses::CLASSIFY)]
    pub classify: String,
    /// earshot-routing.
    #[arg(long, global = true, env = "EARSHOT_ROUTING_ADDR", default_value = addresses::ROUTING)]
    pub routing: String,
    /// earshot-escalation.
    #[arg(long, global = true, env = "EARSHOT_ESCALATION_ADDR", default_value = addresses::ESCALATION)]
    pub escalation: String,
    /// API key (`esk_…`); its tenant and roles decide what you may do.
    #[arg(long, global = true, env = "EARSHOT_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Without --key: the service credential itself (as the services are given it).
    #[arg(long, global = true, env = "EARSHOT_SERVICE_KEY", hide_env_values = true)]
    pub service_key: Option<String>,
    /// Without --key or --service-key: the service credential's file, for the operator on the host.
    #[arg(long, global = true, env = "EARSHOT_SERVICE_KEY_FILE", default_value = "data/service.key")]
    pub service_key_file: PathBuf,
    /// TLS for the calls (--tls-ca to trust the services; --tls-cert/--tls-key for mutual TLS).
    #[command(flatten)]
    pub tls: earshot_telemetry::tls::TlsArgs,
    /// Tenant (brand account) to act for with the service credential; a key names its own.
    #[arg(long, global = true, env = "EARSHOT_TENANT", default_value = "default")]
    pub tenant: String,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Endpoints {
    /// What calls present: the API key, or else the service credential on this host, for
    /// the tenant.
    pub fn credential(&self) -> Result<Bearer> {
        if let Some(key) = self.key.as_deref().filter(|key| !key.trim().is_empty()) {
            return Bearer::new(key).context("--key");
        }
        if let Some(secret) = self.service_key.as_deref().filter(|secret| !secret.trim().is_empty()) {
            return Ok(Bearer::new(secret).context("--service-key")?.for_tenant(&self.tenant()?));
        }
        let secret = std::fs::read_to_string(&self.service_key_file).with_context(|| {
            format!(
                "no API key: pass --key or set EARSHOT_API_KEY (an admin makes one with `earshotctl keys create`), \
                 or run on the Earshot host where {} is readable",
                self.service_key_file.display()
            )
        })?;
        Ok(Bearer::new(&secret).context("the service key file")?.for_tenant(&self.tenant()?))
    }

    fn channel(&self, address: &str) -> Result<AuthChannel> {
        let tls = self.tls.client()?;
        Ok(self.credential()?.channel(earshot_telemetry::client::channel(address, CALL_TIMEOUT, tls.as_ref())?))
    }
}

impl Endpoints {
    /// The services of an embedded Earshot, called with its service credential for `tenant`.
    pub fn embedded(services: &earshot_embedded::Services, service_key: &str, tenant: &str) -> Self {
        Self {
            ingest: services.ingest.addr.to_string(),
            classify: services.classify.addr.to_string(),
            routing: services.routing.addr.to_string(),
            escalation: services.escalation.addr.to_string(),
            key: None,
            service_key: Some(service_key.to_owned()),
            service_key_file: Default::default(),
            tls: Default::default(),
            tenant: tenant.to_owned(),
        }
    }

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
    pub fn ingest(&self) -> Result<IngestServiceClient<AuthChannel>> {
        Ok(IngestServiceClient::new(self.channel(&self.ingest)?))
    }

    /// Classifier client.
    pub fn classify(&self) -> Result<ClassifierServiceClient<AuthChannel>> {
        Ok(ClassifierServiceClient::new(self.channel(&self.classify)?).max_decoding_message_size(64 * 1024 * 1024))
    }

    /// Routing client.
    pub fn routing(&self) -> Result<RoutingServiceClient<AuthChannel>> {
        Ok(RoutingServiceClient::new(self.channel(&self.routing)?).max_decoding_message_size(64 * 1024 * 1024))
    }

    /// Agent client.
    pub fn agents(&self) -> Result<AgentServiceClient<AuthChannel>> {
        Ok(AgentServiceClient::new(self.channel(&self.routing)?))
    }

    /// Key client.
    pub fn keys(&self) -> Result<KeyServiceClient<AuthChannel>> {
        Ok(KeyServiceClient::new(self.channel(&self.routing)?))
    }

    /// Escalation client.
    pub fn escalation(&self) -> Result<EscalationServiceClient<AuthChannel>> {
        Ok(EscalationServiceClient::new(self.channel(&self.escalation)?))
    }

    /// Waits until every service answers (the classifier loads its models first).
    pub async fn ready(&self) -> Result<()> {
        let post = earshot_core::Post::example("warming up", 0).to_wire();
        self.classify()?
            .classify(self.request(pb::ClassifyRequest { post: Some(post) })?)
            .await
            .map_err(|s| call_error("classify", s))?;
        self.routing()?
            .queue_stats(self.request(pb::QueueStatsRequest {})?)
            .await
            .map_err(|s| call_error("routing", s))?;
        self.escalation()?
            .list_escalations(self.request(pb::ListEscalationsRequest::default())?)
            .await
            .map_err(|s| call_error("escalation", s))?;
        let missing = pb::GetPostRequest { post_id: earshot_core::ids::new_id('p') };
        match self.ingest()?.get_post(self.request(missing)?).await {
            Err(status) if status.code() != tonic::Code::NotFound => Err(call_error("ingest", status)),
            _ => Ok(()),
        }
    }
}

/// A failed call as a person reads it: which service, which code, what it said.
pub fn call_error(service: &str, status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{service}: {:?}: {}", status.code(), status.message())
}
