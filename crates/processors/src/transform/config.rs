//! The `transform` processor's configuration, in otelcol-contrib's shape: per signal a list whose
//! items are either a statement (its context inferred from its paths' prefixes) or a group
//! `{context, conditions, statements, error_mode}`.

use crate::ottl::{infer_context, Condition, ContextKind, ErrorMode, Statement};
use kakehashi_config::{AnyValue as ConfigValue, Validate};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    pub error_mode: ErrorMode,
    pub trace_statements: Vec<ConfigValue>,
    pub log_statements: Vec<ConfigValue>,
    /// Not supported yet: refused when not empty.
    pub metric_statements: Vec<ConfigValue>,
    pub profile_statements: Vec<ConfigValue>,
    /// Logs only in otelcol; refused when true.
    pub flatten_data: bool,
}

/// Statements of one context, run in order on every item of that context.
#[derive(Debug)]
pub(crate) struct Group {
    pub kind: ContextKind,
    /// The statements run on an item only if one of these holds (none: always).
    pub conditions: Vec<Condition>,
    pub statements: Vec<Statement>,
    pub error_mode: ErrorMode,
}

pub(crate) const TRACE_CONTEXTS: &[ContextKind] = &[
    ContextKind::SpanEvent,
    ContextKind::Span,
    ContextKind::Scope,
    ContextKind::Resource,
];
pub(crate) const LOG_CONTEXTS: &[ContextKind] =
    &[ContextKind::Log, ContextKind::Scope, ContextKind::Resource];

fn strings(v: &ConfigValue, key: &str) -> Result<Vec<String>, String> {
    match v {
        ConfigValue::Null => Ok(Vec::new()),
        ConfigValue::List(items) => items
            .iter()
            .map(|i| match i {
                ConfigValue::Str(s) => Ok(s.clone()),
                _ => Err(format!("{key}: every item must be a string")),
            })
            .collect(),
        _ => Err(format!("{key}: expected a list of strings")),
    }
}

fn context_named(name: &str, allowed: &[ContextKind], key: &str) -> Result<ContextKind, String> {
    let kind = match name {
        "resource" => ContextKind::Resource,
        "scope" | "instrumentation_scope" => ContextKind::Scope,
        "span" => ContextKind::Span,
        "spanevent" => ContextKind::SpanEvent,
        "log" => ContextKind::Log,
        _ => return Err(format!("{key}::context: unknown context {name:?}")),
    };
    if allowed.contains(&kind) {
        Ok(kind)
    } else {
        Err(format!(
            "{key}::context: {name:?} is not a context of this signal"
        ))
    }
}

/// Parses one signal's statement list into groups.
pub(crate) fn groups(
    items: &[ConfigValue],
    allowed: &[ContextKind],
    key: &str,
    default_mode: ErrorMode,
) -> Result<Vec<Group>, Vec<String>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("{key}::{i}");
        match group(item, allowed, &key, default_mode) {
            Ok(g) => out.push(g),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

fn group(
    item: &ConfigValue,
    allowed: &[ContextKind],
    key: &str,
    default_mode: ErrorMode,
) -> Result<Group, Vec<String>> {
    let one = |e: String| vec![e];
    let (context, conditions, statements, mode) = match item {
        ConfigValue::Str(s) => (None, Vec::new(), vec![s.clone()], default_mode),
        ConfigValue::Map(entries) => {
            let (mut context, mut conditions, mut statements, mut mode) =
                (None, Vec::new(), Vec::new(), default_mode);
            for (k, v) in entries {
                match (k.as_str(), v) {
                    ("context", ConfigValue::Str(c)) if !c.is_empty() => context = Some(c.clone()),
                    ("context", ConfigValue::Str(_) | ConfigValue::Null) => {}
                    ("conditions", v) => {
                        conditions = strings(v, &format!("{key}::conditions")).map_err(one)?
                    }
                    ("statements", v) => {
                        statements = strings(v, &format!("{key}::statements")).map_err(one)?
                    }
                    ("error_mode", ConfigValue::Str(m)) => {
                        mode = match m.as_str() {
                            "propagate" => ErrorMode::Propagate,
                            "ignore" => ErrorMode::Ignore,
                            "silent" => ErrorMode::Silent,
                            other => {
                                return Err(one(format!(
                                    "{key}::error_mode: unknown error mode {other:?}"
                                )))
                            }
                        }
                    }
                    // No statement cache exists here to share.
                    ("shared_cache", ConfigValue::Bool(_)) => {}
                    (k, _) => return Err(one(format!("{key}: has invalid keys: {k}"))),
                }
            }
            if statements.is_empty() {
                return Err(one(format!("{key}: a group needs statements")));
            }
            (context, conditions, statements, mode)
        }
        _ => return Err(one(format!("{key}: expected a statement or a group"))),
    };
    let kind = match &context {
        Some(c) => context_named(c, allowed, key).map_err(one)?,
        None => {
            // Inferred from every statement and condition: the most specific context named.
            let mut kind = None;
            for text in statements.iter().chain(&conditions) {
                let k = infer_context(text, allowed).map_err(|e| one(format!("{key}: {e}")))?;
                let rank = |k: ContextKind| allowed.iter().position(|a| *a == k);
                if kind.is_none_or(|cur| rank(k) < rank(cur)) {
                    kind = Some(k);
                }
            }
            kind.expect("a group has statements")
        }
    };
    let mut errs = Vec::new();
    let conditions = conditions
        .iter()
        .filter_map(|c| {
            Condition::parse(c, kind)
                .map_err(|e| errs.push(format!("{key}: {e}")))
                .ok()
        })
        .collect();
    let statements = statements
        .iter()
        .filter_map(|s| {
            Statement::parse(s, kind)
                .map_err(|e| errs.push(format!("{key}: {e}")))
                .ok()
        })
        .collect();
    if errs.is_empty() {
        Ok(Group {
            kind,
            conditions,
            statements,
            error_mode: mode,
        })
    } else {
        Err(errs)
    }
}

impl Validate for TransformConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for (items, allowed, key) in [
            (&self.trace_statements, TRACE_CONTEXTS, "trace_statements"),
            (&self.log_statements, LOG_CONTEXTS, "log_statements"),
        ] {
            if let Err(e) = groups(items, allowed, key, self.error_mode) {
                errs.extend(e);
            }
        }
        if !self.metric_statements.is_empty() {
            errs.push("metric_statements: transforming metrics is not supported by kakehashi yet (traces and logs are)".into());
        }
        if !self.profile_statements.is_empty() {
            errs.push("profile_statements: profiles are not supported by kakehashi".into());
        }
        if self.flatten_data {
            errs.push("flatten_data: not supported by kakehashi yet".into());
        }
        errs
    }
}
