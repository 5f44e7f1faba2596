//! The `normal` verbosity: about one line per record (otelcol's `normal*Marshaler`).

use super::value::{attributes_inline, value_as_string};
use kakehashi_pdata::proto::common::v1::{InstrumentationScope, KeyValue};
use kakehashi_pdata::proto::metrics::v1::{metric::Data, number_data_point};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::Payload;
use std::fmt::Write;

fn header(out: &mut String, kind: &str, i: usize, schema: &str, res: Option<&Resource>) {
    let _ = write!(out, "{kind} #{i}");
    if !schema.is_empty() {
        let _ = write!(out, " [{schema}]");
    }
    if let Some(r) = res.filter(|r| !r.attributes.is_empty()) {
        let _ = write!(out, " {}", attributes_inline(&r.attributes));
    }
    out.push('\n');
}

fn scope_header(
    out: &mut String,
    kind: &str,
    i: usize,
    schema: &str,
    s: Option<&InstrumentationScope>,
) {
    let _ = write!(out, "{kind} #{i}");
    if let Some(s) = s {
        let _ = write!(out, " {}", s.name);
        if !s.version.is_empty() {
            let _ = write!(out, "@{}", s.version);
        }
    }
    if !schema.is_empty() {
        let _ = write!(out, " [{schema}]");
    }
    if let Some(s) = s.filter(|s| !s.attributes.is_empty()) {
        let _ = write!(out, " {}", attributes_inline(&s.attributes));
    }
    out.push('\n');
}

pub fn normal(p: &Payload) -> String {
    let mut out = String::new();
    let o = &mut out;
    match p {
        Payload::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                header(o, "ResourceSpans", i, &rs.schema_url, rs.resource.as_ref());
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    scope_header(o, "ScopeSpans", j, &ss.schema_url, ss.scope.as_ref());
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
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    scope_header(o, "ScopeMetrics", j, &sm.schema_url, sm.scope.as_ref());
                    for m in &sm.metrics {
                        metric_lines(o, m);
                    }
                }
            }
        }
        Payload::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                header(o, "ResourceLog", i, &rl.schema_url, rl.resource.as_ref());
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    scope_header(o, "ScopeLog", j, &sl.schema_url, sl.scope.as_ref());
                    for lr in &sl.log_records {
                        let _ = write!(o, "{}", value_as_string(lr.body.as_ref()));
                        if !lr.attributes.is_empty() {
                            let _ = write!(o, " {}", attributes_inline(&lr.attributes));
                        }
                        o.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// `name{attrs} value` per data point (histograms and summaries show count and sum).
fn metric_lines(o: &mut String, m: &kakehashi_pdata::proto::metrics::v1::Metric) {
    let mut line = |a: &[KeyValue], v: String| {
        let attrs = attributes_inline(a).replace(' ', ",");
        let _ = writeln!(o, "{}{{{attrs}}} {v}", m.name);
    };
    let number = |v: Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
        None => String::new(),
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
            line(
                &p.attributes,
                format!("count={} sum={}", p.count, p.sum.unwrap_or(0.0)),
            )
        }),
        Some(Data::ExponentialHistogram(h)) => h.data_points.iter().for_each(|p| {
            line(
                &p.attributes,
                format!("count={} sum={}", p.count, p.sum.unwrap_or(0.0)),
            )
        }),
        Some(Data::Summary(s)) => s
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, format!("count={} sum={}", p.count, p.sum))),
        None => {}
    }
}
