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
use std::time::Duration;

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

fn request(spans: Vec<Span>) -> Batch {
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![rs(vec![kv_of("service.name", s("shop"))], spans)],
    })
}

/// (trace, span number) of every span that reached the sink since the last call, in order.
fn forwarded(sink: &Sink) -> Vec<(u8, u8)> {
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
                    .map(|s| (s.trace_id[0], s.span_id[1])),
            );
        }
    }
    ids
}

/// Span `n` of trace `tid`; span 0 is the root.
fn tagged(tid: u8, n: u8, attrs: Vec<KeyValue>) -> Span {
    let mut sp = span(tid, n != 0, attrs);
    sp.span_id[1] = n;
    sp
}

fn keep() -> Vec<KeyValue> {
    vec![kv_of("keep", s("yes"))]
}

impl TailSamplingProcessor {
    async fn tick_now(&self) {
        let kept = self.inner.tick();
        self.inner.forward(kept).await;
    }
    async fn take(&self, spans: Vec<Span>) {
        self.consume(request(spans)).await.unwrap();
    }
    fn counter(&self, tel: &Telemetry, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let mut all = vec![("processor", "tail_sampling")];
        all.extend_from_slice(labels);
        tel.counter_value(&format!("otelcol_processor_tail_sampling_{name}"), &all)
    }
}

const KEEP_MARKED: &str = "policies: [{name: marked, type: string_attribute, string_attribute: {key: keep, values: ['yes']}}]";

#[tokio::test]
async fn a_trace_is_held_for_the_wait_then_sent_whole_or_not_at_all() {
    let (p, sink, tel) = processor(&format!("decision_wait: 2s\n{KEEP_MARKED}"));
    // Trace 1 (kept: one of its spans matches) and trace 2 (not) arrive in two requests.
    p.take(vec![tagged(1, 0, vec![]), tagged(2, 0, vec![])])
        .await;
    p.take(vec![tagged(1, 1, keep()), tagged(2, 1, vec![])])
        .await;
    // decision_wait 2s: the third tick decides.
    p.tick_now().await;
    p.tick_now().await;
    assert!(
        forwarded(&sink).is_empty(),
        "nothing before the wait is over"
    );
    p.tick_now().await;
    assert_eq!(
        forwarded(&sink),
        vec![(1, 0), (1, 1)],
        "trace 1 whole, trace 2 not at all"
    );
    // Late spans follow the decision.
    p.take(vec![tagged(1, 2, vec![]), tagged(2, 2, keep())])
        .await;
    assert_eq!(
        forwarded(&sink),
        vec![(1, 2)],
        "trace 1's late span at once; trace 2's dropped"
    );
    let global = |sampled, decision| {
        p.counter(
            &tel,
            "global_count_traces_sampled",
            &[("sampled", sampled), ("decision", decision)],
        )
    };
    assert_eq!(global("true", "sampled"), Some(1));
    assert_eq!(global("false", "not_sampled"), Some(1));
    for _ in 0..3 {
        p.tick_now().await;
    }
    assert!(forwarded(&sink).is_empty(), "each trace is decided once");
}

#[tokio::test]
async fn beyond_num_traces_the_oldest_trace_is_evicted_and_counted_at_its_tick() {
    let (p, sink, tel) = processor(
        "decision_wait: 1s
num_traces: 2
policies: [{name: all, type: always_sample}]",
    );
    for t in 1..=3 {
        p.take(vec![tagged(t, 0, vec![])]).await;
    }
    p.tick_now().await;
    p.tick_now().await;
    let mut got = forwarded(&sink);
    got.sort();
    assert_eq!(got, vec![(2, 0), (3, 0)], "trace 1 was evicted for trace 3");
    assert_eq!(
        p.counter(&tel, "sampling_trace_dropped_too_early", &[]),
        Some(1)
    );
}

