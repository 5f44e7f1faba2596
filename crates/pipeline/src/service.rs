//! The `service` section: extensions, pipelines and the collector's own telemetry.

use kakehashi_config::Validate;
use kakehashi_telemetry::TelemetryConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    pub extensions: Vec<String>,
    /// Keyed by pipeline id (`traces`, `traces/2`), in config order.
    pub pipelines: BTreeMap<String, PipelineConfig>,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

impl Validate for ServiceConfig {}
