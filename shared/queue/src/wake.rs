//! Wake-ups across replicas: a replica that makes work (a case queued, posts accepted) wakes its
//! own waiters at once and publishes on a Redis channel, and every replica listening on that
//! channel wakes its waiters too. Pub/sub carries no data and keeps nothing: a wake-up missed
//! while a listener reconnects costs at most the waiters' own periodic look, never work.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::Notify;

use crate::Queues;
use crate::connection::{Connection, nodes};

/// Longest pause before a lost listener connects again.
const MAX_RECONNECT: Duration = Duration::from_secs(5);

/// Whom a wake-up wakes in each process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Every task waiting now (long-polling agents); nothing is kept for later.
    Waiting,
    /// One task, kept as a permit when none waits (a worker between passes).
    One,
}

/// A wake-up channel shared by the replicas of one service; cheap to clone.
#[derive(Clone)]
pub struct Wakeups {
    local: Arc<Notify>,
    wake: Wake,
    conn: Connection,
    channel: Arc<str>,
    /// What this process publishes, so its listener knows its own wake-ups (already given).
    sender: Arc<str>,
}

/// A sender id unlikely to be another process's: the standard library's random hash keys (seeded
/// from the OS per process) over a count of ids made here.
fn sender_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

impl Wakeups {
    /// Wake-ups on Redis channel `channel`, waking whom `wake` says.
    pub fn new(queues: &Queues, channel: &str, wake: Wake) -> Self {
        Self {
            local: Arc::default(),
            wake,
            conn: queues.connection(),
            channel: channel.into(),
            sender: sender_id().into(),
        }
    }

    /// Waits for the next wake-up (of this process or another); create it before looking for
    /// work, so a wake-up in between is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.local.notified()
    }

    /// Wakes this process's waiters now and every other replica's soon (the publish runs beside
    /// the caller; a failed one is logged, and the other replicas' periodic look covers it).
    pub fn wake(&self) {
        self.wake_here();
        let (mut conn, channel, sender) = (self.conn.clone(), self.channel.clone(), self.sender.clone());
        tokio::spawn(async move {
            let published: redis::RedisResult<i64> =
                redis::cmd("PUBLISH").arg(&*channel).arg(&*sender).query_async(&mut conn).await;
            if let Err(error) = published {
                tracing::debug!(%error, %channel, "cannot publish a wake-up");
            }
        });
    }

    /// Wakes this process's waiters only (work this process itself left for them).
    pub fn wake_here(&self) {
        match self.wake {
            Wake::Waiting => self.local.notify_waiters(),
            Wake::One => self.local.notify_one(),
        }
    }

    /// Listens on the channel until the task is dropped, waking this process's waiters on every
    /// message another replica sent; reconnects (to each of a cluster's seeds in turn) when
    /// the connection is lost. In a cluster every node relays every channel's messages.
    pub async fn listen_forever(self, url: String) {
        let seeds: Vec<String> = nodes(&url).into_iter().map(str::to_owned).collect();
        let mut backoff = Duration::from_millis(100);
        for seed in seeds.iter().cycle() {
            match self.listen(seed).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => tracing::warn!(%error, channel = %self.channel, "wake-up listener lost; reconnecting"),
            }
            // Whatever was published while no one listened: look now.
            self.wake_here();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RECONNECT);
        }
    }

    async fn listen(&self, seed: &str) -> redis::RedisResult<()> {
        let mut pubsub = redis::Client::open(seed)?.get_async_pubsub().await?;
        pubsub.subscribe(&*self.channel).await?;
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            // This process's own wake-up woke its waiters when it was sent.
            if message.get_payload::<String>().ok().as_deref() != Some(&*self.sender) {
                self.wake_here();
            }
        }
        Ok(())
    }
}
