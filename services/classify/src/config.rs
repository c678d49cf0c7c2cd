//! Configuration of earshot-classify: flags, each with an environment variable and a default.

use std::path::PathBuf;

use earshot_telemetry::args::{CommonArgs, DEFAULT_REDIS_URL, WeightsArgs, addresses};
use earshot_telemetry::process::Service;

/// earshot-classify: classifies customer posts.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-classify", version)]
pub struct Config {
    /// Risk weights.
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// The learned model's weights file (made by `earshotctl train`); the built-in one when unset.
    #[arg(long, env = "EARSHOT_MODEL")]
    pub model: Option<PathBuf>,
    /// Folder of extra cue files (`<lang>.tsv`) added to the built-in ones.
    #[arg(long, env = "EARSHOT_CUES_DIR")]
    pub cues_dir: Option<PathBuf>,
    /// What a client may send.
    #[command(flatten)]
    pub input: earshot_telemetry::args::InputArgs,
    /// The flags every service has: addresses, Redis, credentials, TLS, telemetry.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Config {
    /// Defaults for a service embedded in another process (tests, the replay): any free
    /// loopback port.
    pub fn local() -> Self {
        Self {
            weights: WeightsArgs::default(),
            model: None,
            cues_dir: None,
            input: Default::default(),
            common: CommonArgs::local(DEFAULT_REDIS_URL),
        }
    }
}

impl Service for Config {
    const NAME: &'static str = "earshot-classify";
    const DEFAULT_LISTEN: &'static str = addresses::CLASSIFY;
    const DEFAULT_ADMIN_LISTEN: &'static str = "127.0.0.1:9452";

    fn common(&self) -> &CommonArgs {
        &self.common
    }
}
