//! The `datadog` exporter: OTLP traces → Datadog trace intake (`/api/v0.2/traces`) and APM stats
//! (`/api/v0.2/stats`). The mapping itself lives in `kakehashi-datadog-translate`; this crate is
//! configuration, payload assembly, compression, the HTTP client and the stats concentrator.
//!
//! * [`config`]: every key of otelcol's datadog exporter, with defaults and validation.
//! * [`exporter`]: translate → stats → split → gzip → send with per-payload retries.
//! * [`payload`]: AgentPayloads under 3.2 MB; [`client`] and [`retry`]: the intake's HTTP side.
//! * [`stats`]: APM stats (libdd-trace-stats concentrators, bounded); [`metadata`]: host metadata
//!   and the usage series.

pub mod client;
pub mod config;
pub mod encode;
pub mod exporter;
mod gzip;
mod hostname;
pub mod metadata;
pub mod payload;
pub mod retry;
mod self_metrics;
pub mod stats;
#[cfg(test)]
mod test_server;

pub use config::DatadogConfig;
pub use exporter::DatadogExporter;

use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, BuiltExporter, ExporterFactory,
    FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use std::sync::Arc;

pub struct DatadogExporterFactory;

impl FactoryInfo for DatadogExporterFactory {
    fn type_name(&self) -> &'static str {
        "datadog"
    }
    /// Traces only so far: a metrics or logs pipeline naming `datadog` is a config error.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }
    fn stability(&self) -> &'static str {
        "beta"
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<DatadogConfig>(node, path)
    }
}

impl ExporterFactory for DatadogExporterFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<DatadogConfig>(cfg);
        Ok(BuiltExporter {
            exporter: Arc::new(DatadogExporter::new(ctx, cfg)?),
            settings: cfg.helper_settings(),
        })
    }
}
