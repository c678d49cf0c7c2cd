//! Statuses for failures that are not the client's: the cause goes to the log (personal data
//! masked), the client gets a short message that says what to do, never internals.

use tonic::Status;

/// `INTERNAL`; the cause (with its source chain) is logged.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %earshot_core::pii::mask(&chain(error)), "internal error");
    Status::internal("internal error")
}

/// `UNAVAILABLE` naming the dependency that failed; the cause is logged. Clients may retry.
pub fn unavailable(dependency: &str, error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::warn!(dependency, error = %earshot_core::pii::mask(&chain(error)), "dependency unavailable");
    Status::unavailable(format!("{dependency} unavailable; retry"))
}

/// What the protobuf decoder says when a message's bytes are not a valid message.
const DECODE_FAILURE: &str = "failed to decode Protobuf message";

/// A message that could not be decoded (invalid UTF-8 in a string, truncated bytes) is the
/// client's fault: tonic reports it as `INTERNAL`; this makes it `INVALID_ARGUMENT`, keeping the
/// decoder's message (which names the field). Other statuses pass unchanged.
pub fn client_decode_failure(status: Status) -> Status {
    if status.code() == tonic::Code::Internal && status.message().starts_with(DECODE_FAILURE) {
        Status::invalid_argument(status.message().to_owned())
    } else {
        status
    }
}

/// The same for a whole HTTP response whose status travels in its headers (a unary call that
/// failed before its handler ran).
pub fn decode_failure_response<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|code| code.as_bytes() == b"13");
    let decode_failure = headers.get("grpc-message").is_some_and(|message| {
        let message = message.as_bytes();
        message.starts_with(DECODE_FAILURE.as_bytes()) || message.starts_with(b"failed%20to%20decode%20Protobuf")
    });
    if internal && decode_failure {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
    response
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