/// Traces that left memory early (decided into a cache) do not count toward `num_traces`: a
/// rootless trace still waiting is not evicted for them.
#[tokio::test]
async fn traces_decided_into_a_cache_make_room_for_new_ones() {
    let (p, sink, tel) = processor(
        "decision_wait: 3s
decision_wait_after_root_received: 1s
num_traces: 3
decision_cache: {sampled_cache_size: 100}
policies: [{name: all, type: always_sample}]",
    );
    p.take(vec![tagged(1, 1, vec![])]).await; // no root: waits the full 3 s
    for t in 2..=6 {
        // Each with its root: decided two ticks later and gone into the cache.
        p.take(vec![tagged(t, 0, vec![])]).await;
        p.tick_now().await;
    }
    for _ in 0..4 {
        p.tick_now().await;
    }
    let mut got = forwarded(&sink);
    got.sort();
    assert_eq!(got, vec![(1, 1), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]);
    assert_eq!(
        p.counter(&tel, "sampling_trace_dropped_too_early", &[]),
        Some(0)
    );
    assert_eq!(lock(&p.inner.state).held(), 0);
}

#[tokio::test]
async fn decision_caches_answer_for_traces_no_longer_held() {
    let (p, sink, tel) = processor(&format!(
        "decision_wait: 1s
decision_cache: {{sampled_cache_size: 10, non_sampled_cache_size: 10}}
{KEEP_MARKED}"
    ));
    p.take(vec![tagged(1, 0, keep()), tagged(2, 0, vec![])])
        .await;
    p.tick_now().await;
    p.tick_now().await;
    assert_eq!(forwarded(&sink), vec![(1, 0)]);
    assert_eq!(
        lock(&p.inner.state).held(),
        0,
        "decided traces leave memory"
    );
    p.take(vec![tagged(1, 5, vec![]), tagged(2, 5, keep())])
        .await;
    assert_eq!(
        forwarded(&sink),
        vec![(1, 5)],
        "the caches decide late spans"
    );
    let released = |sampled| {
        p.counter(
            &tel,
            "early_releases_from_cache_decision",
            &[("sampled", sampled)],
        )
    };
    assert_eq!((released("true"), released("false")), (Some(1), Some(1)));
}

#[tokio::test]
async fn a_trace_over_the_size_limit_is_not_sampled() {
    let (p, sink, tel) = processor(
        "decision_wait: 1s
maximum_trace_size_bytes: 300
policies: [{name: all, type: always_sample}]",
    );
    let big = vec![kv_of("blob", s(&"x".repeat(400)))];
    p.take(vec![tagged(1, 0, big), tagged(2, 0, vec![])]).await;
    p.tick_now().await;
    p.tick_now().await;
    assert_eq!(forwarded(&sink), vec![(2, 0)]);
    let st = lock(&p.inner.state);
    assert_eq!(st.decision_of(&[1; 16]), Some(Some(Decision::NotSampled)));
    assert_eq!(st.decision_of(&[2; 16]), Some(Some(Sampled)));
    assert_eq!(p.counter(&tel, "traces_dropped_too_large", &[]), Some(1));
}

#[tokio::test]
async fn drop_policies_win_errors_are_skipped_and_first_match_stops_evaluation() {
    let (p, sink, tel) = processor(
        r#"decision_wait: 1s
sample_on_first_match: true
policies:
  - {name: failing, type: ottl_condition, ottl_condition: {span: ['Substring(attributes["n"], 5, 10) == "a"']}}
  - {name: all, type: always_sample}
  - {name: rate, type: rate_limiting, rate_limiting: {spans_per_second: 1}}
  - name: no-health
    type: drop
    drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: url.path, values: [/health]}}]}"#,
    );
    let health = vec![kv_of("url.path", s("/health")), kv_of("n", s("x"))];
    p.take(vec![
        tagged(1, 0, health),
        tagged(2, 0, vec![kv_of("n", s("x"))]),
    ])
    .await;
    p.tick_now().await;
    p.tick_now().await;
    assert_eq!(forwarded(&sink), vec![(2, 0)]);
    let c = |policy: &str, decision: &str| {
        let sampled = if decision == "sampled" {
            "true"
        } else {
            "false"
        };
        p.counter(
            &tel,
            "count_traces_sampled",
            &[
                ("policy", policy),
                ("sampled", sampled),
                ("decision", decision),
            ],
        )
    };
    assert_eq!(c("no-health", "dropped"), Some(1), "trace 1 dropped first");
    assert_eq!(c("no-health", "not_sampled"), Some(1), "trace 2 passed it");
    assert_eq!(
        p.counter(&tel, "sampling_policy_evaluation_error", &[]),
        Some(1),
        "trace 2's OTTL error"
    );
    assert_eq!(c("all", "sampled"), Some(1), "trace 1 never reached it");
    assert_eq!(
        (c("rate", "sampled"), c("rate", "not_sampled")),
        (None, None),
        "first match"
    );
    p.take(vec![tagged(1, 1, vec![])]).await;
    assert!(
        forwarded(&sink).is_empty(),
        "a dropped trace's late spans are dropped"
    );
}

