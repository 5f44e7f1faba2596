//! Self-telemetry: the `otelcol_*` metrics (Prometheus text on `/metrics`), the collector's own
//! logs, and the `health_check` extension.

pub mod config;
pub mod log_output;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod process;
pub mod resource;
pub mod sampling;
pub mod server;
pub mod zap_format;

pub use config::TelemetryConfig;
pub use metrics::{
    BatchMetrics, ExporterMetrics, MemoryLimiterMetrics, ReceiverMetrics, Telemetry,
};

/// A log writer for tests: everything written, shared between the subscriber and the test.
#[cfg(test)]
mod test_lines {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }
}
