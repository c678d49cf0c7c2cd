//! earshot-console: see the crate docs.

/// Rust's allocations go through mimalloc: under load glibc's malloc (its consolidation of freed
/// chunks above all) costs the services a tenth of their CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = earshot_console::Config::parse();
    let telemetry = earshot_telemetry::init(&config.telemetry, "earshot-console", env!("CARGO_PKG_VERSION"))?;
    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let served = earshot_console::run(config, listener, earshot_telemetry::shutdown_signal()).await;
    telemetry.shutdown().await;
    served
}
