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

impl Validate for DatadogConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        removed_settings(self, &mut errs);
        renamed_settings(self, &mut errs);
        KeepaliveKeys {
            section: self.keepalive.as_ref(),
            idle_conn_timeout: self.idle_conn_timeout,
            max_idle_conns: self.max_idle_conns,
            max_idle_conns_per_host: self.max_idle_conns_per_host,
            disable_keep_alives: self.disable_keep_alives,
        }
        .validate(&mut errs);
        validate_api_key(self.api.key.expose(), &mut errs);
        if self.api.site.trim().is_empty() {
            errs.push("api::site must not be empty (default: datadoghq.com)".into());
        }
        for (key, v) in [
            ("traces::endpoint", &self.traces.endpoint),
            ("metrics::endpoint", &self.metrics.endpoint),
            ("logs::endpoint", &self.logs.endpoint),
        ] {
            match v.as_deref() {
                Some("") => errs.push(format!("{key}: endpoint cannot be empty")),
                Some(url) if reqwest::Url::parse(url).is_err() => {
                    errs.push(format!("{key}: {url:?} is not a valid URL"))
                }
                _ => {}
            }
        }
        let mut unsupported = Vec::new();
        if self.auth.is_some() {
            unsupported.push("auth");
        }
        if !self.endpoint.is_empty() {
            unsupported.push("endpoint");
        }
        if !self.compression.is_empty() {
            unsupported.push("compression");
        }
        if !self.headers.is_empty() {
            unsupported.push("headers");
        }
        if !self.http2_read_idle_timeout.is_zero() {
            unsupported.push("http2_read_idle_timeout");
        }
        if !self.http2_ping_timeout.is_zero() {
            unsupported.push("http2_ping_timeout");
        }
        if !unsupported.is_empty() {
            errs.push(format!(
                "these confighttp client configs are currently not respected by Datadog exporter: {}",
                unsupported.join(", ")
            ));
        }
        if self.only_metadata
            && (!self.host_metadata.enabled
                || self.host_metadata.hostname_source != "first_resource")
        {
            errs.push("only_metadata can't be enabled when host_metadata::enabled = false or host_metadata::hostname_source != first_resource".into());
        }
        if self.only_metadata {
            errs.push("only_metadata: metadata-only mode is not supported by kakehashi yet".into());
        }
        if !self.hostname.is_empty() {
            if let Err(e) = valid_hostname(&self.hostname) {
                errs.push(format!("hostname field is invalid: {e}"));
            }
        }
        if !["config_or_system", "first_resource"]
            .contains(&self.host_metadata.hostname_source.as_str())
        {
            errs.push(format!(
                "host_metadata::hostname_source: {:?} is not a valid hostname source (use config_or_system or first_resource)",
                self.host_metadata.hostname_source
            ));
        }
        if self.host_metadata.reporter_period < Duration::from_secs(5 * 60) {
            errs.push("reporter_period must be 5 minutes or higher".into());
        }
        for entry in &self.traces.ignore_resources {
            if regex::Regex::new(entry).is_err() {
                errs.push(format!(
                    "'{entry}' is not valid resource filter regular expression"
                ));
            }
        }
        for (k, v) in &self.traces.span_name_remappings {
            if v.is_empty() {
                errs.push(format!("'{v}' is not valid value for span name remapping"));
            }
            if k.is_empty() {
                errs.push(format!("'{k}' is not valid key for span name remapping"));
            }
        }
        if self.traces.trace_buffer < 0 {
            errs.push("trace buffer must be non-negative".into());
        }
        validate_metrics(&self.metrics, &mut errs);
        if self.orchestrator_explorer.enabled {
            errs.push(
                "orchestrator_explorer: the orchestrator explorer is not supported by kakehashi"
                    .into(),
            );
        }
        errs.extend(self.tls.validate());
        if !self.proxy_url.is_empty() && reqwest::Url::parse(&self.proxy_url).is_err() {
            errs.push(format!(
                "proxy_url: {:?} is not a valid URL",
                self.proxy_url
            ));
        }
        errs.extend(self.retry_on_failure.validate());
        errs.extend(self.sending_queue.validate());
        errs
    }
}

/// otelcol's static API key check, with a hint for the placeholder every example ships with.
fn validate_api_key(raw: &str, errs: &mut Vec<String>) {
    let key = raw.trim();
    if key.is_empty() {
        errs.push(
            "api.key is not set (set it from the environment, e.g. key: ${env:DD_API_KEY})".into(),
        );
        return;
    }
    if !key.chars().all(|c| c.is_ascii_hexdigit()) {
        // The key itself is never echoed; a placeholder is recognisable without showing it.
        let placeholder = key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c == '<' || c == '>' || c == '-');
        if placeholder {
            errs.push("api::key contains invalid characters: it looks like a placeholder (such as CHANGE_API_KEY) that must be replaced by your Datadog API key; set it from the environment, e.g. key: ${env:DD_API_KEY}".into());
        } else {
            errs.push(
                "api::key contains invalid characters: a Datadog API key is hexadecimal (0-9, a-f)"
                    .into(),
            );
        }
    }
}

