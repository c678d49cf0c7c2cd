//! earshot-escalation: see the crate docs.

/// Rust's allocations go through mimalloc: under load glibc's malloc (its consolidation of freed
/// chunks above all) costs the services a tenth of their CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    earshot_telemetry::process::main(earshot_escalation::run).await
}
