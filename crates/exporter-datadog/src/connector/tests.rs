use super::*;
use crate::stats_metric::from_metrics;
use kakehashi_config::{decode_yaml, ComponentId};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use kakehashi_pdata::ExportTraceServiceRequest;
use libdd_trace_protobuf::pb;

/// Records what the connector emits.
#[derive(Default)]
struct Capture(Mutex<Vec<Batch>>);

#[async_trait]
impl Consumer for Capture {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.0.lock().unwrap().push(batch);
        Ok(())
    }
}

fn attr(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// `n` root server spans of service `web` in env `prod`, the first `errors` of them errors,
/// ending now.
fn request(n: u8, errors: u8) -> ExportTraceServiceRequest {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![i + 1; 16],
            span_id: vec![i + 1; 8],
            name: "GET /users".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: now - 5_000_000,
            end_time_unix_nano: now,
            attributes: vec![
                attr("http.request.method", "GET"),
                attr("http.route", "/users"),
            ],
            status: (i < errors).then(|| Status {
                code: status::StatusCode::Error as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    attr("service.name", "web"),
                    attr("deployment.environment.name", "prod"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn build(yaml: &str, to: Signal, next: Arc<dyn Consumer>) -> Arc<dyn Connector> {
    let cfg: AnyConfig = Box::new(
        decode_yaml::<DatadogConnectorConfig>("connectors::datadog/connector", yaml).unwrap(),
    );
    let ctx = BuildContext::new(
        ComponentId::parse("datadog/connector").unwrap(),
        kakehashi_telemetry::Telemetry::new(),
    );
    DatadogConnectorFactory
        .build(&ctx, &cfg, Signal::Traces, to, next)
        .unwrap()
}

fn stats_of(batches: &[Batch]) -> Vec<pb::StatsPayload> {
    batches
        .iter()
        .flat_map(|b| match b.payload.as_ref() {
            Payload::Metrics(m) => {
                let split = from_metrics(m);
                assert_eq!((split.other_points, split.unreadable), (0, 0));
                split.payloads
            }
            other => panic!("not metrics: {other:?}"),
        })
        .collect()
}

fn total_hits(batches: &[Batch]) -> u64 {
    stats_of(batches)
        .iter()
        .flat_map(|p| &p.stats)
        .flat_map(|c| &c.stats)
        .flat_map(|b| &b.stats)
        .map(|g| g.hits)
        .sum()
}

#[tokio::test]
async fn spans_become_one_stats_metric_at_shutdown_and_go_no_further() {
    let capture = Arc::new(Capture::default());
    let c = build("{}", Signal::Metrics, capture.clone());
    c.start().await.unwrap();
    c.consume(Batch::new(request(3, 1))).await.unwrap();
    c.consume(Batch::new(request(2, 0))).await.unwrap();
    assert!(
        capture.0.lock().unwrap().is_empty(),
        "nothing before a flush"
    );
    c.shutdown().await;

    let stats = stats_of(&capture.0.lock().unwrap());
    assert_eq!(stats.len(), 1, "{stats:?}");
    let p = &stats[0];
    // The exporter fills the agent version in; the connector names no host of its own.
    assert_eq!(
        (
            p.agent_hostname.as_str(),
            p.agent_version.as_str(),
            p.agent_env.as_str()
        ),
        ("", "", "none")
    );
    assert_eq!(p.stats.len(), 1);
    let client = &p.stats[0];
    assert_eq!(
        (client.env.as_str(), client.hostname.as_str()),
        ("prod", "")
    );
    let groups: Vec<&pb::ClientGroupedStats> = client.stats.iter().flat_map(|b| &b.stats).collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let g = groups[0];
    assert_eq!(
        (
            g.service.as_str(),
            g.resource.as_str(),
            g.span_kind.as_str()
        ),
        ("web", "GET /users", "server")
    );
    assert_eq!((g.hits, g.errors, g.top_level_hits), (5, 1, 5));
}

/// Go's connector passes over a span with an empty id on its own; the agent (and so the
/// exporter) drops its whole trace chunk.
#[tokio::test]
async fn a_span_with_an_empty_id_is_left_out_alone() {
    let capture = Arc::new(Capture::default());
    let c = build("{}", Signal::Metrics, capture.clone());
    c.start().await.unwrap();
    let mut req = request(2, 0);
    let spans = &mut req.resource_spans[0].scope_spans[0].spans;
    // Three spans of one trace; the third has no span id.
    spans[1].trace_id = spans[0].trace_id.clone();
    let mut broken = spans[0].clone();
    broken.span_id = vec![0; 8];
    spans.push(broken);
    c.consume(Batch::new(req)).await.unwrap();
    c.shutdown().await;
    let hits = total_hits(&capture.0.lock().unwrap());
    assert_eq!(hits, 2, "the two spans with ids count");
}

#[tokio::test]
async fn buckets_are_flushed_every_bucket_interval_while_running() {
    let capture = Arc::new(Capture::default());
    let c = build(
        "traces: {bucket_interval: 100ms}",
        Signal::Metrics,
        capture.clone(),
    );
    c.start().await.unwrap();
    c.consume(Batch::new(request(4, 0))).await.unwrap();
    // The concentrator keeps the current buckets back; a few intervals later they are out.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while capture.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = total_hits(&capture.0.lock().unwrap());
    assert_eq!(hits, 4);
    c.shutdown().await;
}

#[tokio::test]
async fn traces_to_traces_passes_the_batch_on_unchanged() {
    let capture = Arc::new(Capture::default());
    let c = build("{}", Signal::Traces, capture.clone());
    let batch = Batch::new(request(2, 1));
    c.consume(batch.clone()).await.unwrap();
    c.shutdown().await;
    assert_eq!(*capture.0.lock().unwrap(), vec![batch]);
}

#[test]
fn only_the_stats_pair_turns_the_exporters_stats_off() {
    let f = DatadogConnectorFactory;
    assert_eq!(
        f.implied_gates(Signal::Traces, Signal::Metrics),
        &[DISABLE_APM_STATS_GATE]
    );
    assert!(f.implied_gates(Signal::Traces, Signal::Traces).is_empty());
}
