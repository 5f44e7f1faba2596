use super::*;
use kakehashi_config::{decode_yaml, ComponentId, Validate};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue};
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};
use kakehashi_telemetry::Telemetry;

use crate::test_util::{kv_of as kv, Sink};

pub(super) fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn span(name: &str, target: &str, events: &[&str]) -> Span {
    Span {
        name: name.into(),
        kind: 2,
        attributes: vec![kv("http.target", s(target))],
        events: events
            .iter()
            .map(|e| Event {
                name: (*e).into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Two resources: `vote-app` with a health check and a real request, `worker` with only a
/// health check (so filtering health checks empties it).
fn traces() -> Batch {
    let rs = |service: &str, spans: Vec<Span>| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", s(service))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    };
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![
            rs(
                "vote-app",
                vec![
                    span("GET /health", "/health", &[]),
                    span("POST /vote", "/vote", &["debug-log", "exception"]),
                ],
            ),
            rs(
                "worker",
                vec![span("GET /health", "/health", &["debug-log"])],
            ),
        ],
    })
}

fn span_names(b: &Batch) -> Vec<String> {
    let Payload::Traces(r) = &*b.payload else {
        panic!("traces")
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| {
            let events: Vec<_> = s.events.iter().map(|e| e.name.as_str()).collect();
            format!("{}{events:?}", s.name)
        })
        .collect()
}

pub(super) fn config(yaml: &str) -> FilterConfig {
    let cfg: FilterConfig = decode_yaml("processors::filter", yaml).expect("decodes");
    assert_eq!(cfg.validate(), Vec::<String>::new());
    cfg
}

pub(super) fn build(yaml: &str) -> (FilterProcessor, Arc<Sink>, Telemetry) {
    let t = Telemetry::new();
    let ctx = BuildContext::new(ComponentId::new("filter", Some("health")), t.clone());
    let sink = Arc::new(Sink::default());
    let p = FilterProcessor::new(&config(yaml), &ctx, sink.clone()).expect("builds");
    (p, sink, t)
}

pub(super) fn filtered(t: &Telemetry, signal: &str) -> Option<u64> {
    t.counter_value(
        &format!("otelcol_processor_filter_{signal}_filtered"),
        &[("filter", "filter/health")],
    )
}

#[tokio::test]
async fn drops_matching_spans_and_emptied_resources() {
    let (p, sink, t) = build(
        r#"
error_mode: ignore
traces:
  span:
    - 'attributes["http.target"] == "/health"'
    - 'IsMatch(name, "^never")'
"#,
    );
    p.consume(traces()).await.expect("accepted");
    let out = sink.taken();
    assert_eq!(out.len(), 1);
    assert_eq!(
        span_names(&out[0]),
        ["POST /vote[\"debug-log\", \"exception\"]"]
    );
    let Payload::Traces(r) = &*out[0].payload else {
        panic!()
    };
    assert_eq!(
        r.resource_spans.len(),
        1,
        "worker's resource had only a health check"
    );
    assert_eq!(filtered(&t, "spans"), Some(2));
}

#[tokio::test]
async fn a_batch_filtered_to_nothing_is_accepted_and_not_sent_on() {
    let (p, sink, t) = build("traces: {span: ['kind == SPAN_KIND_SERVER']}");
    p.consume(traces())
        .await
        .expect("accepted although nothing is left");
    assert!(sink.taken().is_empty());
    assert_eq!(filtered(&t, "spans"), Some(3));
}

#[tokio::test]
async fn span_event_conditions_drop_events_only() {
    let (p, sink, t) = build(
        r#"
traces:
  spanevent:
    - 'name == "debug-log" and span.attributes["http.target"] == "/vote"'
"#,
    );
    p.consume(traces()).await.expect("accepted");
    let out = sink.taken();
    assert_eq!(
        span_names(&out[0]),
        [
            "GET /health[]",
            "POST /vote[\"exception\"]",
            "GET /health[\"debug-log\"]"
        ]
    );
    assert_eq!(filtered(&t, "spans"), Some(0));
}

#[tokio::test]
async fn legacy_include_exclude_for_spans() {
    let (p, sink, _) = build(
        r#"
spans:
  include:
    match_type: strict
    services: [vote-app]
  exclude:
    match_type: regexp
    span_names: ["^GET /heal"]
"#,
    );
    p.consume(traces()).await.expect("accepted");
    assert_eq!(
        span_names(&sink.taken()[0]),
        ["POST /vote[\"debug-log\", \"exception\"]"]
    );
}

#[tokio::test]
async fn error_modes() {
    let bad = r#"'ToLowerCase(attributes["n"]) == "x"'"#;
    let batch = || {
        let mut b = traces();
        if let Payload::Traces(r) = b.payload_mut() {
            r.resource_spans[0].scope_spans[0].spans[0]
                .attributes
                .push(kv("n", Value::IntValue(1)));
        }
        b
    };
    // propagate: the batch is refused, nothing goes on.
    let (p, sink, _) = build(&format!("error_mode: propagate\ntraces: {{span: [{bad}]}}"));
    let e = p.consume(batch()).await.expect_err("refused");
    assert!(e.permanent);
    assert!(
        e.message.contains("expected string but got int64"),
        "{}",
        e.message
    );
    assert!(sink.taken().is_empty());
    // ignore (the default) / silent: the failing condition is false and the next one is
    // still tried.
    for mode in ["", "error_mode: ignore", "error_mode: silent"] {
        let (p, sink, _) = build(&format!(
            "{mode}\ntraces: {{span: [{bad}, 'name == \"POST /vote\"']}}"
        ));
        p.consume(batch()).await.expect("accepted");
        assert_eq!(
            span_names(&sink.taken()[0]),
            ["GET /health[]", "GET /health[\"debug-log\"]"],
            "{mode}"
        );
    }
}

#[tokio::test]
async fn log_records() {
    let (p, sink, t) = build(
        r#"
logs:
  log_record:
    - 'severity_number < SEVERITY_NUMBER_WARN'
    - 'IsMatch(body, "healthz")'
"#,
    );
    let log = |sev: i32, body: &str| LogRecord {
        severity_number: sev,
        body: Some(AnyValue {
            value: Some(s(body)),
        }),
        ..Default::default()
    };
    p.consume(Batch::new(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    log(9, "info"),
                    log(17, "GET /healthz"),
                    log(17, "disk full"),
                    log(13, "slow"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }))
    .await
    .expect("accepted");
    let out = sink.taken();
    let Payload::Logs(r) = &*out[0].payload else {
        panic!()
    };
    let bodies: Vec<_> = r.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| kakehashi_pdata::go_text::as_string(l.body.as_ref()))
        .collect();
    assert_eq!(bodies, ["disk full", "slow"]);
    assert_eq!(filtered(&t, "logs"), Some(2));
}

#[tokio::test]
async fn other_signals_pass_untouched() {
    let (p, sink, _) = build("traces: {span: ['true']}");
    let metrics = Batch::new(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    p.consume(metrics.clone()).await.expect("accepted");
    let logs = Batch::new(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs::default()],
    });
    p.consume(logs.clone()).await.expect("accepted");
    assert_eq!(sink.taken(), vec![metrics, logs]);
}

