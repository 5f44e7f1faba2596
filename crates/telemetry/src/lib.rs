//! Self-telemetry: the `otelcol_*` metrics (Prometheus text on `/metrics`), the collector's own
//! logs, and the `health_check` extension.

pub mod config;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod server;

pub use config::TelemetryConfig;
pub use metrics::{
    BatchMetrics, ExporterMetrics, MemoryLimiterMetrics, ReceiverMetrics, Telemetry,
};
