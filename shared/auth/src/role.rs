//! What a credential may do. A key carries one or more roles; the service credential is the
//! deployment's own and may do everything, for any tenant.

use std::fmt;

/// A role a key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits posts (a connector or contact-center platform).
    Integration,
    /// Works its own cases as one agent.
    Agent,
    /// Handles escalations, reassigns cases and reads the queues of its tenant.
    Supervisor,
    /// Manages keys, agents and SLA policies of its tenant.
    Admin,
    /// Another Earshot service (or the operator on the host): any call, for the tenant it names.
    Service,
}

impl Role {
    /// The roles a key can be given (the service role is never issued as a key).
    pub const ISSUABLE: [Role; 4] = [Role::Integration, Role::Agent, Role::Supervisor, Role::Admin];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Integration => "integration",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// Parses an issuable role by its wire name.
    pub fn parse_issuable(value: &str) -> Option<Role> {
        let value = value.trim().to_ascii_lowercase();
        Role::ISSUABLE.into_iter().find(|role| role.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
