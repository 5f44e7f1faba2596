//! The attribute action engine shared by the `resource` and `attributes` processors
//! (contrib's `internal/coreinternal/attraction`): config, build-time checks with otelcol's exact
//! error texts, and in-order application to one attribute map.

pub mod value;

use kakehashi_component::{BuildError, ClientMetadata};
use kakehashi_config::AnyValue as ConfigValue;
use kakehashi_pdata::proto::common::v1::{AnyValue, KeyValue};
use regex::Regex;
use serde::Deserialize;
use value::ConvertTo;

/// One entry of `actions:` / `attributes:` as otelcol spells it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionKeyValue {
    pub key: String,
    pub value: Option<ConfigValue>,
    pub default_value: Option<ConfigValue>,
    pub pattern: String,
    pub from_attribute: String,
    pub from_context: String,
    pub converted_type: String,
    pub action: String,
}

impl ActionKeyValue {
    /// YAML `null` counts as no value, as a nil `any` does in Go.
    fn value(&self) -> Option<&ConfigValue> {
        self.value.as_ref().filter(|v| **v != ConfigValue::Null)
    }
}

/// Where insert/update/upsert take their value from.
#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    Attribute(String),
    Context(String),
    /// Only `default_value` is set: the action always writes it.
    Default,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete(Option<Regex>),
    Hash(Option<Regex>),
    Extract(Regex),
    Convert(ConvertTo),
}

#[derive(Debug, Clone)]
struct Action {
    key: String,
    op: Op,
    default: Option<AnyValue>,
}

/// A validated list of actions, applied in order.
#[derive(Debug, Clone)]
pub struct AttrProc {
    actions: Vec<Action>,
}

fn compile(pattern: &str, i: usize) -> Result<Regex, BuildError> {
    Regex::new(pattern).map_err(|_| {
        BuildError(format!(
            "error creating AttrProc. Field \"pattern\" has invalid pattern: \"{pattern}\" to be set at the {i}-th actions"
        ))
    })
}

fn err(msg: String) -> Result<AttrProc, BuildError> {
    Err(BuildError(msg))
}

