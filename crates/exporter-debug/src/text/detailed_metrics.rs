//! The `detailed` dump of metrics, laid out as otelcol's `textMetricsMarshaler`.

use super::detailed::{resource, scope};
use super::value::{attribute_lines, format_timestamp, go_f};
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::proto::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, ExponentialHistogramDataPoint, Metric,
};
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
        match p.value {
            Some(number_data_point::Value::AsInt(v)) => {
                let _ = writeln!(o, "Value: {v}");
            }
            Some(number_data_point::Value::AsDouble(v)) => {
                let _ = writeln!(o, "Value: {}", go_f(v));
            }
            None => {}
        }
        exemplars(o, &p.exemplars);
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
            sum_min_max(o, p.sum, p.min, p.max);
            for (b, bound) in p.explicit_bounds.iter().enumerate() {
                let _ = writeln!(o, "ExplicitBounds #{b}: {}", go_f(*bound));
            }
            for (b, c) in p.bucket_counts.iter().enumerate() {
                let _ = writeln!(o, "Buckets #{b}, Count: {c}");
            }
            exemplars(o, &p.exemplars);
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
            sum_min_max(o, p.sum, p.min, p.max);
            exponential_buckets(o, p);
            exemplars(o, &p.exemplars);
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
            let _ = writeln!(o, "Sum: {}", go_f(p.sum));
            for (q, v) in p.quantile_values.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "QuantileValue #{q}: Quantile {}, Value {}",
                    go_f(v.quantile),
                    go_f(v.value)
                );
            }
        }
    }
}

fn sum_min_max(o: &mut String, sum: Option<f64>, min: Option<f64>, max: Option<f64>) {
    for (name, v) in [("Sum", sum), ("Min", min), ("Max", max)] {
        if let Some(v) = v {
            let _ = writeln!(o, "{name}: {}", go_f(v));
        }
    }
}

/// otelcol's bucket lines: negative buckets from the most negative, the zero bucket when it
/// counts anything, then positive buckets; bounds are `exp(index * ln2 / 2^scale)`.
fn exponential_buckets(o: &mut String, p: &ExponentialHistogramDataPoint) {
    let factor = std::f64::consts::LN_2 * 2f64.powi(-p.scale);
    let bounds = |offset: i32, pos: usize| {
        let index = f64::from(offset) + pos as f64;
        ((index * factor).exp(), ((index + 1.0) * factor).exp())
    };
    if let Some(neg) = &p.negative {
        for (pos, count) in neg.bucket_counts.iter().enumerate().rev() {
            let (lower, upper) = bounds(neg.offset, pos);
            let _ = writeln!(
                o,
                "Bucket [{}, {}), Count: {count}",
                go_f(-upper),
                go_f(-lower)
            );
        }
    }
    if p.zero_count != 0 {
        let _ = writeln!(o, "Bucket [0, 0], Count: {}", p.zero_count);
    }
    if let Some(posb) = &p.positive {
        for (pos, count) in posb.bucket_counts.iter().enumerate() {
            let (lower, upper) = bounds(posb.offset, pos);
            let _ = writeln!(
                o,
                "Bucket ({}, {}], Count: {count}",
                go_f(lower),
                go_f(upper)
            );
        }
    }
}

/// otelcol's `logExemplars`.
fn exemplars(o: &mut String, list: &[Exemplar]) {
    if list.is_empty() {
        return;
    }
    o.push_str("Exemplars:\n");
    for (i, e) in list.iter().enumerate() {
        let _ = writeln!(o, "Exemplar #{i}");
        let _ = writeln!(o, "     -> Trace ID: {}", hex::encode(&e.trace_id));
        let _ = writeln!(o, "     -> Span ID: {}", hex::encode(&e.span_id));
        let _ = writeln!(
            o,
            "     -> Timestamp: {}",
            format_timestamp(e.time_unix_nano)
        );
        match e.value {
            Some(exemplar::Value::AsInt(v)) => {
                let _ = writeln!(o, "     -> Value: {v}");
            }
            Some(exemplar::Value::AsDouble(v)) => {
                let _ = writeln!(o, "     -> Value: {}", go_f(v));
            }
            None => {}
        }
        if !e.filtered_attributes.is_empty() {
            o.push_str("     -> FilteredAttributes:\n");
            attribute_lines(o, &e.filtered_attributes, 10);
        }
    }
}
