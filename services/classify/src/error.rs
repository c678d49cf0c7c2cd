//! Classify's errors and the one place they become gRPC statuses.

use earshot_core::InvalidArgument;

/// What can go wrong classifying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something malformed.
    #[error(transparent)]
    Invalid(#[from] InvalidArgument),
    /// The classifying task ended without an answer (it panicked: a bug, not the input).
    #[error("classification task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A post came back without its classification (a bug).
    #[error("a post came back without its classification")]
    Unanswered,
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => invalid.into(),
            internal @ (Error::Task(_) | Error::Unanswered) => earshot_core::status::internal(&internal),
        }
    }
}
