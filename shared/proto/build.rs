//! Compiles `proto/earshot/v1/*.proto` in pure Rust (protox, no system protoc) into prost types,
//! tonic clients and servers, pbjson serde impls (proto3 JSON) and a descriptor set for reflection.

use std::path::PathBuf;

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const FILES: [&str; 6] = [
    "earshot/v1/common.proto",
    "earshot/v1/ingest.proto",
    "earshot/v1/classify.proto",
    "earshot/v1/routing.proto",
    "earshot/v1/escalation.proto",
    "earshot/v1/keys.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let paths: Vec<String> = FILES.iter().map(|f| format!("{PROTO_ROOT}/{f}")).collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={path}");
    }

    let descriptors = protox::compile(FILES, [PROTO_ROOT])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    std::fs::write(out_dir.join("earshot_descriptor.bin"), &descriptor_bytes)?;

    // Well-known types come from pbjson-types so that Timestamp has proto3 JSON (RFC 3339) too.
    let mut config = tonic_prost_build::Config::new();
    config.prost_types_path("::pbjson_types");
    tonic_prost_build::configure().compile_fds_with_config(descriptors, config)?;

    pbjson_build::Builder::new().register_descriptors(&descriptor_bytes)?.build(&[".earshot"])?;
    Ok(())
}
