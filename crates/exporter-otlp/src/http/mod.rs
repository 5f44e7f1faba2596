//! The `otlphttp` exporter (alias `otlp_http`): OTLP over HTTP, protobuf or JSON.

mod body;
mod config;
mod exporter;
mod json;
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
    fn extension_refs(&self, cfg: &AnyConfig) -> Vec<(String, String)> {
        let cfg = config_as::<OtlpHttpConfig>(cfg);
        cfg.auth
            .iter()
            .map(|a| ("auth::authenticator".into(), a.authenticator.clone()))
            .collect()
    }
}

impl ExporterFactory for OtlpHttpExporterFactory {
    fn build(
        &self,
        ctx: &BuildContext,
        cfg: &AnyConfig,
        signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<OtlpHttpConfig>(cfg);
        let mut exporter = OtlpHttpExporter::new(cfg, signal)?;
        if let Some(a) = &cfg.auth {
            exporter =
                exporter.with_authenticator(ctx.extensions.client_authenticator(&a.authenticator)?);
        }
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            settings: cfg.helper_settings(),
        })
    }
}
