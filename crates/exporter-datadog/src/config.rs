//! The `datadog` exporter's config: every key of otelcol-contrib's `pkg/datadog/config`, with its
//! defaults. Keys that only matter for metrics and logs are accepted (the exporter only carries
//! traces so far); keys that cannot work here are validation errors, never silently ignored.

use kakehashi_component::exporterhelper::{ExporterHelperSettings, QueueSettings, RetrySettings};
use kakehashi_config::{AnyValue, Duration, Secret, Validate};
use kakehashi_exporter_otlp::keepalive::{KeepaliveKeys, KeepaliveSettings};
use kakehashi_exporter_otlp::TlsClientSettings;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const DEFAULT_SITE: &str = "datadoghq.com";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogConfig {
    pub api: ApiConfig,
    /// Fallback hostname for payloads whose resource names no host.
    pub hostname: String,
    pub hostname_detection_timeout: Duration,
    pub only_metadata: bool,
    pub host_metadata: HostMetadataConfig,
    pub traces: TracesConfig,
    pub metrics: MetricsConfig,
    pub logs: LogsConfig,
    pub orchestrator_explorer: OrchestratorExplorerConfig,

    // confighttp.ClientConfig, squashed at the top level as in otelcol.
    /// Per-request timeout of the intake client.
    pub timeout: Duration,
    pub tls: TlsClientSettings,
    pub proxy_url: String,
    /// Accepted, as the Go exporter's trace sender also ignores them.
    pub read_buffer_size: u64,
    pub write_buffer_size: u64,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    pub max_conns_per_host: Option<usize>,
    pub idle_conn_timeout: Option<Duration>,
    pub disable_keep_alives: bool,
    /// otelcol v0.160's section for the four keys above (accepted likewise).
    pub keepalive: Option<KeepaliveSettings>,
    pub force_attempt_http2: Option<bool>,
    /// Rejected when set, as by otelcol ("not respected by Datadog exporter").
    pub endpoint: String,
    pub compression: String,
    pub headers: BTreeMap<String, Secret>,
    pub auth: Option<AnyValue>,
    pub http2_read_idle_timeout: Duration,
    pub http2_ping_timeout: Duration,

    /// Drives our own per-payload retry loop (see `exporter.rs`); the runner never retries a
    /// whole batch, which would resend payloads that already arrived.
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,

    // Settings removed from otelcol, kept as keys so that they give otelcol's rename error.
    pub tags: Option<AnyValue>,
    pub send_metadata: Option<AnyValue>,
    pub use_resource_metadata: Option<AnyValue>,
}

