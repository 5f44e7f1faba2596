//! The `otlphttp` exporter (alias `otlp_http`): OTLP over HTTP, protobuf or JSON.

mod body;
mod config;
mod exporter;
mod response;

pub use config::{CompressionParams, Encoding, HttpCompression, OtlpHttpConfig};
pub use exporter::OtlpHttpExporter;
pub use response::{parse_retry_after, read_limited, MAX_RESPONSE_BODY};

use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, BuiltExporter, ExporterFactory,
    FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use std::sync::Arc;

pub struct OtlpHttpExporterFactory;

impl FactoryInfo for OtlpHttpExporterFactory {
    /// The current name (otelcol v0.144+); the old one stays as a deprecated alias.
    fn type_name(&self) -> &'static str {
        "otlp_http"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["otlphttp"]
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn stability(&self) -> &'static str {
        "stable"
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<OtlpHttpConfig>(node, path)
    }
}

impl ExporterFactory for OtlpHttpExporterFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<OtlpHttpConfig>(cfg);
        Ok(BuiltExporter {
            exporter: Arc::new(OtlpHttpExporter::new(cfg, signal)?),
            settings: cfg.helper_settings(),
        })
    }
}
