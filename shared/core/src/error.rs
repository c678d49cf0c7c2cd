//! The one validation error every service returns for bad input.

/// A request field that failed validation; becomes `INVALID_ARGUMENT` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidArgument {
    /// Path of the offending field, e.g. `post.author.external_id` or `posts[3].text`.
    pub field: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub reason: String,
}

impl InvalidArgument {
    /// A validation failure of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }

    /// The same failure, with its field placed under `prefix` (`posts[3]` + `text` → `posts[3].text`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl From<InvalidArgument> for tonic::Status {
    fn from(error: InvalidArgument) -> Self {
        tonic::Status::invalid_argument(error.to_string())
    }
}
