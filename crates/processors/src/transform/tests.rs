use super::*;
use crate::test_util::{kv_of, owned_pairs as owned, texts as pairs, Sink};
use kakehashi_config::{decode_yaml, Validate};
use kakehashi_pdata::proto::common::v1::{any_value::Value, AnyValue, InstrumentationScope};
use kakehashi_pdata::proto::logs::v1::{LogRecord, ScopeLogs};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span::Event, ScopeSpans, Span};
use kakehashi_pdata::{ExportLogsServiceRequest, ExportTraceServiceRequest};

pub(super) fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn config(yaml: &str) -> TransformConfig {
    let cfg: TransformConfig = decode_yaml("processors::transform", yaml).expect("decodes");
    assert_eq!(cfg.validate(), Vec::<String>::new());
    cfg
}

pub(super) fn errors(yaml: &str) -> String {
    match decode_yaml::<TransformConfig>("processors::transform", yaml) {
        Ok(c) => c.validate().join("\n"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn traces() -> Batch {
    Batch::new(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv_of("service.name", s("checkout")),
                    kv_of("deployment.environment", s("prod")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.http".into(),
                    ..Default::default()
                }),
                spans: vec![
                    Span {
                        name: "GET /users/42?debug=1".into(),
                        kind: 2,
                        attributes: vec![
                            kv_of("http.route", s("/users/{id}")),
                            kv_of("user.email", s("a@example.com")),
                            kv_of("user.phone", s("555")),
                            kv_of("http.status_code", Value::IntValue(200)),
                            kv_of("note", s("héllo wörld")),
                        ],
                        events: vec![Event {
                            name: "debug".into(),
                            attributes: vec![kv_of("detail", s("x"))],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    Span {
                        name: "SELECT users".into(),
                        kind: 3,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub(super) async fn run(yaml: &str, batch: Batch) -> Result<Batch, ConsumeError> {
    let sink = Arc::new(Sink::default());
    let p = TransformProcessor::new(&config(yaml), sink.clone()).expect("builds");
    p.consume(batch).await?;
    Ok(sink.taken().remove(0))
}

pub(super) fn spans(b: &Batch) -> &[Span] {
    let Payload::Traces(r) = &*b.payload else {
        panic!("traces")
    };
    &r.resource_spans[0].scope_spans[0].spans
}

pub(super) fn resource(b: &Batch) -> Vec<(String, String)> {
    let Payload::Traces(r) = &*b.payload else {
        panic!("traces")
    };
    pairs(&r.resource_spans[0].resource.as_ref().unwrap().attributes)
}

#[tokio::test]
async fn groups_with_conditions_and_map_editors() {
    let out = run(
        r#"
trace_statements:
  - context: span
    conditions:
      - 'kind == SPAN_KIND_SERVER'
    statements:
      - 'delete_key(attributes, "user.phone")'
      - 'replace_all_patterns(attributes, "value", "^[^@]+@", "***@")'
      - 'replace_all_patterns(attributes, "key", "^http\\.", "web.")'
      - 'truncate_all(attributes, 4)'
      - 'set(attributes["kept"], Concat([name, attributes["web.route"], nil], "|"))'
      - 'limit(attributes, 3, ["kept"])'
  - context: resource
    statements:
      - 'keep_keys(attributes, ["service.name"])'
  - context: scope
    statements:
      - 'set(name, Substring(name, 0, 16))'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = spans(&out);
    assert_eq!(
        pairs(&s[0].attributes),
        owned(&[
            ("web.route", "/use"),
            ("user.email", "***@"),
            ("kept", "GET /users/42?debug=1|/use|<nil>")
        ]),
        "priority key kept, then the first others up to the limit"
    );
    assert!(s[1].attributes.is_empty(), "group condition did not hold");
    assert_eq!(resource(&out), owned(&[("service.name", "checkout")]));
    let Payload::Traces(r) = &*out.payload else {
        panic!()
    };
    assert_eq!(
        r.resource_spans[0].scope_spans[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "io.opentelemetry"
    );
}

#[tokio::test]
async fn setters_ignore_values_of_the_wrong_type_and_nil() {
    let out = run(
        r#"
trace_statements:
  - context: span
    statements:
      - 'set(name, 1)'
      - 'set(attributes["absent-copy"], attributes["absent"])'
      - 'set(status.message, "checked")'
      - 'set(kind, SPAN_KIND_INTERNAL)'
      - 'set(attributes["n"], attributes["note"])'
      - 'keep_matching_keys(attributes, "^(user\\.|n$)")'
      - 'delete_matching_keys(attributes, "phone$")'
      - 'truncate_all(attributes, 2)'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = &spans(&out)[0];
    assert_eq!(s.name, "GET /users/42?debug=1");
    assert_eq!(s.kind, 1);
    assert_eq!(s.status.as_ref().unwrap().message, "checked");
    // "héllo" cut at 2 bytes stays whole characters: "h" (é is two bytes).
    assert_eq!(
        pairs(&s.attributes),
        owned(&[("user.email", "a@"), ("n", "h")])
    );
}

#[tokio::test]
async fn wrong_types_are_errors_and_renamed_keys_merge() {
    // A value of the wrong type for a field is an error (skipped under the default `ignore`,
    // refused under `propagate`), as OTTL's typed setters.
    let e = run(
        "error_mode: propagate\ntrace_statements: ['set(span.name, 1)']",
        traces(),
    )
    .await
    .expect_err("refused");
    assert!(
        e.message.contains("expected string but got int64"),
        "{}",
        e.message
    );
    // Two keys renamed to one: the first one's place, the later one's value.
    let out = run(
        r#"
trace_statements:
  - 'replace_all_patterns(span.attributes, "key", "^user\\.(email|phone)$", "user.contact")'
"#,
        traces(),
    )
    .await
    .unwrap();
    assert_eq!(
        pairs(&spans(&out)[0].attributes)[..3],
        owned(&[
            ("http.route", "/users/{id}"),
            ("user.contact", "555"),
            ("http.status_code", "200")
        ])
    );
    // limit 1 keeps the priority key; limit 0 then empties the map.
    let out = run(
        "trace_statements: ['limit(span.attributes, 1, [\"note\"])', 'limit(span.attributes, 0)']",
        traces(),
    )
    .await
    .unwrap();
    assert!(spans(&out)[0].attributes.is_empty());
}

#[tokio::test]
async fn glob_editors() {
    let out = run(
        r#"
trace_statements:
  - 'replace_match(span.attributes["http.route"], "/users/*", "/users/{userId}")'
  - 'replace_match(span.name, "GET /users/[0-9]?\\?*", "GET /users/{id}")'
  - 'replace_all_matches(span.attributes, "*@{example,test}.com", "redacted")'
"#,
        traces(),
    )
    .await
    .unwrap();
    let s = spans(&out);
    assert_eq!(s[0].name, "GET /users/{id}");
    assert_eq!(s[1].name, "SELECT users", "no match: unchanged");
    let attrs = pairs(&s[0].attributes);
    assert_eq!(attrs[0], ("http.route".into(), "/users/{userId}".into()));
    assert_eq!(attrs[1], ("user.email".into(), "redacted".into()));
    let e = errors("trace_statements: ['replace_match(span.name, \"[abc\", \"x\")']");
    assert!(e.contains("unclosed ["), "{e}");
}

#[tokio::test]
async fn merge_maps_by_strategy() {
    let out = run(
        r#"
trace_statements:
  - 'merge_maps(span.attributes, resource.attributes, "insert")'
  - 'set(resource.attributes["service.name"], "renamed")'
  - 'merge_maps(span.attributes, resource.attributes, "update")'
  - 'merge_maps(resource.attributes, span.attributes, "upsert") where span.kind == SPAN_KIND_CLIENT'
"#,
        traces(),
    )
    .await
    .unwrap();
    let attrs = pairs(&spans(&out)[0].attributes);
    // Inserted, then updated to the renamed value; deployment.environment inserted once.
    assert!(
        attrs.contains(&("service.name".into(), "renamed".into())),
        "{attrs:?}"
    );
    assert!(
        attrs.contains(&("deployment.environment".into(), "prod".into())),
        "{attrs:?}"
    );
    assert_eq!(attrs.len(), 7);
    let e = errors("trace_statements: ['merge_maps(span.attributes, span.attributes, \"merge\")']");
    assert!(e.contains("must be 'insert', 'update' or 'upsert'"), "{e}");
    let e = run(
        "error_mode: propagate\ntrace_statements: ['merge_maps(span.attributes, span.name, \"upsert\")']",
        traces(),
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("expected pcommon.Map but got string"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn log_records() {
    let batch = Batch::new(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        severity_number: 13,
                        body: Some(AnyValue {
                            value: Some(s("disk almost full")),
                        }),
                        ..Default::default()
                    },
                    LogRecord {
                        severity_number: 9,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let out = run(
        r#"
log_statements:
  - 'set(log.severity_text, "WARN") where log.severity_number == SEVERITY_NUMBER_WARN'
  - 'set(log.body, Concat(["[", log.body, "]"], "")) where log.body != nil'
  - 'set(resource.attributes["source"], "kakehashi")'
"#,
        batch,
    )
    .await
    .unwrap();
    let Payload::Logs(r) = &*out.payload else {
        panic!()
    };
    let logs = &r.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(logs[0].severity_text, "WARN");
    assert_eq!(
        kakehashi_pdata::go_text::as_string(logs[0].body.as_ref()),
        "[disk almost full]"
    );
    assert_eq!(logs[1].severity_text, "");
    assert_eq!(logs[1].body, None);
    assert_eq!(
        pairs(&r.resource_logs[0].resource.as_ref().unwrap().attributes),
        owned(&[("source", "kakehashi")])
    );
}

#[tokio::test]
async fn error_modes() {
    // Substring past the end of the second span's name fails.
    let statements = r#"
  - 'set(span.attributes["short"], Substring(span.name, 0, 13))'
  - 'set(span.attributes["after"], "yes")'"#;
    let e = run(
        &format!("error_mode: propagate\ntrace_statements:{statements}"),
        traces(),
    )
    .await
    .expect_err("propagate refuses the batch");
    assert!(e.permanent);
    assert!(
        e.message.contains("invalid range for substring"),
        "{}",
        e.message
    );
    // ignore is the default.
    for mode in ["", "error_mode: ignore", "error_mode: silent"] {
        let out = run(&format!("{mode}\ntrace_statements:{statements}"), traces())
            .await
            .unwrap();
        let s = spans(&out);
        assert_eq!(
            pairs(&s[0].attributes)[5],
            ("short".into(), "GET /users/42".into())
        );
        assert_eq!(
            pairs(&s[1].attributes),
            owned(&[("after", "yes")]),
            "{mode}"
        );
    }
    // A group's own error_mode wins over the processor's.
    let out = run(
        &format!(
            "error_mode: propagate\ntrace_statements:\n  - context: span\n    error_mode: ignore\n    statements:{}",
            statements.replace("\n  -", "\n      -")
        ),
        traces(),
    )
    .await
    .unwrap();
    assert_eq!(
        pairs(&spans(&out)[1].attributes),
        owned(&[("after", "yes")])
    );
}

#[tokio::test]
async fn metrics_resource_metric_and_data_point() {
    use kakehashi_pdata::proto::metrics::v1::{
        metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum,
    };
    use kakehashi_pdata::ExportMetricsServiceRequest;
    let point = |route: &str| NumberDataPoint {
        attributes: vec![kv_of("route", s(route)), kv_of("pod", s("web-1"))],
        value: Some(number_data_point::Value::AsInt(1)),
        ..Default::default()
    };
    let batch = Batch::new(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "interop.requests".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point("/a"), point("/b")],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "interop.temperature".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![point("/c")],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let out = run(
        r#"
metric_statements:
  - 'set(resource.attributes["cluster"], "c1")'
  - 'replace_pattern(metric.name, "^interop\\.", "app.")'
  - 'set(metric.description, "requests served") where metric.type == METRIC_DATA_TYPE_SUM'
  - 'set(datapoint.attributes["kind"], "counter") where metric.type == METRIC_DATA_TYPE_SUM and metric.is_monotonic == true'
  - 'delete_key(datapoint.attributes, "pod")'
  - 'set(datapoint.attributes["metric"], metric.name)'
"#,
        batch,
    )
    .await
    .unwrap();
    let Payload::Metrics(r) = &*out.payload else {
        panic!()
    };
    assert_eq!(
        pairs(&r.resource_metrics[0].resource.as_ref().unwrap().attributes),
        owned(&[("cluster", "c1")])
    );
    let metrics = &r.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics[0].name, "app.requests");
    assert_eq!(metrics[0].description, "requests served");
    assert_eq!(metrics[1].name, "app.temperature");
    assert_eq!(metrics[1].description, "");
    let attrs: Vec<_> = crate::ottl::datapoints(&metrics[0])
        .iter()
        .map(|p| pairs(p.attributes()))
        .collect();
    assert_eq!(
        attrs,
        [
            owned(&[
                ("route", "/a"),
                ("kind", "counter"),
                ("metric", "app.requests")
            ]),
            owned(&[
                ("route", "/b"),
                ("kind", "counter"),
                ("metric", "app.requests")
            ])
        ]
    );
    assert_eq!(
        pairs(crate::ottl::datapoints(&metrics[1])[0].attributes()),
        owned(&[("route", "/c"), ("metric", "app.temperature")]),
        "a gauge: not a monotonic sum"
    );
}

#[test]
fn config_errors_are_clear() {
    for (yaml, want) in [
        (
            "trace_statements: ['set(attributes[\"x\"], 1)']",
            "unable to infer a context",
        ),
        (
            "trace_statements: ['drop() where span.name == \"x\"']",
            "expected a path",
        ),
        (
            "trace_statements: ['delete(span.attributes)']",
            "undefined function \"delete\"",
        ),
        (
            "trace_statements: ['set(span.trace_id.string, \"00\")']",
            "cannot be assigned",
        ),
        (
            "trace_statements: ['delete_key(span.name, \"x\")']",
            "must be an attributes map",
        ),
        (
            "trace_statements: ['replace_pattern(span.name, \"(\", \"x\")']",
            "not a valid pattern",
        ),
        (
            "trace_statements: [{context: log, statements: ['set(name, \"x\")']}]",
            "\"log\" is not a context of this signal",
        ),
        (
            "trace_statements: [{context: span}]",
            "a group needs statements",
        ),
        (
            "trace_statements: [{context: span, statements: ['set(name, \"x\")'], cache: {}}]",
            "has invalid keys: cache",
        ),
        (
            "metric_statements: ['convert_sum_to_gauge() where metric.name == \"x\"']",
            "expected a path as the target",
        ),
        (
            "metric_statements: ['set(metric.type, METRIC_DATA_TYPE_GAUGE)']",
            "cannot be assigned",
        ),
        (
            "log_statements: ['limit(log.attributes, 1, [\"a\", \"b\"])']",
            "can't be greater than limit",
        ),
    ] {
        let e = errors(yaml);
        assert!(e.contains(want), "{yaml}: {e}");
    }
}
