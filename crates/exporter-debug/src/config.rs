//! The `debug` exporter's config.

use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_config::{Duration, Validate};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic` | `normal` | `detailed`, case-insensitive like Go's `configtelemetry.Level`.
    pub verbosity: String,
    pub sampling_initial: u64,
    pub sampling_thereafter: u64,
    pub use_internal_logger: bool,
    /// Where to write with `use_internal_logger: false`: `stdout`, `stderr` or file paths.
    /// Empty means stdout.
    pub output_paths: Vec<String>,
    /// Off by default for debug.
    pub sending_queue: QueueSettings,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: "basic".into(),
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
            output_paths: Vec::new(),
            sending_queue: QueueSettings::disabled(),
        }
    }
}

impl DebugConfig {
    pub fn verbosity(&self) -> Result<Verbosity, String> {
        match self.verbosity.to_ascii_lowercase().as_str() {
            "basic" => Ok(Verbosity::Basic),
            "normal" => Ok(Verbosity::Normal),
            "detailed" => Ok(Verbosity::Detailed),
            _ => Err(format!(
                "verbosity level {:?} is not supported",
                self.verbosity
            )),
        }
    }

    /// No retry and no timeout, as otelcol's debug exporter.
    pub fn helper_settings(&self) -> ExporterHelperSettings {
        ExporterHelperSettings {
            timeout: Duration::ZERO,
            retry: RetrySettings {
                enabled: false,
                ..RetrySettings::default()
            },
            queue: self.sending_queue.clone(),
        }
    }
}

impl Validate for DebugConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if let Err(e) = self.verbosity() {
            errs.push(e);
        }
        if self.use_internal_logger && !self.output_paths.is_empty() {
            errs.push("output_paths is supported only when use_internal_logger is false".into());
        }
        errs.extend(self.sending_queue.validate());
        errs
    }
}
