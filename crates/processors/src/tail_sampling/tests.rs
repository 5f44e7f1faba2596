//! The `tail_sampling` processor's trace lifecycle: wait, decide, late spans, eviction, caches,
//! the size limit, root spans and shutdown; and the helpers the other test files share.

use super::*;
use crate::test_util::{kv_of, Sink};
use kakehashi_config::{decode_yaml, Validate};
use kakehashi_pdata::proto::common::v1::{any_value::Value, KeyValue};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{ScopeSpans, Span};
use kakehashi_telemetry::Telemetry;
use policy::Decision::Sampled;

pub(super) fn errors(yaml: &str) -> String {
    match decode_yaml::<TailSamplingConfig>("processors::tail_sampling", yaml) {
        Ok(c) => c.validate().join("\n"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn config(yaml: &str) -> TailSamplingConfig {
    let cfg: TailSamplingConfig = decode_yaml("processors::tail_sampling", yaml).expect("decodes");
    assert_eq!(cfg.validate(), Vec::<String>::new());
    cfg
}

pub(super) fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

pub(super) fn span(tid: u8, parent: bool, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![tid; 16],
        span_id: vec![tid, 1, 2, 3, 4, 5, 6, 7],
        parent_span_id: if parent { vec![9; 8] } else { vec![] },
        attributes: attrs,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_050_000_000,
        ..Default::default()
    }
}

pub(super) fn rs(resource: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        schema_url: String::new(),
    }
}

fn processor(yaml: &str) -> (TailSamplingProcessor, Arc<Sink>, Telemetry) {
    let cfg = config(yaml);
    let sink = Arc::new(Sink::default());
    let telemetry = Telemetry::new();
    let ctx = BuildContext::new(
        kakehashi_config::ComponentId::new("tail_sampling", None),
        telemetry.clone(),
    );
    (
        TailSamplingProcessor::new(&cfg, &ctx, sink.clone()),
        sink,
        telemetry,
    )
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![rs(vec![kv_of("service.name", s("shop"))], spans)],
    }
}

/// Span ids (first byte = trace) of what reached the sink, in order.
fn forwarded(sink: &Sink) -> Vec<u8> {
    let mut ids = Vec::new();
    for b in sink.taken() {
        let Payload::Traces(req) = b.into_payload() else {
            panic!("traces")
        };
        for rs in req.resource_spans {
            assert!(rs.resource.is_some(), "the resource travels with its spans");
            ids.extend(
                rs.scope_spans
                    .iter()
                    .flat_map(|ss| &ss.spans)
                    .map(|s| s.span_id[1]),
            );
        }
    }
    ids
}

fn tagged(tid: u8, n: u8, attrs: Vec<KeyValue>) -> Span {
    let mut sp = span(tid, n != 0, attrs);
    sp.span_id[1] = n;
    sp
}

const ERRORS_ONLY: &str = "decision_wait: 2s
policies: [{name: errors, type: string_attribute, string_attribute: {key: keep, values: ['yes']}}]";

#[tokio::test]
async fn a_trace_is_held_for_the_wait_then_sent_whole_or_not_at_all() {
    let (p, sink, tel) = processor(ERRORS_ONLY);
    let keep = || vec![kv_of("keep", s("yes"))];
    // Trace 1 (kept: one of its spans matches) and trace 2 (not) arrive in two requests.
    p.consume(Batch::new(request(vec![
        tagged(1, 0, vec![]),
        tagged(2, 0, vec![]),
    ])))
    .await
    .unwrap();
    p.consume(Batch::new(request(vec![
        tagged(1, 1, keep()),
        tagged(2, 1, vec![]),
    ])))
    .await
    .unwrap();
    let tick = |p: &TailSamplingProcessor| {
        let out = p.inner.tick();
        let inner = p.inner.clone();
        async move { inner.forward(out).await }
    };
    // decision_wait 2s: the third tick decides.
    tick(&p).await;
    tick(&p).await;
    assert!(
        forwarded(&sink).is_empty(),
        "nothing before the wait is over"
    );
    tick(&p).await;
    assert_eq!(
        forwarded(&sink),
        vec![0, 1],
        "trace 1 whole, trace 2 not at all"
    );
    // Late spans follow the decision.
    p.consume(Batch::new(request(vec![
        tagged(1, 2, vec![]),
        tagged(2, 2, keep()),
    ])))
    .await
    .unwrap();
    assert_eq!(
        forwarded(&sink),
        vec![2],
        "trace 1's late span at once; trace 2's dropped"
    );
    let c = |labels: &[(&str, &str)]| {
        tel.counter_value(
            "otelcol_processor_tail_sampling_global_count_traces_sampled",
            labels,
        )
    };
    assert_eq!(c(&[("sampled", "true")]), Some(1));
    assert_eq!(c(&[("sampled", "false")]), Some(1));
}

