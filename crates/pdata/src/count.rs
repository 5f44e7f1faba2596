//! Item counting as otelcol does it: spans, metric data points, log records.

use crate::proto::metrics::v1::{metric::Data, Metric};
use crate::{ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest};

/// Number of items (the unit of `send_batch_size`, `otelcol_*_spans`, ...).
pub trait ItemCount {
    fn item_count(&self) -> usize;
}

impl ItemCount for ExportTraceServiceRequest {
    fn item_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }
}

impl ItemCount for ExportLogsServiceRequest {
    fn item_count(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len())
            .sum()
    }
}

impl ItemCount for ExportMetricsServiceRequest {
    fn item_count(&self) -> usize {
        self.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(Metric::item_count)
            .sum()
    }
}

impl ItemCount for Metric {
    /// Data points of the metric (otelcol's `DataPointCount`); a metric without data counts 0.
    fn item_count(&self) -> usize {
        match &self.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    }
}
