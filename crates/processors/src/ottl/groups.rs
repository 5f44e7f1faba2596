//! The list shape otelcol-contrib's OTTL processors share for `trace_statements`,
//! `trace_conditions`, ...: each item is either a bare string (its context inferred from its
//! paths' prefixes) or a group `{context, conditions, statements, error_mode}`.

use super::{infer_context, ContextKind, ErrorMode};
use kakehashi_config::AnyValue as ConfigValue;

/// One item before its strings are parsed.
#[derive(Debug, Default)]
pub struct RawGroup {
    /// `None`: inferred from the strings.
    pub context: Option<ContextKind>,
    pub conditions: Vec<String>,
    pub statements: Vec<String>,
    /// `None`: the processor's.
    pub error_mode: Option<ErrorMode>,
}

/// What a list holds: statements (transform) or conditions (filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    Statements,
    Conditions,
}

pub(crate) const TRACE_CONTEXTS: &[ContextKind] = &[
    ContextKind::SpanEvent,
    ContextKind::Span,
    ContextKind::Scope,
    ContextKind::Resource,
];
pub(crate) const LOG_CONTEXTS: &[ContextKind] =
    &[ContextKind::Log, ContextKind::Scope, ContextKind::Resource];
pub(crate) const METRIC_CONTEXTS: &[ContextKind] = &[
    ContextKind::DataPoint,
    ContextKind::Metric,
    ContextKind::Scope,
    ContextKind::Resource,
];

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
    let kind = ContextKind::named(&name.to_ascii_lowercase())
        .ok_or_else(|| format!("{key}::context: unknown context {name}"))?;
    if allowed.contains(&kind) {
        Ok(kind)
    } else {
        Err(format!(
            "{key}::context: {name:?} is not a context of this signal"
        ))
    }
}

/// Reads one item of a list (`key` names it in errors).
pub fn raw_group(
    item: &ConfigValue,
    allowed: &[ContextKind],
    key: &str,
    items: Items,
) -> Result<RawGroup, String> {
    let entries = match item {
        ConfigValue::Str(s) => {
            let mut g = RawGroup::default();
            match items {
                Items::Statements => g.statements.push(s.clone()),
                Items::Conditions => g.conditions.push(s.clone()),
            }
            return Ok(g);
        }
        ConfigValue::Map(entries) => entries,
        _ => return Err(format!("{key}: expected a string or a group")),
    };
    let mut g = RawGroup::default();
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("context", ConfigValue::Str(c)) if !c.is_empty() => {
                g.context = Some(context_named(c, allowed, key)?)
            }
            ("context" | "error_mode", ConfigValue::Str(_) | ConfigValue::Null) if !matches!(v, ConfigValue::Str(x) if !x.is_empty()) =>
                {}
            ("conditions", v) => g.conditions = strings(v, &format!("{key}::conditions"))?,
            ("statements", v) if items == Items::Statements => {
                g.statements = strings(v, &format!("{key}::statements"))?
            }
            ("error_mode", ConfigValue::Str(m)) => {
                g.error_mode = Some(match m.as_str() {
                    "propagate" => ErrorMode::Propagate,
                    "ignore" => ErrorMode::Ignore,
                    "silent" => ErrorMode::Silent,
                    other => {
                        return Err(format!("{key}::error_mode: unknown error mode {other:?}"))
                    }
                })
            }
            // No statement cache exists here to share.
            ("shared_cache", ConfigValue::Bool(_)) if items == Items::Statements => {}
            (k, _) => return Err(format!("{key}: has invalid keys: {k}")),
        }
    }
    let empty = match items {
        Items::Statements => g.statements.is_empty(),
        Items::Conditions => g.conditions.is_empty(),
    };
    if empty {
        return Err(format!(
            "{key}: a group needs {}",
            match items {
                Items::Statements => "statements",
                Items::Conditions => "conditions",
            }
        ));
    }
    Ok(g)
}

/// The context of one string of a group without one: inferred, or an error naming `key`.
pub fn inferred(text: &str, allowed: &[ContextKind], key: &str) -> Result<ContextKind, String> {
    infer_context(text, allowed).map_err(|e| format!("{key}: {e}"))
}

/// The one context of strings that run together without a named one (a group, or a list's
/// bare strings), each given with the key that names it in errors: the most specific context
/// any of them needs, as Go infers one context over the whole group. `allowed` lists the
/// contexts most specific first.
pub fn inferred_for_all<'a>(
    texts: impl IntoIterator<Item = (&'a str, &'a str)>,
    allowed: &[ContextKind],
) -> Result<ContextKind, Vec<String>> {
    let rank = |k: ContextKind| allowed.iter().position(|a| *a == k);
    let (mut kind, mut errs): (Option<ContextKind>, Vec<String>) = (None, Vec::new());
    for (key, text) in texts {
        match inferred(text, allowed, key) {
            Ok(k) if kind.is_none_or(|cur| rank(k) < rank(cur)) => kind = Some(k),
            Ok(_) => {}
            Err(e) => errs.push(e),
        }
    }
    match kind {
        Some(k) if errs.is_empty() => Ok(k),
        _ => Err(errs),
    }
}