#[tokio::test]
async fn beyond_num_traces_the_oldest_trace_is_evicted_and_counted_at_its_tick() {
    let (p, sink, tel) = processor(
        "decision_wait: 1s
num_traces: 2
policies: [{name: all, type: always_sample}]",
    );
    for t in 1..=3 {
        p.consume(Batch::new(request(vec![tagged(t, 0, vec![])])))
            .await
            .unwrap();
    }
    p.inner.forward(p.inner.tick()).await;
    p.inner.forward(p.inner.tick()).await;
    let got: Vec<u8> = sink
        .taken()
        .into_iter()
        .flat_map(|b| match b.into_payload() {
            Payload::Traces(r) => r.resource_spans,
            _ => unreachable!(),
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .map(|s| s.trace_id[0])
        .collect();
    assert_eq!(got, vec![2, 3], "trace 1 was evicted for trace 3");
    assert_eq!(
        tel.counter_value(
            "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
            &[]
        ),
        Some(1)
    );
}

#[tokio::test]
async fn decision_caches_answer_for_traces_no_longer_held() {
    let (p, sink, _) = processor(
        "decision_wait: 1s
decision_cache: {sampled_cache_size: 10, non_sampled_cache_size: 10}
policies: [{name: errors, type: string_attribute, string_attribute: {key: keep, values: ['yes']}}]",
    );
    p.consume(Batch::new(request(vec![
        tagged(1, 0, vec![kv_of("keep", s("yes"))]),
        tagged(2, 0, vec![]),
    ])))
    .await
    .unwrap();
    p.inner.forward(p.inner.tick()).await;
    p.inner.forward(p.inner.tick()).await;
    assert_eq!(forwarded(&sink), vec![0]);
    assert!(
        p.inner.lock().traces.is_empty(),
        "decided traces leave memory"
    );
    p.consume(Batch::new(request(vec![
        tagged(1, 5, vec![]),
        tagged(2, 5, vec![kv_of("keep", s("yes"))]),
    ])))
    .await
    .unwrap();
    assert_eq!(forwarded(&sink), vec![5], "the caches decide late spans");
}

#[tokio::test]
async fn a_trace_over_the_size_limit_is_not_sampled() {
    let (p, sink, tel) = processor(
        "decision_wait: 1s
maximum_trace_size_bytes: 300
policies: [{name: all, type: always_sample}]",
    );
    let big = vec![kv_of("blob", s(&"x".repeat(400)))];
    p.consume(Batch::new(request(vec![
        tagged(1, 0, big),
        tagged(2, 0, vec![]),
    ])))
    .await
    .unwrap();
    p.inner.forward(p.inner.tick()).await;
    p.inner.forward(p.inner.tick()).await;
    assert_eq!(forwarded(&sink), vec![0]);
    let only_trace_2 = p.inner.lock().traces.get(&[2; 16]).map(|t| t.decision);
    assert_eq!(only_trace_2, Some(Some(Sampled)));
    assert_eq!(
        tel.counter_value(
            "otelcol_processor_tail_sampling_traces_dropped_too_large",
            &[]
        ),
        Some(1)
    );
}

#[tokio::test]
async fn drop_policies_win_and_first_match_stops_evaluation() {
    let (p, sink, tel) = processor(
        "decision_wait: 1s
sample_on_first_match: true
policies:
  - {name: all, type: always_sample}
  - {name: rate, type: rate_limiting, rate_limiting: {spans_per_second: 1}}
  - name: no-health
    type: drop
    drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: url.path, values: [/health]}}]}",
    );
    let health = vec![kv_of("url.path", s("/health"))];
    p.consume(Batch::new(request(vec![
        tagged(1, 0, health),
        tagged(2, 0, vec![]),
    ])))
    .await
    .unwrap();
    p.inner.forward(p.inner.tick()).await;
    p.inner.forward(p.inner.tick()).await;
    assert_eq!(forwarded(&sink), vec![0]);
    let c = |policy: &str, sampled: &str| {
        tel.counter_value(
            "otelcol_processor_tail_sampling_count_traces_sampled",
            &[("policy", policy), ("sampled", sampled)],
        )
    };
    assert_eq!(
        c("no-health", "false"),
        Some(2),
        "both traces went through the drop policy (a drop counts as not sampled)"
    );
    assert_eq!(c("all", "true"), Some(1), "trace 1 never reached it");
    assert_eq!(
        c("rate", "true"),
        None,
        "first match: the limiter is not charged"
    );
}

#[tokio::test]
async fn a_root_span_brings_the_decision_forward() {
    let (p, sink, _) = processor(
        "decision_wait: 5s
decision_wait_after_root_received: 1s
policies: [{name: all, type: always_sample}]",
    );
    p.consume(Batch::new(request(vec![tagged(1, 1, vec![])])))
        .await
        .unwrap();
    p.inner.forward(p.inner.tick()).await;
    // The root arrives: decided at the tick after next, not after five.
    p.consume(Batch::new(request(vec![tagged(1, 0, vec![])])))
        .await
        .unwrap();
    p.inner.forward(p.inner.tick()).await;
    assert!(forwarded(&sink).is_empty());
    p.inner.forward(p.inner.tick()).await;
    assert_eq!(forwarded(&sink), vec![1, 0]);
}

#[tokio::test(start_paused = true)]
async fn the_tick_runs_by_itself_and_shutdown_decides_what_is_pending() {
    let (p, sink, _) = processor("decision_wait: 2s\npolicies: [{name: all, type: always_sample}]");
    p.start().await.unwrap();
    p.consume(Batch::new(request(vec![tagged(1, 0, vec![])])))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(forwarded(&sink), vec![0], "decided by the ticker");
    p.consume(Batch::new(request(vec![tagged(2, 0, vec![])])))
        .await
        .unwrap();
    p.shutdown().await;
    assert_eq!(
        forwarded(&sink),
        vec![0],
        "the pending trace is decided at shutdown"
    );

    let (p, sink, _) = processor(
        "decision_wait: 2s\ndrop_pending_traces_on_shutdown: true\npolicies: [{name: all, type: always_sample}]",
    );
    p.start().await.unwrap();
    p.consume(Batch::new(request(vec![tagged(3, 0, vec![])])))
        .await
        .unwrap();
    p.shutdown().await;
    assert!(forwarded(&sink).is_empty());
}
