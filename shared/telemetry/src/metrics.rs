//! Metrics: OpenTelemetry instruments, read two ways. Every process keeps OpenTelemetry's
//! Prometheus exporter, whose registry the admin port renders as Prometheus text on each scrape
//! (see [`crate::admin`]); when an OTLP endpoint is configured, a periodic reader also pushes the
//! same instruments to the collector (every 60 s, or `OTEL_METRIC_EXPORT_INTERVAL` milliseconds).
//!
//! The provider is installed as the global one, so a service takes its meter with
//! [`meter`] wherever it measures (the helpers live in `earshot_trace::instruments`, below the
//! Redis layer that counts its round trips), and code that runs without [`crate::init`] (unit
//! tests, tools) records into a no-op meter at no cost.

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::Encoder as _;

pub use earshot_trace::instruments::{SECONDS_BUCKETS, meter, seconds_histogram};

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = prometheus::TEXT_FORMAT;

/// The pull side of the meter provider: what `/metrics` reads on each scrape. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Scrape {
    registry: prometheus::Registry,
}

impl Scrape {
    /// A registry, and the reader feeding it to give the provider. Names follow Prometheus's
    /// conventions (dots become underscores, a unit of seconds adds `_seconds`, a counter
    /// `_total`); no `otel_scope_*` labels, since every instrument has the one scope.
    fn new() -> Result<(Self, opentelemetry_prometheus::PrometheusExporter), MetricsError> {
        let registry = prometheus::Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()
            .map_err(|error| MetricsError::Collect(error.to_string()))?;
        Ok((Self { registry }, reader))
    }

    /// Collects every instrument now and renders it in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .map_err(|error| MetricsError::Collect(error.to_string()))?;
        String::from_utf8(text).map_err(|error| MetricsError::Collect(error.to_string()))
    }
}

/// Why metrics could not be read or exported.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The OTLP metric exporter could not be built (a malformed endpoint, usually).
    #[error("OTLP metric exporter for {endpoint}: {source}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the exporter said.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The instruments could not be read or rendered.
    #[error("collecting metrics: {0}")]
    Collect(String),
}

/// The process's meter provider and its scrape handle.
pub struct Metrics {
    provider: SdkMeterProvider,
    scrape: Scrape,
}

impl Metrics {
    /// A provider tagged with `resource`, always readable by scrape, and pushing to `otlp`
    /// when given. Not yet global: see [`Metrics::install`].
    pub fn new(resource: Resource, otlp: Option<&str>) -> Result<Self, MetricsError> {
        let (scrape, reader) = Scrape::new()?;
        let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(reader);
        if let Some(endpoint) = otlp {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|source| MetricsError::Exporter { endpoint: endpoint.to_owned(), source })?;
            builder = builder.with_periodic_exporter(exporter);
        }
        Ok(Self { provider: builder.build(), scrape })
    }

    /// Makes this the global provider, which [`meter`] hands out from now on; returns the
    /// scrape handle.
    pub fn install(&self) -> Scrape {
        opentelemetry::global::set_meter_provider(self.provider.clone());
        self.scrape.clone()
    }

    /// The scrape handle.
    pub fn scrape(&self) -> Scrape {
        self.scrape.clone()
    }

    /// Pushes what is pending to the collector and stops the readers.
    pub async fn shutdown(self) {
        // The periodic exporter blocks its caller while it flushes.
        let flushed = tokio::task::spawn_blocking(move || self.provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("flushing metrics: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::KeyValue;

    use super::*;

    fn registry() -> (SdkMeterProvider, Scrape) {
        let (scrape, reader) = Scrape::new().unwrap_or_else(|error| panic!("{error}"));
        (SdkMeterProvider::builder().with_reader(reader).build(), scrape)
    }

    #[test]
    fn counters_gauges_and_histograms_render_as_prometheus_text() {
        use opentelemetry::metrics::MeterProvider as _;
        let (provider, scrape) = registry();
        let meter = provider.meter("test");
        let accepted = meter.u64_counter("earshot.posts.accepted").with_description("Posts stored").build();
        accepted.add(3, &[KeyValue::new("tenant", "acme \"north\"")]);
        meter.i64_gauge("earshot.queue.depth").build().record(7, &[KeyValue::new("queue", "billing")]);
        let latency = meter.f64_histogram("earshot.classify.duration").with_unit("s").with_boundaries(vec![0.01, 0.1]);
        let latency = latency.build();
        for seconds in [0.0078125, 0.0625, 0.5] {
            latency.record(seconds, &[]);
        }
        let text = scrape.render().unwrap_or_default();
        for line in [
            "# HELP earshot_posts_accepted_total Posts stored",
            "# TYPE earshot_posts_accepted_total counter",
            "earshot_posts_accepted_total{tenant=\"acme \\\"north\\\"\"} 3",
            "# TYPE earshot_queue_depth gauge",
            "earshot_queue_depth{queue=\"billing\"} 7",
            "# TYPE earshot_classify_duration_seconds histogram",
            "earshot_classify_duration_seconds_bucket{le=\"0.01\"} 1",
            "earshot_classify_duration_seconds_bucket{le=\"0.1\"} 2",
            "earshot_classify_duration_seconds_bucket{le=\"+Inf\"} 3",
            "earshot_classify_duration_seconds_sum 0.5703125",
            "earshot_classify_duration_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_shut_down_provider_renders_nothing_rather_than_panic() {
        use opentelemetry::metrics::MeterProvider as _;
        let (provider, scrape) = registry();
        provider.meter("test").u64_counter("earshot.posts.accepted").build().add(1, &[]);
        assert!(scrape.render().is_ok_and(|text| text.contains("earshot_posts_accepted_total 1")));
        let _ = provider.shutdown();
        assert!(scrape.render().is_ok_and(|text| !text.contains("earshot")));
    }
}