impl AttrProc {
    /// Checks the actions exactly in otelcol's order, so the first error reported is the same.
    pub fn new(actions: &[ActionKeyValue]) -> Result<AttrProc, BuildError> {
        let mut out = Vec::with_capacity(actions.len());
        for (i, a) in actions.iter().enumerate() {
            let name = a.action.to_lowercase();
            if name == "delete" || name == "hash" {
                if a.key.is_empty() && a.pattern.is_empty() {
                    return err(format!("error creating AttrProc due to missing required field (at least one of \"key\" and \"pattern\" have to be used) at the {i}-th actions"));
                }
            } else if a.key.is_empty() {
                return err(format!(
                    "error creating AttrProc due to missing required field \"key\" at the {i}-th actions"
                ));
            }
            let has_default = a
                .default_value
                .as_ref()
                .is_some_and(|v| *v != ConfigValue::Null);
            let sources = usize::from(a.value().is_some())
                + usize::from(!a.from_attribute.is_empty())
                + usize::from(!a.from_context.is_empty());
            let no_converted_type = || {
                format!("error creating AttrProc. Action \"{name}\" does not use the \"converted_type\" field. This must not be specified for {i}-th action")
            };
            let op = match name.as_str() {
                "insert" | "update" | "upsert" => {
                    // `default_value` alone is a source too (contrib since it added the key), but
                    // not one that counts as "multiple" next to another.
                    if sources == 0 && !has_default {
                        return err(format!("error with key {:?} ({i}-th action): error creating AttrProc. Either field \"value\", \"from_attribute\", \"from_context\", or \"default_value\" must be specified", a.key));
                    }
                    if sources > 1 {
                        return err(format!("error creating AttrProc due to multiple value sources being set at the {i}-th actions"));
                    }
                    if !a.pattern.is_empty() {
                        return err(format!("error creating AttrProc. Action \"{name}\" does not use the \"pattern\" field. This must not be specified for {i}-th action"));
                    }
                    if !a.converted_type.is_empty() {
                        return err(no_converted_type());
                    }
                    let src = match a.value() {
                        Some(v) => Source::Value(value::from_config(v)),
                        None if !a.from_context.is_empty() => Source::Context(a.from_context.clone()),
                        None if !a.from_attribute.is_empty() => {
                            Source::Attribute(a.from_attribute.clone())
                        }
                        None => Source::Default,
                    };
                    match name.as_str() {
                        "insert" => Op::Insert(src),
                        "update" => Op::Update(src),
                        _ => Op::Upsert(src),
                    }
                }
                "hash" | "delete" => {
                    if a.value().is_some() || !a.from_attribute.is_empty() {
                        return err(format!("error creating AttrProc. Action \"{name}\" does not use \"value\" or \"from_attribute\" field. These must not be specified for {i}-th action"));
                    }
                    let re = if a.pattern.is_empty() {
                        None
                    } else {
                        Some(compile(&a.pattern, i)?)
                    };
                    if !a.converted_type.is_empty() {
                        return err(no_converted_type());
                    }
                    if name == "hash" {
                        Op::Hash(re)
                    } else {
                        Op::Delete(re)
                    }
                }
                "extract" => {
                    if sources > 0 {
                        return err(format!("error creating AttrProc. Action \"{name}\" does not use a value source field. These must not be specified for {i}-th action"));
                    }
                    if a.pattern.is_empty() {
                        return err(format!("error creating AttrProc due to missing required field \"pattern\" for action \"{name}\" at the {i}-th action"));
                    }
                    if !a.converted_type.is_empty() {
                        return err(no_converted_type());
                    }
                    let re = compile(&a.pattern, i)?;
                    if re.captures_len() <= 1 {
                        return err(format!("error creating AttrProc. Field \"pattern\" contains no named matcher groups at the {i}-th actions"));
                    }
                    if re.capture_names().skip(1).any(|n| n.is_none()) {
                        return err(format!("error creating AttrProc. Field \"pattern\" contains at least one unnamed matcher group at the {i}-th actions"));
                    }
                    Op::Extract(re)
                }
                "convert" => {
                    if sources > 0 || !a.pattern.is_empty() {
                        return err(format!("error creating AttrProc. Action \"{name}\" does not use value sources or \"pattern\" field. These must not be specified for {i}-th action"));
                    }
                    Op::Convert(match a.converted_type.as_str() {
                        "string" => ConvertTo::Str,
                        "int" => ConvertTo::Int,
                        "double" => ConvertTo::Double,
                        "" => return err(format!("error creating AttrProc due to missing required field \"converted_type\" for action \"{name}\" at the {i}-th action")),
                        other => return err(format!("error creating AttrProc due to invalid value \"{other}\" in field \"converted_type\" for action \"{name}\" at the {i}-th action")),
                    })
                }
                _ => {
                    return err(format!(
                        "error creating AttrProc due to unsupported action {name:?} at the {i}-th actions"
                    ))
                }
            };
            out.push(Action {
                key: a.key.clone(),
                op,
                default: a
                    .default_value
                    .as_ref()
                    .filter(|v| **v != ConfigValue::Null)
                    .map(value::from_config),
            });
        }
        Ok(AttrProc { actions: out })
    }

