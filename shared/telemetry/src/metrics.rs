//! Metrics: OpenTelemetry instruments, read two ways. Every process keeps a pull reader whose
//! snapshot the admin port renders as Prometheus text (see [`crate::admin`]); when an OTLP
//! endpoint is configured, a periodic reader also pushes the same instruments to the collector
//! (every 60 s, or `OTEL_METRIC_EXPORT_INTERVAL` milliseconds).
//!
//! The provider is installed as the global one, so a service takes its meter with
//! [`meter`] wherever it measures (the helpers live in `earshot_trace::instruments`, below the
//! Redis layer that counts its round trips), and code that runs without [`crate::init`] (unit
//! tests, tools) records into a no-op meter at no cost.

use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};

pub use earshot_trace::instruments::{SECONDS_BUCKETS, meter, seconds_histogram};

/// The pull side of the meter provider: what `/metrics` reads on each scrape. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Scrape {
    reader: Arc<ManualReader>,
}

impl Scrape {
    fn new() -> Self {
        Self { reader: Arc::new(ManualReader::builder().with_temporality(Temporality::Cumulative).build()) }
    }

    /// Collects every instrument now and renders it in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut collected = ResourceMetrics::default();
        self.reader.collect(&mut collected).map_err(|error| MetricsError::Collect(error.to_string()))?;
        let mut text = String::new();
        for scope in collected.scope_metrics() {
            for metric in scope.metrics() {
                render_metric(&mut text, metric);
            }
        }
        Ok(text)
    }
}

/// The provider holds the reader; the scrape handle shares it.
#[derive(Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
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
    /// The provider is shut down.
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
        let scrape = Scrape::new();
        let mut builder =
            SdkMeterProvider::builder().with_resource(resource).with_reader(SharedReader(scrape.reader.clone()));
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

/// Appends one instrument, all its series, in the exposition format: dots become underscores,
/// a unit of seconds adds `_seconds`, a counter `_total`.
fn render_metric(text: &mut String, metric: &Metric) {
    let mut name = sanitize(metric.name());
    if metric.unit() == "s" && !name.ends_with("_seconds") {
        name.push_str("_seconds");
    }
    match metric.data() {
        AggregatedMetrics::U64(data) => render_data(text, &name, metric.description(), data, |v| *v as f64),
        AggregatedMetrics::I64(data) => render_data(text, &name, metric.description(), data, |v| *v as f64),
        AggregatedMetrics::F64(data) => render_data(text, &name, metric.description(), data, |v| *v),
    }
}

fn render_data<T: Copy>(text: &mut String, name: &str, help: &str, data: &MetricData<T>, value: impl Fn(&T) -> f64) {
    match data {
        MetricData::Gauge(gauge) => {
            header(text, name, help, "gauge");
            for point in gauge.data_points() {
                sample(text, name, &labels(point.attributes(), None), value(&point.value()));
            }
        }
        MetricData::Sum(sum) => {
            let (name, kind) =
                if sum.is_monotonic() { (format!("{name}_total"), "counter") } else { (name.to_owned(), "gauge") };
            header(text, &name, help, kind);
            for point in sum.data_points() {
                sample(text, &name, &labels(point.attributes(), None), value(&point.value()));
            }
        }
        MetricData::Histogram(histogram) => {
            header(text, name, help, "histogram");
            for point in histogram.data_points() {
                let mut cumulative = 0;
                let bounds: Vec<f64> = point.bounds().collect();
                for (index, count) in point.bucket_counts().enumerate() {
                    cumulative += count;
                    let le = bounds.get(index).map_or_else(|| "+Inf".to_owned(), f64::to_string);
                    let bucket_labels = labels(point.attributes(), Some(&le));
                    sample(text, &format!("{name}_bucket"), &bucket_labels, cumulative as f64);
                }
                let series = labels(point.attributes(), None);
                sample(text, &format!("{name}_sum"), &series, value(&point.sum()));
                sample(text, &format!("{name}_count"), &series, point.count() as f64);
            }
        }
        // Not configured by any view of ours.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn header(text: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', r"\\").replace('\n', r"\n");
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

fn sample(text: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(text, "{name}{labels} {value}");
}

/// `{k="v",…}` with values escaped; `le` last for histogram buckets; empty without labels.
fn labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut pairs: Vec<String> =
        attributes.map(|kv| format!("{}=\"{}\"", sanitize(kv.key.as_str()), escape(&kv.value.as_str()))).collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

/// A Prometheus metric or label name: letters, digits and underscores.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (SdkMeterProvider, Scrape) {
        let scrape = Scrape::new();
        let provider = SdkMeterProvider::builder().with_reader(SharedReader(scrape.reader.clone())).build();
        (provider, scrape)
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
    fn a_shut_down_provider_is_an_error_not_a_panic() {
        let (provider, scrape) = registry();
        let _ = provider.shutdown();
        assert!(matches!(scrape.render(), Err(MetricsError::Collect(_))));
    }
}
