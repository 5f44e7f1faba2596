//! The `filter` processor's configuration, in otelcol-contrib's shape, and its compiled form:
//! condition lists per level (resource, scope, item, span event).

use crate::attributes::{MatchProperties, Matcher};
use crate::ottl::groups::{inferred, raw_group, Items, LOG_CONTEXTS, TRACE_CONTEXTS};
use crate::ottl::{Condition, ContextKind, ErrorMode};
use kakehashi_config::{AnyValue as ConfigValue, Validate};
use kakehashi_pdata::Signal;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    pub error_mode: ErrorMode,
    /// Conditions with their context inferred (or grouped): otelcol-contrib ≥ 0.146.
    pub trace_conditions: Vec<ConfigValue>,
    pub log_conditions: Vec<ConfigValue>,
    /// Not supported yet: refused when set.
    pub metric_conditions: Vec<ConfigValue>,
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

/// Metric filtering is not supported yet: every key is refused with a clear error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricFilters {
    pub resource: Option<ConfigValue>,
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
            ContextKind::Span | ContextKind::Log => &mut self.item,
            ContextKind::SpanEvent => &mut self.event,
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
    /// The trace and log levels, or every error in the conditions.
    pub(crate) fn levels(&self) -> Result<(Levels, Levels), Vec<String>> {
        let mut errs = Vec::new();
        let mode = self.error_mode;
        let mut traces = Levels::default();
        let t = &self.traces;
        traces.add_list(
            &t.resource,
            ContextKind::Resource,
            "traces::resource",
            mode,
            &mut errs,
        );
        traces.add_list(&t.span, ContextKind::Span, "traces::span", mode, &mut errs);
        traces.add_list(
            &t.spanevent,
            ContextKind::SpanEvent,
            "traces::spanevent",
            mode,
            &mut errs,
        );
        traces.add_groups(
            &self.trace_conditions,
            TRACE_CONTEXTS,
            "trace_conditions",
            mode,
            &mut errs,
        );
        let mut logs = Levels::default();
        let l = &self.logs;
        logs.add_list(
            &l.resource,
            ContextKind::Resource,
            "logs::resource",
            mode,
            &mut errs,
        );
        logs.add_list(
            &l.log_record,
            ContextKind::Log,
            "logs::log_record",
            mode,
            &mut errs,
        );
        logs.add_groups(
            &self.log_conditions,
            LOG_CONTEXTS,
            "log_conditions",
            mode,
            &mut errs,
        );
        if errs.is_empty() {
            Ok((traces, logs))
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
        let metrics_set = [
            &m.resource,
            &m.metric,
            &m.datapoint,
            &m.include,
            &m.exclude,
            &m.regexp,
        ]
        .into_iter()
        .any(set);
        if metrics_set || !self.metric_conditions.is_empty() {
            errs.push("metrics: filtering metrics is not supported by kakehashi yet (traces and logs are)".into());
        }
        if set(&self.profiles) || !self.profile_conditions.is_empty() {
            errs.push("profiles: profiles are not supported by kakehashi".into());
        }
        errs
    }
}