#[tokio::test]
async fn no_policies_keep_nothing() {
    let (p, sink, _) = processor("decision_wait: 1s\npolicies: []");
    p.take(vec![tagged(1, 0, vec![])]).await;
    p.tick_now().await;
    p.tick_now().await;
    assert!(forwarded(&sink).is_empty());
}

#[tokio::test]
async fn a_root_span_brings_the_decision_forward_once() {
    let (p, sink, tel) = processor(
        "decision_wait: 5s
decision_wait_after_root_received: 1s
decision_cache: {sampled_cache_size: 10}
policies: [{name: all, type: always_sample}]",
    );
    p.take(vec![tagged(1, 1, vec![])]).await;
    p.tick_now().await;
    // The root arrives: decided at the tick after next, not after five.
    p.take(vec![tagged(1, 0, vec![])]).await;
    p.tick_now().await;
    assert!(forwarded(&sink).is_empty());
    p.tick_now().await;
    assert_eq!(forwarded(&sink), vec![(1, 1), (1, 0)]);
    for _ in 0..6 {
        p.tick_now().await;
    }
    assert!(
        forwarded(&sink).is_empty(),
        "not sent again from its first slot"
    );
    assert_eq!(
        p.counter(&tel, "sampling_trace_dropped_too_early", &[]),
        Some(0)
    );
}

#[tokio::test]
async fn kept_traces_are_sent_on_in_requests_of_whole_traces() {
    let (p, sink, _) = processor("decision_wait: 1s\npolicies: [{name: all, type: always_sample}]");
    // Three traces of 200 spans: two fit in one request of at most 512 spans, the third not.
    for t in 1..=3 {
        p.take((0..200).map(|n| tagged(t, n as u8, vec![])).collect())
            .await;
    }
    p.tick_now().await;
    p.tick_now().await;
    let sizes: Vec<usize> = sink.taken().iter().map(|b| b.item_count()).collect();
    assert_eq!(sizes, vec![400, 200]);
}

#[tokio::test(start_paused = true)]
async fn the_tick_runs_by_itself_and_shutdown_decides_what_is_pending() {
    let (p, sink, _) = processor("decision_wait: 5s\npolicies: [{name: all, type: always_sample}]");
    p.start().await.unwrap();
    p.take(vec![tagged(1, 0, vec![])]).await;
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    assert_eq!(forwarded(&sink), vec![(1, 0)], "decided by the ticker");
    // Pending in different slots when the collector stops.
    p.take(vec![tagged(2, 0, vec![])]).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    p.take(vec![tagged(3, 0, vec![])]).await;
    p.shutdown().await;
    assert_eq!(
        forwarded(&sink),
        vec![(2, 0), (3, 0)],
        "decided at shutdown"
    );

    let (p, sink, _) = processor(
        "decision_wait: 2s\ndrop_pending_traces_on_shutdown: true\npolicies: [{name: all, type: always_sample}]",
    );
    p.start().await.unwrap();
    p.take(vec![tagged(4, 0, vec![])]).await;
    p.shutdown().await;
    assert!(forwarded(&sink).is_empty());
}

