//! Ingest's errors and the one place they become gRPC statuses.

use earshot_core::InvalidArgument;

/// What can go wrong in ingest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something malformed.
    #[error(transparent)]
    Invalid(#[from] InvalidArgument),
    /// A post the tenant does not have.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Redis (the replicas' leases) failed.
    #[error(transparent)]
    Redis(#[from] earshot_queue::Error),
    /// A stored post could not be decoded (a bug or a tampered database).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The service is shutting down and stores nothing more.
    #[error("ingest is shutting down; submit again")]
    Stopping,
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => invalid.into(),
            Error::NotFound(message) => tonic::Status::not_found(message),
            Error::Stopping => tonic::Status::unavailable(error.to_string()),
            Error::Redis(source) => earshot_telemetry::status::unavailable("redis", &source),
            internal @ (Error::Db(_) | Error::Corrupt(_)) => earshot_telemetry::status::internal(&internal),
        }
    }
}
