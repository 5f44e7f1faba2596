//! otelcol's validation of the `datadog` exporter config (`pkg/datadog/config` `Validate` and
//! `Unmarshal`): the same errors for the same configs, plus the refusals of what kakehashi
//! cannot do.

use super::*;

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
        self.traces.validate_span_settings(&mut errs);
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

impl TracesConfig {
    /// The checks the exporter and the connector share (`pkg/datadog/config`'s traces part).
    pub(crate) fn validate_span_settings(&self, errs: &mut Vec<String>) {
        for entry in &self.ignore_resources {
            if regex::Regex::new(entry).is_err() {
                errs.push(format!(
                    "'{entry}' is not valid resource filter regular expression"
                ));
            }
        }
        for (k, v) in &self.span_name_remappings {
            if v.is_empty() {
                errs.push(format!("'{v}' is not valid value for span name remapping"));
            }
            if k.is_empty() {
                errs.push(format!("'{k}' is not valid key for span name remapping"));
            }
        }
        if self.trace_buffer < 0 {
            errs.push("trace buffer must be non-negative".into());
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