#[tokio::test(start_paused = true)]
async fn block_on_overflow_waits_for_decisions_instead_of_evicting() {
    let (p, sink, _) = processor(
        "decision_wait: 1s
num_traces: 2
block_on_overflow: true
policies: [{name: all, type: always_sample}]",
    );
    let p = Arc::new(p);
    p.take(vec![tagged(1, 0, vec![])]).await;
    p.take(vec![tagged(2, 0, vec![])]).await;
    // Full of traces still waiting: refused (retryably) after the wait, nothing evicted.
    let err = p
        .consume(request(vec![tagged(3, 0, vec![])]))
        .await
        .unwrap_err();
    assert!(!err.permanent, "{err}");
    assert!(err.to_string().contains("tail_sampling is full"), "{err}");
    assert_eq!(lock(&p.inner.state).held(), 2);
    // A request waiting while the decisions come is filed once they make room.
    let waiting = {
        let p = p.clone();
        tokio::spawn(async move { p.consume(request(vec![tagged(3, 0, vec![])])).await })
    };
    tokio::task::yield_now().await;
    p.tick_now().await;
    p.tick_now().await;
    waiting.await.unwrap().unwrap();
    let mut got = forwarded(&sink);
    got.sort();
    assert_eq!(got, vec![(1, 0), (2, 0)]);
    assert_eq!(lock(&p.inner.state).decision_of(&[3; 16]), Some(None));
    // More new traces in one request than num_traces can ever hold: refused for good.
    let spans = (4..=6).map(|t| tagged(t, 0, vec![])).collect();
    let err = p.consume(request(spans)).await.unwrap_err();
    assert!(err.permanent, "{err}");
}

/// An attribute nested deeper than prost decodes (OTTL's `ParseJSON` can build one): it is
/// held as bytes, but cannot come back when its trace is decided.
fn too_deep() -> KeyValue {
    use kakehashi_pdata::proto::common::v1::{AnyValue, KeyValueList};
    let mut value = AnyValue {
        value: Some(s("leaf")),
    };
    for _ in 0..60 {
        value = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(value),
                    ..Default::default()
                }],
            })),
        };
    }
    KeyValue {
        key: "json".into(),
        value: Some(value),
        ..Default::default()
    }
}

#[tokio::test]
async fn spans_that_cannot_be_decoded_back_are_counted_and_the_rest_flows() {
    let (p, sink, tel) = processor(&format!("decision_wait: 1s\n{KEEP_MARKED}"));
    let undecodable = || p.counter(&tel, "spans_dropped_undecodable", &[]);
    // Trace 2's second span cannot be decoded back: trace 2 is dropped, trace 1 flows.
    let mut deep = keep();
    deep.push(too_deep());
    p.take(vec![
        tagged(1, 0, keep()),
        tagged(2, 0, keep()),
        tagged(2, 1, deep),
    ])
    .await;
    p.tick_now().await;
    p.tick_now().await;
    assert_eq!(forwarded(&sink), vec![(1, 0)]);
    assert_eq!(undecodable(), Some(2), "both spans of trace 2");

    // Late spans filed while their trace's policies run: counted by their own number.
    p.take(vec![tagged(3, 0, keep())]).await;
    let due = {
        let mut st = lock(&p.inner.state);
        st.take_due(&p.inner.metrics);
        st.take_due(&p.inner.metrics)
    };
    assert_eq!(due.len(), 1, "trace 3 is being decided");
    p.take(vec![
        tagged(3, 1, vec![]),
        tagged(3, 2, vec![too_deep()]),
        tagged(3, 3, vec![]),
    ])
    .await;
    let mut due = due.into_iter().next().unwrap();
    let decided = due.held.take().unwrap();
    let sent = lock(&p.inner.state)
        .record(&due, decided, Sampled, &p.inner.metrics)
        .expect("sampled");
    let spans: usize = sent
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    assert_eq!(spans, 1, "the decided span goes on");
    assert_eq!(undecodable(), Some(2 + 3), "the three late spans");
}

/// A named processor's `policy` label is `<name>.<policy>`, as Go labels it.
#[tokio::test]
async fn a_named_processor_prefixes_its_policy_labels() {
    let cfg = config("decision_wait: 1s\npolicies: [{name: all, type: always_sample}]");
    let telemetry = Telemetry::new();
    let ctx = BuildContext::new(
        kakehashi_config::ComponentId::new("tail_sampling", Some("errors")),
        telemetry.clone(),
    );
    let p = TailSamplingProcessor::new(&cfg, &ctx, Arc::new(Sink::default()));
    p.take(vec![tagged(1, 0, vec![])]).await;
    p.tick_now().await;
    p.tick_now().await;
    let labels = [
        ("processor", "tail_sampling/errors"),
        ("policy", "errors.all"),
        ("sampled", "true"),
        ("decision", "sampled"),
    ];
    assert_eq!(
        telemetry.counter_value(
            "otelcol_processor_tail_sampling_count_traces_sampled",
            &labels
        ),
        Some(1)
    );
}
