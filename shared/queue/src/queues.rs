//! Queues, offers and agents' load, each change one Lua script.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use redis::AsyncCommands;

use crate::connection::Connection;
use crate::{Error, Result, names};

/// A case as the queue sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEntry {
    /// Case id.
    pub case_id: String,
    /// Queue (skill).
    pub queue: String,
    /// Priority 0–100.
    pub priority: u32,
    /// Place in line: when the case was first queued.
    pub enqueued_at_ms: i64,
    /// Effective key ([`crate::effective_score`]).
    pub score: i64,
    /// Language of the latest post; agents must speak it.
    pub language: String,
}

/// An agent as `next_case` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    /// Agent id.
    pub agent_id: String,
    /// `available`, `away` or `offline`.
    pub presence: String,
    /// Maximum concurrent cases.
    pub capacity: u32,
    /// Queues the agent works.
    pub skills: Vec<String>,
    /// Languages the agent speaks; empty means any.
    pub languages: Vec<String>,
}

/// What `next_case` found for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextCase {
    /// A case is offered until `lease_until_ms`.
    Offered {
        /// The case.
        case_id: String,
        /// Lease end.
        lease_until_ms: i64,
    },
    /// The agent is not `available`.
    Unavailable,
    /// The agent holds as many cases as its capacity.
    AtCapacity,
    /// Nothing eligible is waiting.
    Empty,
}

/// What an agent does with a case it was offered or holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle<'a> {
    /// Takes the offer.
    Accept,
    /// Declines it: back in its place, never re-offered to this agent.
    Reject,
    /// Moves it to another queue, keeping its place.
    Transfer(&'a str),
}

/// What came of giving a case to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assign {
    /// The agent holds it.
    Assigned,
    /// Redis does not know the case (resolved, or lost and not yet restored).
    Unknown,
    /// The agent is not `available`.
    Unavailable,
    /// The agent holds as many cases as its capacity.
    AtCapacity,
}

struct Scripts {
    assign: redis::Script,
    upsert: redis::Script,
    next_case: redis::Script,
    settle: redis::Script,
    expire_leases: redis::Script,
    restore: redis::Script,
    expire_sticky: redis::Script,
}

/// Handle to the live queues; cheap to clone.
#[derive(Clone)]
pub struct Queues {
    conn: Connection,
    scripts: Arc<Scripts>,
    known_tenants: Arc<Mutex<HashSet<String>>>,
}

/// A script call whose arguments start with a case entry, as `upsert.lua` and `restore.lua` take
/// them: case_id, queue, score, priority, language, enqueued_at_ms.
fn with_entry<'a>(script: &'a redis::Script, tenant: &str, entry: &CaseEntry) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.key(names::tenant_prefix(tenant));
    invocation.arg(entry_args(entry));
    invocation
}

/// A case entry as script arguments, in the order the scripts read them.
fn entry_args(entry: &CaseEntry) -> impl redis::ToRedisArgs + '_ {
    (&entry.case_id, &entry.queue, entry.score, entry.priority, &entry.language, entry.enqueued_at_ms)
}

