//! `service.telemetry`: the collector's own logs and metrics.

use kakehashi_config::{AnyValue, Validate};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub logs: LogsConfig,
    pub metrics: MetricsConfig,
    /// Attributes describing the collector itself: labels on every series of the Prometheus
    /// endpoint (see [`crate::resource`]).
    pub resource: BTreeMap<String, AnyValue>,
    /// Internal tracing of the collector: not supported yet. A block that exports nothing
    /// (no `processors`: otelcol's spans then go nowhere) is accepted.
    pub traces: Option<AnyValue>,
}

/// otelcol reads both levels case-insensitively (zap's and configtelemetry's `UnmarshalText`
/// fall back to lowercase), so `INFO` and `Detailed` are valid.
fn case_insensitive<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::{Error, IntoDeserializer};
    let text = String::deserialize(d)?;
    let lower: serde::de::value::StringDeserializer<serde::de::value::Error> =
        text.to_lowercase().into_deserializer();
    T::deserialize(lower).map_err(D::Error::custom)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Dpanic,
    Panic,
    Fatal,
}

impl LogLevel {
    /// The `tracing` filter directive for this level (zap's dpanic/panic/fatal map to error).
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            _ => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    #[serde(deserialize_with = "case_insensitive")]
    pub level: LogLevel,
    pub encoding: LogEncoding,
    pub development: bool,
    pub disable_caller: bool,
    pub disable_stacktrace: bool,
    pub output_paths: Vec<String>,
    pub error_output_paths: Vec<String>,
    pub initial_fields: BTreeMap<String, AnyValue>,
    /// otelcol's default samples (first 10 lines per message per 10 s, then 1 in 100); an
    /// explicit `sampling:` with no value (null) switches it off, as in otelcol.
    pub sampling: Option<SamplingConfig>,
    /// OTLP export of the collector's own logs: not supported yet.
    pub processors: Option<AnyValue>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: LogLevel::Info,
            encoding: LogEncoding::Console,
            development: false,
            disable_caller: false,
            disable_stacktrace: false,
            output_paths: vec!["stderr".into()],
            error_output_paths: vec!["stderr".into()],
            initial_fields: BTreeMap::new(),
            sampling: Some(SamplingConfig::default()),
            processors: None,
        }
    }
}

/// `service.telemetry.logs.sampling` (zap's sampler, see [`crate::sampling`]); keys left out
/// keep otelcol's defaults, including `enabled: true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    pub enabled: bool,
    pub tick: kakehashi_config::Duration,
    pub initial: u64,
    pub thereafter: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            enabled: true,
            tick: kakehashi_config::Duration::from_secs(10),
            initial: 10,
            thereafter: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    None,
    Basic,
    #[default]
    Normal,
    Detailed,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    #[serde(deserialize_with = "case_insensitive")]
    pub level: MetricsLevel,
    /// otelconf readers; only a pull Prometheus reader is supported. Empty: the default reader on
    /// `localhost:8888`.
    pub readers: Vec<MetricReader>,
    /// Removed from otelcol (use `readers`); rejected with a pointer to the replacement.
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricReader {
    pub pull: Option<PullReader>,
    pub periodic: Option<AnyValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullExporter {
    pub prometheus: Option<PrometheusReader>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusReader {
    pub host: String,
    pub port: u16,
    pub without_units: Option<bool>,
    pub without_type_suffix: Option<bool>,
    pub without_scope_info: Option<bool>,
}

impl Default for PrometheusReader {
    fn default() -> Self {
        PrometheusReader {
            host: "localhost".into(),
            port: 8888,
            without_units: None,
            without_type_suffix: None,
            without_scope_info: None,
        }
    }
}

impl MetricsConfig {
    /// Where `/metrics` is served, or None with `level: none`.
    pub fn prometheus_endpoint(&self) -> Option<String> {
        if self.level == MetricsLevel::None {
            return None;
        }
        let reader = self
            .readers
            .iter()
            .find_map(|r| r.pull.as_ref()?.exporter.prometheus.clone())
            .unwrap_or_default();
        // Go's JoinHostPort: an IPv6 host is bracketed (`[::]:8888`).
        Some(
            if reader.host.contains(':') && !reader.host.starts_with('[') {
                format!("[{}]:{}", reader.host, reader.port)
            } else {
                format!("{}:{}", reader.host, reader.port)
            },
        )
    }
}

/// A `traces` block with span processors: the collector's own spans would be exported.
fn exports_spans(traces: &AnyValue) -> bool {
    let AnyValue::Map(entries) = traces else {
        return false;
    };
    entries.iter().any(|(k, v)| {
        k == "processors" && !matches!(v, AnyValue::Null) && *v != AnyValue::List(Vec::new())
    })
}

impl Validate for TelemetryConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.traces.as_ref().is_some_and(exports_spans) {
            errs.push(
                "traces::processors: exporting the collector's own spans is not supported yet"
                    .into(),
            );
        }
        errs.extend(crate::resource::check(&self.resource));
        let logs = &self.logs;
        if logs.processors.is_some() {
            errs.push(
                "logs::processors: OTLP export of the collector's own logs is not supported yet"
                    .into(),
            );
        }
        for (key, paths) in [
            ("output_paths", &logs.output_paths),
            ("error_output_paths", &logs.error_output_paths),
        ] {
            for p in paths {
                if let Err(e) = crate::log_output::check_path(p) {
                    errs.push(format!("logs::{key}: {e}"));
                }
            }
        }
        if self.metrics.address.is_some() {
            errs.push("metrics::address has been removed from otelcol; use metrics::readers with a pull prometheus exporter (host, port)".into());
        }
        for r in &self.metrics.readers {
            if r.periodic.is_some() {
                errs.push("metrics::readers: periodic readers are not supported yet (use pull with a prometheus exporter)".into());
            }
            if r.pull
                .as_ref()
                .is_some_and(|p| p.exporter.prometheus.is_none())
            {
                errs.push("metrics::readers: a pull reader needs exporter::prometheus".into());
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str) -> Option<String> {
        let c = MetricsConfig {
            readers: vec![MetricReader {
                pull: Some(PullReader {
                    exporter: PullExporter {
                        prometheus: Some(PrometheusReader {
                            host: host.into(),
                            ..Default::default()
                        }),
                    },
                }),
                periodic: None,
            }],
            ..Default::default()
        };
        c.prometheus_endpoint()
    }

    /// As Go's `net.JoinHostPort`: an IPv6 host is bracketed.
    #[test]
    fn prometheus_endpoint_joins_host_and_port() {
        assert_eq!(endpoint("0.0.0.0").as_deref(), Some("0.0.0.0:8888"));
        assert_eq!(endpoint("::").as_deref(), Some("[::]:8888"));
        assert_eq!(endpoint("[::1]").as_deref(), Some("[::1]:8888"));
        assert_eq!(
            MetricsConfig::default().prometheus_endpoint().as_deref(),
            Some("localhost:8888")
        );
    }
}
