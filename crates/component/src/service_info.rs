//! What the running service tells extensions about itself: the build, the pipelines, the
//! extensions and the feature gates (otelcol's `RegisterZPages` host pages read the same).

use std::time::SystemTime;

/// otelcol's `component.BuildInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildInfo {
    pub command: String,
    pub description: String,
    pub version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            command: "kakehashi".into(),
            description: "kakehashi, an OpenTelemetry Collector for the OTLP to Datadog path"
                .into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// One pipeline as configured; connectors carry otelcol's ` (connector)` suffix.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineInfo {
    pub id: String,
    pub signal: String,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

/// A feature gate kakehashi knows, and whether this run has it on.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureGateInfo {
    pub id: String,
    pub enabled: bool,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub build: BuildInfo,
    /// When this service (this config) was built.
    pub started: SystemTime,
    /// Sorted by id.
    pub pipelines: Vec<PipelineInfo>,
    /// `service::extensions`, sorted.
    pub extensions: Vec<String>,
    /// Sorted by id.
    pub feature_gates: Vec<FeatureGateInfo>,
}

impl Default for ServiceInfo {
    fn default() -> Self {
        ServiceInfo {
            build: BuildInfo::default(),
            started: SystemTime::now(),
            pipelines: Vec::new(),
            extensions: Vec::new(),
            feature_gates: Vec::new(),
        }
    }
}
