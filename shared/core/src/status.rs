//! Statuses for failures that are not the client's: the cause goes to the log (personal data
//! masked), the client gets a short message that says what to do, never internals. Low in the
//! crate graph so every crate that answers a call maps its errors through the same two doors.

use tonic::Status;

/// `INTERNAL`; the cause (with its source chain) is logged.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %crate::pii::mask(&chain(error)), "internal error");
    Status::internal("internal error")
}

/// `UNAVAILABLE` naming the dependency that failed; the cause is logged. Clients may retry.
pub fn unavailable(dependency: &str, error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::warn!(dependency, error = %crate::pii::mask(&chain(error)), "dependency unavailable");
    Status::unavailable(format!("{dependency} unavailable; retry"))
}

/// An error and its sources, as one line.
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