#[tokio::test]
async fn inferred_conditions_run_top_down() {
    // Each condition's context comes from its paths: the resource one drops `worker` whole,
    // the cross-context one (resource or span event) drops only span events.
    let (p, sink, t) = build(
        r#"
trace_conditions:
  - 'resource.attributes["service.name"] == "worker"'
  - 'span.name == "GET /health"'
  - 'resource.attributes["service.name"] == "nope" or spanevent.name == "debug-log"'
"#,
    );
    p.consume(traces()).await.expect("accepted");
    let out = sink.taken();
    assert_eq!(span_names(&out[0]), ["POST /vote[\"exception\"]"]);
    assert_eq!(filtered(&t, "spans"), Some(2));
}

#[tokio::test]
async fn condition_groups_and_resource_and_scope_levels() {
    let bad = r#"'ToLowerCase(span.attributes["n"]) == "x"'"#;
    let batch = || {
        let mut b = traces();
        if let Payload::Traces(r) = b.payload_mut() {
            for ss in &mut r.resource_spans[1].scope_spans {
                ss.scope = Some(kakehashi_pdata::proto::common::v1::InstrumentationScope {
                    name: "noisy.lib".into(),
                    ..Default::default()
                });
            }
            r.resource_spans[0].scope_spans[0].spans[1]
                .attributes
                .push(kv("n", Value::IntValue(1)));
        }
        b
    };
    // A group with an explicit context and its own error mode; the scope level.
    let (p, sink, _) = build(&format!(
        r#"
error_mode: propagate
trace_conditions:
  - context: scope
    conditions: ['name == "noisy.lib"']
  - error_mode: ignore
    conditions: [{bad}, 'span.name == "GET /health"']
"#
    ));
    p.consume(batch())
        .await
        .expect("the group ignores its failure");
    assert_eq!(
        span_names(&sink.taken()[0]),
        ["POST /vote[\"debug-log\", \"exception\"]"]
    );
    // The same failing condition under the processor's propagate refuses the batch.
    let (p, _, _) = build(&format!("error_mode: propagate\ntrace_conditions: [{bad}]"));
    assert!(p.consume(batch()).await.is_err());
    // The older per-context list for resources.
    let (p, sink, _) =
        build("traces: {resource: ['attributes[\"service.name\"] == \"vote-app\"']}");
    p.consume(traces()).await.expect("accepted");
    assert_eq!(span_names(&sink.taken()[0]), ["GET /health[\"debug-log\"]"]);
}

