//! The `normal` verbosity: about one line per record (otelcol's `normal*Marshaler`).

use super::value::{attributes_inline, go_f, go_v, value_as_string};
use kakehashi_pdata::proto::common::v1::{InstrumentationScope, KeyValue};
use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::Payload;
use std::fmt::Write;

/// ` k=v k2=v2`, or nothing (otelcol's `writeAttributesString`).
fn attributes_suffix(kvs: &[KeyValue]) -> String {
    if kvs.is_empty() {
        String::new()
    } else {
        format!(" {}", attributes_inline(kvs))
    }
}

/// `ResourceTraces #0 [schema] k=v`.
fn header(out: &mut String, kind: &str, i: usize, schema: &str, res: Option<&Resource>) {
    let _ = write!(out, "{kind} #{i}");
    if !schema.is_empty() {
        let _ = write!(out, " [{schema}]");
    }
    let attrs = res.map_or(&[][..], |r| &r.attributes[..]);
    let _ = writeln!(out, "{}", attributes_suffix(attrs));
}

/// `ScopeTraces #0 name@version [schema] k=v` (otelcol's `writeScopeDetails`). otelcol numbers
/// scopes with their *resource's* index (`i`), and so do we.
fn scope_header(
    out: &mut String,
    kind: &str,
    i: usize,
    schema: &str,
    s: Option<&InstrumentationScope>,
) {
    let (name, version) = s.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
    let mut details = name.to_owned();
    if !version.is_empty() {
        details.push('@');
        details.push_str(version);
    }
    if !schema.is_empty() {
        if !details.is_empty() {
            details.push(' ');
        }
        let _ = write!(details, "[{schema}]");
    }
    let _ = write!(out, "{kind} #{i}");
    if !details.is_empty() {
        let _ = write!(out, " {details}");
    }
    let attrs = s.map_or(&[][..], |s| &s.attributes[..]);
    let _ = writeln!(out, "{}", attributes_suffix(attrs));
}

pub fn normal(p: &Payload) -> String {
    let mut out = String::new();
    let o = &mut out;
    match p {
        Payload::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                header(o, "ResourceTraces", i, &rs.schema_url, rs.resource.as_ref());
                for ss in &rs.scope_spans {
                    scope_header(o, "ScopeTraces", i, &ss.schema_url, ss.scope.as_ref());
                    for s in &ss.spans {
                        let _ = write!(
                            o,
                            "{} {} {}",
                            s.name,
                            hex::encode(&s.trace_id),
                            hex::encode(&s.span_id)
                        );
                        if !s.attributes.is_empty() {
                            let _ = write!(o, " {}", attributes_inline(&s.attributes));
                        }
                        o.push('\n');
                    }
                }
            }
        }
        Payload::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                header(
                    o,
                    "ResourceMetrics",
                    i,
                    &rm.schema_url,
                    rm.resource.as_ref(),
                );
                for sm in &rm.scope_metrics {
                    scope_header(o, "ScopeMetrics", i, &sm.schema_url, sm.scope.as_ref());
                    for m in &sm.metrics {
                        metric_lines(o, m);
                    }
                }
            }
        }
        Payload::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                header(o, "ResourceLog", i, &rl.schema_url, rl.resource.as_ref());
                for sl in &rl.scope_logs {
                    scope_header(o, "ScopeLog", i, &sl.schema_url, sl.scope.as_ref());
                    for lr in &sl.log_records {
                        // otelcol's `"%s %s"`: the space stays when there are no attributes.
                        let _ = writeln!(
                            o,
                            "{} {}",
                            value_as_string(lr.body.as_ref()),
                            attributes_inline(&lr.attributes)
                        );
                    }
                }
            }
        }
    }
    out
}

/// `name{k=v,k2=v2} value` per data point, as otelcol's `normalMetricsMarshaler`: histograms
/// with count, sum/min/max when present and `le<bound>=<count>` buckets; exponential
/// histograms without buckets; summaries with `q<quantile>=<value>`.
fn metric_lines(o: &mut String, m: &kakehashi_pdata::proto::metrics::v1::Metric) {
    let mut line = |a: &[KeyValue], v: String| {
        let attrs: Vec<String> = a
            .iter()
            .map(|kv| format!("{}={}", kv.key, value_as_string(kv.value.as_ref())))
            .collect();
        let _ = writeln!(o, "{}{{{}}} {v}", m.name, attrs.join(","));
    };
    let number = |v: Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        Some(number_data_point::Value::AsDouble(d)) => go_v(d),
        None => String::new(),
    };
    let stats = |count: u64, sum: Option<f64>, min: Option<f64>, max: Option<f64>| {
        let mut v = format!("count={count}");
        for (name, x) in [("sum", sum), ("min", min), ("max", max)] {
            if let Some(x) = x {
                let _ = write!(v, " {name}={}", go_v(x));
            }
        }
        v
    };
    match &m.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, number(p.value))),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, number(p.value))),
        Some(Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
            let mut v = stats(p.count, p.sum, p.min, p.max);
            for (b, count) in p.bucket_counts.iter().enumerate() {
                match p.explicit_bounds.get(b) {
                    Some(bound) => {
                        let _ = write!(v, " le{}={count}", go_v(*bound));
                    }
                    None => {
                        let _ = write!(v, " {count}");
                    }
                }
            }
            line(&p.attributes, v)
        }),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, stats(p.count, p.sum, p.min, p.max))),
        Some(Data::Summary(s)) => s.data_points.iter().for_each(|p| {
            let mut v = format!("count={} sum={}", p.count, go_f(p.sum));
            for q in &p.quantile_values {
                let _ = write!(v, " q{}={}", go_v(q.quantile), go_v(q.value));
            }
            line(&p.attributes, v)
        }),
        None => {}
    }
}
