//! The text the debug exporter prints, per verbosity. otelcol declares the format unstable; we
//! follow its layout closely so eyes and greps used to otelcol keep working.

mod detailed;
mod detailed_metrics;
mod normal;
mod value;

pub use detailed::detailed;
pub use normal::normal;
pub use value::{format_timestamp, render_value};

use kakehashi_pdata::proto::metrics::v1::metric::Data;
use kakehashi_pdata::Payload;

/// The basic line: message and zap-console fields, e.g.
/// `Traces` and `{"resource spans": 1, "spans": 2}`.
pub fn basic(p: &Payload) -> (&'static str, String) {
    match p {
        Payload::Traces(r) => {
            let spans: usize = r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            (
                "Traces",
                format!(
                    "{{\"resource spans\": {}, \"spans\": {spans}}}",
                    r.resource_spans.len()
                ),
            )
        }
        Payload::Metrics(r) => {
            let metrics: Vec<_> = r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .collect();
            let points: usize = metrics
                .iter()
                .map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                })
                .sum();
            (
                "Metrics",
                format!(
                    "{{\"resource metrics\": {}, \"metrics\": {}, \"data points\": {points}}}",
                    r.resource_metrics.len(),
                    metrics.len()
                ),
            )
        }
        Payload::Logs(r) => {
            let records: usize = r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum();
            (
                "Logs",
                format!(
                    "{{\"resource logs\": {}, \"log records\": {records}}}",
                    r.resource_logs.len()
                ),
            )
        }
    }
}
