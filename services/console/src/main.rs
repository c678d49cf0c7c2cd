//! earshot-console: see the crate docs.

/// Rust's allocations go through mimalloc: under load glibc's malloc (its consolidation of freed
/// chunks above all) costs the services a tenth of their CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = earshot_console::Config::parse();
    let (telemetry, listen) = (config.telemetry.clone(), config.listen.clone());
    earshot_telemetry::process::serve("earshot-console", &telemetry, "", &listen, |listener, shutdown| {
        earshot_console::run(config, listener, shutdown)
    })
    .await
}
