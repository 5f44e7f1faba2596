//! The debug exporter's output (written to a file via `use_internal_logger: false`) and the
//! nop exporter.

use kakehashi_component::{Batch, Exporter};
use kakehashi_config::Validate;
use kakehashi_exporter_debug::{DebugConfig, DebugExporter, NopExporter};
use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest, Payload,
};

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", Value::StringValue("svc".into()))],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lib".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

fn traces() -> Payload {
    let span = Span {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        name: "GET /".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        attributes: vec![kv("http.status", Value::IntValue(200))],
        events: vec![span::Event {
            name: "ev".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![span.clone(), span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

fn metrics() -> Payload {
    let dp = NumberDataPoint {
        value: Some(number_data_point::Value::AsDouble(2.5)),
        ..Default::default()
    };
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![dp.clone(), dp.clone(), dp],
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

fn logs() -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("hello".into())),
                    }),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

/// Exports `payloads` at `verbosity` into a temp file and returns what was written.
async fn output(verbosity: &str, payloads: &[Payload]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let cfg = DebugConfig {
        verbosity: verbosity.into(),
        use_internal_logger: false,
        output_paths: vec![path.to_string_lossy().into_owned()],
        ..Default::default()
    };
    assert!(cfg.validate().is_empty());
    let exp = DebugExporter::new(&cfg).unwrap();
    for p in payloads {
        exp.export(&Batch::new(p.clone())).await.unwrap();
    }
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn basic_is_one_line_per_batch() {
    let out = output("basic", &[traces(), metrics(), logs()]).await;
    assert_eq!(
        out,
        "Traces\t{\"resource spans\": 1, \"spans\": 2}\n\
         Metrics\t{\"resource metrics\": 1, \"metrics\": 1, \"data points\": 3}\n\
         Logs\t{\"resource logs\": 1, \"log records\": 1}\n"
    );
}

#[tokio::test]
async fn normal_adds_one_line_per_record() {
    let out = output("Normal", &[traces(), logs(), metrics()]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Traces\t{\"resource spans\": 1, \"spans\": 2}");
    // otelcol's normal traces marshaler names them so.
    assert_eq!(lines[1], "ResourceTraces #0 service.name=svc");
    assert_eq!(lines[2], "ScopeTraces #0 lib@1.0");
    assert_eq!(
        lines[3],
        "GET / 0102030405060708090a0b0c0d0e0f10 0102030405060708 http.status=200"
    );
    // A log line is otelcol's `"%s %s"`: the space stays without attributes.
    assert_eq!(lines[8], "hello ");
    // Metric data points: `name{k=v,...} value`, doubles as Go's %v.
    assert!(lines[9..].iter().any(|l| l.ends_with("} 2.5")), "{out}");
}

#[tokio::test]
async fn detailed_dumps_everything() {
    let out = output("detailed", &[traces(), metrics(), logs()]).await;
    for want in [
        "ResourceSpans #0\n",
        "Resource attributes:\n     -> service.name: Str(svc)\n",
        "InstrumentationScope lib 1.0\n",
        "Span #1\n",
        "    Trace ID       : 0102030405060708090a0b0c0d0e0f10\n",
        "    Kind           : Server\n",
        "    Start time     : 2018-12-13 14:51:00 +0000 UTC\n",
        "    Status message : \n    DroppedAttributesCount: 0\n    DroppedEventsCount: 0\n    DroppedLinksCount: 0\nAttributes:\n",
        "Attributes:\n     -> http.status: Int(200)\n",
        "SpanEvent #0\n     -> Name: ev\n",
        "     -> DataType: Sum\n     -> IsMonotonic: true\n     -> AggregationTemporality: Cumulative\n",
        "NumberDataPoints #2\n",
        "Value: 2.500000\n",
        "LogRecord #0\n",
        "SeverityNumber: Info(9)\n",
        "Body: Str(hello)\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn validation_and_defaults() {
    let cfg = DebugConfig {
        verbosity: "loud".into(),
        ..Default::default()
    };
    assert_eq!(
        cfg.validate(),
        vec!["verbosity level \"loud\" is not supported".to_string()]
    );
    let cfg = DebugConfig {
        output_paths: vec!["stdout".into()],
        ..Default::default()
    };
    assert_eq!(
        cfg.validate().len(),
        1,
        "output_paths needs use_internal_logger: false"
    );
    let cfg = DebugConfig::default();
    assert!(cfg.validate().is_empty());
    let s = cfg.helper_settings();
    assert!(!s.queue.enabled && !s.retry.enabled && s.timeout.is_zero());
}

#[tokio::test]
async fn internal_logger_and_nop_succeed() {
    let exp = DebugExporter::new(&DebugConfig {
        verbosity: "detailed".into(),
        ..Default::default()
    })
    .unwrap();
    exp.export(&Batch::new(traces())).await.unwrap();
    NopExporter.export(&Batch::new(logs())).await.unwrap();
}

/// Histograms, exponential histograms and summaries, with an exemplar.
fn distributions() -> Payload {
    let attrs = vec![
        kv("route", Value::StringValue("/a b".into())),
        kv("method", Value::StringValue("GET".into())),
    ];
    let exemplar = Exemplar {
        value: Some(exemplar::Value::AsDouble(0.25)),
        span_id: (1..=8).collect(),
        filtered_attributes: vec![kv("user", Value::StringValue("u1".into()))],
        ..Default::default()
    };
    let metric = |name: &str, data| Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    };
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "latency",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: attrs.clone(),
                                count: 3,
                                sum: Some(1.5),
                                min: Some(0.1),
                                max: Some(1.0),
                                explicit_bounds: vec![0.5, 1.0],
                                bucket_counts: vec![1, 1, 1],
                                exemplars: vec![exemplar],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "sizes",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                count: 7,
                                zero_count: 1,
                                positive: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![1, 2],
                                }),
                                negative: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![3],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "rtt",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                count: 2,
                                sum: 3.0,
                                quantile_values: vec![ValueAtQuantile {
                                    quantile: 0.5,
                                    value: 1.5,
                                }],
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[tokio::test]
async fn distributions_as_otelcol_prints_them() {
    let normal = output("normal", &[distributions()]).await;
    for want in [
        // Attributes joined with commas, spaces inside values kept.
        "latency{route=/a b,method=GET} count=3 sum=1.5 min=0.1 max=1 le0.5=1 le1=1 1\n",
        "sizes{} count=7\n",
        "rtt{} count=2 sum=3.000000 q0.5=1.5\n",
    ] {
        assert!(normal.contains(want), "missing {want:?} in:\n{normal}");
    }
    let detailed = output("detailed", &[distributions()]).await;
    for want in [
        "Sum: 1.500000\nMin: 0.100000\nMax: 1.000000\nExplicitBounds #0: 0.500000\n",
        "Exemplars:\nExemplar #0\n     -> Trace ID: \n     -> Span ID: 0102030405060708\n     -> Timestamp: 1970-01-01 00:00:00 +0000 UTC\n     -> Value: 0.250000\n     -> FilteredAttributes:\n          -> user: Str(u1)\n",
        "Count: 7\nBucket [-2.000000, -1.000000), Count: 3\nBucket [0, 0], Count: 1\nBucket (1.000000, 2.000000], Count: 1\nBucket (2.000000, 4.000000], Count: 2\n",
        "QuantileValue #0: Quantile 0.500000, Value 1.500000\n",
    ] {
        assert!(detailed.contains(want), "missing {want:?} in:\n{detailed}");
    }
}
