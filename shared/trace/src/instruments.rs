//! The meter every Earshot instrument comes from, and the one bucket layout of its latency
//! histograms. It lives here, in the lowest crate that speaks OpenTelemetry, so the Redis layer
//! can count its round trips; `earshot_telemetry::metrics` installs the provider and re-exports
//! these.

/// Bucket bounds, in seconds, of every latency histogram: from a millisecond to a minute.
pub const SECONDS_BUCKETS: [f64; 15] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The meter of the global provider. Instruments made before a provider is installed record
/// nothing, so services make theirs after `earshot_telemetry::init`.
pub fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("earshot")
}

/// A histogram of durations in seconds with [`SECONDS_BUCKETS`].
pub fn seconds_histogram(name: &'static str, description: &'static str) -> opentelemetry::metrics::Histogram<f64> {
    meter()
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(SECONDS_BUCKETS.to_vec())
        .build()
}
