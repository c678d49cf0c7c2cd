//! The life of a service process, the same for every Earshot binary: read the flags (each
//! service with its own default addresses), start logs, traces and metrics, open the admin port,
//! bind the listener, serve until SIGTERM or SIGINT, then flush what telemetry still holds. A
//! service's `main` is one call to [`main`]; what it serves is its library's `run`.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::args::{CommonArgs, TelemetryArgs};

/// Resolves when the process is asked to stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A gRPC service's configuration: its own flags around the [`CommonArgs`] it flattens.
pub trait Service: clap::Parser + Send + 'static {
    /// The binary's name, as logs, traces and metrics call the process.
    const NAME: &'static str;
    /// Where `--listen` points when neither the flag nor `EARSHOT_LISTEN` is set.
    const DEFAULT_LISTEN: &'static str;
    /// Where `--admin-listen` points when neither the flag nor `EARSHOT_ADMIN_LISTEN` is set.
    const DEFAULT_ADMIN_LISTEN: &'static str;

    /// The flags every service has.
    fn common(&self) -> &CommonArgs;
}

/// The service's flags, with its default addresses, as `--help` shows them.
pub fn command<S: Service>() -> clap::Command {
    S::command()
        .mut_arg("listen", |arg| arg.default_value(S::DEFAULT_LISTEN).required(false))
        .mut_arg("admin_listen", |arg| arg.default_value(S::DEFAULT_ADMIN_LISTEN).required(false))
}

/// Reads `S` from `args` (the first being the binary's name) and the environment.
pub fn try_parse_from<S: Service>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<S, clap::Error> {
    let mut command = command::<S>();
    let mut matches = command.try_get_matches_from_mut(args)?;
    S::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command))
}

/// Runs the service process: `S` from the command line and the environment (or the usage and
/// an exit on bad flags), then [`serve`] with the common flags, `run` being the service itself,
/// reading the system's clock.
pub async fn main<S, Run, Served>(run: Run) -> anyhow::Result<()>
where
    S: Service,
    Run: FnOnce(S, TcpListener, earshot_core::SharedClock, Shutdown) -> Served,
    Served: Future<Output = anyhow::Result<()>>,
{
    let config = try_parse_from::<S>(std::env::args_os()).unwrap_or_else(|error| error.exit());
    let common = config.common().clone();
    serve(S::NAME, &common.telemetry, &common.admin_listen, &common.listen, |listener, shutdown| {
        run(config, listener, std::sync::Arc::new(earshot_core::SystemClock), shutdown)
    })
    .await
}

/// Starts telemetry as process `name`, the admin port on `admin_listen` (none when empty), binds
/// `listen`, and runs `run` until it returns; it is handed the listener and the stop signal.
pub async fn serve<Run, Served>(
    name: &'static str,
    telemetry: &TelemetryArgs,
    admin_listen: &str,
    listen: &str,
    run: Run,
) -> anyhow::Result<()>
where
    Run: FnOnce(TcpListener, Shutdown) -> Served,
    Served: Future<Output = anyhow::Result<()>>,
{
    // Every binary shares the workspace's version.
    let telemetry = crate::init(telemetry, name, env!("CARGO_PKG_VERSION"))?;
    let served = async {
        let _admin = telemetry
            .serve_admin(admin_listen)
            .await
            .with_context(|| format!("binding the admin port {admin_listen}"))?;
        let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        run(listener, Box::pin(crate::shutdown_signal())).await
    }
    .await;
    telemetry.shutdown().await;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service with nothing of its own.
    #[derive(Debug, clap::Parser)]
    struct Bare {
        #[command(flatten)]
        common: CommonArgs,
    }

    impl Service for Bare {
        const NAME: &'static str = "earshot-bare";
        const DEFAULT_LISTEN: &'static str = "127.0.0.1:50099";
        const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9499";

        fn common(&self) -> &CommonArgs {
            &self.common
        }
    }

    #[test]
    fn each_service_has_its_own_default_addresses_and_flags_override_them() {
        let bare = try_parse_from::<Bare>(["earshot-bare"]).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            (bare.common.listen.as_str(), bare.common.admin_listen.as_str()),
            ("127.0.0.1:50099", "127.0.0.1:9499")
        );
        assert_eq!(bare.common.redis_url, crate::args::DEFAULT_REDIS_URL);
        let flags = ["earshot-bare", "--listen", "0.0.0.0:1", "--admin-listen", "", "--max-message-bytes", "1024"];
        let bare = try_parse_from::<Bare>(flags).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!((bare.common.listen.as_str(), bare.common.admin_listen.as_str()), ("0.0.0.0:1", ""));
        assert_eq!(bare.common.message.max_message_bytes, 1024);
        let help = command::<Bare>().render_help().to_string();
        assert!(help.contains("[default: 127.0.0.1:50099]"), "{help}");
    }

    #[test]
    fn a_bad_flag_is_an_error_not_a_panic() {
        let refused = try_parse_from::<Bare>(["earshot-bare", "--max-message-bytes", "lots"]);
        assert_eq!(refused.map(|_| ()).map_err(|error| error.kind()), Err(clap::error::ErrorKind::ValueValidation));
    }
}
