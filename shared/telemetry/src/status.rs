//! Statuses: for failures that are not the client's (from `earshot_core::status`, where the
//! crates below this one find them too), and for bytes a client sent that do not decode.

use tonic::Status;

pub use earshot_core::status::{internal, unavailable};

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
