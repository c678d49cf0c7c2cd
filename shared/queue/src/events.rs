//! Event streams (Redis Streams): durable, ordered, and resumable from a cursor, so a watcher that
//! reconnects misses nothing.

use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::connection::Connection;
use crate::{Queues, Result, names};

/// One event read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Stream id; pass it back to resume after this event.
    pub cursor: String,
    /// The payload as published.
    pub payload: String,
}

/// How long the stream remembers that an event id was published (a day: far longer than any
/// publisher retry).
const PUBLISHED_MARKER_TTL_S: u64 = 86_400;

/// A tenant's named event stream.
#[derive(Clone)]
pub struct EventStream {
    queues: Queues,
    url: String,
    name: &'static str,
    max_len: usize,
    publish_once: std::sync::Arc<redis::Script>,
}

impl EventStream {
    /// The stream `name` (e.g. `escalations`), trimmed to about `max_len` events.
    pub fn new(queues: Queues, url: &str, name: &'static str, max_len: usize) -> Result<Self> {
        let publish_once = std::sync::Arc::new(redis::Script::new(include_str!("lua/publish_once.lua")));
        Ok(Self { queues, url: url.to_owned(), name, max_len, publish_once })
    }

    /// Appends an event unless an event with the same `event_id` was appended before (within a
    /// day); returns its cursor either way.
    pub async fn publish(&self, tenant: &str, event_id: &str, payload: &str) -> Result<String> {
        let mut conn = self.queues.connection();
        let marker = format!("{}published:{event_id}", names::tenant_prefix(tenant));
        let id: String = self
            .publish_once
            .key(names::stream(tenant, self.name))
            .key(marker)
            .arg(payload)
            .arg(self.max_len)
            .arg(PUBLISHED_MARKER_TTL_S)
            .invoke_async(&mut conn)
            .await?;
        Ok(id)
    }

    /// The cursor of the newest event (`0-0` when there is none): "from now".
    pub async fn latest_cursor(&self, tenant: &str) -> Result<String> {
        let mut conn = self.queues.connection();
        let reply: redis::streams::StreamRangeReply =
            conn.xrevrange_count(names::stream(tenant, self.name), "+", "-", 1).await?;
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
            reader.xread_options(&[names::stream(tenant, self.name)], &[cursor], &options).await?;
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
