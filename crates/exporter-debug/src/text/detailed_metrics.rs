//! The `detailed` dump of metrics, laid out as otelcol's `textMetricsMarshaler`.

use super::detailed::{resource, scope};
use super::value::{attribute_lines, format_timestamp};
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point, Metric};
use kakehashi_pdata::ExportMetricsServiceRequest;
use std::fmt::Write;

pub fn metrics(r: &ExportMetricsServiceRequest) -> String {
    let mut out = String::new();
    for (i, rm) in r.resource_metrics.iter().enumerate() {
        resource(
            &mut out,
            "ResourceMetrics",
            i,
            rm.resource.as_ref(),
            &rm.schema_url,
        );
        for (j, sm) in rm.scope_metrics.iter().enumerate() {
            scope(
                &mut out,
                "ScopeMetrics",
                j,
                sm.scope.as_ref(),
                &sm.schema_url,
            );
            for (k, m) in sm.metrics.iter().enumerate() {
                metric(&mut out, k, m);
            }
        }
    }
    out
}

fn temporality(t: i32) -> &'static str {
    match t {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

fn point_header(o: &mut String, kind: &str, i: usize, attrs: &[KeyValue], start: u64, time: u64) {
    let _ = writeln!(o, "{kind} #{i}");
    if !attrs.is_empty() {
        o.push_str("Data point attributes:\n");
        attribute_lines(o, attrs, 5);
    }
    let _ = writeln!(o, "StartTimestamp: {}", format_timestamp(start));
    let _ = writeln!(o, "Timestamp: {}", format_timestamp(time));
}

fn metric(o: &mut String, k: usize, m: &Metric) {
    let _ = writeln!(o, "Metric #{k}");
    o.push_str("Descriptor:\n");
    let _ = writeln!(o, "     -> Name: {}", m.name);
    let _ = writeln!(o, "     -> Description: {}", m.description);
    let _ = writeln!(o, "     -> Unit: {}", m.unit);
    let data_type = match &m.data {
        Some(Data::Gauge(_)) => "Gauge",
        Some(Data::Sum(_)) => "Sum",
        Some(Data::Histogram(_)) => "Histogram",
        Some(Data::ExponentialHistogram(_)) => "ExponentialHistogram",
        Some(Data::Summary(_)) => "Summary",
        None => "Empty",
    };
    let _ = writeln!(o, "     -> DataType: {data_type}");
    match &m.data {
        Some(Data::Sum(s)) => {
            let _ = writeln!(o, "     -> IsMonotonic: {}", s.is_monotonic);
            let _ = writeln!(
                o,
                "     -> AggregationTemporality: {}",
                temporality(s.aggregation_temporality)
            );
        }
        Some(Data::Histogram(h)) => {
            let _ = writeln!(
                o,
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            );
        }
        Some(Data::ExponentialHistogram(h)) => {
            let _ = writeln!(
                o,
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            );
        }
        _ => {}
    }
    let numbers = match &m.data {
        Some(Data::Gauge(g)) => Some(&g.data_points),
        Some(Data::Sum(s)) => Some(&s.data_points),
        _ => None,
    };
    for (i, p) in numbers.into_iter().flatten().enumerate() {
        point_header(
            o,
            "NumberDataPoints",
            i,
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
        );
        let _ = match p.value {
            Some(number_data_point::Value::AsInt(v)) => writeln!(o, "Value: {v}"),
            Some(number_data_point::Value::AsDouble(v)) => writeln!(o, "Value: {v:.6}"),
            None => writeln!(o, "Value: "),
        };
    }
    if let Some(Data::Histogram(h)) = &m.data {
        for (i, p) in h.data_points.iter().enumerate() {
            point_header(
                o,
                "HistogramDataPoints",
                i,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
            );
            let _ = writeln!(o, "Count: {}", p.count);
            if let Some(s) = p.sum {
                let _ = writeln!(o, "Sum: {s:.6}");
            }
            if let Some(v) = p.min {
                let _ = writeln!(o, "Min: {v:.6}");
            }
            if let Some(v) = p.max {
                let _ = writeln!(o, "Max: {v:.6}");
            }
            for (b, bound) in p.explicit_bounds.iter().enumerate() {
                let _ = writeln!(o, "ExplicitBounds #{b}: {bound:.6}");
            }
            for (b, c) in p.bucket_counts.iter().enumerate() {
                let _ = writeln!(o, "Buckets #{b}, Count: {c}");
            }
        }
    }
    if let Some(Data::ExponentialHistogram(h)) = &m.data {
        for (i, p) in h.data_points.iter().enumerate() {
            point_header(
                o,
                "ExponentialHistogramDataPoints",
                i,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
            );
            let _ = writeln!(o, "Count: {}", p.count);
            if let Some(s) = p.sum {
                let _ = writeln!(o, "Sum: {s:.6}");
            }
            let _ = writeln!(o, "Scale: {}", p.scale);
            let _ = writeln!(o, "ZeroCount: {}", p.zero_count);
            for (name, b) in [("Positive", &p.positive), ("Negative", &p.negative)] {
                if let Some(b) = b {
                    let _ = writeln!(
                        o,
                        "{name} Offset: {}, Buckets: {:?}",
                        b.offset, b.bucket_counts
                    );
                }
            }
        }
    }
    if let Some(Data::Summary(s)) = &m.data {
        for (i, p) in s.data_points.iter().enumerate() {
            point_header(
                o,
                "SummaryDataPoints",
                i,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
            );
            let _ = writeln!(o, "Count: {}", p.count);
            let _ = writeln!(o, "Sum: {:.6}", p.sum);
            for (q, v) in p.quantile_values.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "QuantileValue #{q}: Quantile {}, Value {:.6}",
                    v.quantile, v.value
                );
            }
        }
    }
}
