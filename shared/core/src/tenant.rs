//! Which brand a request belongs to. Every key and row is scoped by it.

use crate::InvalidArgument;

/// Metadata key carrying the tenant until credentials carry it.
pub const TENANT_HEADER: &str = "x-earshot-tenant";

/// A tenant id: 1–64 of `[a-z0-9_-]`, so it is safe inside Redis hash tags and SQL values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// Validates a tenant id.
    pub fn parse(value: &str) -> Result<Self, InvalidArgument> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidArgument::new(TENANT_HEADER, "must be 1-64 characters of a-z, 0-9, _ and -"))
        }
    }

    /// The tenant of a request: its `x-earshot-tenant` metadata, or `default` when absent.
    pub fn from_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<Self, InvalidArgument> {
        match metadata.get(TENANT_HEADER) {
            None => Ok(Self::default()),
            Some(value) => {
                let text = value.to_str().map_err(|_| InvalidArgument::new(TENANT_HEADER, "is not ASCII"))?;
                Self::parse(text)
            }
        }
    }

    /// Puts this tenant into an outgoing request's metadata.
    pub fn attach<T>(&self, request: &mut tonic::Request<T>) {
        if let Ok(value) = self.0.parse() {
            request.metadata_mut().insert(TENANT_HEADER, value);
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Self("default".to_owned())
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_comes_from_metadata_or_defaults() {
        let mut metadata = tonic::metadata::MetadataMap::new();
        assert_eq!(Tenant::from_metadata(&metadata).unwrap().as_str(), "default");
        metadata.insert(TENANT_HEADER, "acme".parse().unwrap());
        assert_eq!(Tenant::from_metadata(&metadata).unwrap().as_str(), "acme");
        metadata.insert(TENANT_HEADER, "ACME}{".parse().unwrap());
        assert!(Tenant::from_metadata(&metadata).is_err());
    }
}
