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

/// The basic line: a message and its counts, e.g. `Traces` with `resource spans: 1, spans: 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basic {
    pub message: &'static str,
    /// The counts in otelcol's field order, with otelcol's field names.
    pub counts: Vec<(&'static str, usize)>,
}

impl Basic {
    /// zap's console rendering of the fields: `{"resource spans": 1, "spans": 2}`.
    pub fn fields(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// The line through the collector's own logger, with the counts as structured fields (so
    /// `encoding: json` logs carry them as otelcol's do).
    pub fn log(&self) {
        use kakehashi_telemetry::sampling::DATA_OUTPUT_TARGET as OUT;
        use tracing::Level;
        let n = |i: usize| self.counts.get(i).map_or(0, |(_, v)| *v);
        // The braces let the quoted field names follow a `target:`.
        match self.message {
            "Traces" => tracing::event!(
                target: OUT,
                Level::INFO,
                { "resource spans" = n(0), spans = n(1) },
                "Traces"
            ),
            "Metrics" => tracing::event!(
                target: OUT,
                Level::INFO,
                { "resource metrics" = n(0), metrics = n(1), "data points" = n(2) },
                "Metrics"
            ),
            _ => tracing::event!(
                target: OUT,
                Level::INFO,
                { "resource logs" = n(0), "log records" = n(1) },
                "Logs"
            ),
        }
    }
}

pub fn basic(p: &Payload) -> Basic {
    match p {
        Payload::Traces(r) => {
            let spans: usize = r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            Basic {
                message: "Traces",
                counts: vec![("resource spans", r.resource_spans.len()), ("spans", spans)],
            }
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
            Basic {
                message: "Metrics",
                counts: vec![
                    ("resource metrics", r.resource_metrics.len()),
                    ("metrics", metrics.len()),
                    ("data points", points),
                ],
            }
        }
        Payload::Logs(r) => {
            let records: usize = r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum();
            Basic {
                message: "Logs",
                counts: vec![
                    ("resource logs", r.resource_logs.len()),
                    ("log records", records),
                ],
            }
        }
    }
}
