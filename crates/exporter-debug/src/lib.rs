//! The debug and nop exporters.
//!
//! `debug` writes a summary (and at higher verbosity a dump) of every batch to the collector's
//! log or to stdout/files; `nop` drops everything. Neither retries nor queues by default.

mod config;
mod exporter;
mod nop;
mod sampler;
pub mod text;

pub use config::{DebugConfig, Verbosity};
pub use exporter::DebugExporter;
pub use nop::{NopConfig, NopExporter, NopExporterFactory};

use kakehashi_component::{
    config_as, decode_config, AnyConfig, BuildContext, BuildError, BuiltExporter, ExporterFactory,
    FactoryInfo,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::Signal;
use std::sync::Arc;

pub struct DebugExporterFactory;

impl FactoryInfo for DebugExporterFactory {
    fn type_name(&self) -> &'static str {
        "debug"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn stability(&self) -> &'static str {
        "development"
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<DebugConfig>(node, path)
    }
}

impl ExporterFactory for DebugExporterFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
    ) -> Result<BuiltExporter, BuildError> {
        let cfg = config_as::<DebugConfig>(cfg);
        Ok(BuiltExporter {
            exporter: Arc::new(DebugExporter::new(cfg)?),
            settings: cfg.helper_settings(),
        })
    }
}
