//! Test helpers shared by every crate's tests: a real `redis-server` on a free loopback port that
//! dies with its handle, and [`wait_until`] for polling a condition instead of sleeping and hoping.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A `redis-server` started for one test, in its own temporary folder; killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where `redis-server` is: `$REDIS_SERVER`, then `PATH`, then Debian's location.
fn redis_server_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file());
    let debian = PathBuf::from("/usr/bin/redis-server");
    on_path
        .or_else(|| debian.is_file().then_some(debian))
        .context("redis-server not found: install it (Debian: apt-get install redis-server) or set REDIS_SERVER")
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl RedisServer {
    /// Starts a fresh server on a free 127.0.0.1 port and waits until it answers PING.
    pub async fn start() -> Result<Self> {
        // A port found free can be taken before redis binds it; try a few.
        for _ in 0..5 {
            let dir = tempfile::tempdir()?;
            let port = free_port()?;
            let child = Self::spawn(port, dir.path())?;
            let mut server = RedisServer { child, port, dir };
            if server.answers().await {
                return Ok(server);
            }
            server.stop();
        }
        bail!("redis-server did not start on a free loopback port")
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Result<Child> {
        let binary = redis_server_binary()?;
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(child)
    }

    /// Whether it answers PING within 5 s.
    async fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        wait_until(Duration::from_secs(5), || async {
            match client.get_multiplexed_async_connection().await {
                Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
                Err(_) => false,
            }
        })
        .await
        .is_ok()
    }

    /// Kills the server (SIGKILL: every connection drops) and starts an empty one on the same port,
    /// as a Redis without persistence that crashed and came back.
    pub async fn restart_empty(&mut self) -> Result<()> {
        self.stop();
        // The port is free once the old process is gone; a client reconnecting can race for it
        // only as a client, so a few tries cover the kernel's cleanup.
        for _ in 0..20 {
            self.child = Self::spawn(self.port, self.dir.path())?;
            if self.answers().await {
                return Ok(());
            }
            self.stop();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("redis-server did not start again on port {}", self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's process id (what a CPU account reads).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Forgets every key, as a Redis restarted without persistence would.
    pub async fn flush_all(&self) -> Result<()> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("FLUSHALL").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A 3-master Redis Cluster on loopback ports, each master a `redis-server` of its own; all are
/// killed on drop.
pub struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

/// A port that is free and whose cluster bus port (+10 000) is free too.
fn free_cluster_port() -> Result<u16> {
    for _ in 0..50 {
        let port = free_port()?;
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port pair for a cluster node")
}

impl RedisCluster {
    /// Starts three masters and joins them into one cluster covering every slot.
    pub async fn start() -> Result<Self> {
        let server = redis_server_binary()?;
        let cli = server.with_file_name("redis-cli");
        let dir = tempfile::tempdir()?;
        let dir_path = dir.path().to_owned();
        let mut cluster = RedisCluster { nodes: Vec::new(), ports: Vec::new(), _dir: dir };
        for _ in 0..3 {
            let port = free_cluster_port()?;
            let child = Command::new(&server)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", &format!("nodes-{port}.conf")])
                .arg("--dir")
                .arg(&dir_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", server.display()))?;
            cluster.nodes.push(child);
            cluster.ports.push(port);
        }
        for port in &cluster.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
            wait_until(Duration::from_secs(5), || async {
                match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
                    Err(_) => false,
                }
            })
            .await
            .with_context(|| format!("cluster node on port {port} did not start"))?;
        }
        let addresses: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {}", cli.display()))?;
        if !created.success() {
            bail!("redis-cli --cluster create failed");
        }
        for port in &cluster.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
            wait_until(Duration::from_secs(10), || async {
                match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok_and(|info| info.contains("cluster_state:ok")),
                    Err(_) => false,
                }
            })
            .await
            .context("the cluster did not become ready")?;
        }
        Ok(cluster)
    }

    /// The seed nodes, comma-separated, as `REDIS_URL` takes them.
    pub fn url(&self) -> String {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

impl RedisCluster {
    /// Forgets every key on every master.
    pub async fn flush_all(&self) -> Result<()> {
        for port in &self.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("FLUSHALL").query_async::<String>(&mut conn).await?;
        }
        Ok(())
    }
}

/// The Redis a test runs against: the same tests pass on one server and on a cluster.
pub enum TestRedis {
    /// One `redis-server`.
    Single(RedisServer),
    /// A 3-master cluster.
    Cluster(RedisCluster),
}

impl TestRedis {
    /// Starts one server.
    pub async fn single() -> Result<Self> {
        Ok(Self::Single(RedisServer::start().await?))
    }

    /// Starts a 3-master cluster.
    pub async fn cluster() -> Result<Self> {
        Ok(Self::Cluster(RedisCluster::start().await?))
    }

    /// `REDIS_URL` for it.
    pub fn url(&self) -> String {
        match self {
            Self::Single(server) => server.url(),
            Self::Cluster(cluster) => cluster.url(),
        }
    }

    /// Forgets every key, as Redis restarted without persistence would.
    pub async fn flush_all(&self) -> Result<()> {
        match self {
            Self::Single(server) => server.flush_all().await,
            Self::Cluster(cluster) => cluster.flush_all().await,
        }
    }

    /// Kills the server and starts an empty one on the same port (one server only).
    pub async fn restart_empty(&mut self) -> Result<()> {
        match self {
            Self::Single(server) => server.restart_empty().await,
            Self::Cluster(_) => bail!("restarting a cluster is not supported: use one server"),
        }
    }
}

/// Runs each scenario (an `async fn(TestRedis)` in the calling module) twice: as `single::NAME` on
/// one Redis server and as `cluster::NAME` on a 3-master cluster. The same code must behave the
/// same on both.
#[macro_export]
macro_rules! on_single_and_cluster {
    ($($scenario:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::TestRedis::single().await.unwrap()).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::TestRedis::cluster().await.unwrap()).await;
                }
            )*
        }
    };
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Polls `find` every 20 ms until it finds something, and returns that; fails once `timeout`
/// passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut find: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = find().await {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks `condition` every 20 ms for `period` and fails the first time it does not hold: how a
/// test says that something must *not* happen (no breach while a clock is paused), after it has
/// waited with [`wait_until`] for whatever shows the system has caught up.
pub async fn holds_throughout<F, Fut>(period: Duration, mut condition: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + period;
    loop {
        if !condition().await {
            bail!("the condition stopped holding within {period:?}");
        }
        if tokio::time::Instant::now() >= end {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A SQLite URL for a fresh file in `dir`.
pub fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}/{name}.db?mode=rwc", dir.display())
}
