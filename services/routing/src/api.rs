//! gRPC handlers: `RoutingService` and `AgentService`. Each reads the tenant from the caller's key (and, for agents, checks the key acts as the agent named), delegates to
//! [`Routing`], and maps errors once (`From<Error> for Status`).

use earshot_auth::Principal;
use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::state::Routing;

fn tenant<T>(request: &Request<T>) -> Result<Tenant, Status> {
    Principal::tenant_of(request)
}

/// A request made by (or for) one agent.
trait NamesAgent {
    fn agent_id(&self) -> &str;
}

macro_rules! names_agent {
    ($($message:ty),*) => {
        $(impl NamesAgent for $message {
            fn agent_id(&self) -> &str {
                &self.agent_id
            }
        })*
    };
}

names_agent!(
    pb::SetPresenceRequest,
    pb::GetAgentRequest,
    pb::NextCaseRequest,
    pb::CaseActionRequest,
    pb::RecordResponseRequest,
    pb::TransferCaseRequest,
    pb::EscalateCaseRequest,
    pb::SetWaitingRequest
);

/// The tenant of an agent's call, once the caller may act as the agent it names (an agent key
/// only as its own agent).
fn agent_tenant<T: NamesAgent>(request: &Request<T>) -> Result<Tenant, Status> {
    let principal = Principal::of(request)?;
    principal.may_act_as(request.get_ref().agent_id())?;
    Ok(principal.tenant.clone())
}

#[tonic::async_trait]
impl pb::routing_service_server::RoutingService for Routing {
    async fn route(&self, request: Request<pb::RouteRequest>) -> Result<Response<pb::RouteResponse>, Status> {
        let tenant = tenant(&request)?;
        let results = self.route(&tenant, request.into_inner().items).await?;
        Ok(Response::new(pb::RouteResponse { results }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.case_view_of(&tenant, &request.into_inner().case_id).await?))
    }

    async fn find_cases(
        &self,
        request: Request<pb::FindCasesRequest>,
    ) -> Result<Response<pb::FindCasesResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::FindCasesRequest { customer, limit } = request.into_inner();
        Ok(Response::new(pb::FindCasesResponse { cases: self.find_cases(&tenant, &customer, limit).await? }))
    }

    async fn list_queue(
        &self,
        request: Request<pb::ListQueueRequest>,
    ) -> Result<Response<pb::ListQueueResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListQueueRequest { queue, limit } = request.into_inner();
        let cases = self.list_queue(&tenant, &queue, limit).await?;
        Ok(Response::new(pb::ListQueueResponse { cases }))
    }

    async fn queue_stats(
        &self,
        request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(pb::QueueStatsResponse { queues: self.queue_stats(&tenant).await? }))
    }

    async fn reassign_case(&self, request: Request<pb::ReassignCaseRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.reassign(&tenant, request.into_inner()).await?))
    }

    type WatchCaseEventsStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::CaseActivity, Status>> + Send>>;

    async fn watch_case_events(
        &self,
        request: Request<pb::WatchCaseEventsRequest>,
    ) -> Result<Response<Self::WatchCaseEventsStream>, Status> {
        let tenant = tenant(&request)?;
        let slot = self.watches.open(Principal::of(&request)?)?;
        let stream = self.watch_case_events(tenant, &request.into_inner().cursor, slot).await?;
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(pb::ListAgentsResponse { agents: self.list_agents(&tenant).await? }))
    }
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for Routing {
    async fn set_presence(&self, request: Request<pb::SetPresenceRequest>) -> Result<Response<pb::AgentView>, Status> {
        let tenant = agent_tenant(&request)?;
        Ok(Response::new(self.set_presence(&tenant, request.into_inner()).await?))
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::AgentView>, Status> {
        let tenant = agent_tenant(&request)?;
        Ok(Response::new(self.get_agent(&tenant, &request.into_inner().agent_id).await?))
    }

    async fn next_case(&self, request: Request<pb::NextCaseRequest>) -> Result<Response<pb::NextCaseResponse>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::NextCaseRequest { agent_id, wait_ms } = request.into_inner();
        let offer = self.next_case(&tenant, &agent_id, wait_ms).await?;
        Ok(Response::new(pb::NextCaseResponse { offer }))
    }

    async fn accept_case(&self, request: Request<pb::CaseActionRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::CaseActionRequest { agent_id, case_id } = request.into_inner();
        Ok(Response::new(self.accept(&tenant, &agent_id, &case_id).await?))
    }

    async fn reject_case(&self, request: Request<pb::CaseActionRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::CaseActionRequest { agent_id, case_id } = request.into_inner();
        Ok(Response::new(self.reject(&tenant, &agent_id, &case_id).await?))
    }

    async fn record_response(
        &self,
        request: Request<pb::RecordResponseRequest>,
    ) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::RecordResponseRequest { agent_id, case_id, text } = request.into_inner();
        Ok(Response::new(self.respond(&tenant, &agent_id, &case_id, &text).await?))
    }

    async fn resolve_case(&self, request: Request<pb::CaseActionRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::CaseActionRequest { agent_id, case_id } = request.into_inner();
        Ok(Response::new(self.resolve(&tenant, &agent_id, &case_id).await?))
    }

    async fn transfer_case(&self, request: Request<pb::TransferCaseRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::TransferCaseRequest { agent_id, case_id, queue } = request.into_inner();
        Ok(Response::new(self.transfer(&tenant, &agent_id, &case_id, &queue).await?))
    }

    async fn escalate_case(&self, request: Request<pb::EscalateCaseRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        let pb::EscalateCaseRequest { agent_id, case_id, note } = request.into_inner();
        Ok(Response::new(self.escalate(&tenant, &agent_id, &case_id, &note).await?))
    }

    async fn set_waiting(&self, request: Request<pb::SetWaitingRequest>) -> Result<Response<pb::CaseView>, Status> {
        let tenant = agent_tenant(&request)?;
        Ok(Response::new(self.set_waiting(&tenant, request.into_inner()).await?))
    }
}
