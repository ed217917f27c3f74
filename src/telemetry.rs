//! Structured logs through `tracing`; pingora's `log` records are bridged into the same output.
//! Nothing here ever formats a token, password or secret: callers log ids and outcomes only.

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

pub fn init(config: &LogConfig) {
    // RUST_LOG, when set, overrides the file's level (handy for a one-off debug session).
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging was already initialised: {e}");
    }
}
