//! The collector's own logs, configured by `service.telemetry.logs`.

use crate::config::{LogEncoding, LogsConfig};
use crate::log_output::LogOutputs;
use crate::sampling::LogSampler;
use crate::zap_format::{initial_fields, WithInitialFields, ZapJson};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level (useful
/// to debug one module). Safe to call once per process; later calls are ignored. An output that
/// cannot be opened is the error.
/// Installs the collector's logger; `resource` (from [`crate::resource::attributes`]) goes on
/// every line as a `resource` object, as otelcol ≥ 0.134 writes it (empty: none).
pub fn init(cfg: &LogsConfig, resource: &[(String, String)]) -> Result<(), String> {
    let outputs = LogOutputs::open(&cfg.output_paths, &cfg.error_output_paths)?;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(cfg.level.level_directive()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(outputs.all_terminals())
        .with_target(false)
        .with_writer(outputs);
    // The sampler sits outside the formatting subscriber, so a dropped line is never formatted.
    let sampler = cfg.sampling.as_ref().and_then(LogSampler::new);
    let mut initial = initial_fields(&cfg.initial_fields);
    if !resource.is_empty() {
        let object = resource
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        initial.push(("resource".into(), serde_json::Value::Object(object)));
    }
    let result = match cfg.encoding {
        LogEncoding::Json => builder
            .event_format(ZapJson {
                initial,
                caller: !cfg.disable_caller,
            })
            .finish()
            .with(sampler)
            .try_init(),
        LogEncoding::Console => builder
            .map_event_format(|f| WithInitialFields::new(f, &initial))
            .finish()
            .with(sampler)
            .try_init(),
    };
    // Already initialised (tests, or a second collector in one process): keep the first.
    let _ = result;
    Ok(())
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

/// Libraries whose warnings a component reports itself, once per outage instead of once per
/// retry: kube's watcher warns on every failed list (each with the API's whole status object),
/// while the k8s_attributes processor logs the first failure and the recovery.
const SELF_REPORTED_CRATES: &[&str] = &["kube_runtime"];

impl crate::config::LogLevel {
    fn level_directive(self) -> String {
        let level = self.directive();
        let quiet: String = SELF_REPORTED_CRATES
            .iter()
            .map(|c| format!(",{c}=error"))
            .collect();
        if level != "debug" {
            return format!("{level}{quiet}");
        }
        let mut d = format!("{level}{quiet}");
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
        assert_eq!(LogLevel::Info.level_directive(), "info,kube_runtime=error");
    }
}
