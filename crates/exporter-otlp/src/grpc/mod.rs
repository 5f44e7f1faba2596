//! The `otlp` exporter (alias `otlp_grpc`): OTLP over gRPC.

mod config;
mod endpoint;
mod exporter;
mod status;

pub use config::{GrpcCompression, KeepaliveSettings, OtlpGrpcConfig};
pub use endpoint::{parse as parse_endpoint, Target};
pub use exporter::OtlpGrpcExporter;
pub use status::map_status;

use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, BuiltExporter, ExporterFactory,
    FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use std::sync::Arc;

pub struct OtlpGrpcExporterFactory;

impl FactoryInfo for OtlpGrpcExporterFactory {
    /// The current name (otelcol v0.144+); the old one stays as a deprecated alias.
    fn type_name(&self) -> &'static str {
        "otlp_grpc"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["otlp"]
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn stability(&self) -> &'static str {
        "stable"
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<OtlpGrpcConfig>(node, path)
    }
}

impl ExporterFactory for OtlpGrpcExporterFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<OtlpGrpcConfig>(cfg);
        Ok(BuiltExporter {
            exporter: Arc::new(OtlpGrpcExporter::new(cfg)?),
            settings: cfg.helper_settings(),
        })
    }
}
