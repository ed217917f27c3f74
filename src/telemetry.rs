//! Structured logs through `tracing`; pingora's `log` records are bridged into the same output.
//! Nothing here ever formats a token, password or secret: callers log ids and outcomes only.

use crate::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// pingora and sqlx dump whole request headers and SQL at debug level, `Authorization`
/// included: unless a filter names them explicitly, they stay at info/warn whatever the level.
const QUIET_DEPENDENCIES: &str = "pingora_core=info,pingora_proxy=info,pingora_pool=info,sqlx=warn";

pub fn filter_directives(level: &str) -> String {
    let verbose = level.contains("debug") || level.contains("trace");
    if !verbose || level.contains("pingora") || level.contains("sqlx") {
        level.to_string()
    } else {
        format!("{level},{QUIET_DEPENDENCIES}")
    }
}

pub fn init(config: &LogConfig) {
    // RUST_LOG, when set, overrides the file's level (handy for a one-off debug session).
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.level.clone());
    let filter =
        EnvFilter::try_new(filter_directives(&level)).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file or journald they are noise that
    // breaks grep and log parsers (https://no-color.org is honoured too).
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging was already initialised: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::filter_directives;

    #[test]
    fn dependencies_stay_quiet_only_when_the_level_is_verbose() {
        assert_eq!(filter_directives("warn"), "warn");
        assert!(filter_directives("debug").contains("pingora_proxy=info"));
        assert_eq!(
            filter_directives("debug,pingora_proxy=debug"),
            "debug,pingora_proxy=debug"
        );
    }
}
