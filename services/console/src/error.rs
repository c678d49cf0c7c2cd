//! What can go wrong answering a page, and the page (or redirect) each failure gets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::pages;
use crate::session::MissingRole;

/// Why a request was not served as asked.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No live session: sign in first.
    #[error("sign in first")]
    SignIn,
    /// The key typed at sign-in cannot even be sent (not a key).
    #[error("that is not an Earshot API key")]
    BadKey,
    /// The form's CSRF token is missing or wrong.
    #[error("this form is out of date or did not come from the console; reload the page and try again")]
    Csrf,
    /// The signed-in key lacks the role for this page.
    #[error("your key does not have the {} role", .0.0)]
    Role(MissingRole),
    /// A form field is not in a shape the console can read (names the field).
    #[error("{0}")]
    Form(String),
    /// A service refused or failed the call.
    #[error("{}", .0.message())]
    Service(#[from] tonic::Status),
}

impl From<MissingRole> for Failure {
    fn from(missing: MissingRole) -> Self {
        Self::Role(missing)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::SignIn => return Redirect::to("/signin").into_response(),
            Self::Service(status) if status.code() == tonic::Code::Unauthenticated => {
                return Redirect::to("/signin?problem=expired").into_response();
            }
            Self::BadKey => StatusCode::UNAUTHORIZED,
            Self::Form(_) => StatusCode::BAD_REQUEST,
            Self::Csrf | Self::Role(_) => StatusCode::FORBIDDEN,
            Self::Service(status) => match status.code() {
                tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
        };
        (status, pages::problem(status, &self.to_string())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_the_role_gets_a_forbidden_page_naming_the_role() {
        let refused = Failure::from(MissingRole("supervisor"));
        assert_eq!(refused.to_string(), "your key does not have the supervisor role");
        assert_eq!(refused.into_response().status(), StatusCode::FORBIDDEN);
    }
}
