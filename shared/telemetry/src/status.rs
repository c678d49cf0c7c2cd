//! Statuses for failures that are not the client's: the cause goes to the log, the client gets a
//! short message that says what to do, never internals.

use tonic::Status;

/// `INTERNAL`; the cause (with its source chain) is logged.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %chain(error), "internal error");
    Status::internal("internal error")
}

/// `UNAVAILABLE` naming the dependency that failed; the cause is logged. Clients may retry.
pub fn unavailable(dependency: &str, error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::warn!(dependency, error = %chain(error), "dependency unavailable");
    Status::unavailable(format!("{dependency} unavailable; retry"))
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
