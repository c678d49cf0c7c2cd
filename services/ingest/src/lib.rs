//! The ingest service: the front door for customer posts.
//!
//! A post is validated, normalised, deduplicated on (tenant, channel, external id) and stored
//! before it is acknowledged; from then on it is never lost. The pipeline worker
//! ([`pipeline::Pipeline`]) drives stored posts through classification and routing in batches
//! and resumes after any restart.

mod api;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pipeline;
pub mod posts;
pub mod stored;
pub mod writer;

use std::time::Duration;

use anyhow::Context;
use earshot_core::SharedClock;
use earshot_proto::v1::ingest_service_server::IngestServiceServer;
use earshot_queue::{Leases, Wake, Wakeups};
use tokio::net::TcpListener;

pub use config::Config;
pub use error::Error;
pub use posts::Posts;

/// Peers answer a pipeline batch within this time or the batch is retried.
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replica's lease on a tenant's backlog lasts unless renewed (every pass renews it):
/// how long the other replicas wait before taking over the backlog of one that died.
const LEASE_TTL: Duration = Duration::from_secs(5);

/// Opens the database (migrating it), starts the pipeline worker, and serves `IngestService` on
/// `listener` until `shutdown` resolves.
/// Time is read through `clock` (tests pass a manual one).
pub async fn run(
    config: Config,
    listener: TcpListener,
    clock: SharedClock,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let common = &config.common;
    let db = earshot_store::open::<earshot_store::ingest::Migrator>(&config.database_url)
        .await
        .context("opening the ingest database")?;
    let reads =
        earshot_store::readers(&config.database_url, &db).await.context("opening readers of the ingest database")?;
    let peer_tls = common.tls.client()?;
    let (directory, credential) =
        common.auth.open(&common.redis_url, "ingest").await.context("opening the key directory")?;
    let queues = earshot_queue::Queues::connect(&common.redis_url)
        .await
        .with_context(|| format!("connecting to redis at {}", common.redis_url))?;
    let accepted = Wakeups::new(&queues, "es:wake:ingest:accepted", Wake::One);
    let _wakeups = earshot_telemetry::TaskGuard::spawn(accepted.clone().listen_forever(common.redis_url.clone()));
    let metrics = metrics::IngestMetrics::default();
    let (writer, _writer) = writer::Writer::start(db.clone(), clock.clone(), metrics.clone(), accepted.clone());
    let posts = Posts { db, reads, clock, limits: config.input.limits(&common.message), accepted, metrics, writer };
    let leases = Leases::new(&queues, &earshot_queue::holder_id("ingest", listener.local_addr()?), LEASE_TTL);
    let pipeline = pipeline::Pipeline::new(
        posts.clone(),
        credential.channel(earshot_telemetry::client::channel(&config.classify.addr, PEER_TIMEOUT, peer_tls.as_ref())?),
        credential.channel(earshot_telemetry::client::channel(&config.routing.addr, PEER_TIMEOUT, peer_tls.as_ref())?),
        leases.clone(),
        config.pipeline_batch,
        config.pipeline_wait(),
    );
    let _pipeline = earshot_telemetry::TaskGuard::spawn(pipeline.run_forever());
    let served = earshot_telemetry::grpc::Server::new()
        .await
        .with(IngestServiceServer::new(posts).max_decoding_message_size(common.message.max_message_bytes))
        .serve(listener, directory, &common.tls, shutdown)
        .await;
    // The pipeline stops before its tenants' leases are let go, so another replica takes the
    // backlogs over at once.
    drop(_pipeline);
    leases.release_on_stop().await;
    Ok(served?)
}
