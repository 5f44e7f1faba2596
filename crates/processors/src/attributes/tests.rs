use super::*;
use crate::attraction::value::str_value;
use crate::test_util::Sink;
use kakehashi_config::AnyValue as ConfigValue;
use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{
    Histogram, HistogramDataPoint, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(str_value(v)),
        ..Default::default()
    }
}

fn upsert(k: &str, v: &str) -> ActionKeyValue {
    ActionKeyValue {
        action: "upsert".into(),
        key: k.into(),
        value: Some(ConfigValue::Str(v.into())),
        ..Default::default()
    }
}

fn span(name: &str, kind: i32) -> Span {
    Span {
        name: name.into(),
        kind,
        ..Default::default()
    }
}

fn traces(service: &str, spans: Vec<Span>) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

async fn run(cfg: &AttributesConfig, payload: Payload) -> Payload {
    let sink = Arc::new(Sink::default());
    let p = AttributesProcessor::new(cfg, payload.signal(), sink.clone()).expect("build");
    p.consume(Batch::new(payload)).await.expect("consume");
    let mut got = sink.0.lock().expect("lock");
    got.remove(0).into_payload()
}

fn span_tagged(p: &Payload) -> Vec<bool> {
    let Payload::Traces(t) = p else {
        panic!("traces")
    };
    t.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.attributes.contains(&kv("tagged", "yes")))
        .collect()
}

fn block(match_type: &str) -> MatchProperties {
    MatchProperties {
        match_type: match_type.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn include_exclude_on_spans() {
    let spans = || vec![span("GET /a", 2), span("GET /b", 3), span("POST /a", 2)];
    let mut cfg = AttributesConfig {
        actions: vec![upsert("tagged", "yes")],
        ..Default::default()
    };
    // No filter: everything; resource untouched.
    let out = run(&cfg, traces("svc", spans())).await;
    assert_eq!(span_tagged(&out), vec![true, true, true]);
    let Payload::Traces(t) = &out else {
        panic!("traces")
    };
    assert_eq!(
        t.resource_spans[0]
            .resource
            .as_ref()
            .map(|r| r.attributes.len()),
        Some(1)
    );

    cfg.include = Some(MatchProperties {
        span_names: vec!["^GET".into()],
        ..block("regexp")
    });
    assert_eq!(
        span_tagged(&run(&cfg, traces("svc", spans())).await),
        vec![true, true, false]
    );

    cfg.exclude = Some(MatchProperties {
        span_kinds: vec!["SPAN_KIND_CLIENT".into()],
        ..block("strict")
    });
    assert_eq!(
        span_tagged(&run(&cfg, traces("svc", spans())).await),
        vec![true, false, false]
    );

    // AND within a block: services must also match.
    cfg.include = Some(MatchProperties {
        span_names: vec!["^GET".into()],
        services: vec!["other".into()],
        ..block("regexp")
    });
    assert_eq!(
        span_tagged(&run(&cfg, traces("svc", spans())).await),
        vec![false, false, false]
    );

    cfg.exclude = None;
    cfg.include = Some(MatchProperties {
        libraries: vec![LibraryMatch {
            name: "lib".into(),
            version: Some("1.0".into()),
        }],
        resources: vec![AttributeMatch {
            key: "service.name".into(),
            value: Some(ConfigValue::Str("svc".into())),
        }],
        ..block("strict")
    });
    assert_eq!(
        span_tagged(&run(&cfg, traces("svc", spans())).await),
        vec![true, true, true]
    );
    assert_eq!(
        span_tagged(&run(&cfg, traces("x", spans())).await),
        vec![false, false, false]
    );
}

#[tokio::test]
async fn logs_filter_by_severity_and_body() {
    let log = |sev: i32, body: &str| LogRecord {
        severity_number: sev,
        body: Some(str_value(body)),
        ..Default::default()
    };
    let payload = Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![log(0, "a"), log(9, "b"), log(17, "c"), log(17, "skip me")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let cfg = AttributesConfig {
        actions: vec![upsert("tagged", "yes")],
        include: Some(MatchProperties {
            log_severity_number: Some(SeverityNumberMatch {
                min: Some(ConfigValue::Str("WARN".into())),
                match_undefined: true,
            }),
            ..block("strict")
        }),
        exclude: Some(MatchProperties {
            log_bodies: vec!["skip".into()],
            ..block("regexp")
        }),
    };
    let Payload::Logs(out) = run(&cfg, payload).await else {
        panic!("logs")
    };
    let tagged: Vec<bool> = out.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| !l.attributes.is_empty())
        .collect();
    assert_eq!(tagged, vec![true, false, true, false]);
}

#[tokio::test]
async fn metrics_touch_all_point_types() {
    let sum = Metric {
        name: "requests".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![NumberDataPoint::default(); 2],
            ..Default::default()
        })),
        ..Default::default()
    };
    let hist = Metric {
        name: "latency".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint::default()],
            ..Default::default()
        })),
        ..Default::default()
    };
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![sum, hist],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut cfg = AttributesConfig {
        actions: vec![upsert("env", "prod")],
        ..Default::default()
    };
    let Payload::Metrics(out) = run(&cfg, payload.clone()).await else {
        panic!("metrics")
    };
    let ms = &out.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Sum(s)) = &ms[0].data else {
        panic!("sum")
    };
    assert!(s
        .data_points
        .iter()
        .all(|d| d.attributes == vec![kv("env", "prod")]));
    let Some(Data::Histogram(h)) = &ms[1].data else {
        panic!("hist")
    };
    assert_eq!(h.data_points[0].attributes, vec![kv("env", "prod")]);

    cfg.exclude = Some(MatchProperties {
        metric_names: vec!["latency".into()],
        ..block("strict")
    });
    let Payload::Metrics(out) = run(&cfg, payload).await else {
        panic!("metrics")
    };
    let Some(Data::Histogram(h)) = &out.resource_metrics[0].scope_metrics[0].metrics[1].data else {
        panic!("hist")
    };
    assert!(h.data_points[0].attributes.is_empty());
}

#[test]
fn validation_and_build_errors() {
    assert_eq!(
        AttributesConfig::default().validate(),
        vec![r#"missing required field "actions""#.to_string()]
    );
    let cfg = AttributesConfig {
        actions: vec![upsert("a", "b")],
        include: Some(MatchProperties {
            log_bodies: vec!["x".into()],
            ..block("strict")
        }),
        ..Default::default()
    };
    let e = AttributesProcessor::new(&cfg, Signal::Traces, Arc::new(Sink::default())).err();
    assert_eq!(
        e.map(|e| e.0),
        Some("log_bodies should not be specified for trace spans".into())
    );
}