#[tokio::test]
async fn log_conditions_and_resources() {
    let (p, sink, t) = build(
        r#"
log_conditions:
  - 'resource.attributes["service.name"] == "noisy"'
  - 'log.severity_number < SEVERITY_NUMBER_WARN'
"#,
    );
    let rl = |service: &str, sevs: &[i32]| ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv("service.name", s(service))],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: sevs
                .iter()
                .map(|sev| LogRecord {
                    severity_number: *sev,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    p.consume(Batch::new(ExportLogsServiceRequest {
        resource_logs: vec![rl("noisy", &[17, 17]), rl("api", &[9, 17, 13])],
    }))
    .await
    .expect("accepted");
    let out = sink.taken();
    let Payload::Logs(r) = &*out[0].payload else {
        panic!()
    };
    assert_eq!(r.resource_logs.len(), 1);
    let sevs: Vec<i32> = r.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| l.severity_number)
        .collect();
    assert_eq!(sevs, [17, 13]);
    assert_eq!(filtered(&t, "logs"), Some(3));
}

#[test]
fn config_errors_are_clear() {
    let errs = |yaml: &str| -> String {
        match decode_yaml::<FilterConfig>("processors::filter", yaml) {
            Ok(c) => c.validate().join("\n"),
            Err(e) => e.to_string(),
        }
    };
    let e = errs("traces: {span: ['name = \"x\"']}");
    assert!(
        e.contains("traces::span: unable to parse OTTL condition"),
        "{e}"
    );
    let e = errs("logs: {log_record: ['kind == SPAN_KIND_SERVER']}");
    assert!(
        e.contains("logs::log_record:") && e.contains("log context"),
        "{e}"
    );
    let e = errs("traces: {span: ['true']}\nspans: {exclude: {match_type: strict, services: [a]}}");
    assert!(
        e.contains("cannot use ottl conditions and include/exclude"),
        "{e}"
    );
    let e = errs("metrics: {exclude: {match_type: expr, expressions: ['MetricName == \"x\"']}}");
    assert!(e.contains("metrics::exclude: match_type expr"), "{e}");
    let e = errs("metrics: {metric: ['true'], include: {match_type: strict, metric_names: [a]}}");
    assert!(
        e.contains("ottl conditions and include/exclude for metrics"),
        "{e}"
    );
    let e = errs("metrics: {metric: ['HasAttrKeyOnDatapoint(\"k\")'], datapoint: ['HasAttrKeyOnDatapoint(\"k\")']}");
    assert!(e.contains("only available in the metric context"), "{e}");
    let e = errs("logs: {include: {match_type: strict, bodies: [x]}}");
    assert!(
        e.contains("legacy include/exclude form for logs is not supported"),
        "{e}"
    );
    let e = errs("error_mode: loud");
    assert!(e.contains("loud"), "{e}");
    let e = errs("trace_conditions: ['name == \"x\"']");
    assert!(
        e.contains("trace_conditions::0: unable to infer a context"),
        "{e}"
    );
    let e = errs("trace_conditions: ['span.name == \"x\"']\ntraces: {span: ['true']}");
    assert!(
        e.contains("trace_conditions cannot be used together with traces"),
        "{e}"
    );
    let e = errs("trace_conditions: [{context: log, conditions: ['true']}]");
    assert!(e.contains("is not a context of this signal"), "{e}");
    let e = errs("log_conditions: [{context: log}]");
    assert!(e.contains("a group needs conditions"), "{e}");
    let e = errs("metric_conditions: ['metric.name == \"x\"']\nmetrics: {metric: ['true']}");
    assert!(
        e.contains("metric_conditions cannot be used together with metrics"),
        "{e}"
    );
    let e = errs("profile_conditions: ['true']");
    assert!(e.contains("profiles are not supported"), "{e}");
    let e = errs("spans: {exclude: {match_type: strict}}");
    assert!(e.contains(r#"at least one of "attributes""#), "{e}");
}
