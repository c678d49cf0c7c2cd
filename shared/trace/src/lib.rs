//! W3C trace context (`traceparent`, `tracestate`) across Earshot, so that one post is one trace
//! from submission to escalation.
//!
//! Three places carry it: gRPC metadata of every call between services ([`inject`] on the
//! caller's side, [`extract`] in the server's tower stack), and the post row ingest stores, since
//! the pipeline classifies and routes a post after its submission call has returned
//! ([`current_traceparent`], [`context_of`]). All of it is a no-op unless a trace exporter is
//! installed (`earshot_telemetry::init` with an OTLP endpoint): without one, spans carry no
//! OpenTelemetry context and nothing is written.
//!
//! The crate also holds the meter instruments are made from ([`instruments`]).

pub mod instruments;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header naming the parent span.
pub const TRACEPARENT: &str = "traceparent";

/// Writes the current span's context into outgoing gRPC metadata.
pub fn inject(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
    }
}

/// The remote parent named by incoming HTTP/2 headers (an empty context when there is none).
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The current span's context as a `traceparent` value, to store with work done later; `None`
/// when nothing is traced.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Traceparent(None);
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.0
}

/// The context a stored `traceparent` names (an empty context when it is malformed).
pub fn context_of(traceparent: &str) -> Context {
    TraceContextPropagator::new().extract(&Traceparent(Some(traceparent.to_owned())))
}

/// Makes the work of `span` continue the traces of `traceparents`: the first becomes its parent,
/// the others are linked (a batch serves many posts, each with its own trace). Call it before the
/// span is first entered.
pub fn continue_traces<'a>(span: &tracing::Span, traceparents: impl IntoIterator<Item = &'a str>) {
    /// Links per span: enough to find the posts of a batch, bounded for the exporter.
    const MAX_LINKS: usize = 128;
    let mut traceparents = traceparents.into_iter();
    let Some(first) = traceparents.next() else {
        return;
    };
    // An error only means no exporter is installed: there is nothing to continue.
    let _ = span.set_parent(context_of(first));
    for traceparent in traceparents.take(MAX_LINKS) {
        span.add_link(context_of(traceparent).span().span_context().clone());
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A carrier holding only `traceparent`: what is stored with a post.
struct Traceparent(Option<String>);

impl Injector for Traceparent {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

impl Extractor for Traceparent {
    fn get(&self, key: &str) -> Option<&str> {
        if key == TRACEPARENT { self.0.as_deref() } else { None }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_traceparent_names_its_trace_and_span() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = context_of(traceparent);
        let span = context.span();
        let span_context = span.span_context();
        assert_eq!(span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span_context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(span_context.is_remote());
    }

    #[test]
    fn garbage_is_no_parent() {
        for bad in ["", "00-zz-00f067aa0ba902b7-01", "not a traceparent"] {
            assert!(!context_of(bad).span().span_context().is_valid(), "{bad}");
        }
    }

    #[test]
    fn headers_carry_the_parent() {
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        let context = extract(&headers);
        assert_eq!(context.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn nothing_is_traced_without_an_exporter() {
        let mut metadata = MetadataMap::new();
        inject(&mut metadata);
        assert!(metadata.is_empty());
        assert_eq!(current_traceparent(), None);
    }
}
