//! The collector's own logs, configured by `service.telemetry.logs`.

use crate::config::{LogEncoding, LogsConfig};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level (useful
/// to debug one module). Safe to call once per process; later calls are ignored.
pub fn init(cfg: &LogsConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(cfg.level.level_directive()));
    let to_stdout = cfg.output_paths.iter().any(|p| p == "stdout");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match (cfg.encoding, to_stdout) {
        (LogEncoding::Json, true) => builder.json().with_writer(std::io::stdout).try_init(),
        (LogEncoding::Json, false) => builder.json().with_writer(std::io::stderr).try_init(),
        (LogEncoding::Console, true) => builder.with_writer(std::io::stdout).try_init(),
        (LogEncoding::Console, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    // Already initialised (tests, or a second collector in one process): keep the first.
    let _ = result;
}

impl crate::config::LogLevel {
    fn level_directive(self) -> String {
        self.directive().to_owned()
    }
}
