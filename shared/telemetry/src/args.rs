//! Flags shared by the services that accept posts from clients.

use earshot_core::Limits;

/// How much a client may send: text length, batch size, message size.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Longest post text, in characters.
    #[arg(long, env = "EARSHOT_MAX_TEXT_CHARS", default_value_t = 10_000)]
    pub max_text_chars: usize,
    /// Most posts in one batch request.
    #[arg(long, env = "EARSHOT_MAX_BATCH", default_value_t = 1_000)]
    pub max_batch: usize,
    /// Largest request message, in bytes.
    #[arg(long, env = "EARSHOT_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,
}

impl Default for InputArgs {
    fn default() -> Self {
        let limits = Limits::default();
        Self { max_text_chars: limits.max_text_chars, max_batch: limits.max_batch, max_message_bytes: 16 * 1024 * 1024 }
    }
}

impl InputArgs {
    /// The validation limits.
    pub fn limits(&self) -> Limits {
        Limits { max_text_chars: self.max_text_chars, max_batch: self.max_batch }
    }
}