/// An agent's hash fields, as `next_case.lua` reads them.
fn agent_fields(agent: &AgentState) -> [(&'static str, String); 4] {
    let skills = serde_json::to_string(&agent.skills).unwrap_or_else(|_| "[]".to_owned());
    let languages = serde_json::to_string(&agent.languages).unwrap_or_else(|_| "[]".to_owned());
    [
        ("presence", agent.presence.clone()),
        ("capacity", agent.capacity.to_string()),
        ("skills", skills),
        ("languages", languages),
    ]
}

/// How many entries of a queue `next_case` reads at a time, from its head.
const SCAN_PAGE: u32 = 50;
/// The most entries of one queue `next_case` looks at for a case the agent can take (cases it
/// rejected, or in languages it does not speak, are passed over): what bounds the script's time
/// whatever the queue's length.
pub const MAX_SCAN: u32 = 2_000;

/// The settle script's answer: whether it applied (`ok`) or the case was not held (`not_held`).
fn settled(reply: String) -> Result<bool> {
    match reply.as_str() {
        "ok" => Ok(true),
        "not_held" => Ok(false),
        _ => Err(Error::Protocol { script: "settle", reply }),
    }
}

impl Queues {
    /// Connects (and keeps reconnecting) to Redis at `url`: one server, or a cluster given as
    /// comma-separated seed nodes.
    pub async fn connect(url: &str) -> Result<Self> {
        let conn = Connection::open(url).await?;
        Ok(Self {
            conn,
            scripts: Arc::new(Scripts {
                assign: redis::Script::new(include_str!("lua/assign.lua")),
                upsert: redis::Script::new(include_str!("lua/upsert.lua")),
                next_case: redis::Script::new(include_str!("lua/next_case.lua")),
                settle: redis::Script::new(include_str!("lua/settle.lua")),
                expire_leases: redis::Script::new(include_str!("lua/expire_leases.lua")),
                restore: redis::Script::new(include_str!("lua/restore.lua")),
                expire_sticky: redis::Script::new(include_str!("lua/expire_sticky.lua")),
            }),
            known_tenants: Arc::default(),
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    async fn remember_tenant(&self, tenant: &str) -> Result<()> {
        let known = self.known_tenants.lock().map(|set| set.contains(tenant)).unwrap_or(false);
        if !known {
            let mut conn = self.conn.clone();
            let _: i64 = conn.sadd(names::TENANTS, tenant).await?;
            if let Ok(mut set) = self.known_tenants.lock() {
                set.insert(tenant.to_owned());
            }
        }
        Ok(())
    }

    /// Marks that the live state is (about to be) restored from the record. Mark first, restore
    /// after: if Redis loses its data in between, the mark is gone too and the next check restores
    /// again.
    pub async fn mark_restored(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(names::RESTORED, 1).await?;
        Ok(())
    }

    /// Takes the mark back after a restore failed, so the next check restores again.
    pub async fn unmark_restored(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.del(names::RESTORED).await?;
        Ok(())
    }

    /// Whether Redis still holds the restored live state. When it does not, this process also
    /// forgets which tenants it had registered, so they are registered again.
    pub async fn still_restored(&self) -> Result<bool> {
        let mut conn = self.conn.clone();
        let present: bool = conn.exists(names::RESTORED).await?;
        if !present && let Ok(mut known) = self.known_tenants.lock() {
            known.clear();
        }
        Ok(present)
    }

    /// Tenants that have used the queues (for sweepers).
    pub async fn tenants(&self) -> Result<Vec<String>> {
        let mut conn = self.conn.clone();
        Ok(conn.smembers(names::TENANTS).await?)
    }

    /// Queues a case, or re-scores it in place; returns its state (`queued`, or `offered` /
    /// `assigned` when an agent has it, in which case it stays with that agent).
    pub async fn upsert(&self, tenant: &str, entry: &CaseEntry) -> Result<String> {
        self.remember_tenant(tenant).await?;
        let mut conn = self.conn.clone();
        Ok(with_entry(&self.scripts.upsert, tenant, entry).invoke_async(&mut conn).await?)
    }

    /// [`Queues::upsert`] of many cases in one round trip (a pipeline); the states in order.
    pub async fn upsert_all(&self, tenant: &str, entries: &[CaseEntry]) -> Result<Vec<String>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.remember_tenant(tenant).await?;
        let script = &self.scripts.upsert;
        let mut pipe = redis::pipe();
        for entry in entries {
            pipe.cmd("EVALSHA").arg(script.get_hash()).arg(1).arg(names::tenant_prefix(tenant)).arg(entry_args(entry));
        }
        let mut conn = self.conn.clone();
        match pipe.query_async(&mut conn).await {
            // Redis lost its script cache (a restart): load it and run the batch again, which
            // changes nothing for the entries already applied (same score, same place).
            Err(error) if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                script.prepare_invoke().load_async(&mut conn).await?;
                Ok(pipe.query_async(&mut conn).await?)
            }
            replies => Ok(replies?),
        }
    }

    /// Puts back a case Redis does not know (after a Redis restart): queued, or held by `agent`
    /// when `agent` is given. Returns whether it was missing.
    pub async fn restore(&self, tenant: &str, entry: &CaseEntry, agent: Option<&str>) -> Result<bool> {
        self.remember_tenant(tenant).await?;
        let mut conn = self.conn.clone();
        let reply: String = with_entry(&self.scripts.restore, tenant, entry)
            .arg(if agent.is_some() { "assigned" } else { "queued" })
            .arg(agent.unwrap_or_default())
            .invoke_async(&mut conn)
            .await?;
        Ok(reply == "restored")
    }

    /// Registers or updates an agent; takes effect for the next `next_case`.
    pub async fn set_agent(&self, tenant: &str, agent: &AgentState) -> Result<()> {
        self.remember_tenant(tenant).await?;
        let mut conn = self.conn.clone();
        let _: () = conn.hset_multiple(names::agent(tenant, &agent.agent_id), &agent_fields(agent)).await?;
        Ok(())
    }

    /// Puts back what Redis lost of an agent (after a Redis restart): each field only where Redis
    /// has none, atomically, so a replica restoring from the record never overwrites a change a
    /// running replica made meanwhile (Redis is the fresher of the two).
    pub async fn restore_agent(&self, tenant: &str, agent: &AgentState) -> Result<()> {
        self.remember_tenant(tenant).await?;
        let key = names::agent(tenant, &agent.agent_id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (field, value) in agent_fields(agent) {
            pipe.hset_nx(&key, field, value).ignore();
        }
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Offers the agent the best eligible case under a lease of `lease_ms`.
    pub async fn next_case(&self, tenant: &str, agent_id: &str, now_ms: i64, lease_ms: i64) -> Result<NextCase> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .next_case
            .key(names::tenant_prefix(tenant))
            .arg(agent_id)
            .arg(now_ms)
            .arg(lease_ms)
            .arg(SCAN_PAGE)
            .arg(MAX_SCAN)
            .invoke_async(&mut conn)
            .await?;
        match reply.as_slice() {
            [status] if status == "unavailable" => Ok(NextCase::Unavailable),
            [status] if status == "at_capacity" => Ok(NextCase::AtCapacity),
            [status] if status == "empty" => Ok(NextCase::Empty),
            [case_id, until] => match until.parse() {
                Ok(lease_until_ms) => Ok(NextCase::Offered { case_id: case_id.clone(), lease_until_ms }),
                Err(_) => Err(Error::Protocol { script: "next_case", reply: format!("{reply:?}") }),
            },
            _ => Err(Error::Protocol { script: "next_case", reply: format!("{reply:?}") }),
        }
    }

    /// Applies an agent's action to a case; `false` when the agent was neither offered nor holds it
    /// (for a transfer by a supervisor, pass an empty agent id: a queued case moves too).
    pub async fn settle(&self, tenant: &str, agent_id: &str, case_id: &str, action: Settle<'_>) -> Result<bool> {
        let (name, queue) = match action {
            Settle::Accept => ("accept", ""),
            Settle::Reject => ("reject", ""),
            Settle::Transfer(queue) => ("transfer", queue),
        };
        let mut conn = self.conn.clone();
        let reply: String = self
            .scripts
            .settle
            .key(names::tenant_prefix(tenant))
            .arg(name)
            .arg(agent_id)
            .arg(case_id)
            .arg(queue)
            .invoke_async(&mut conn)
            .await?;
        settled(reply)
    }

    /// Forgets a case the record has resolved: out of its queue, its agent's load and every
    /// timer, whoever held it. `false` when Redis did not know it.
    pub async fn forget(&self, tenant: &str, case_id: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let reply: String = self
            .scripts
            .settle
            .key(names::tenant_prefix(tenant))
            .arg("forget")
            .arg("")
            .arg(case_id)
            .arg("")
            .invoke_async(&mut conn)
            .await?;
        settled(reply)
    }

    /// Gives a case to an agent directly (a supervisor's decision), wherever it was; it keeps its
    /// queue and score.
    pub async fn assign(&self, tenant: &str, case_id: &str, agent_id: &str) -> Result<Assign> {
        let mut conn = self.conn.clone();
        let reply: String = self
            .scripts
            .assign
            .key(names::tenant_prefix(tenant))
            .arg(case_id)
            .arg(agent_id)
            .invoke_async(&mut conn)
            .await?;
        match reply.as_str() {
            "ok" => Ok(Assign::Assigned),
            "unknown" => Ok(Assign::Unknown),
            "unavailable" => Ok(Assign::Unavailable),
            "at_capacity" => Ok(Assign::AtCapacity),
            _ => Err(Error::Protocol { script: "assign", reply }),
        }
    }

    /// Returns expired offers to their queues at their original place and marks their agents
    /// away; answers the `(case_id, agent_id)` pairs it reclaimed.
    pub async fn expire_leases(&self, tenant: &str, now_ms: i64, limit: u32) -> Result<Vec<(String, String)>> {
        self.moved_pairs(&self.scripts.expire_leases, tenant, now_ms, limit).await
    }

    /// A follow-up arrived for a case an agent holds: unless the agent answers (see
    /// [`Queues::answered`]) by `until_ms`, [`Queues::expire_sticky`] returns it to its queue.
    pub async fn await_answer(&self, tenant: &str, case_id: &str, until_ms: i64) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.zadd(names::sticky(tenant), case_id, until_ms).await?;
        Ok(())
    }

    /// The agent answered the customer: the case stays with it.
    pub async fn answered(&self, tenant: &str, case_id: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.zrem(names::sticky(tenant), case_id).await?;
        Ok(())
    }

    /// Returns held cases whose follow-up went unanswered past its deadline to their queues, in
    /// their original place; answers the `(case_id, agent_id)` pairs it moved.
    pub async fn expire_sticky(&self, tenant: &str, now_ms: i64, limit: u32) -> Result<Vec<(String, String)>> {
        self.moved_pairs(&self.scripts.expire_sticky, tenant, now_ms, limit).await
    }

    /// Runs a sweeping script (`KEYS[1]` prefix; `ARGV` now, limit) that answers a flat list of
    /// moved `case_id, agent_id` pairs.
    async fn moved_pairs(
        &self,
        script: &redis::Script,
        tenant: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> =
            script.key(names::tenant_prefix(tenant)).arg(now_ms).arg(limit).invoke_async(&mut conn).await?;
        Ok(flat.chunks_exact(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect())
    }

    /// The first `limit` cases of a queue in the order agents get them, with their scores.
    pub async fn queue_head(&self, tenant: &str, queue: &str, limit: u32) -> Result<Vec<(String, i64)>> {
        let mut conn = self.conn.clone();
        let stop = isize::try_from(limit).unwrap_or(isize::MAX).saturating_sub(1);
        let entries: Vec<(String, f64)> = conn.zrange_withscores(names::queue(tenant, queue), 0, stop).await?;
        Ok(entries.into_iter().map(|(id, score)| (id, score as i64)).collect())
    }

    /// Number of cases waiting in a queue.
    pub async fn depth(&self, tenant: &str, queue: &str) -> Result<u64> {
        let mut conn = self.conn.clone();
        Ok(conn.zcard(names::queue(tenant, queue)).await?)
    }

    /// The cases waiting in each of `queues`, in one round trip.
    pub async fn depths(&self, tenant: &str, queues: &[String]) -> Result<Vec<u64>> {
        let mut pipe = redis::pipe();
        for queue in queues {
            pipe.zcard(names::queue(tenant, queue));
        }
        let mut conn = self.conn.clone();
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// Every queue that ever held a case of the tenant, sorted.
    pub async fn queue_names(&self, tenant: &str) -> Result<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut names: Vec<String> = conn.smembers(names::queues(tenant)).await?;
        names.sort();
        Ok(names)
    }

    /// Cases offered to or held by an agent.
    pub async fn agent_cases(&self, tenant: &str, agent_id: &str) -> Result<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut cases: Vec<String> = conn.smembers(format!("{}:cases", names::agent(tenant, agent_id))).await?;
        cases.sort();
        Ok(cases)
    }

    /// The connection, for modules of this crate that add their own commands.
    pub(crate) fn connection(&self) -> Connection {
        self.conn.clone()
    }
}
