//! Traces and metrics as an operator sees them: the four services run as four processes, each
//! exporting over OTLP to a collector this test runs in-process and serving its admin port.
//! One submitted post must appear as one trace across all four, its spans in parent/child order,
//! without the post's text anywhere; and the counts of what happened must be readable both in
//! Prometheus text on each admin port and at the collector.
//!
//! The service processes are this test binary run again (`service_process`, ignored in normal
//! runs, see `earshot_e2e::process`), so each process has its own `service.name`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use earshot_e2e::post;
use earshot_e2e::process::Processes;
use earshot_proto::v1 as pb;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A span as the collector received it, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    version: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    strings: Vec<String>,
}

/// An OTLP/gRPC collector keeping every span it is sent, and the latest value of each metric
/// per service (a sum's total over its series, a histogram's count).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    metrics: Arc<Mutex<HashMap<(String, String), f64>>>,
}

impl Collector {
    /// Serves traces and metrics on a free loopback port until the guard is dropped.
    async fn start(&self) -> Result<(SocketAddr, earshot_telemetry::TaskGuard)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .add_service(MetricsServiceServer::new(self.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        let guard = earshot_telemetry::TaskGuard::spawn(async move {
            let _ = server.await;
        });
        Ok((addr, guard))
    }

    /// The latest value of `metric` that `service` exported.
    fn metric(&self, service: &str, metric: &str) -> Option<f64> {
        self.metrics.lock().unwrap().get(&(service.to_owned(), metric.to_owned())).copied()
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        for resource_metrics in request.into_inner().resource_metrics {
            let resource = resource_metrics.resource.map(|r| r.attributes).unwrap_or_default();
            let service = attribute(&resource, "service.name");
            for metric in resource_metrics.scope_metrics.into_iter().flat_map(|scope| scope.metrics) {
                let number = |value: Option<number_data_point::Value>| match value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    None => 0.0,
                };
                let value = match metric.data {
                    Some(Data::Sum(sum)) => sum.data_points.into_iter().map(|p| number(p.value)).sum(),
                    Some(Data::Gauge(gauge)) => gauge.data_points.into_iter().map(|p| number(p.value)).sum(),
                    Some(Data::Histogram(histogram)) => histogram.data_points.iter().map(|p| p.count as f64).sum(),
                    _ => continue,
                };
                self.metrics.lock().unwrap().insert((service.clone(), metric.name), value);
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

fn string_values(attributes: &[KeyValue]) -> Vec<String> {
    fn strings(value: &AnyValue, out: &mut Vec<String>) {
        match &value.value {
            Some(any_value::Value::StringValue(s)) => out.push(s.clone()),
            Some(any_value::Value::ArrayValue(array)) => array.values.iter().for_each(|v| strings(v, out)),
            Some(any_value::Value::KvlistValue(list)) => {
                list.values.iter().filter_map(|kv| kv.value.as_ref()).for_each(|v| strings(v, out))
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    attributes.iter().filter_map(|kv| kv.value.as_ref()).for_each(|v| strings(v, &mut out));
    out
}

fn attribute(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| string_values(std::slice::from_ref(kv)).concat())
        .unwrap_or_default()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let mut strings = string_values(&span.attributes);
                strings.push(span.name.clone());
                for event in &span.events {
                    strings.push(event.name.clone());
                    strings.extend(string_values(&event.attributes));
                }
                received.push(Received {
                    service: attribute(&resource, "service.name"),
                    version: attribute(&resource, "service.version"),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    strings,
                });
            }
        }
        self.spans.lock().unwrap().extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The four services as processes, each exporting to a collector.
struct Stack(Processes);

impl Stack {
    async fn start(collector: SocketAddr) -> Result<Self> {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        Ok(Self(Processes::start(earshot_testkit::TestRedis::single().await?, &env).await?))
    }

    /// Waits until `post_id` is routed.
    async fn routed(&self, post_id: &str) -> Result<()> {
        let client = self.0.ingest_client()?;
        earshot_testkit::wait_until(Duration::from_secs(30), || {
            let mut client = client.clone();
            let post_id = post_id.to_owned();
            async move {
                client.get_post(pb::GetPostRequest { post_id }).await.is_ok_and(|r| r.get_ref().state == "routed")
            }
        })
        .await
        .with_context(|| format!("post {post_id} was not routed{}", self.0.log_tails()))
    }
}

impl std::ops::Deref for Stack {
    type Target = Processes;

    fn deref(&self) -> &Processes {
        &self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_is_one_trace_across_all_four_services() -> Result<()> {
    earshot_telemetry::init_test_logging();
    let collector = Collector::default();
    let (collector_addr, _collector) = collector.start().await?;
    let stack = Stack::start(collector_addr).await?;

    // The caller (a contact-center platform) is in a trace of its own and says so.
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let text = "Third time asking: my order 5521 never arrived, write me at jo@example.com or +1 415 555 0100";
    let mut client = stack.ingest_client()?;
    let mut request = tonic::Request::new(pb::SubmitPostRequest { post: Some(post("t-1", "jo", 12_000, text)) });
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{caller_span}-01").parse()?);
    let accepted = client.submit_post(request).await?.into_inner();
    stack.routed(&accepted.post_id).await?;

    // Parent of each span (by name), and the service that must have sent it.
    let expected = [
        ("earshot.v1.IngestService/SubmitPost", "earshot-ingest", None),
        ("ingest.accept", "earshot-ingest", Some("earshot.v1.IngestService/SubmitPost")),
        ("pipeline.classify", "earshot-ingest", Some("ingest.accept")),
        ("earshot.v1.ClassifierService/ClassifyBatch", "earshot-classify", Some("pipeline.classify")),
        ("classify.posts", "earshot-classify", Some("earshot.v1.ClassifierService/ClassifyBatch")),
        ("pipeline.route", "earshot-ingest", Some("ingest.accept")),
        ("earshot.v1.RoutingService/Route", "earshot-routing", Some("pipeline.route")),
        ("routing.route", "earshot-routing", Some("earshot.v1.RoutingService/Route")),
        ("routing.report", "earshot-routing", Some("routing.route")),
        ("earshot.v1.EscalationService/RecordCaseEvents", "earshot-escalation", Some("routing.report")),
        ("escalation.record", "earshot-escalation", Some("earshot.v1.EscalationService/RecordCaseEvents")),
    ];
    let in_trace = || -> Vec<Received> {
        collector.spans.lock().unwrap().iter().filter(|span| span.trace_id == trace_id).cloned().collect()
    };
    let all_there = earshot_testkit::wait_until(Duration::from_secs(30), || {
        let spans = in_trace();
        async move { expected.iter().all(|(name, _, _)| spans.iter().any(|span| span.name == *name)) }
    })
    .await;
    let spans = in_trace();
    if all_there.is_err() {
        let names: Vec<_> = spans.iter().map(|s| format!("{} ({})", s.name, s.service)).collect();
        bail!("spans of the post's trace after 30 s: {names:?}{}", stack.log_tails());
    }

    let by_name: HashMap<&str, &Received> = spans.iter().map(|span| (span.name.as_str(), span)).collect();
    for (name, service, parent) in expected {
        let span = by_name[name];
        assert_eq!(span.service, service, "{name} comes from {service}");
        assert_eq!(span.version, env!("CARGO_PKG_VERSION"), "{name} carries the service version");
        let parent_id = match parent {
            None => caller_span.to_owned(),
            Some(parent) => by_name[parent].span_id.clone(),
        };
        assert_eq!(span.parent_span_id, parent_id, "{name} is a child of {}", parent.unwrap_or("the caller's span"));
        if name.starts_with("earshot.v1.") {
            assert_eq!(span.kind, SpanKind::Server as i32, "{name} is a server span");
        }
    }
    let services: std::collections::BTreeSet<&str> = spans.iter().map(|span| span.service.as_str()).collect();
    assert_eq!(services.len(), 4, "one trace across four services: {services:?}");

    // Nothing of the post's text, in this trace or any other.
    for span in collector.spans.lock().unwrap().iter() {
        for value in &span.strings {
            for secret in ["5521", "jo@example.com", "415 555", "never arrived"] {
                assert!(!value.contains(secret), "span {} of {} carries post text: {value}", span.name, span.service);
            }
        }
    }
    drop(stack);
    Ok(())
}

/// `GET /metrics` from an admin port: the status line and the body.
async fn scrape(admin: SocketAddr) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(admin).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: earshot\r\nConnection: close\r\n\r\n").await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "GET /metrics answered {head}");
    anyhow::ensure!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    Ok(body.to_owned())
}

/// The sum of every series of `name` (`name` alone or `name{…}`) in Prometheus text.
fn total(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_happened_is_counted_on_each_admin_port_and_at_the_collector() -> Result<()> {
    earshot_telemetry::init_test_logging();
    let collector = Collector::default();
    let (collector_addr, _collector) = collector.start().await?;
    let stack = Stack::start(collector_addr).await?;
    let mut client = stack.ingest_client()?;

    // Three customers, one post submitted twice, one post without text.
    let mut accepted = Vec::new();
    for (id, author) in [("m-1", "ana"), ("m-2", "ben"), ("m-3", "cy")] {
        let post = post(id, author, 500, "Still no refund for my cancelled order, this is ridiculous");
        accepted.push(client.submit_post(pb::SubmitPostRequest { post: Some(post) }).await?.into_inner());
    }
    let again = post("m-1", "ana", 500, "Still no refund for my cancelled order, this is ridiculous");
    assert!(client.submit_post(pb::SubmitPostRequest { post: Some(again) }).await?.into_inner().duplicate);
    let empty = client.submit_post(pb::SubmitPostRequest { post: Some(post("m-4", "dee", 1, "")) }).await;
    assert_eq!(empty.map(|_| ()).unwrap_err().code(), tonic::Code::InvalidArgument);
    for ack in &accepted {
        stack.routed(&ack.post_id).await?;
    }

    // Each admin port, as Prometheus reads it. Queue depths are sampled each sweep, the
    // backlog each pipeline pass: wait for both to show the routed posts.
    let settled = earshot_testkit::wait_until(Duration::from_secs(20), || async {
        let ingest = scrape(stack.ingest.admin).await.unwrap_or_default();
        let routing = scrape(stack.routing.admin).await.unwrap_or_default();
        total(&ingest, "earshot_pipeline_backlog") == Some(0.0) && total(&routing, "earshot_queue_depth") == Some(3.0)
    })
    .await;
    let ingest = scrape(stack.ingest.admin).await?;
    let routing = scrape(stack.routing.admin).await?;
    let classify = scrape(stack.classify.admin).await?;
    let escalation = scrape(stack.escalation.admin).await?;
    settled.with_context(|| format!("backlog and depths did not settle:\n{ingest}\n{routing}"))?;
    assert_eq!(total(&ingest, "earshot_posts_accepted_total"), Some(3.0), "{ingest}");
    assert_eq!(total(&ingest, "earshot_posts_duplicate_total"), Some(1.0), "{ingest}");
    assert!(ingest.lines().any(|line| line == "earshot_posts_rejected_total{reason=\"invalid\"} 1"), "{ingest}");
    assert_eq!(total(&ingest, "earshot_post_time_to_offer_seconds_count"), Some(3.0), "{ingest}");
    assert!(ingest.contains("earshot_post_time_to_offer_seconds_bucket{le=\"+Inf\"} 3"), "{ingest}");
    assert_eq!(total(&classify, "earshot_classify_duration_seconds_count"), Some(3.0), "{classify}");
    assert!(total(&routing, "earshot_redis_round_trips_total").is_some_and(|n| n > 0.0), "{routing}");
    assert!(routing.contains("tenant=\"default\""), "queue depth by tenant and queue: {routing}");
    let recorded = "earshot_rpc_server_duration_seconds_count{code=\"Ok\",method=\"earshot.v1.EscalationService/RecordCaseEvents\"}";
    assert!(total(&escalation, recorded).is_some_and(|n| n >= 1.0), "every service times its calls: {escalation}");
    let refused = "earshot_rpc_server_duration_seconds_count{code=\"InvalidArgument\",method=\"earshot.v1.IngestService/SubmitPost\"} 1";
    assert!(ingest.lines().any(|line| line == refused), "{ingest}");
    let mut admin = tokio::net::TcpStream::connect(stack.ingest.admin).await?;
    admin.write_all(b"GET /elsewhere HTTP/1.1\r\nHost: earshot\r\nConnection: close\r\n\r\n").await?;
    let mut answer = String::new();
    admin.read_to_string(&mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    // The same instruments at the collector, each from its own service.
    let expected = [
        ("earshot-ingest", "earshot.posts.accepted", 3.0),
        ("earshot-ingest", "earshot.posts.duplicate", 1.0),
        ("earshot-ingest", "earshot.post.time_to_offer", 3.0),
        ("earshot-classify", "earshot.classify.duration", 3.0),
        ("earshot-routing", "earshot.queue.depth", 3.0),
    ];
    let exported = earshot_testkit::wait_until(Duration::from_secs(20), || async {
        expected.iter().all(|(service, metric, value)| collector.metric(service, metric) == Some(*value))
    })
    .await;
    let seen = collector.metrics.lock().unwrap().clone();
    exported.with_context(|| format!("the collector has {seen:?}"))?;
    assert!(collector.metric("earshot-routing", "earshot.redis.round_trips").is_some_and(|n| n > 0.0));
    Ok(())
}

/// One service of the tests above, in a process of its own.
#[test]
#[ignore = "a service process: started by the tests above"]
fn service_process() -> Result<()> {
    earshot_e2e::process::serve_from_env()
}
