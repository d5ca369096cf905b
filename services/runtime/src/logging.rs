//! `tracing` set-up: text by default, JSON on request; level from config or `RUST_LOG`.

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber. Logs go to stderr so that stdout stays free for the
/// JSON-lines commands (`wirewatch classify`, `wirewatch dedup`).
pub fn init(cfg: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never in files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests) is harmless: ignore the error.
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
