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

    /// Refuses a batch of more than `limit` in `field` (`posts`, `items`, `events`), as
    /// `invalid posts: 300 posts; the limit is 256`: the one wording of every batch limit.
    pub fn check_count(field: &str, count: usize, limit: usize) -> Result<(), Self> {
        if count > limit {
            return Err(Self::new(field, format!("{count} {field}; the limit is {limit}")));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_over_its_limit_names_the_field_count_and_limit() {
        assert_eq!(InvalidArgument::check_count("posts", 256, 256), Ok(()));
        let refused = InvalidArgument::check_count("posts", 300, 256).unwrap_err();
        assert_eq!(refused.to_string(), "invalid posts: 300 posts; the limit is 256");
    }
}
