//! The `transform` processor's configuration, in otelcol-contrib's shape: per signal a list whose
//! items are either a statement (its context inferred from its paths' prefixes) or a group
//! `{context, conditions, statements, error_mode}`.

use crate::ottl::groups::{
    inferred_for_all, raw_group, Items, LOG_CONTEXTS, METRIC_CONTEXTS, TRACE_CONTEXTS,
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
    let mut out: Vec<Group> = Vec::new();
    let mut errs = Vec::new();
    // Consecutive bare statements run as one group in one context, the most specific any of
    // them needs, as Go runs a flat list: `set(span.attributes["svc"], resource.attributes[..])`
    // then `delete_key(resource.attributes, ..)` both run per span, in order.
    let mut bare: Vec<(String, String)> = Vec::new();
    let mut flush = |bare: &mut Vec<(String, String)>, out: &mut Vec<Group>| {
        if !bare.is_empty() {
            match bare_group(bare, allowed, default_mode) {
                Ok(g) => out.push(g),
                Err(e) => errs.extend(e),
            }
            bare.clear();
        }
    };
    let mut group_errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("{key}::{i}");
        if let ConfigValue::Str(s) = item {
            bare.push((key, s.clone()));
            continue;
        }
        flush(&mut bare, &mut out);
        match group(item, allowed, &key, default_mode) {
            Ok(g) => out.push(g),
            Err(e) => group_errs.extend(e),
        }
    }
    flush(&mut bare, &mut out);
    errs.extend(group_errs);
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// A run of bare statements (with their keys) as one group.
fn bare_group(
    bare: &[(String, String)],
    allowed: &[ContextKind],
    default_mode: ErrorMode,
) -> Result<Group, Vec<String>> {
    let kind = inferred_for_all(bare.iter().map(|(k, t)| (k.as_str(), t.as_str())), allowed)?;
    let mut errs = Vec::new();
    let statements = bare
        .iter()
        .filter_map(|(key, s)| {
            Statement::parse(s, kind)
                .map_err(|e| errs.push(format!("{key}: {e}")))
                .ok()
        })
        .collect();
    if errs.is_empty() {
        Ok(Group {
            kind,
            conditions: Vec::new(),
            statements,
            error_mode: default_mode,
        })
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
            inferred_for_all(
                raw.statements
                    .iter()
                    .chain(&raw.conditions)
                    .map(|t| (key, t.as_str())),
                allowed,
            )?
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