    /// Applies every action in list order to `attrs`; later actions see earlier results.
    pub fn process(&self, attrs: &mut Vec<KeyValue>, meta: &ClientMetadata) {
        for a in &self.actions {
            match &a.op {
                Op::Insert(src) => {
                    if let Some(v) = source(src, a, attrs, meta) {
                        if position(attrs, &a.key).is_none() {
                            put(attrs, &a.key, v);
                        }
                    }
                }
                Op::Update(src) => {
                    if let Some(v) = source(src, a, attrs, meta) {
                        if let Some(i) = position(attrs, &a.key) {
                            attrs[i].value = Some(v);
                        }
                    }
                }
                Op::Upsert(src) => {
                    if let Some(v) = source(src, a, attrs, meta) {
                        put(attrs, &a.key, v);
                    }
                }
                Op::Delete(re) => {
                    attrs.retain(|kv| {
                        kv.key != a.key && !re.as_ref().is_some_and(|r| r.is_match(&kv.key))
                    });
                }
                Op::Hash(re) => {
                    // The key first, then every key the pattern matches: a key that is both is
                    // hashed twice, as contrib does.
                    for kv in attrs.iter_mut() {
                        if kv.key == a.key {
                            value::hash(kv.value.get_or_insert_with(AnyValue::default));
                        }
                        if re.as_ref().is_some_and(|r| r.is_match(&kv.key)) {
                            value::hash(kv.value.get_or_insert_with(AnyValue::default));
                        }
                    }
                }
                Op::Extract(re) => extract(re, &a.key, attrs),
                Op::Convert(to) => {
                    if let Some(i) = position(attrs, &a.key) {
                        value::convert(attrs[i].value.get_or_insert_with(AnyValue::default), *to);
                    }
                }
            }
        }
    }
}

fn position(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

/// Sets `key` in place if present (keeping its position), else appends it.
fn put(attrs: &mut Vec<KeyValue>, key: &str, v: AnyValue) {
    match position(attrs, key) {
        Some(i) => attrs[i].value = Some(v),
        None => attrs.push(KeyValue {
            key: key.to_owned(),
            value: Some(v),
            ..Default::default()
        }),
    }
}

/// The value an insert/update/upsert would write, falling back to `default_value`.
fn source(src: &Source, a: &Action, attrs: &[KeyValue], meta: &ClientMetadata) -> Option<AnyValue> {
    let found = match src {
        Source::Value(v) => Some(v.clone()),
        Source::Attribute(k) => {
            position(attrs, k).map(|i| attrs[i].value.clone().unwrap_or_default())
        }
        Source::Context(k) => from_context(k, meta).map(value::str_value),
        Source::Default => None,
    };
    found.or_else(|| a.default.clone())
}

/// `from_context`: `client.address`, `metadata.<k>`, `auth.<k>` (no auth support here, so never
/// found), else the key itself in metadata. Multiple values are joined with `;`.
fn from_context(key: &str, meta: &ClientMetadata) -> Option<String> {
    if key == "client.address" {
        // Found even without a peer address (after a batch processor): contrib's
        // `clientutil.Address` gives "" and the action writes it.
        return Some(meta.addr.map(|a| a.ip().to_string()).unwrap_or_default());
    }
    if key.starts_with("auth.") {
        return None;
    }
    let md_key = key.strip_prefix("metadata.").unwrap_or(key);
    match meta.get(md_key) {
        Some(vals) if !vals.is_empty() => Some(vals.join(";")),
        _ => None,
    }
}

/// `extract`: only string values; on a match every named group is written (overwriting),
/// a group that did not participate becomes "" as in Go.
fn extract(re: &Regex, key: &str, attrs: &mut Vec<KeyValue>) {
    use kakehashi_pdata::proto::common::v1::any_value::Value;
    let Some(i) = position(attrs, key) else {
        return;
    };
    let Some(AnyValue {
        value: Some(Value::StringValue(s)),
    }) = &attrs[i].value
    else {
        return;
    };
    let Some(caps) = re.captures(s) else { return };
    let groups: Vec<(String, String)> = re
        .capture_names()
        .enumerate()
        .skip(1)
        .filter_map(|(g, name)| {
            let v = caps.get(g).map_or("", |m| m.as_str());
            name.map(|n| (n.to_owned(), v.to_owned()))
        })
        .collect();
    for (k, v) in groups {
        put(attrs, &k, value::str_value(v));
    }
}

#[cfg(test)]
mod tests;
