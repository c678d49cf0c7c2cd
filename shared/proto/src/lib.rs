//! The earshot.v1 gRPC API: message types, clients and servers generated from `proto/`, proto3
//! JSON (serde) for every message, and the descriptor set that server reflection publishes.
//!
//! Generated code lives here and nowhere else, so every service and client speaks one definition.

/// Messages and services of package `earshot.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("earshot.v1");
    include!(concat!(env!("OUT_DIR"), "/earshot.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of the API, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/earshot_descriptor.bin"));

pub use pbjson_types::Timestamp;
