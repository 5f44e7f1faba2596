//! The `datadog` exporter: OTLP traces → Datadog trace intake (`/api/v0.2/traces`) and APM stats
//! (`/api/v0.2/stats`); and the `datadog` connector, which computes those stats in front of a
//! metrics pipeline. The mapping itself lives in `kakehashi-datadog-translate`; this crate is
//! configuration, payload assembly, compression, the HTTP client and the stats concentrator.
//!
//! * [`config`]: every key of otelcol's datadog exporter, with defaults and validation.
//! * [`exporter`]: translate → stats → split → gzip → send with per-payload retries.
//! * [`payload`]: AgentPayloads under 3.2 MB; [`client`] and [`retry`]: the intake's HTTP side.
//! * [`stats`]: APM stats (libdd-trace-stats concentrators, bounded); [`metadata`]: host metadata
//!   and the usage series; [`host_info`]: what the host metadata says about the machine.
//! * [`connector`]: the `datadog` connector; [`stats_metric`]: its stats as metrics;
//!   [`stats_exporter`]: the exporter's metrics side, which sends them.

pub mod client;
pub mod client_stats;
pub mod config;
pub mod connector;
mod connector_stats;
pub mod encode;
pub mod exporter;
mod gzip;
pub mod host_info;
pub mod metadata;
pub mod payload;
pub mod retry;
mod self_metrics;
pub mod source;
pub mod stats;
pub mod stats_exporter;
pub mod stats_metric;
#[cfg(test)]
mod test_server;

pub use config::DatadogConfig;
pub use connector::DatadogConnectorFactory;
pub use exporter::DatadogExporter;

use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, BuiltExporter, Exporter,
    ExporterFactory, FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use std::sync::Arc;

pub struct DatadogExporterFactory;

impl FactoryInfo for DatadogExporterFactory {
    fn type_name(&self) -> &'static str {
        "datadog"
    }
    /// Traces, and metrics carrying the Datadog connector's APM stats; a logs pipeline naming
    /// `datadog` is a config error.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Metrics]
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
        signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<DatadogConfig>(cfg);
        let exporter: Arc<dyn Exporter> = match signal {
            Signal::Metrics => Arc::new(stats_exporter::DatadogStatsExporter::new(ctx, cfg)?),
            _ => Arc::new(DatadogExporter::new(ctx, cfg)?),
        };
        Ok(BuiltExporter {
            exporter,
            settings: cfg.helper_settings(),
        })
    }
    /// Metrics only from the Datadog connector: metrics as Datadog series are not supported yet.
    fn only_from_connectors(&self, signal: Signal) -> Option<&'static [&'static str]> {
        (signal == Signal::Metrics).then_some(&["datadog"])
    }
}
