//! The `filter` processor's configuration, in otelcol-contrib's shape, and its compiled form:
//! condition lists per level (resource, scope, item, span event).

use crate::attributes::{MatchProperties, Matcher};
use crate::ottl::groups::{
    inferred, raw_group, Items, LOG_CONTEXTS, METRIC_CONTEXTS, TRACE_CONTEXTS,
};
use crate::ottl::{Condition, ContextKind, ErrorMode};
use kakehashi_config::{AnyValue as ConfigValue, Validate};
use kakehashi_pdata::proto::common::v1::KeyValue;
use kakehashi_pdata::Signal;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    pub error_mode: ErrorMode,
    /// Conditions with their context inferred (or grouped): otelcol-contrib ≥ 0.146.
    pub trace_conditions: Vec<ConfigValue>,
    pub log_conditions: Vec<ConfigValue>,
    pub metric_conditions: Vec<ConfigValue>,
    /// Profiles are not a signal kakehashi carries: refused when set.
    pub profile_conditions: Vec<ConfigValue>,
    pub traces: TraceFilters,
    pub logs: LogFilters,
    pub metrics: MetricFilters,
    pub profiles: Option<ConfigValue>,
    /// The legacy include/exclude form for spans (`filterconfig.MatchConfig`).
    pub spans: SpanMatchConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceFilters {
    /// Drop a resource (with all its spans) when any of these holds.
    pub resource: Option<Vec<String>>,
    /// Drop a span when any of these holds.
    pub span: Option<Vec<String>>,
    /// Drop a span event when any of these holds.
    pub spanevent: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFilters {
    /// Drop a resource (with all its log records) when any of these holds.
    pub resource: Option<Vec<String>>,
    /// Drop a log record when any of these holds.
    pub log_record: Option<Vec<String>>,
    /// Legacy include/exclude for logs: refused (not supported yet).
    pub include: Option<ConfigValue>,
    pub exclude: Option<ConfigValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricFilters {
    /// Drop a resource (with all its metrics) when any of these holds.
    pub resource: Option<Vec<String>>,
    /// Drop a metric when any of these holds.
    pub metric: Option<Vec<String>>,
    /// Drop a data point when any of these holds (a metric left without any goes too).
    pub datapoint: Option<Vec<String>>,
    /// Legacy: keep only the metrics this matches / drop those it matches.
    pub include: Option<MetricMatchProperties>,
    pub exclude: Option<MetricMatchProperties>,
    /// Accepted for compatibility; the `regex` crate needs no result cache.
    pub regexp: Option<ConfigValue>,
}

/// `filterconfig.MetricMatchProperties`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricMatchProperties {
    /// `strict` or `regexp` (`expr` is refused).
    pub match_type: String,
    pub metric_names: Vec<String>,
    pub expressions: Vec<String>,
    pub resource_attributes: Vec<crate::attributes::AttributeMatch>,
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

/// Conditions evaluated in order with one error mode; any that holds drops the item.
#[derive(Debug)]
pub(crate) struct Conditions {
    pub list: Vec<Condition>,
    pub error_mode: ErrorMode,
}

/// A signal's conditions by the level they drop: resources, scopes, items (spans or log
/// records), span events. Evaluated top down; a dropped resource's items are not looked at.
#[derive(Debug, Default)]
pub(crate) struct Levels {
    pub resource: Vec<Conditions>,
    pub scope: Vec<Conditions>,
    pub item: Vec<Conditions>,
    pub event: Vec<Conditions>,
}

impl Levels {
    pub fn is_empty(&self) -> bool {
        self.resource.is_empty()
            && self.scope.is_empty()
            && self.item.is_empty()
            && self.event.is_empty()
    }

    fn level(&mut self, kind: ContextKind) -> &mut Vec<Conditions> {
        match kind {
            ContextKind::Resource => &mut self.resource,
            ContextKind::Scope => &mut self.scope,
            ContextKind::Span | ContextKind::Log | ContextKind::Metric => &mut self.item,
            ContextKind::SpanEvent | ContextKind::DataPoint => &mut self.event,
        }
    }

    /// A legacy block's list (`traces::span`, ...), in a fixed context.
    fn add_list(
        &mut self,
        list: &Option<Vec<String>>,
        kind: ContextKind,
        key: &str,
        mode: ErrorMode,
        errs: &mut Vec<String>,
    ) {
        let mut parsed = Vec::new();
        for c in list.iter().flatten() {
            match Condition::parse(c, kind) {
                Ok(c) => parsed.push(c),
                Err(e) => errs.push(format!("{key}: {e}")),
            }
        }
        if !parsed.is_empty() {
            self.level(kind).push(Conditions {
                list: parsed,
                error_mode: mode,
            });
        }
    }

    /// A `*_conditions` list: each item a condition (context inferred) or a group.
    fn add_groups(
        &mut self,
        items: &[ConfigValue],
        allowed: &[ContextKind],
        key: &str,
        default_mode: ErrorMode,
        errs: &mut Vec<String>,
    ) {
        for (i, item) in items.iter().enumerate() {
            let key = format!("{key}::{i}");
            let raw = match raw_group(item, allowed, &key, Items::Conditions) {
                Ok(raw) => raw,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            };
            let mode = raw.error_mode.unwrap_or(default_mode);
            for text in &raw.conditions {
                let parsed = match raw.context {
                    Some(kind) => Ok(kind),
                    None => inferred(text, allowed, &key),
                }
                .and_then(|kind| {
                    Condition::parse(text, kind)
                        .map(|c| (kind, c))
                        .map_err(|e| format!("{key}: {e}"))
                });
                match parsed {
                    Ok((kind, c)) => self.level(kind).push(Conditions {
                        list: vec![c],
                        error_mode: mode,
                    }),
                    Err(e) => errs.push(e),
                }
            }
        }
    }
}

impl FilterConfig {
    /// The trace, log and metric levels, or every error in the conditions.
    pub(crate) fn levels(&self) -> Result<[Levels; 3], Vec<String>> {
        use ContextKind::*;
        const NONE: &Option<Vec<String>> = &None;
        let (t, l, m) = (&self.traces, &self.logs, &self.metrics);
        let signals = [
            (
                [
                    (&t.resource, Resource, "traces::resource"),
                    (&t.span, Span, "traces::span"),
                    (&t.spanevent, SpanEvent, "traces::spanevent"),
                ],
                &self.trace_conditions,
                TRACE_CONTEXTS,
                "trace_conditions",
            ),
            (
                [
                    (&l.resource, Resource, "logs::resource"),
                    (&l.log_record, Log, "logs::log_record"),
                    (NONE, Log, ""),
                ],
                &self.log_conditions,
                LOG_CONTEXTS,
                "log_conditions",
            ),
            (
                [
                    (&m.resource, Resource, "metrics::resource"),
                    (&m.metric, Metric, "metrics::metric"),
                    (&m.datapoint, DataPoint, "metrics::datapoint"),
                ],
                &self.metric_conditions,
                METRIC_CONTEXTS,
                "metric_conditions",
            ),
        ];
        let mut errs = Vec::new();
        let levels = signals.map(|(lists, groups, contexts, groups_key)| {
            let mut levels = Levels::default();
            for (list, kind, key) in lists {
                levels.add_list(list, kind, key, self.error_mode, &mut errs);
            }
            levels.add_groups(groups, contexts, groups_key, self.error_mode, &mut errs);
            levels
        });
        if errs.is_empty() {
            Ok(levels)
        } else {
            Err(errs)
        }
    }
}

impl Validate for FilterConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let t = &self.traces;
        let legacy_ottl = t.resource.is_some() || t.span.is_some() || t.spanevent.is_some();
        let legacy_match = self.spans.include.is_some() || self.spans.exclude.is_some();
        if legacy_ottl && legacy_match {
            errs.push(
                "cannot use ottl conditions and include/exclude for spans at the same time".into(),
            );
        }
        if !self.trace_conditions.is_empty() && (legacy_ottl || legacy_match) {
            errs.push("trace_conditions cannot be used together with traces or spans".into());
        }
        let l = &self.logs;
        if !self.log_conditions.is_empty() && (l.resource.is_some() || l.log_record.is_some()) {
            errs.push("log_conditions cannot be used together with logs".into());
        }
        for (m, key) in [
            (&self.spans.include, "include"),
            (&self.spans.exclude, "exclude"),
        ] {
            if let Some(Err(e)) = m.as_ref().map(|m| Matcher::new(m, Signal::Traces)) {
                errs.push(format!("spans::{key}: {}", e.0));
            }
        }
        if let Err(e) = self.levels() {
            errs.extend(e);
        }
        if set(&l.include) || set(&l.exclude) {
            errs.push(
                "logs::include / logs::exclude: the legacy include/exclude form for logs is not supported by kakehashi yet; write the same match as log_conditions"
                    .into(),
            );
        }
        let m = &self.metrics;
        let metric_ottl = m.resource.is_some() || m.metric.is_some() || m.datapoint.is_some();
        let metric_match = m.include.is_some() || m.exclude.is_some();
        if metric_ottl && metric_match {
            errs.push(
                "cannot use ottl conditions and include/exclude for metrics at the same time"
                    .into(),
            );
        }
        if !self.metric_conditions.is_empty() && (metric_ottl || metric_match) {
            errs.push("metric_conditions cannot be used together with metrics".into());
        }
        for (props, key) in [(&m.include, "include"), (&m.exclude, "exclude")] {
            if let Some(Err(e)) = props.as_ref().map(MetricMatcher::new) {
                errs.push(format!("metrics::{key}: {e}"));
            }
        }
        if set(&self.profiles) || !self.profile_conditions.is_empty() {
            errs.push("profiles: profiles are not supported by kakehashi".into());
        }
        errs
    }
}

