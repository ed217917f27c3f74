//! `trace_id` in JSON log lines: the request span carries its trace id as a registry
//! extension (`attach_trace_id`), and the JSON formatter puts it first in every line written
//! inside that span, where log tools look for it to link a line to its trace.

use opentelemetry::trace::TraceContextExt;
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::{LookupSpan, Registry};

/// The trace id of the span it is attached to, in W3C's lowercase hex.
struct TraceId(String);

/// Starts `span`'s OpenTelemetry span (so set its remote parent first) and records its trace id
/// for the log lines written inside it. Does nothing for a disabled span.
pub fn attach_trace_id(span: &tracing::Span) {
    if span.is_disabled() {
        return;
    }
    let cx = span.context();
    let trace_id = cx.span().span_context().trace_id();
    if trace_id == opentelemetry::trace::TraceId::INVALID {
        return;
    }
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            data.extensions_mut().replace(TraceId(trace_id.to_string()));
        }
    });
}

/// tracing-subscriber's flattened JSON lines, without span lists, and with `trace_id` first
/// when the event happens inside a traced request.
pub struct WithTraceId(Format<Json>);

impl WithTraceId {
    pub fn new() -> Self {
        WithTraceId(
            tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(true),
        )
    }
}

impl<S> FormatEvent<S, JsonFields> for WithTraceId
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let trace_id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<TraceId>().map(|t| t.0.clone()))
        });
        let Some(trace_id) = trace_id else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}"),
            None => writer.write_str(&line),
        }
    }
}
