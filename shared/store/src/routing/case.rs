//! A conversation with one customer.

use sea_orm::entity::prelude::*;

/// One case.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    /// Case id (`c_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// The customer's external id; follow-ups of the same customer join the open case.
    pub customer: String,
    /// Thread of the first post, when the channel has threads.
    pub thread_id: Option<String>,
    /// Queue (skill) the case waits in.
    pub queue: String,
    /// Topic of the first post.
    pub topic: String,
    /// Language of the latest post.
    pub language: String,
    /// Current priority, 0–100.
    pub priority: i32,
    /// Highest post priority seen in the case, before case-level factors.
    pub post_priority: i32,
    /// Where the case is.
    pub state: CaseState,
    /// Agent offered or holding the case.
    pub agent: Option<String>,
    /// Posts in the case.
    pub contact_count: i32,
    /// Whether a supervisor has been alerted.
    pub escalated: bool,
    /// The agent is waiting on the customer (SLA clocks paused).
    pub waiting: bool,
    /// JSON array of the reasons behind the priority.
    pub reasons: String,
    /// When the first post was written.
    pub opened_at_ms: i64,
    /// Place in line: ageing counts from here.
    pub enqueued_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
}

/// Where a case is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum CaseState {
    /// Waiting in a queue.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Offered to an agent under a lease.
    #[sea_orm(string_value = "offered")]
    Offered,
    /// Accepted by an agent.
    #[sea_orm(string_value = "assigned")]
    Assigned,
    /// Done.
    #[sea_orm(string_value = "resolved")]
    Resolved,
}

impl CaseState {
    /// The stored name, as Redis and the API carry it too.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Offered => "offered",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
        }
    }

    /// Whether an agent holds the case (offered or assigned).
    pub fn held(self) -> bool {
        matches!(self, Self::Offered | Self::Assigned)
    }
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable as _;

    use super::*;

    #[test]
    fn each_state_is_named_as_it_is_stored() {
        for state in CaseState::iter() {
            assert_eq!(state.as_str(), state.to_value());
        }
    }
}
