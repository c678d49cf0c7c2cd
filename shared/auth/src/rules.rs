//! Which roles may call which RPC: the whole access policy in one table, so a reviewer reads it
//! in one place and a test can walk every entry.

use crate::Role;

use Role::{Admin, Agent, Integration, Supervisor};

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential needed: health checks and server reflection.
    Open,
    /// A credential with one of these roles (the service credential always passes).
    Roles(&'static [Role]),
    /// Only the service credential: calls between Earshot's own services.
    ServiceOnly,
}

/// Every RPC of the earshot.v1 API with the roles that may call it.
pub const RULES: &[(&str, Access)] = &[
    ("/earshot.v1.IngestService/SubmitPost", Access::Roles(&[Integration])),
    ("/earshot.v1.IngestService/SubmitPosts", Access::Roles(&[Integration])),
    ("/earshot.v1.IngestService/StreamPosts", Access::Roles(&[Integration])),
    ("/earshot.v1.IngestService/GetPost", Access::Roles(&[Integration, Agent, Supervisor])),
    ("/earshot.v1.ClassifierService/Classify", Access::Roles(&[Integration, Supervisor, Admin])),
    ("/earshot.v1.ClassifierService/ClassifyBatch", Access::Roles(&[Integration, Admin])),
    ("/earshot.v1.RoutingService/Route", Access::ServiceOnly),
    ("/earshot.v1.RoutingService/GetCase", Access::Roles(&[Agent, Supervisor])),
    ("/earshot.v1.RoutingService/FindCases", Access::Roles(&[Supervisor])),
    ("/earshot.v1.RoutingService/ListQueue", Access::Roles(&[Supervisor])),
    ("/earshot.v1.RoutingService/QueueStats", Access::Roles(&[Supervisor, Admin])),
    ("/earshot.v1.RoutingService/ReassignCase", Access::Roles(&[Supervisor])),
    ("/earshot.v1.RoutingService/WatchCaseEvents", Access::Roles(&[Integration, Supervisor])),
    ("/earshot.v1.RoutingService/ListAgents", Access::Roles(&[Supervisor, Admin])),
    ("/earshot.v1.AgentService/SetPresence", Access::Roles(&[Agent, Admin])),
    ("/earshot.v1.AgentService/GetAgent", Access::Roles(&[Agent, Supervisor, Admin])),
    ("/earshot.v1.AgentService/NextCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/AcceptCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/RejectCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/RecordResponse", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/ResolveCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/TransferCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/EscalateCase", Access::Roles(&[Agent])),
    ("/earshot.v1.AgentService/SetWaiting", Access::Roles(&[Agent])),
    ("/earshot.v1.EscalationService/RecordCaseEvent", Access::ServiceOnly),
    ("/earshot.v1.EscalationService/RecordCaseEvents", Access::ServiceOnly),
    ("/earshot.v1.EscalationService/ListEscalations", Access::Roles(&[Supervisor])),
    ("/earshot.v1.EscalationService/GetEscalation", Access::Roles(&[Supervisor])),
    ("/earshot.v1.EscalationService/GetCaseClocks", Access::Roles(&[Agent, Supervisor])),
    ("/earshot.v1.EscalationService/WatchEscalations", Access::Roles(&[Supervisor])),
    ("/earshot.v1.EscalationService/AcknowledgeEscalation", Access::Roles(&[Supervisor])),
    ("/earshot.v1.EscalationService/ResolveEscalation", Access::Roles(&[Supervisor])),
    ("/earshot.v1.EscalationService/PutSlaPolicy", Access::Roles(&[Admin])),
    ("/earshot.v1.EscalationService/ListSlaPolicies", Access::Roles(&[Supervisor, Admin])),
    ("/earshot.v1.EscalationService/PutWebhook", Access::Roles(&[Admin])),
    ("/earshot.v1.KeyService/CreateKey", Access::Roles(&[Admin])),
    ("/earshot.v1.KeyService/ListKeys", Access::Roles(&[Admin])),
    ("/earshot.v1.KeyService/RevokeKey", Access::Roles(&[Admin])),
    ("/earshot.v1.KeyService/WhoAmI", Access::Roles(&[Integration, Agent, Supervisor, Admin])),
];

/// Who may call the method at `path` (`/package.Service/Method`). Health and reflection are
/// open; a method missing from [`RULES`] is for the service credential only, so a new RPC is
/// closed until someone decides who may call it.
pub fn access(path: &str) -> Access {
    if path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.") {
        return Access::Open;
    }
    RULES.iter().find(|(method, _)| *method == path).map_or(Access::ServiceOnly, |(_, access)| *access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_open_and_unknown_methods_are_closed() {
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(access("/earshot.v1.IngestService/Nope"), Access::ServiceOnly);
        assert_eq!(access("/earshot.v1.RoutingService/Route"), Access::ServiceOnly);
        assert_eq!(access("/earshot.v1.IngestService/SubmitPost"), Access::Roles(&[Integration]));
    }
}
