//! Event streams (Redis Streams): durable, ordered, and resumable from a cursor, so a watcher that
//! reconnects misses nothing.

use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::connection::Connection;
use crate::{Queues, Result, keys};

/// One event read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Stream id; pass it back to resume after this event.
    pub cursor: String,
    /// The payload as published.
    pub payload: String,
}

/// A tenant's named event stream.
#[derive(Clone)]
pub struct EventStream {
    queues: Queues,
    url: String,
    name: &'static str,
    max_len: usize,
}

impl EventStream {
    /// The stream `name` (e.g. `escalations`), trimmed to about `max_len` events.
    pub fn new(queues: Queues, url: &str, name: &'static str, max_len: usize) -> Result<Self> {
        Ok(Self { queues, url: url.to_owned(), name, max_len })
    }

    /// Appends an event; returns its cursor.
    pub async fn publish(&self, tenant: &str, payload: &str) -> Result<String> {
        let mut conn = self.queues.connection();
        let options = redis::streams::StreamAddOptions::default()
            .trim(redis::streams::StreamTrimStrategy::maxlen(redis::streams::StreamTrimmingMode::Approx, self.max_len));
        let id: String =
            conn.xadd_options(keys::stream(tenant, self.name), "*", &[("payload", payload)], &options).await?;
        Ok(id)
    }

    /// The cursor of the newest event (`0-0` when there is none): "from now".
    pub async fn latest_cursor(&self, tenant: &str) -> Result<String> {
        let mut conn = self.queues.connection();
        let reply: redis::streams::StreamRangeReply =
            conn.xrevrange_count(keys::stream(tenant, self.name), "+", "-", 1).await?;
        Ok(reply.ids.first().map(|entry| entry.id.clone()).unwrap_or_else(|| "0-0".to_owned()))
    }

    /// A dedicated connection for blocking reads (a blocking read must not stall shared traffic).
    pub async fn reader(&self) -> Result<Connection> {
        Ok(Connection::blocking(&self.url).await?)
    }

    /// Events after `cursor`, waiting up to `block_ms` for the first one.
    pub async fn read_after(
        &self,
        reader: &mut Connection,
        tenant: &str,
        cursor: &str,
        block_ms: usize,
    ) -> Result<Vec<StreamEvent>> {
        let options = StreamReadOptions::default().block(block_ms).count(100);
        let reply: Option<StreamReadReply> =
            reader.xread_options(&[keys::stream(tenant, self.name)], &[cursor], &options).await?;
        let mut events = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let payload: String = entry.get("payload").unwrap_or_default();
                events.push(StreamEvent { cursor: entry.id, payload });
            }
        }
        Ok(events)
    }
}
