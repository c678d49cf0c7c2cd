//! Leases: which replica does a piece of work that only one may do at a time (deliver an outbox,
//! publish a stream, work a tenant's backlog). A lease is a Redis key naming its holder, with a
//! time to live Redis keeps; the holder renews it while it works, and a replica that dies lets it
//! lapse, so another takes over within one time to live. Leases share one hash tag, so a batch of
//! them is one script on one cluster slot.
//!
//! A lease makes the work single in the normal run; it is no fence. Work done under one stays
//! safe to repeat (events carry ids their receivers apply once), so a holder that stalled past
//! its lease and a successor overlapping with it cost duplicate effort, not duplicate effects.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connection::Connection;
use crate::{Queues, Result};

/// The key of lease `name`.
fn key(name: &str) -> String {
    format!("es:{{leases}}:{name}")
}

/// Who a process is to the leases: its service, host and listening address. The same after a
/// restart in place (a crashed process's successor takes its leases back at once instead of
/// waiting them out), different for every replica (another pod, or another port on one host).
pub fn holder_id(service: &str, listening: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{service}@{host}/{listening}")
}

/// `script` called on `keys`; `None` when there are none.
fn on_keys(script: &redis::Script, keys: impl IntoIterator<Item = String>) -> Option<redis::ScriptInvocation<'_>> {
    let mut keys = keys.into_iter().peekable();
    keys.peek()?;
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    Some(invocation)
}

/// This process's leases: its holder id and how long a lease lasts unless renewed.
#[derive(Clone)]
pub struct Leases {
    conn: Connection,
    holder: Arc<str>,
    ttl: Duration,
    scripts: Arc<[redis::Script; 3]>,
    /// What this process held when it last asked: what it lets go of when it stops.
    held: Arc<Mutex<BTreeSet<String>>>,
}

impl Leases {
    /// Leases held as `holder` (unique per process), lasting `ttl` unless renewed.
    pub fn new(queues: &Queues, holder: &str, ttl: Duration) -> Self {
        Self {
            conn: queues.connection(),
            holder: holder.into(),
            ttl,
            scripts: Arc::new([
                redis::Script::new(include_str!("lua/hold_leases.lua")),
                redis::Script::new(include_str!("lua/release_leases.lua")),
                redis::Script::new(include_str!("lua/hold_share.lua")),
            ]),
            held: Arc::default(),
        }
    }

    /// Notes, per name, whether this process holds it now.
    fn note<'a>(&self, names: impl IntoIterator<Item = &'a str>, held: &[bool]) {
        let mut holding = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, &held) in names.into_iter().zip(held) {
            if held {
                holding.insert(name.to_owned());
            } else {
                holding.remove(name);
            }
        }
    }

    /// What a clean stop does once the work done under its leases has stopped: lets go of them
    /// all (a failure is logged; the leases then lapse by themselves).
    pub async fn release_on_stop(&self) {
        match self.release_all().await {
            Ok(released) => tracing::debug!(released, holder = %self.holder, "leases let go"),
            Err(error) => tracing::warn!(%error, "cannot let go of the leases; they lapse by themselves"),
        }
    }

    /// Lets go of every lease this process holds, so the other replicas take its work over at
    /// once instead of after the time to live.
    pub async fn release_all(&self) -> Result<usize> {
        let holding: Vec<String> =
            std::mem::take(&mut *self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
                .into_iter()
                .collect();
        self.release(holding.iter().map(String::as_str)).await
    }

    /// How long a lease lasts unless renewed: renew well within it.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// [`Leases::hold`] for a loop that does single work: whether to do it this round. Redis
    /// failing is logged and counts as not holding (the loop asks again next round).
    pub async fn holds(&self, name: &str) -> bool {
        self.hold(name).await.unwrap_or_else(|error| {
            tracing::warn!(%error, lease = name, "cannot take or renew a lease; will retry");
            false
        })
    }

    /// Takes or renews lease `name`; whether this process holds it now.
    pub async fn hold(&self, name: &str) -> Result<bool> {
        Ok(self.hold_each([name]).await?.first().copied().unwrap_or(false))
    }

    /// Takes or renews each of `names` in one round trip; per name, whether this process holds it.
    pub async fn hold_each<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<bool>> {
        let names: Vec<&str> = names.into_iter().collect();
        let held = self.held(on_keys(&self.scripts[0], names.iter().map(|name| key(name)))).await?;
        self.note(names, &held);
        Ok(held)
    }

    /// Takes or renews this process's fair share of `names`, leases that the live members of
    /// `group` (the processes that asked for the group's leases within one time to live) split
    /// among themselves: at most its share rounded up, renewing those it holds first and giving up
    /// any beyond its share, so a replica that joins finds work. Per name, whether this process
    /// holds it now. Called with no names, it only says this process is a live member, so the
    /// others leave it its share when work comes.
    pub async fn hold_share(&self, group: &str, names: &[String]) -> Result<Vec<bool>> {
        let members = key(&format!("members:{group}"));
        let held = self
            .held(on_keys(&self.scripts[2], std::iter::once(members).chain(names.iter().map(|name| key(name)))))
            .await?;
        self.note(names.iter().map(String::as_str), &held);
        Ok(held)
    }

    /// Runs a holding script (`hold_leases.lua`, `hold_share.lua`) as this holder: per lease,
    /// whether it holds it now.
    async fn held(&self, invocation: Option<redis::ScriptInvocation<'_>>) -> Result<Vec<bool>> {
        let Some(mut invocation) = invocation else {
            return Ok(Vec::new());
        };
        invocation.arg(&*self.holder).arg(self.ttl_ms());
        let held: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(held.into_iter().map(|held| held == 1).collect())
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Lets go of those of `names` this process holds (on a clean stop); returns how many.
    pub async fn release<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<usize> {
        let names: Vec<&str> = names.into_iter().collect();
        self.note(names.iter().copied(), &vec![false; names.len()]);
        let Some(mut invocation) = on_keys(&self.scripts[1], names.into_iter().map(key)) else {
            return Ok(0);
        };
        invocation.arg(&*self.holder);
        let released: usize = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(released)
    }
}
