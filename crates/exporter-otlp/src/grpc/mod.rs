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
    fn extension_refs(&self, cfg: &AnyConfig) -> Vec<(String, String)> {
        let cfg = config_as::<OtlpGrpcConfig>(cfg);
        cfg.auth
            .iter()
            .map(|a| ("auth::authenticator".into(), a.authenticator.clone()))
            .collect()
    }
}

impl ExporterFactory for OtlpGrpcExporterFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<OtlpGrpcConfig>(cfg);
        let mut exporter = OtlpGrpcExporter::new(cfg)?;
        if let Some(a) = &cfg.auth {
            exporter = exporter
                .with_authenticator(ctx.extensions.client_authenticator(&a.authenticator)?)?;
        }
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings: cfg.helper_settings(),
        })
    }
}
