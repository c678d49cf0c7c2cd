//! earshot-escalation: see the crate docs.

use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = earshot_escalation::Config::parse();
    earshot_telemetry::init_logging(config.log_json, "info");
    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let clock = std::sync::Arc::new(earshot_core::SystemClock);
    earshot_escalation::run(config, listener, clock, earshot_telemetry::shutdown_signal()).await
}
