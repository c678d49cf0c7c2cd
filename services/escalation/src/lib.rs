//! The escalation service: SLA clocks per case under the tenant's policies (business hours,
//! pauses, warnings), immediate escalations (legal or safety threats, risk or reach above the
//! tenant's thresholds, a customer's third contact, an agent's request), levels that rise while
//! nobody acknowledges, and the events supervisors watch and webhooks receive.
//!
//! Timers, escalations and events are rows in the database, so they survive restarts and fire
//! once; events go from an outbox to a Redis Stream per tenant, so a supervisor's dashboard
//! resumes from its last cursor and sees every event once.

mod api;
pub mod calendar;
pub mod case_events;
pub mod clocks;
pub mod config;
pub mod error;
mod event_batch;
pub mod outbox;
pub mod policy;
pub mod policy_store;
pub mod state;
pub mod targets;
pub mod ticker;

use anyhow::Context;
use earshot_core::SharedClock;
use earshot_proto::v1::escalation_service_server::EscalationServiceServer;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::Error;
pub use state::Escalations;

/// Events kept per tenant stream (approximately).
const STREAM_MAX_LEN: usize = 100_000;

/// Opens the database (migrating it) and Redis, starts the SLA ticker, and serves
/// `EscalationService` on `listener` until `shutdown` resolves.
/// Time is read through `clock` (tests pass a manual one).
pub async fn run(
    config: Config,
    listener: TcpListener,
    clock: SharedClock,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let common = &config.common;
    let db = earshot_store::open::<earshot_store::escalation::Migrator>(&config.database_url)
        .await
        .context("opening the escalation database")?;
    let queues = earshot_queue::Queues::connect(&common.redis_url)
        .await
        .with_context(|| format!("connecting to redis at {}", common.redis_url))?;
    let (directory, _) =
        common.auth.open(&common.redis_url, "escalation").await.context("opening the key directory")?;
    let outbox_ready = earshot_queue::Wakeups::new(&queues, state::OUTBOX_WAKEUPS, earshot_queue::Wake::One);
    let _wakeups = earshot_telemetry::TaskGuard::spawn(outbox_ready.clone().listen_forever(common.redis_url.clone()));
    let leases = state::OutboxLeases::new(&queues, &earshot_queue::holder_id("escalation", listener.local_addr()?));
    let events = earshot_queue::EventStream::new(queues, &common.redis_url, "escalations", STREAM_MAX_LEN)?;
    let escalations = Escalations {
        db,
        events,
        clock,
        builtin: std::sync::Arc::new(config.builtin().policy()),
        outbox_ready,
        leases: leases.clone(),
        webhook_targets: std::sync::Arc::new(
            targets::TargetPolicy::parse(&config.webhook_allow).context("--webhook-allow")?,
        ),
        watches: config.watches.limits(),
    };
    let _ticker = earshot_telemetry::TaskGuard::spawn(escalations.clone().tick_forever(config.tick()));
    let _publisher = earshot_telemetry::TaskGuard::spawn(escalations.clone().publish_forever());
    let _webhooks = earshot_telemetry::TaskGuard::spawn(escalations.clone().deliver_forever(config.tick()));
    let served = earshot_telemetry::grpc::Server::new()
        .await
        .with(EscalationServiceServer::new(escalations).max_decoding_message_size(common.message.max_message_bytes))
        .serve(listener, directory, &common.tls, shutdown)
        .await;
    // The work done under leases stops before they are let go, so another replica takes it over
    // at once.
    drop((_publisher, _webhooks));
    leases.publisher.release_on_stop().await;
    leases.webhooks.release_on_stop().await;
    Ok(served?)
}
