//! The `filter` processor's configuration, in otelcol-contrib's shape.

use crate::attributes::{MatchProperties, Matcher};
use crate::ottl::{Condition, ContextKind, ErrorMode};
use kakehashi_config::{AnyValue as ConfigValue, Validate};
use kakehashi_pdata::Signal;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    pub error_mode: ErrorMode,
    pub traces: TraceFilters,
    pub logs: LogFilters,
    pub metrics: MetricFilters,
    /// The legacy include/exclude form for spans (`filterconfig.MatchConfig`).
    pub spans: SpanMatchConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceFilters {
    /// Drop a span when any of these holds.
    pub span: Option<Vec<String>>,
    /// Drop a span event when any of these holds.
    pub spanevent: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFilters {
    /// Drop a log record when any of these holds.
    pub log_record: Option<Vec<String>>,
    /// Legacy include/exclude for logs: refused (not supported yet).
    pub include: Option<ConfigValue>,
    pub exclude: Option<ConfigValue>,
}

/// Metric filtering is not supported yet: every key is refused with a clear error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricFilters {
    pub metric: Option<ConfigValue>,
    pub datapoint: Option<ConfigValue>,
    pub include: Option<ConfigValue>,
    pub exclude: Option<ConfigValue>,
    pub regexp: Option<ConfigValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMatchConfig {
    pub include: Option<MatchProperties>,
    pub exclude: Option<MatchProperties>,
}

fn set(v: &Option<ConfigValue>) -> bool {
    !matches!(v, None | Some(ConfigValue::Null))
}

impl FilterConfig {
    /// Each configured condition list, parsed (its errors name the key they came from).
    pub(crate) fn conditions(
        list: &Option<Vec<String>>,
        kind: ContextKind,
        key: &str,
    ) -> Result<Vec<Condition>, String> {
        list.iter()
            .flatten()
            .map(|c| Condition::parse(c, kind).map_err(|e| format!("{key}: {e}")))
            .collect()
    }
}

impl Validate for FilterConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let ottl_spans = self.traces.span.is_some() || self.traces.spanevent.is_some();
        if ottl_spans && (self.spans.include.is_some() || self.spans.exclude.is_some()) {
            errs.push(
                "cannot use ottl conditions and include/exclude for spans at the same time".into(),
            );
        }
        for (m, key) in [
            (&self.spans.include, "include"),
            (&self.spans.exclude, "exclude"),
        ] {
            if let Some(Err(e)) = m.as_ref().map(|m| Matcher::new(m, Signal::Traces)) {
                errs.push(format!("spans::{key}: {}", e.0));
            }
        }
        for (list, kind, key) in [
            (&self.traces.span, ContextKind::Span, "traces::span"),
            (
                &self.traces.spanevent,
                ContextKind::SpanEvent,
                "traces::spanevent",
            ),
            (&self.logs.log_record, ContextKind::Log, "logs::log_record"),
        ] {
            if let Err(e) = FilterConfig::conditions(list, kind, key) {
                errs.push(e);
            }
        }
        if set(&self.logs.include) || set(&self.logs.exclude) {
            errs.push(
                "logs::include / logs::exclude: the legacy include/exclude form for logs is not supported by kakehashi yet; write the same match as logs::log_record OTTL conditions"
                    .into(),
            );
        }
        let m = &self.metrics;
        if [&m.metric, &m.datapoint, &m.include, &m.exclude, &m.regexp]
            .into_iter()
            .any(set)
        {
            errs.push("metrics: filtering metrics is not supported by kakehashi yet (traces and logs are)".into());
        }
        errs
    }
}
