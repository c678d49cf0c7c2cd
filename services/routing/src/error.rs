//! Routing's errors and the one place they become gRPC statuses.

use earshot_core::InvalidArgument;

/// What can go wrong in routing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something malformed.
    #[error(transparent)]
    Invalid(#[from] InvalidArgument),
    /// A case, agent or queue the tenant does not have.
    #[error("{0}")]
    NotFound(String),
    /// The agent is not in a position to do this with the case.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Redis failed.
    #[error(transparent)]
    Queue(#[from] earshot_queue::Error),
    /// The escalation service did not take an event.
    #[error("escalation service: {0}")]
    Escalation(tonic::Status),
    /// The key directory failed, or no key could be minted.
    #[error(transparent)]
    Keys(#[from] earshot_auth::AuthError),
    /// Stored data could not be decoded (a bug or a tampered database).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl Error {
    /// The database's own error, when that is what this is.
    pub fn database(&self) -> Option<&sea_orm::DbErr> {
        match self {
            Self::Db(error) => Some(error),
            _ => None,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => invalid.into(),
            Error::NotFound(message) => tonic::Status::not_found(message),
            Error::FailedPrecondition(message) => tonic::Status::failed_precondition(message),
            Error::Escalation(status) => earshot_telemetry::status::unavailable("escalation service", &status),
            Error::Keys(source) => source.into(),
            Error::Queue(source) => earshot_telemetry::status::unavailable("queue store", &source),
            Error::Db(source) if earshot_store::is_contention(&source) => {
                tonic::Status::aborted(earshot_store::CONTENTION_MESSAGE)
            }
            internal @ (Error::Db(_) | Error::Corrupt(_)) => earshot_telemetry::status::internal(&internal),
        }
    }
}
