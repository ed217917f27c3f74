//! Structured logs through `tracing`, pingora's `log` records bridged into the same output, and
//! (with `[tracing]`) OpenTelemetry spans exported over OTLP/HTTP. Nothing here ever formats a
//! token, password or secret: callers log ids and outcomes only.
//!
//! Spans meant for OpenTelemetry use the target `SPANS`. Without `[tracing]` the filter turns
//! that target off, so their callsites are disabled once and for all: creating one costs a
//! cached load and yields `Span::none()`.

mod export;
mod json;

use crate::config::{LogConfig, LogFormat, TracingConfig};
use std::io::IsTerminal;
use tracing_subscriber::filter::{Directive, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub use export::Telemetry;
pub use json::attach_trace_id;

/// The target of every span that is exported (request, store lookup, upstream, Graph calls).
pub const SPANS: &str = "gatehouse::otel";

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

/// The filter for `level`, with the exported spans on exactly when tracing is.
fn env_filter(level: &str, tracing: bool) -> EnvFilter {
    let filter =
        EnvFilter::try_new(filter_directives(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let spans = format!("{SPANS}={}", if tracing { "info" } else { "off" });
    match spans.parse::<Directive>() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

/// Installs the process's subscriber; the returned `Telemetry` flushes pending spans at
/// shutdown. Fails only when `[tracing]` is set and its exporter cannot be built.
pub fn init(config: &LogConfig, tracing: Option<&TracingConfig>) -> Result<Telemetry, String> {
    // RUST_LOG, when set, overrides the file's level (handy for a one-off debug session).
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.level.clone());
    let filter = env_filter(&level, tracing.is_some());
    let telemetry = match tracing {
        Some(t) => Telemetry::start(t)?,
        None => Telemetry::off(),
    };
    // Only our spans reach OpenTelemetry: log events stay logs.
    let otel = telemetry.tracer().map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target(SPANS, tracing::Level::TRACE))
    });
    // Colour codes only for a person at a terminal: in a file or journald they are noise that
    // breaks grep and log parsers (https://no-color.org is honoured too).
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let base = tracing_subscriber::registry().with(filter).with(otel);
    let result = match config.format {
        LogFormat::Json => base
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(json::WithTraceId::new()),
            )
            .try_init(),
        LogFormat::Text => base
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    .with_ansi(ansi),
            )
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging was already initialised: {e}");
    }
    Ok(telemetry)
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
