//! The collector's own logs, configured by `service.telemetry.logs`.

use crate::config::{LogEncoding, LogsConfig};
use crate::sampling::LogSampler;
use crate::zap_format::{initial_fields, WithInitialFields, ZapJson};
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level (useful
/// to debug one module). Safe to call once per process; later calls are ignored.
pub fn init(cfg: &LogsConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(cfg.level.level_directive()));
    let to_stdout = cfg.output_paths.iter().any(|p| p == "stdout");
    // Colour only on a terminal: escape codes in a log file or a container log are noise.
    let ansi = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(false);
    // The sampler sits outside the formatting subscriber, so a dropped line is never formatted.
    let sampler = cfg.sampling.as_ref().and_then(LogSampler::new);
    let initial = initial_fields(&cfg.initial_fields);
    let json = ZapJson {
        initial: initial.clone(),
        caller: !cfg.disable_caller,
    };
    let console = |f| WithInitialFields::new(f, &initial);
    let result = match (cfg.encoding, to_stdout) {
        (LogEncoding::Json, true) => builder
            .event_format(json)
            .with_writer(std::io::stdout)
            .finish()
            .with(sampler)
            .try_init(),
        (LogEncoding::Json, false) => builder
            .event_format(json)
            .with_writer(std::io::stderr)
            .finish()
            .with(sampler)
            .try_init(),
        (LogEncoding::Console, true) => builder
            .map_event_format(console)
            .with_writer(std::io::stdout)
            .finish()
            .with(sampler)
            .try_init(),
        (LogEncoding::Console, false) => builder
            .map_event_format(console)
            .with_writer(std::io::stderr)
            .finish()
            .with(sampler)
            .try_init(),
    };
    // Already initialised (tests, or a second collector in one process): keep the first.
    let _ = result;
}

/// Libraries whose debug output is per frame or per connection (HTTP/2 frames, TLS records,
/// connection pools): at `level: debug` they stay at `info`, as otelcol's debug level shows the
/// collector's components and not gRPC's transport internals. Logging every frame also costs
/// more CPU than the pipeline itself under load. `RUST_LOG=h2=trace` still reaches them.
const TRANSPORT_CRATES: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "reqwest",
    "rustls",
    "tokio_rustls",
    "mio",
    "want",
];

impl crate::config::LogLevel {
    fn level_directive(self) -> String {
        let level = self.directive();
        if level != "debug" {
            return level.to_owned();
        }
        let mut d = level.to_owned();
        for c in TRANSPORT_CRATES {
            d.push_str(&format!(",{c}=info"));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use crate::config::LogLevel;

    #[test]
    fn debug_keeps_transport_crates_at_info() {
        let d = LogLevel::Debug.level_directive();
        assert!(d.starts_with("debug,"), "{d}");
        assert!(d.contains(",h2=info") && d.contains(",hyper=info"), "{d}");
        assert!(tracing_subscriber::EnvFilter::try_new(&d).is_ok());
        assert_eq!(LogLevel::Info.level_directive(), "info");
    }
}
