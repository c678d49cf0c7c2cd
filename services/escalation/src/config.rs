//! Configuration of earshot-escalation: flags, each with an environment variable and a default.

use std::time::Duration;

use crate::policy::Builtin;
use earshot_telemetry::args::{CommonArgs, addresses};
use earshot_telemetry::process::Service;

/// earshot-escalation: SLA timers and escalations.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-escalation", version)]
pub struct Config {
    /// Database for escalations and SLA timers.
    #[arg(long, env = "DATABASE_URL", default_value_t = earshot_store::default_url("escalation"))]
    pub database_url: String,
    /// First-response target for priority ≥ 80, in minutes.
    #[arg(long, env = "EARSHOT_SLA_HIGH_MIN", default_value_t = 15)]
    pub sla_high_min: i64,
    /// First-response target for priority 50–79, in minutes.
    #[arg(long, env = "EARSHOT_SLA_MEDIUM_MIN", default_value_t = 60)]
    pub sla_medium_min: i64,
    /// First-response target for priority < 50, in minutes.
    #[arg(long, env = "EARSHOT_SLA_LOW_MIN", default_value_t = 240)]
    pub sla_low_min: i64,
    /// The contact of one customer, with the case still open, that escalates.
    #[arg(long, env = "EARSHOT_REPEAT_CONTACT_ESCALATES", default_value_t = 3)]
    pub repeat_contact_escalates: u32,
    /// How often due SLA timers are checked, in milliseconds.
    #[arg(long, env = "EARSHOT_TICK_MS", default_value_t = 1_000)]
    pub tick_ms: u64,
    /// Internal addresses and CIDR ranges webhooks may target anyway (comma-separated, e.g.
    /// `10.0.0.0/8,127.0.0.1` for an on-premise receiver); otherwise only public addresses.
    #[arg(long, env = "EARSHOT_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,
    /// Bounds on open `WatchEscalations` streams.
    #[command(flatten)]
    pub watches: earshot_auth::WatchArgs,
    /// The flags every service has: addresses, Redis, credentials, TLS, telemetry.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Config {
    /// Defaults for a service embedded in another process (tests, the replay): any free
    /// loopback port, the given Redis and database.
    pub fn local(redis_url: &str, database_url: &str) -> Self {
        Self {
            database_url: database_url.into(),
            sla_high_min: 15,
            sla_medium_min: 60,
            sla_low_min: 240,
            repeat_contact_escalates: 3,
            tick_ms: 100,
            webhook_allow: String::new(),
            watches: Default::default(),
            common: CommonArgs::local(redis_url),
        }
    }

    /// The built-in SLA policy these flags describe (tenants may set their own).
    pub fn builtin(&self) -> Builtin {
        Builtin {
            high_ms: self.sla_high_min * 60_000,
            medium_ms: self.sla_medium_min * 60_000,
            low_ms: self.sla_low_min * 60_000,
            repeat_contacts: self.repeat_contact_escalates,
        }
    }

    /// The timer check period.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(10))
    }
}

impl Service for Config {
    const NAME: &'static str = "earshot-escalation";
    const DEFAULT_LISTEN: &'static str = addresses::ESCALATION;
    const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9454";

    fn common(&self) -> &CommonArgs {
        &self.common
    }
}