impl Default for DatadogConfig {
    fn default() -> Self {
        DatadogConfig {
            api: ApiConfig::default(),
            hostname: String::new(),
            hostname_detection_timeout: Duration::from_secs(25),
            only_metadata: false,
            host_metadata: HostMetadataConfig::default(),
            traces: TracesConfig::default(),
            metrics: MetricsConfig::default(),
            logs: LogsConfig::default(),
            orchestrator_explorer: OrchestratorExplorerConfig::default(),
            timeout: Duration::from_secs(15),
            tls: TlsClientSettings::default(),
            proxy_url: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: None,
            disable_keep_alives: false,
            keepalive: None,
            force_attempt_http2: None,
            endpoint: String::new(),
            compression: String::new(),
            headers: BTreeMap::new(),
            auth: None,
            http2_read_idle_timeout: Duration::ZERO,
            http2_ping_timeout: Duration::ZERO,
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            tags: None,
            send_metadata: None,
            use_resource_metadata: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Trimmed of surrounding spaces before use and validation, as otelcol does.
    pub key: Secret,
    pub site: String,
    pub fail_on_invalid_key: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            key: Secret::default(),
            site: DEFAULT_SITE.into(),
            fail_on_invalid_key: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetadataConfig {
    pub enabled: bool,
    pub hostname_source: String,
    pub tags: Vec<String>,
    pub reporter_period: Duration,
}

impl Default for HostMetadataConfig {
    fn default() -> Self {
        HostMetadataConfig {
            enabled: true,
            hostname_source: "config_or_system".into(),
            tags: Vec::new(),
            reporter_period: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// `None` = derived from `api.site`; an explicit empty string is an error (as in otelcol).
    pub endpoint: Option<String>,
    /// Go regular expressions, matched unanchored against the root span's resource.
    pub ignore_resources: Vec<String>,
    pub span_name_remappings: BTreeMap<String, String>,
    pub span_name_as_resource_name: bool,
    pub compute_stats_by_span_kind: bool,
    pub compute_top_level_by_span_kind: bool,
    /// Deprecated in otelcol in favour of `peer_tags_aggregation`, whose value it supplies when
    /// set alone (setting both is an error); read through [`TracesConfig::peer_tags_enabled`].
    pub peer_service_aggregation: Option<bool>,
    pub peer_tags_aggregation: Option<bool>,
    pub peer_tags: Vec<String>,
    /// The embedded agent's input buffer in otelcol; our sending queue plays that role.
    pub trace_buffer: i64,
}

impl TracesConfig {
    /// `peer_tags_aggregation`, or the deprecated `peer_service_aggregation` (default true).
    pub fn peer_tags_enabled(&self) -> bool {
        self.peer_tags_aggregation
            .or(self.peer_service_aggregation)
            .unwrap_or(true)
    }
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            endpoint: None,
            ignore_resources: Vec::new(),
            span_name_remappings: BTreeMap::new(),
            span_name_as_resource_name: false,
            compute_stats_by_span_kind: true,
            compute_top_level_by_span_kind: false,
            peer_service_aggregation: None,
            peer_tags_aggregation: None,
            peer_tags: Vec::new(),
            trace_buffer: 0,
        }
    }
}

/// Metrics settings: accepted and validated like otelcol's, used once metrics export exists.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `None` = `https://api.<site>`; also the base of `/api/v1/validate`, series and metadata.
    pub endpoint: Option<String>,
    pub delta_ttl: i64,
    pub resource_attributes_as_tags: bool,
    pub instrumentation_scope_metadata_as_tags: bool,
    pub disable_hostname: bool,
    pub histograms: HistogramConfig,
    pub sums: SumConfig,
    pub summaries: SummaryConfig,
    // Removed from otelcol; present so they give the rename error.
    pub send_monotonic_counter: Option<AnyValue>,
    pub report_quantiles: Option<AnyValue>,
    pub instrumentation_library_metadata_as_tags: Option<AnyValue>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            endpoint: None,
            delta_ttl: 3600,
            resource_attributes_as_tags: false,
            instrumentation_scope_metadata_as_tags: false,
            disable_hostname: false,
            histograms: HistogramConfig::default(),
            sums: SumConfig::default(),
            summaries: SummaryConfig::default(),
            send_monotonic_counter: None,
            report_quantiles: None,
            instrumentation_library_metadata_as_tags: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    pub mode: String,
    pub send_aggregation_metrics: Option<bool>,
    /// Deprecated in otelcol (v0.75) for `send_aggregation_metrics`, whose value it supplies
    /// when set alone (setting both is an error).
    pub send_count_sum_metrics: Option<bool>,
}

impl HistogramConfig {
    /// `send_aggregation_metrics`, or the deprecated `send_count_sum_metrics` (default false).
    pub fn aggregation_metrics_enabled(&self) -> bool {
        self.send_aggregation_metrics
            .or(self.send_count_sum_metrics)
            .unwrap_or(false)
    }
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            mode: "distributions".into(),
            send_aggregation_metrics: None,
            send_count_sum_metrics: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SumConfig {
    pub cumulative_monotonic_mode: String,
    pub initial_cumulative_monotonic_value: Option<String>,
}

impl Default for SumConfig {
    fn default() -> Self {
        SumConfig {
            cumulative_monotonic_mode: "to_delta".into(),
            initial_cumulative_monotonic_value: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummaryConfig {
    pub mode: String,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            mode: "gauges".into(),
        }
    }
}

/// Logs settings: accepted and validated like otelcol's, used once logs export exists.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    pub endpoint: Option<String>,
    pub use_compression: bool,
    pub compression_level: i64,
    pub batch_wait: i64,
    /// Deprecated in otelcol; accepted.
    pub dump_payloads: bool,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            endpoint: None,
            use_compression: true,
            compression_level: 6,
            batch_wait: 5,
            dump_payloads: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestratorExplorerConfig {
    pub enabled: bool,
    pub endpoint: String,
}

/// Where everything goes, resolved from `api.site` and the explicit overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base of `/api/v0.2/traces` and `/api/v0.2/stats`.
    pub traces: String,
    /// Base of `/api/v1/validate`, `/api/v2/series` and `/intake`.
    pub api: String,
    pub logs: String,
}

impl DatadogConfig {
    /// The API key as sent: surrounding spaces removed (otelcol trims it too).
    pub fn api_key(&self) -> Secret {
        Secret::new(self.api.key.expose().trim())
    }

    pub fn endpoints(&self) -> Endpoints {
        let site = &self.api.site;
        let pick = |explicit: &Option<String>, default: String| match explicit {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => default,
        };
        Endpoints {
            traces: pick(&self.traces.endpoint, format!("https://trace.agent.{site}")),
            api: pick(&self.metrics.endpoint, format!("https://api.{site}")),
            logs: pick(
                &self.logs.endpoint,
                format!("https://http-intake.logs.{site}"),
            ),
        }
    }

    /// V2 operation and resource names apply unless a legacy option asks for V1 (§2.4).
    pub fn uses_legacy_naming(&self) -> bool {
        self.traces.span_name_as_resource_name || !self.traces.span_name_remappings.is_empty()
    }

    pub fn helper_settings(&self) -> ExporterHelperSettings {
        ExporterHelperSettings {
            // The HTTP client enforces `timeout` per request; the exporter's own retry loop may
            // legitimately run far longer than one request.
            timeout: Duration::ZERO,
            // As in otelcol (`WithRetry(Enabled: false)` for traces): retrying a whole batch would
            // resend payloads that the intake already accepted.
            retry: RetrySettings {
                enabled: false,
                ..self.retry_on_failure.clone()
            },
            queue: self.sending_queue.clone(),
        }
    }
}

#[path = "config_validate.rs"]
mod validate;
pub use validate::valid_hostname;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
