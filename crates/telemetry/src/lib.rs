//! Self-telemetry: the `otelcol_*` metrics (Prometheus text on `/metrics`), the collector's own
//! logs, and the `health_check` extension.

pub mod metrics;

pub use metrics::{
    BatchMetrics, ExporterMetrics, MemoryLimiterMetrics, ReceiverMetrics, Telemetry,
};