/// otelcol's renamed settings (`config_warnings.go`): the old key still works alone, both set
/// is an error.
fn renamed_settings(cfg: &DatadogConfig, errs: &mut Vec<String>) {
    let renamed = [
        (
            cfg.traces.peer_service_aggregation.is_some()
                && cfg.traces.peer_tags_aggregation.is_some(),
            "traces::peer_service_aggregation",
            "traces::peer_tags_aggregation",
        ),
        (
            cfg.metrics.histograms.send_count_sum_metrics.is_some()
                && cfg.metrics.histograms.send_aggregation_metrics.is_some(),
            "metrics::histograms::send_count_sum_metrics",
            "metrics::histograms::send_aggregation_metrics",
        ),
    ];
    for (both, old, new) in renamed {
        if both {
            errs.push(format!(
                "{old:?} and {new:?} can't be both set at the same time: use {new:?} only instead"
            ));
        }
    }
}

fn removed_settings(cfg: &DatadogConfig, errs: &mut Vec<String>) {
    let removed = [
        (
            cfg.metrics.send_monotonic_counter.is_some(),
            "metrics::send_monotonic_counter",
            "metrics::sums::cumulative_monotonic_mode",
            8489,
        ),
        (cfg.tags.is_some(), "tags", "host_metadata::tags", 9099),
        (
            cfg.send_metadata.is_some(),
            "send_metadata",
            "host_metadata::enabled",
            9099,
        ),
        (
            cfg.use_resource_metadata.is_some(),
            "use_resource_metadata",
            "host_metadata::hostname_source",
            9099,
        ),
        (
            cfg.metrics.report_quantiles.is_some(),
            "metrics::report_quantiles",
            "metrics::summaries::mode",
            8845,
        ),
        (
            cfg.metrics
                .instrumentation_library_metadata_as_tags
                .is_some(),
            "metrics::instrumentation_library_metadata_as_tags",
            "metrics::instrumentation_scope_as_tags",
            11135,
        ),
    ];
    for (set, old, new, issue) in removed {
        if set {
            errs.push(format!("{old:?} was removed in favor of {new:?}. See https://github.com/open-telemetry/opentelemetry-collector-contrib/issues/{issue}"));
        }
    }
}

fn validate_metrics(m: &MetricsConfig, errs: &mut Vec<String>) {
    match m.histograms.mode.as_str() {
        "distributions" | "counters" => {}
        "nobuckets" if !m.histograms.aggregation_metrics_enabled() => errs.push(
            "'nobuckets' mode and `send_aggregation_metrics` set to false will send no histogram metrics".into(),
        ),
        "nobuckets" => {}
        other => errs.push(format!("metrics::histograms::mode: invalid mode {other:?} (use distributions, counters or nobuckets)")),
    }
    if !["to_delta", "raw_value"].contains(&m.sums.cumulative_monotonic_mode.as_str()) {
        errs.push(format!("metrics::sums::cumulative_monotonic_mode: invalid cumulative monotonic sum mode {:?} (use to_delta or raw_value)", m.sums.cumulative_monotonic_mode));
    }
    if let Some(initial) = &m.sums.initial_cumulative_monotonic_value {
        if !["auto", "drop", "keep"].contains(&initial.as_str()) {
            errs.push(format!("metrics::sums::initial_cumulative_monotonic_value: invalid initial value mode {initial:?} (use auto, drop or keep)"));
        }
        if m.sums.cumulative_monotonic_mode != "to_delta" {
            errs.push("\"metrics::sums::initial_cumulative_monotonic_value\" can only be configured when \"metrics::sums::cumulative_monotonic_mode\" is set to \"to_delta\"".into());
        }
    }
    if !["gauges", "noquantiles"].contains(&m.summaries.mode.as_str()) {
        errs.push(format!(
            "metrics::summaries::mode: invalid summary mode {:?} (use gauges or noquantiles)",
            m.summaries.mode
        ));
    }
}

/// The Datadog agent's hostname rules: RFC 1123, at most 255 characters, not a local name.
pub fn valid_hostname(h: &str) -> Result<(), String> {
    const LOCAL: [&str; 4] = [
        "localhost",
        "localhost.localdomain",
        "localhost6.localdomain6",
        "ip6-localhost",
    ];
    if h.is_empty() {
        return Err("hostname is empty".into());
    }
    if LOCAL.contains(&h.to_ascii_lowercase().as_str()) {
        return Err(format!("{h} is a local hostname"));
    }
    if h.len() > 255 {
        return Err("name exceeded the maximum length of 255 characters".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !h.split('.').all(label_ok) {
        return Err(format!("{h} is not RFC1123 compliant"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
