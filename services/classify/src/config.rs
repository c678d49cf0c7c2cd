//! Configuration of earshot-classify: flags, each with an environment variable and a default.

use std::path::PathBuf;

use earshot_core::{Limits, Weights};

/// earshot-classify: classifies customer posts.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "earshot-classify", version)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "EARSHOT_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: String,
    /// Risk weights (TOML, like shared/core/weights.toml); the built-in weights when unset.
    #[arg(long, env = "EARSHOT_WEIGHTS")]
    pub weights: Option<PathBuf>,
    /// Folder of extra cue files (`<lang>.tsv`) added to the built-in ones.
    #[arg(long, env = "EARSHOT_CUES_DIR")]
    pub cues_dir: Option<PathBuf>,
    /// Longest post text, in characters.
    #[arg(long, env = "EARSHOT_MAX_TEXT_CHARS", default_value_t = 10_000)]
    pub max_text_chars: usize,
    /// Most posts in one ClassifyBatch.
    #[arg(long, env = "EARSHOT_MAX_BATCH", default_value_t = 1_000)]
    pub max_batch: usize,
    /// Largest request message, in bytes.
    #[arg(long, env = "EARSHOT_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Log JSON lines instead of text.
    #[arg(long, env = "EARSHOT_LOG_JSON")]
    pub log_json: bool,
}

impl Config {
    /// Defaults, listening on any free loopback port.
    pub fn for_test() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            weights: None,
            cues_dir: None,
            max_text_chars: 10_000,
            max_batch: 1_000,
            max_message_bytes: 16 * 1024 * 1024,
            log_json: false,
        }
    }

    /// Input limits.
    pub fn limits(&self) -> Limits {
        Limits { max_text_chars: self.max_text_chars, max_batch: self.max_batch }
    }

    /// The configured weights.
    pub fn weights(&self) -> Result<Weights, earshot_core::scoring::WeightsError> {
        Weights::load(self.weights.as_deref())
    }
}
