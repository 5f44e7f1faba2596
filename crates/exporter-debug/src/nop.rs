//! The `nop` exporter: accepts and drops everything.

use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_component::{
    decode_config, AnyConfig, Batch, BuildContext, BuildError, BuiltExporter, ExportError,
    Exporter, ExporterFactory, FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Duration, Node, Validate};
use kakehashi_pdata::Signal;
use serde::Deserialize;
use std::sync::Arc;

/// `nop` has no keys; any key is an error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopConfig {}

impl Validate for NopConfig {}

pub struct NopExporter;

#[async_trait::async_trait]
impl Exporter for NopExporter {
    async fn export(&self, _batch: &Batch) -> Result<(), ExportError> {
        Ok(())
    }
}

pub struct NopExporterFactory;

impl FactoryInfo for NopExporterFactory {
    fn type_name(&self) -> &'static str {
        "nop"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<NopConfig>(node, path)
    }
}

impl ExporterFactory for NopExporterFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        _cfg: &AnyConfig,
        _signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        Ok(BuiltExporter {
            exporter: Arc::new(NopExporter),
            settings: ExporterHelperSettings {
                timeout: Duration::ZERO,
                retry: RetrySettings {
                    enabled: false,
                    ..RetrySettings::default()
                },
                queue: QueueSettings::disabled(),
            },
        })
    }
}
