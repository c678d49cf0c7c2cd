//! Redis key names. The hash tag `{tenant}` keeps a tenant's keys on one cluster slot.

/// `es:{tenant}:` — the prefix of every key of a tenant (KEYS[1] of every script).
pub fn tenant_prefix(tenant: &str) -> String {
    format!("es:{{{tenant}}}:")
}

/// Tenants that have live queues, for sweepers.
pub const TENANTS: &str = "es:tenants";

/// Present while Redis holds the live state routing restored from its record; gone when Redis
/// lost its data (flushed, restarted empty, failed over to an empty replica).
pub const RESTORED: &str = "es:restored";

pub(crate) fn queue(tenant: &str, queue: &str) -> String {
    format!("{}q:{queue}", tenant_prefix(tenant))
}

pub(crate) fn queues(tenant: &str) -> String {
    format!("{}queues", tenant_prefix(tenant))
}

pub(crate) fn agent(tenant: &str, agent_id: &str) -> String {
    format!("{}agent:{agent_id}", tenant_prefix(tenant))
}

pub(crate) fn sticky(tenant: &str) -> String {
    format!("{}sticky", tenant_prefix(tenant))
}

pub(crate) fn stream(tenant: &str, name: &str) -> String {
    format!("{}stream:{name}", tenant_prefix(tenant))
}
