use super::split_off_front;
use crate::proto::common::v1::InstrumentationScope;
use crate::proto::metrics::v1::{
    metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::{ExportMetricsServiceRequest, ExportTraceServiceRequest, ItemCount, Payload, Signal};

fn span(i: u8) -> Span {
    Span {
        span_id: vec![i; 8],
        name: format!("s{i}"),
        ..Default::default()
    }
}

fn traces(shape: &[&[usize]]) -> ExportTraceServiceRequest {
    let mut n = 0u8;
    ExportTraceServiceRequest {
        resource_spans: shape
            .iter()
            .enumerate()
            .map(|(r, scopes)| ResourceSpans {
                resource: Some(Resource {
                    dropped_attributes_count: r as u32,
                    ..Default::default()
                }),
                scope_spans: scopes
                    .iter()
                    .enumerate()
                    .map(|(s, &count)| ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: format!("scope{r}.{s}"),
                            ..Default::default()
                        }),
                        spans: (0..count)
                            .map(|_| {
                                n += 1;
                                span(n)
                            })
                            .collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: format!("r{r}"),
            })
            .collect(),
    }
}

fn span_names(r: &ExportTraceServiceRequest) -> Vec<String> {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn split_250_into_100_100_50_keeps_order_and_resources() {
    let mut req = traces(&[&[250]]);
    let mut parts = Vec::new();
    while req.item_count() > 0 {
        parts.push(split_off_front(&mut req, 100));
    }
    let sizes: Vec<usize> = parts.iter().map(|p| p.item_count()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    for p in &parts {
        assert_eq!(p.resource_spans.len(), 1);
        assert_eq!(p.resource_spans[0].schema_url, "r0");
        assert_eq!(
            p.resource_spans[0].scope_spans[0]
                .scope
                .as_ref()
                .unwrap()
                .name,
            "scope0.0"
        );
    }
    let all: Vec<String> = parts.iter().flat_map(span_names).collect();
    let expected: Vec<String> = (1..=250).map(|i| format!("s{}", i as u8)).collect();
    assert_eq!(all, expected);
}

#[test]
fn split_across_resource_and_scope_boundaries() {
    let mut req = traces(&[&[2, 3], &[4]]);
    let front = split_off_front(&mut req, 4);
    assert_eq!(front.item_count(), 4);
    assert_eq!(req.item_count(), 5);
    assert_eq!(front.resource_spans.len(), 1);
    assert_eq!(front.resource_spans[0].scope_spans.len(), 2);
    assert_eq!(front.resource_spans[0].scope_spans[1].spans.len(), 2);
    // The remainder keeps the rest of the cut scope, with its scope and resource copied.
    assert_eq!(req.resource_spans.len(), 2);
    assert_eq!(req.resource_spans[0].scope_spans.len(), 1);
    assert_eq!(
        req.resource_spans[0].scope_spans[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "scope0.1"
    );
    assert_eq!(span_names(&front), vec!["s1", "s2", "s3", "s4"]);
    assert_eq!(span_names(&req), vec!["s5", "s6", "s7", "s8", "s9"]);
}

#[test]
fn split_exact_size_takes_everything() {
    let mut req = traces(&[&[3]]);
    let front = split_off_front(&mut req, 3);
    assert_eq!(front.item_count(), 3);
    assert!(req.resource_spans.is_empty());
}

#[test]
fn metrics_split_inside_a_metric_and_count_points() {
    let points = |n: usize| -> Vec<NumberDataPoint> {
        (0..n)
            .map(|i| NumberDataPoint {
                time_unix_nano: i as u64,
                ..Default::default()
            })
            .collect()
    };
    let mut req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "a".into(),
                        unit: "ms".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: points(3),
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "empty".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(req.item_count(), 3);
    let front = split_off_front(&mut req, 2);
    assert_eq!(front.item_count(), 2);
    assert_eq!(req.item_count(), 1);
    let m = &front.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!((m.name.as_str(), m.unit.as_str()), ("a", "ms"));
    let rest = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(rest[0].name, "a");
    assert_eq!(rest[1].name, "empty");
}

#[test]
fn payload_append_and_split_front() {
    let mut p = Payload::Traces(traces(&[&[2]]));
    p.append(Payload::Traces(traces(&[&[3]])));
    assert_eq!(p.item_count(), 5);
    let front = p.split_front(4);
    assert_eq!((front.item_count(), p.item_count()), (4, 1));
    assert_eq!(Signal::parse("traces"), Some(Signal::Traces));
    assert_eq!(Signal::parse("trace"), None);
}
