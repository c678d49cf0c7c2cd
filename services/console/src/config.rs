//! Configuration of earshot-console: flags, each with an environment variable and a default.

use std::time::Duration;

use earshot_telemetry::args::{EscalationPeer, RoutingPeer};

/// earshot-console: the web console agents, supervisors and admins sign in to.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-console", version)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long, env = "EARSHOT_CONSOLE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where routing is: cases, agents, keys.
    #[command(flatten)]
    pub routing: RoutingPeer,
    /// Where escalation is: escalations, SLA policies, webhooks.
    #[command(flatten)]
    pub escalation: EscalationPeer,
    /// Marks the session cookie `Secure`: set it when the console is reached over HTTPS (behind a
    /// TLS-terminating proxy).
    #[arg(long, env = "EARSHOT_CONSOLE_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// How long a session lasts without use, in minutes.
    #[arg(long, env = "EARSHOT_CONSOLE_SESSION_MINUTES", default_value_t = 720)]
    pub session_minutes: u64,
    /// TLS for the console's calls to the services.
    #[command(flatten)]
    pub tls: earshot_telemetry::tls::TlsArgs,
    /// Log format and trace export.
    #[command(flatten)]
    pub telemetry: earshot_telemetry::args::TelemetryArgs,
}

impl Config {
    /// A console embedded in another process (tests, `make run`) calling the given services.
    pub fn local(routing_addr: &str, escalation_addr: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            routing: RoutingPeer { addr: routing_addr.into() },
            escalation: EscalationPeer { addr: escalation_addr.into() },
            secure_cookies: false,
            session_minutes: 720,
            tls: Default::default(),
            telemetry: Default::default(),
        }
    }

    /// How long an unused session lives.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_minutes.max(1) * 60)
    }
}
