//! APM stats carried through a metrics pipeline, as otelcol-contrib's Datadog connector and
//! exporter pass them: a `StatsPayload` encoded as protobuf in a bytes attribute of the one data
//! point of a non-monotonic Sum named `dd.internal.stats.payload` (the attribute has the same
//! key), one such metric per payload, alone in its resource. The exporter recognises the metric
//! by its name and type and sends the payload to `/api/v0.2/stats` instead of as a series.

use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_pdata::proto::metrics::v1::{
    metric, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use kakehashi_pdata::ExportMetricsServiceRequest;
use libdd_trace_protobuf::pb;
use prost::Message;

/// The metric name and attribute key (`pkg/datadog`'s `keyStatsPayload`).
pub const STATS_PAYLOAD_KEY: &str = "dd.internal.stats.payload";

/// The metric that carries `payload`.
pub fn to_metrics(payload: &pb::StatsPayload) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        attributes: vec![KeyValue {
            key: STATS_PAYLOAD_KEY.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BytesValue(payload.encode_to_vec())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let metric = Metric {
        name: STATS_PAYLOAD_KEY.to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point],
            is_monotonic: false,
            aggregation_temporality: 0,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// What a metrics batch holds for the Datadog exporter.
#[derive(Debug, Default)]
pub struct Split {
    /// The stats payloads, in order.
    pub payloads: Vec<pb::StatsPayload>,
    /// Data points of other metrics (kakehashi does not send metrics as series yet).
    pub other_points: usize,
    /// Stats data points whose payload could not be read (not bytes, or not a `StatsPayload`).
    pub unreadable: usize,
}

/// The stats payloads in `req`, as the Go exporter's metrics translator finds them: a Sum named
/// [`STATS_PAYLOAD_KEY`], each data point's attribute of that key as bytes.
pub fn from_metrics(req: &ExportMetricsServiceRequest) -> Split {
    let mut out = Split::default();
    for metric in req
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
    {
        let sum = match &metric.data {
            Some(metric::Data::Sum(sum)) if metric.name == STATS_PAYLOAD_KEY => sum,
            data => {
                out.other_points += data.as_ref().map_or(0, point_count);
                continue;
            }
        };
        for point in &sum.data_points {
            let bytes = point
                .attributes
                .iter()
                .find(|kv| kv.key == STATS_PAYLOAD_KEY)
                .and_then(|kv| kv.value.as_ref()?.value.as_ref());
            let decoded = match bytes {
                Some(any_value::Value::BytesValue(b)) => {
                    pb::StatsPayload::decode(b.as_slice()).ok()
                }
                _ => None,
            };
            match decoded {
                Some(p) => out.payloads.push(p),
                None => out.unreadable += 1,
            }
        }
    }
    out
}

fn point_count(data: &metric::Data) -> usize {
    match data {
        metric::Data::Gauge(g) => g.data_points.len(),
        metric::Data::Sum(s) => s.data_points.len(),
        metric::Data::Histogram(h) => h.data_points.len(),
        metric::Data::ExponentialHistogram(h) => h.data_points.len(),
        metric::Data::Summary(s) => s.data_points.len(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A payload of one grouped stats entry (7 hits of `web` `GET /`, a python client).
    pub(crate) fn payload() -> pb::StatsPayload {
        pb::StatsPayload {
            agent_env: "none".into(),
            stats: vec![pb::ClientStatsPayload {
                env: "prod".into(),
                lang: "python".into(),
                stats: vec![pb::ClientStatsBucket {
                    start: 1_700_000_000_000_000_000,
                    duration: 10_000_000_000,
                    stats: vec![pb::ClientGroupedStats {
                        service: "web".into(),
                        name: "http.request".into(),
                        resource: "GET /".into(),
                        hits: 7,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_payload_survives_the_metric_and_other_metrics_are_counted() {
        let mut req = to_metrics(&payload());
        let metric = &req.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "dd.internal.stats.payload");
        let Some(metric::Data::Sum(sum)) = &metric.data else {
            panic!("not a sum: {metric:?}")
        };
        assert!(!sum.is_monotonic);
        // A gauge with two points and a stats-named gauge are other metrics; a stats sum whose
        // attribute is a string is unreadable.
        let mut others = ScopeMetrics::default();
        let gauge = |name: &str| Metric {
            name: name.into(),
            data: Some(metric::Data::Gauge(
                kakehashi_pdata::proto::metrics::v1::Gauge {
                    data_points: vec![NumberDataPoint::default(); 2],
                },
            )),
            ..Default::default()
        };
        others.metrics.push(gauge("cpu"));
        others.metrics.push(gauge(STATS_PAYLOAD_KEY));
        let mut bad =
            to_metrics(&payload()).resource_metrics[0].scope_metrics[0].metrics[0].clone();
        if let Some(metric::Data::Sum(s)) = &mut bad.data {
            s.data_points[0].attributes[0].value = Some(AnyValue {
                value: Some(any_value::Value::StringValue("{}".into())),
            });
        }
        others.metrics.push(bad);
        req.resource_metrics[0].scope_metrics.push(others);

        let split = from_metrics(&req);
        assert_eq!(split.payloads, vec![payload()]);
        assert_eq!(split.other_points, 4);
        assert_eq!(split.unreadable, 1);
    }
}
