//! Test data shared by the gRPC and HTTP tests.
#![allow(dead_code)]

use kakehashi_pdata::proto::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use kakehashi_pdata::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use kakehashi_pdata::proto::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use kakehashi_pdata::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};

pub fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// Attributes of every type, including nested ones and 64-bit extremes.
pub fn all_attribute_types() -> Vec<KeyValue> {
    vec![
        kv("str", Value::StringValue("héllo".into())),
        kv("int", Value::IntValue(i64::MIN)),
        kv("big", Value::IntValue(i64::MAX)),
        kv("double", Value::DoubleValue(1.5)),
        kv("bool", Value::BoolValue(true)),
        kv("bytes", Value::BytesValue(vec![0, 1, 2, 255])),
        kv(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1)),
                    },
                    AnyValue {
                        value: Some(Value::StringValue("two".into())),
                    },
                ],
            }),
        ),
        kv(
            "map",
            Value::KvlistValue(KeyValueList {
                values: vec![kv("inner", Value::BoolValue(false))],
            }),
        ),
    ]
}

pub fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", Value::StringValue("checkout".into()))],
        dropped_attributes_count: 1,
        ..Default::default()
    })
}

pub fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lib".into(),
        version: "1.2.3".into(),
        attributes: vec![kv("scope.attr", Value::IntValue(7))],
        dropped_attributes_count: 0,
    })
}

pub fn traces() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        parent_span_id: vec![9; 8],
        trace_state: "k=v".into(),
        flags: 1,
        name: "GET /".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_001,
        end_time_unix_nano: u64::MAX,
        attributes: all_attribute_types(),
        dropped_attributes_count: 2,
        events: vec![span::Event {
            time_unix_nano: 5,
            name: "ev".into(),
            attributes: vec![kv("e", Value::StringValue("x".into()))],
            dropped_attributes_count: 3,
        }],
        dropped_events_count: 4,
        links: vec![span::Link {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            trace_state: "a=b".into(),
            attributes: vec![kv("l", Value::DoubleValue(-0.25))],
            dropped_attributes_count: 0,
            flags: 256,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "boom".into(),
            code: 2,
        }),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![
                    span.clone(),
                    Span {
                        name: "second".into(),
                        ..span
                    },
                ],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }],
            schema_url: "https://schema/r".into(),
        }],
    }
}

pub fn metrics() -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "queue.depth".into(),
                    description: "d".into(),
                    unit: "1".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: all_attribute_types(),
                            time_unix_nano: 1_700_000_000_000_000_000,
                            value: Some(number_data_point::Value::AsInt(-42)),
                            ..Default::default()
                        }],
                    })),
                    metadata: vec![],
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub fn logs() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: 1,
                    observed_time_unix_nano: 2,
                    severity_number: 9,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("hello".into())),
                    }),
                    attributes: all_attribute_types(),
                    flags: 1,
                    trace_id: vec![7; 16],
                    span_id: vec![8; 8],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
