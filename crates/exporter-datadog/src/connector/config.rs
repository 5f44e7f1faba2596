//! The `datadog` connector's config: otelcol-contrib's `traces::` keys of the connector, with
//! their defaults (`connector/datadogconnector`, `createDefaultConfig`).

use crate::config::TracesConfig;
use kakehashi_config::{Duration, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatadogConnectorConfig {
    pub traces: ConnectorTracesConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorTracesConfig {
    pub ignore_resources: Vec<String>,
    pub span_name_remappings: BTreeMap<String, String>,
    pub span_name_as_resource_name: bool,
    pub compute_stats_by_span_kind: bool,
    pub compute_top_level_by_span_kind: bool,
    /// Deprecated in otelcol in favour of `peer_tags_aggregation`.
    pub peer_service_aggregation: Option<bool>,
    pub peer_tags_aggregation: Option<bool>,
    pub peer_tags: Vec<String>,
    /// The embedded agent's input buffer in otelcol; accepted and validated, no effect here
    /// (spans are aggregated as they arrive).
    pub trace_buffer: i64,
    /// Resource attributes sent as container tags of the stats (`enable_cid_stats`): not
    /// supported yet, so a non-empty list is an error.
    pub resource_attributes_as_container_tags: Vec<String>,
    /// The width of a stats bucket and how often buckets are flushed (0: the default, 10 s).
    pub bucket_interval: Duration,
}

impl Default for ConnectorTracesConfig {
    fn default() -> Self {
        ConnectorTracesConfig {
            ignore_resources: Vec::new(),
            span_name_remappings: BTreeMap::new(),
            span_name_as_resource_name: false,
            compute_stats_by_span_kind: true,
            compute_top_level_by_span_kind: false,
            peer_service_aggregation: None,
            peer_tags_aggregation: None,
            peer_tags: Vec::new(),
            trace_buffer: 1000,
            resource_attributes_as_container_tags: Vec::new(),
            bucket_interval: Duration(crate::stats::BUCKET_DURATION),
        }
    }
}

impl ConnectorTracesConfig {
    /// The settings the exporter's translation and stats read, from the connector's keys.
    pub fn span_settings(&self) -> TracesConfig {
        TracesConfig {
            ignore_resources: self.ignore_resources.clone(),
            span_name_remappings: self.span_name_remappings.clone(),
            span_name_as_resource_name: self.span_name_as_resource_name,
            compute_stats_by_span_kind: self.compute_stats_by_span_kind,
            compute_top_level_by_span_kind: self.compute_top_level_by_span_kind,
            peer_service_aggregation: self.peer_service_aggregation,
            peer_tags_aggregation: self.peer_tags_aggregation,
            peer_tags: self.peer_tags.clone(),
            trace_buffer: self.trace_buffer,
            endpoint: None,
        }
    }

    /// `bucket_interval`, 0 meaning the default.
    pub fn bucket_duration(&self) -> std::time::Duration {
        if self.bucket_interval.is_zero() {
            crate::stats::BUCKET_DURATION
        } else {
            self.bucket_interval.get()
        }
    }
}

impl Validate for DatadogConnectorConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        self.traces
            .span_settings()
            .validate_span_settings(&mut errs);
        if !self.traces.resource_attributes_as_container_tags.is_empty() {
            errs.push(
                "traces::resource_attributes_as_container_tags: container tags on APM stats are not supported by kakehashi yet".into(),
            );
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kakehashi_config::decode_yaml;

    fn parse(yaml: &str) -> Result<DatadogConnectorConfig, String> {
        let cfg = decode_yaml::<DatadogConnectorConfig>("connectors::datadog", yaml)
            .map_err(|e| e.to_string())?;
        let problems = cfg.validate();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems.join("\n"))
        }
    }

    #[test]
    fn defaults_are_otelcols() {
        let cfg = parse("{}").unwrap();
        assert!(cfg.traces.compute_stats_by_span_kind);
        assert!(cfg.traces.span_settings().peer_tags_enabled());
        assert_eq!(cfg.traces.trace_buffer, 1000);
        assert_eq!(
            cfg.traces.bucket_duration(),
            std::time::Duration::from_secs(10)
        );
        let cfg = parse("traces: {bucket_interval: 0s}").unwrap();
        assert_eq!(
            cfg.traces.bucket_duration(),
            std::time::Duration::from_secs(10)
        );
        let cfg = parse("traces: {bucket_interval: 2s, peer_tags_aggregation: false}").unwrap();
        assert_eq!(
            cfg.traces.bucket_duration(),
            std::time::Duration::from_secs(2)
        );
        assert!(!cfg.traces.span_settings().peer_tags_enabled());
    }

    #[test]
    fn errors_are_otelcols_and_unknown_keys_are_refused() {
        let err = parse(
            "traces: {ignore_resources: ['(a'], span_name_remappings: {x: ''}, trace_buffer: -1}",
        )
        .unwrap_err();
        assert!(
            err.contains("'(a' is not valid resource filter regular expression"),
            "{err}"
        );
        assert!(
            err.contains("'' is not valid value for span name remapping"),
            "{err}"
        );
        assert!(err.contains("trace buffer must be non-negative"), "{err}");
        let err = parse("traces: {bucket_interval: -1s}").unwrap_err();
        assert!(err.contains("negative duration"), "{err}");
        let err = parse("traces: {endpoint: http://x}").unwrap_err();
        assert!(err.contains("endpoint"), "{err}");
        let err =
            parse("traces: {resource_attributes_as_container_tags: [k8s.pod.name]}").unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }
}
