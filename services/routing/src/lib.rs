//! The routing service: cases, Redis priority queues, agents and leases.
//!
//! A classified post joins its customer's open case or opens one; the case waits in its topic's
//! queue at the effective key `enqueued_at − priority × credit`; `NextCase` hands an available
//! agent the best case it is skilled for under a lease. The database keeps the durable record
//! (cases, posts, agents, audit); Redis keeps the live order.

mod agents;
mod api;
pub mod api_keys;
pub mod config;
pub mod error;
pub mod notify;
mod outbox;
mod reassign;
mod record;
mod recovery;
mod route;
pub mod state;
mod sweep;
mod views;
mod watch;

use std::sync::Arc;

use anyhow::Context;
use earshot_core::SharedClock;
use earshot_proto::v1::agent_service_server::AgentServiceServer;
use earshot_proto::v1::key_service_server::KeyServiceServer;
use earshot_proto::v1::routing_service_server::RoutingServiceServer;
use earshot_queue::{Leases, Wake, Wakeups};
use tokio::net::TcpListener;

pub use agents::DEFAULT_SKILLS;
pub use config::Config;
pub use error::Error;
pub use state::Routing;

/// How long a replica's lease on single work (the outbox, a restore) lasts unless renewed: how
/// long the other replicas wait before taking over from one that died.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Connects to the database (migrating it) and Redis, and serves `RoutingService` and
/// `AgentService` on `listener` until `shutdown` resolves.
/// Time is read through `clock` (tests pass a manual one).
pub async fn run(
    config: Config,
    listener: TcpListener,
    clock: SharedClock,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let common = &config.common;
    let db = earshot_store::open::<earshot_store::routing::Migrator>(&config.database_url)
        .await
        .context("opening the routing database")?;
    let reads =
        earshot_store::readers(&config.database_url, &db).await.context("opening readers of the routing database")?;
    let queues = earshot_queue::Queues::connect(&common.redis_url)
        .await
        .with_context(|| format!("connecting to redis at {}", common.redis_url))?;
    let (directory, credential) =
        common.auth.open(&common.redis_url, "routing").await.context("opening the key directory")?;
    let channel = credential.channel(earshot_telemetry::client::channel(
        &config.escalation.addr,
        std::time::Duration::from_secs(10),
        common.tls.client()?.as_ref(),
    )?);
    let keys = api_keys::Keys { db: db.clone(), directory: directory.clone(), clock: clock.clone() };
    keys.sync().await.context("publishing the API keys")?;
    let _keys = earshot_telemetry::TaskGuard::spawn(keys.clone().sync_forever());
    let leases = Leases::new(&queues, &earshot_queue::holder_id("routing", listener.local_addr()?), LEASE_TTL);
    let routing = Routing {
        db,
        reads,
        notifier: notify::Notifier::new(channel, &queues),
        clock,
        weights: Arc::new(config.weights.load()?),
        lease_ms: config.lease_ms,
        sticky_timeout_ms: config.sticky_timeout_ms,
        credit_ms: config.priority_credit_ms,
        route_lock: Arc::default(),
        work_available: Wakeups::new(&queues, "es:wake:routing:work", Wake::Waiting),
        watches: config.watches.limits(),
        case_events: Wakeups::new(&queues, "es:wake:routing:case-events", Wake::Waiting),
        leases: leases.clone(),
        queues,
    };
    let _wakeups = [&routing.work_available, &routing.case_events, &routing.notifier.outbox_ready]
        .map(|wakeups| earshot_telemetry::TaskGuard::spawn(wakeups.clone().listen_forever(common.redis_url.clone())));
    routing.restore_at_start().await.context("restoring the live queues from the database")?;
    let _sweeper = earshot_telemetry::TaskGuard::spawn(routing.clone().sweep_forever(config.sweep_interval()));
    let _recovery = earshot_telemetry::TaskGuard::spawn(routing.clone().recover_forever(config.sweep_interval()));
    let _reporter = earshot_telemetry::TaskGuard::spawn(routing.clone().report_forever());
    let served = earshot_telemetry::grpc::Server::new()
        .await
        .with(RoutingServiceServer::new(routing.clone()).max_decoding_message_size(common.message.max_message_bytes))
        .with(AgentServiceServer::new(routing))
        .with(KeyServiceServer::new(keys))
        .serve(listener, directory, &common.tls, shutdown)
        .await;
    // The work done under leases stops before they are let go, so another replica takes it over
    // at once.
    drop((_reporter, _recovery));
    leases.release_on_stop().await;
    Ok(served?)
}
