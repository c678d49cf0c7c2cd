//! earshot-escalation: see the crate docs.

/// Rust's allocations go through mimalloc: under load glibc's malloc (its consolidation of freed
/// chunks above all) costs the services a tenth of their CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = earshot_escalation::Config::parse();
    let telemetry = earshot_telemetry::init(&config.telemetry, "earshot-escalation", env!("CARGO_PKG_VERSION"))?;
    let _admin = telemetry.serve_admin(&config.admin_listen).await.context("binding the admin port")?;
    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let clock = std::sync::Arc::new(earshot_core::SystemClock);
    let served = earshot_escalation::run(config, listener, clock, earshot_telemetry::shutdown_signal()).await;
    telemetry.shutdown().await;
    served
}
