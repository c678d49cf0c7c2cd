//! Escalation's errors and the one place they become gRPC statuses.

use earshot_core::InvalidArgument;

/// What can go wrong in the escalation service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something malformed.
    #[error(transparent)]
    Invalid(#[from] InvalidArgument),
    /// An escalation the tenant does not have.
    #[error("{0}")]
    NotFound(String),
    /// The escalation is not in a state that allows this.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Redis failed.
    #[error(transparent)]
    Stream(#[from] earshot_queue::Error),
    /// An event or policy could not be written as JSON.
    #[error("cannot encode: {0}")]
    Encode(#[from] serde_json::Error),
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
            Error::Stream(source) => earshot_telemetry::status::unavailable("event stream", &source),
            Error::Db(source) if earshot_store::is_contention(&source) => {
                tonic::Status::aborted(earshot_store::CONTENTION_MESSAGE)
            }
            Error::Db(source) => earshot_telemetry::status::internal(&source),
            Error::Encode(source) => earshot_telemetry::status::internal(&source),
        }
    }
}
