//! The filter processor on metrics: OTTL levels, the legacy include/exclude, metrics without
//! data points.

use super::tests::{build, filtered, s};
use super::*;
use crate::test_util::kv_of as kv;
use kakehashi_pdata::proto::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::ExportMetricsServiceRequest;

fn metrics_batch() -> Batch {
    use kakehashi_pdata::proto::metrics::v1::{
        metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, NumberDataPoint, Sum,
    };
    let point = |env: &str, v: f64| NumberDataPoint {
        attributes: vec![kv("env", s(env))],
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let rm = |service: &str, metrics: Vec<Metric>| ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![kv("service.name", s(service))],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    };
    Batch::new(ExportMetricsServiceRequest {
        resource_metrics: vec![
            rm(
                "api",
                vec![
                    Metric {
                        name: "http.server.duration".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                count: 3,
                                sum: Some(1.5),
                                attributes: vec![kv("env", s("prod"))],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "queue.depth".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![point("prod", 4.0), point("dev", 9.0)],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "requests".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point("dev", 1.0)],
                            aggregation_temporality: 1,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                ],
            ),
            rm(
                "batch-job",
                vec![Metric {
                    name: "queue.depth".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point("prod", 1.0)],
                    })),
                    ..Default::default()
                }],
            ),
        ],
    })
}

/// Each kept metric as "service/name[env of each point]".
fn metric_summary(b: &Batch) -> Vec<String> {
    let Payload::Metrics(r) = &*b.payload else {
        panic!("metrics")
    };
    let mut out = Vec::new();
    for rm in &r.resource_metrics {
        let service = rm.resource.as_ref().unwrap().attributes[0].clone();
        let service = kakehashi_pdata::go_text::as_string(service.value.as_ref());
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let envs: Vec<String> = crate::ottl::datapoints(m)
                    .iter()
                    .map(|dp| {
                        kakehashi_pdata::go_text::as_string(dp.attributes()[0].value.as_ref())
                    })
                    .collect();
                out.push(format!("{service}/{}{envs:?}", m.name));
            }
        }
    }
    out
}

#[tokio::test]
async fn metrics_by_resource_metric_and_data_point() {
    let (p, sink, t) = build(
        r#"
metric_conditions:
  - 'resource.attributes["service.name"] == "batch-job"'
  - 'metric.type == METRIC_DATA_TYPE_HISTOGRAM and HasAttrOnDatapoint("env", "prod")'
  - 'datapoint.attributes["env"] == "dev" and metric.is_monotonic != true'
  - 'datapoint.value_double > 5.0 and metric.aggregation_temporality == nil'
"#,
    );
    p.consume(metrics_batch()).await.expect("accepted");
    // batch-job: its resource; the histogram: metric level; queue.depth's dev point (a gauge
    // has no monotonicity or temporality: nil); requests' dev point is monotonic, so it stays.
    assert_eq!(
        metric_summary(&sink.taken()[0]),
        ["api/queue.depth[\"prod\"]", "api/requests[\"dev\"]"]
    );
    assert_eq!(filtered(&t, "datapoints"), Some(3));
    // A metric whose every point is dropped goes too.
    let (p, sink, _) = build("metrics: {datapoint: ['attributes[\"env\"] == \"dev\"']}");
    p.consume(metrics_batch()).await.expect("accepted");
    assert_eq!(
        metric_summary(&sink.taken()[0]),
        [
            "api/http.server.duration[\"prod\"]",
            "api/queue.depth[\"prod\"]",
            "batch-job/queue.depth[\"prod\"]"
        ]
    );
}

#[tokio::test]
async fn metrics_legacy_include_exclude() {
    let (p, sink, _) = build(
        r#"
metrics:
  include:
    match_type: regexp
    metric_names: ["^queue\\.", "^http\\."]
  exclude:
    match_type: strict
    metric_names: [queue.depth]
    resource_attributes:
      - key: service.name
        value: batch-job
"#,
    );
    p.consume(metrics_batch()).await.expect("accepted");
    // As otelcol: names decide per metric (queue.depth goes everywhere), the resource
    // attributes per resource (batch-job goes whole); `requests` is not included.
    assert_eq!(
        metric_summary(&sink.taken()[0]),
        ["api/http.server.duration[\"prod\"]"]
    );
    // A resource attribute listed without a value only has to be there; strict is typed.
    let (p, sink, _) = build(
        r#"
metrics:
  include:
    match_type: strict
    resource_attributes:
      - key: service.name
  exclude:
    match_type: strict
    resource_attributes:
      - key: service.name
        value: api
"#,
    );
    p.consume(metrics_batch()).await.expect("accepted");
    assert_eq!(
        metric_summary(&sink.taken()[0]),
        ["batch-job/queue.depth[\"prod\"]"]
    );
}

#[tokio::test]
async fn a_metric_without_data_points_still_goes_on() {
    let (p, sink, t) = build("metrics: {datapoint: ['true']}");
    let empty = Batch::new(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "no.data".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    p.consume(empty.clone()).await.expect("accepted");
    assert_eq!(
        sink.taken(),
        vec![empty],
        "0 items, but a metric: sent on, unchanged"
    );
    assert_eq!(filtered(&t, "datapoints"), Some(0));
}