/// The legacy metric match (`filtermetric`): metric names and resource attributes, each
/// applied only when listed. Names decide per metric; resource attributes decide per resource
/// (every listed attribute must be there, with a matching value when one is given).
#[derive(Debug)]
pub(crate) struct MetricMatcher {
    names: Vec<NameMatch>,
    resource: Vec<(String, Option<ValueMatch>)>,
}

#[derive(Debug)]
enum NameMatch {
    Strict(String),
    Regexp(regex::Regex),
}

#[derive(Debug)]
enum ValueMatch {
    /// Typed equality with the configured value (`1` is not `"1"`).
    Strict(kakehashi_pdata::proto::common::v1::AnyValue),
    /// A string attribute matching the pattern.
    Regexp(regex::Regex),
}

fn regex(text: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(text).map_err(|e| format!("error parsing regexp {text:?}: {e}"))
}

impl MetricMatcher {
    pub fn new(p: &MetricMatchProperties) -> Result<MetricMatcher, String> {
        let regexp = match p.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            "expr" => {
                return Err("match_type expr (the expr language) is not supported by kakehashi; write the match as metric_conditions".into())
            }
            other => {
                return Err(format!(
                    "unrecognized match_type: '{other}', valid types are: [regexp strict expr]"
                ))
            }
        };
        if !p.expressions.is_empty() {
            return Err(
                "expressions: only used with match_type expr, which kakehashi does not support"
                    .into(),
            );
        }
        let names = p
            .metric_names
            .iter()
            .map(|n| {
                Ok(if regexp {
                    NameMatch::Regexp(regex(n)?)
                } else {
                    NameMatch::Strict(n.clone())
                })
            })
            .collect::<Result<_, String>>()?;
        let resource = p
            .resource_attributes
            .iter()
            .map(|a| {
                let value = match &a.value {
                    None => None,
                    Some(v) if regexp => {
                        let text = crate::attraction::value::as_string(
                            &crate::attraction::value::from_config(v),
                        );
                        Some(ValueMatch::Regexp(regex(&text)?))
                    }
                    Some(v) => Some(ValueMatch::Strict(crate::attraction::value::from_config(v))),
                };
                Ok((a.key.clone(), value))
            })
            .collect::<Result<_, String>>()?;
        Ok(MetricMatcher { names, resource })
    }

    /// Whether the metric's name matches; `None` when no names are listed.
    pub fn name_matches(&self, name: &str) -> Option<bool> {
        (!self.names.is_empty()).then(|| {
            self.names.iter().any(|n| match n {
                NameMatch::Strict(t) => t == name,
                NameMatch::Regexp(r) => r.is_match(name),
            })
        })
    }

    /// Whether the resource matches; `None` when no resource attributes are listed.
    pub fn resource_matches(&self, resource: &[KeyValue]) -> Option<bool> {
        use kakehashi_pdata::proto::common::v1::any_value::Value;
        (!self.resource.is_empty()).then(|| {
            self.resource.iter().all(|(key, want)| {
                let Some(kv) = resource.iter().find(|kv| &kv.key == key) else {
                    return false;
                };
                match want {
                    None => true,
                    Some(ValueMatch::Strict(v)) => kv.value.as_ref() == Some(v),
                    Some(ValueMatch::Regexp(r)) => matches!(
                        kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Value::StringValue(s)) if r.is_match(s)
                    ),
                }
            })
        })
    }
}
