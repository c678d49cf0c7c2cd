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
use earshot_telemetry::grpc::Serving;
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
    let (health, health_service) = earshot_telemetry::grpc::health().await;
    let db = earshot_store::open::<earshot_store::routing::Migrator>(&config.database_url)
        .await
        .context("opening the routing database")?;
    let reads =
        earshot_store::readers(&config.database_url, &db).await.context("opening readers of the routing database")?;
    let queues = earshot_queue::Queues::connect(&config.redis_url)
        .await
        .with_context(|| format!("connecting to redis at {}", config.redis_url))?;
    let (directory, credential) =
        config.auth.open(&config.redis_url, "routing").await.context("opening the key directory")?;
    let channel = credential.channel(earshot_telemetry::client::channel(
        &config.escalation_addr,
        std::time::Duration::from_secs(10),
        config.tls.client()?.as_ref(),
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
        weights: Arc::new(config.weights()?),
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
        .map(|wakeups| earshot_telemetry::TaskGuard::spawn(wakeups.clone().listen_forever(config.redis_url.clone())));
    routing.restore_at_start().await.context("restoring the live queues from the database")?;
    let _sweeper = earshot_telemetry::TaskGuard::spawn(routing.clone().sweep_forever(config.sweep_interval()));
    let _recovery = earshot_telemetry::TaskGuard::spawn(routing.clone().recover_forever(config.sweep_interval()));
    let _reporter = earshot_telemetry::TaskGuard::spawn(routing.clone().report_forever());
    let routes = tonic::service::Routes::new(health_service)
        .add_service(
            RoutingServiceServer::new(routing.clone()).max_decoding_message_size(config.message.max_message_bytes),
        )
        .add_service(AgentServiceServer::new(routing))
        .add_service(KeyServiceServer::new(keys));
    health.serving::<RoutingServiceServer<Routing>>().await;
    health.serving::<AgentServiceServer<Routing>>().await;
    health.serving::<KeyServiceServer<api_keys::Keys>>().await;
    tracing::info!(addr = %listener.local_addr()?, "routing serving");
    let served =
        earshot_telemetry::grpc::serve(listener, routes, Serving::new(directory, &config.tls, &health)?, shutdown)
            .await;
    // The work done under leases stops before they are let go, so another replica takes it over
    // at once.
    drop((_reporter, _recovery));
    leases.release_on_stop().await;
    Ok(served?)
}
