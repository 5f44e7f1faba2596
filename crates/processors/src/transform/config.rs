//! The `transform` processor's configuration, in otelcol-contrib's shape: per signal a list whose
//! items are either a statement (its context inferred from its paths' prefixes) or a group
//! `{context, conditions, statements, error_mode}`.

use crate::ottl::groups::{
    inferred, raw_group, Items, LOG_CONTEXTS, METRIC_CONTEXTS, TRACE_CONTEXTS,
};
use crate::ottl::{Condition, ContextKind, ErrorMode, Statement};
use kakehashi_config::{AnyValue as ConfigValue, Validate};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    pub error_mode: ErrorMode,
    pub trace_statements: Vec<ConfigValue>,
    pub log_statements: Vec<ConfigValue>,
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

/// Parses one signal's statement list into groups.
pub(crate) fn groups(
    items: &[ConfigValue],
    allowed: &[ContextKind],
    key: &str,
    default_mode: ErrorMode,
) -> Result<Vec<Group>, Vec<String>> {
    let mut out: Vec<(bool, Group)> = Vec::new();
    let mut errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("{key}::{i}");
        match group(item, allowed, &key, default_mode) {
            Ok(g) => {
                // Consecutive bare statements of one context run in one pass over the items:
                // each item is independent of the others, so the result is the same as one
                // pass per statement, and the items are walked (and cached) once.
                let bare = matches!(item, ConfigValue::Str(_));
                match out.last_mut() {
                    Some((true, last))
                        if bare && last.kind == g.kind && last.error_mode == g.error_mode =>
                    {
                        last.statements.extend(g.statements)
                    }
                    _ => out.push((bare, g)),
                }
            }
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(out.into_iter().map(|(_, g)| g).collect())
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
    let raw = raw_group(item, allowed, key, Items::Statements).map_err(|e| vec![e])?;
    let kind = match raw.context {
        Some(k) => k,
        None => {
            // Inferred from every statement and condition: the most specific context named.
            let rank = |k: ContextKind| allowed.iter().position(|a| *a == k);
            let mut kind: Option<ContextKind> = None;
            for text in raw.statements.iter().chain(&raw.conditions) {
                let k = inferred(text, allowed, key).map_err(|e| vec![e])?;
                if kind.is_none_or(|cur| rank(k) < rank(cur)) {
                    kind = Some(k);
                }
            }
            kind.expect("a group has statements")
        }
    };
    let mut errs = Vec::new();
    let conditions = raw
        .conditions
        .iter()
        .filter_map(|c| {
            Condition::parse(c, kind)
                .map_err(|e| errs.push(format!("{key}: {e}")))
                .ok()
        })
        .collect();
    let statements = raw
        .statements
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
            error_mode: raw.error_mode.unwrap_or(default_mode),
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
            (
                &self.metric_statements,
                METRIC_CONTEXTS,
                "metric_statements",
            ),
        ] {
            if let Err(e) = groups(items, allowed, key, self.error_mode) {
                errs.extend(e);
            }
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
