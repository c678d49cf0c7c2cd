//! One Redis connection type for a single server and for Redis Cluster, so every script and
//! command runs unchanged on both.
//!
//! `REDIS_URL` names one server (`redis://host:port`) or, comma-separated, the seed nodes of a
//! cluster (`redis://h1:7000,redis://h2:7001,redis://h3:7002`).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A reconnecting connection to a server or a cluster; cheap to clone.
#[derive(Clone)]
pub enum Connection {
    /// One server.
    Single(ConnectionManager),
    /// Redis Cluster; commands are routed by key slot.
    Cluster(ClusterConnection),
    /// One server, without reconnection, for blocking reads.
    Blocking(MultiplexedConnection),
}

/// How long a blocking read may take before the client gives up: longer than any block it asks
/// for (Redis's own default of 500 ms would cut a 1 s `XREAD BLOCK` short).
const BLOCKING_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The seed node URLs of `url`: more than one means a cluster.
pub(crate) fn nodes(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

impl Connection {
    /// Connects to what `url` names.
    pub async fn open(url: &str) -> redis::RedisResult<Self> {
        match nodes(url).as_slice() {
            [single] => Ok(Self::Single(ConnectionManager::new(redis::Client::open(*single)?).await?)),
            seeds => {
                Ok(Self::Cluster(redis::cluster::ClusterClient::new(seeds.to_vec())?.get_async_connection().await?))
            }
        }
    }

    /// A connection of its own for blocking reads (which must not stall shared traffic), with a
    /// response timeout longer than any block.
    pub async fn blocking(url: &str) -> redis::RedisResult<Self> {
        match nodes(url).as_slice() {
            [single] => {
                let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(BLOCKING_RESPONSE_TIMEOUT));
                let client = redis::Client::open(*single)?;
                Ok(Self::Blocking(client.get_multiplexed_async_connection_with_config(&config).await?))
            }
            seeds => Ok(Self::Cluster(
                redis::cluster::ClusterClientBuilder::new(seeds.to_vec())
                    .response_timeout(BLOCKING_RESPONSE_TIMEOUT)
                    .build()?
                    .get_async_connection()
                    .await?,
            )),
        }
    }
}

/// Requests sent to Redis, each one round trip (a pipeline or a script call counts once).
static ROUND_TRIPS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
    earshot_trace::instruments::meter()
        .u64_counter("earshot.redis.round_trips")
        .with_description("Requests sent to Redis; a pipeline or a script call is one")
        .build()
});

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        ROUND_TRIPS.add(1, &[]);
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
            Self::Blocking(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        ROUND_TRIPS.add(1, &[]);
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Blocking(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
            Self::Blocking(conn) => conn.get_db(),
        }
    }
}
