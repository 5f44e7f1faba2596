//! YAML 1.2 core-schema resolution of scalar text (what Go's yaml.v3 does for untyped values).
//!
//! Only `true`/`false` (and their capitalised forms) are booleans: `yes`/`on` stay strings.

use crate::node::{Node, NodeKind, ScalarStyle};
use regex::Regex;
use std::sync::OnceLock;

/// A scalar's value once its type is decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// Wide enough for every `int64` and `uint64`.
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Value<'_> {
    /// The Go type name otelcol's messages use for a decoded YAML value.
    pub(crate) fn go_type(&self) -> &'static str {
        match self {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
        }
    }
}

fn float_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid regex")
    })
}

/// Resolves plain (unquoted) scalar text.
pub(crate) fn resolve(text: &str) -> Value<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Int(n);
    }
    if float_regex().is_match(text) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

fn parse_int(text: &str) -> Option<i128> {
    if let Some(hex) = text.strip_prefix("0x") {
        return digits(hex, 16).and_then(|d| i128::from_str_radix(d, 16).ok());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return digits(oct, 8).and_then(|d| i128::from_str_radix(d, 8).ok());
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits(unsigned, 10)?;
    text.parse::<i128>().ok()
}

/// `s` if it is a non-empty run of digits of `radix` (`from_str_radix` alone would accept a sign).
fn digits(s: &str, radix: u32) -> Option<&str> {
    (!s.is_empty() && s.chars().all(|c| c.is_digit(radix))).then_some(s)
}

/// The typed value of a scalar or null node; `None` for maps and lists. Quoted scalars are
/// always strings; plain and expanded ones resolve by the core schema.
pub(crate) fn node_value(node: &Node) -> Option<Value<'_>> {
    match &node.kind {
        NodeKind::Null => Some(Value::Null),
        NodeKind::Scalar(s) if s.style == ScalarStyle::Quoted => Some(Value::Str(&s.text)),
        NodeKind::Scalar(s) => Some(resolve(&s.text)),
        _ => None,
    }
}

/// The Go type name of any node, for type-error messages (never the value: it may be a secret).
pub(crate) fn node_go_type(node: &Node) -> &'static str {
    match node_value(node) {
        Some(v) => v.go_type(),
        None if matches!(node.kind, NodeKind::Seq(_)) => "[]interface {}",
        None => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve("8080"), Value::Int(8080));
        assert_eq!(resolve("-5"), Value::Int(-5));
        assert_eq!(resolve("0x1F"), Value::Int(31));
        assert_eq!(resolve("0o17"), Value::Int(15));
        assert_eq!(resolve("0123"), Value::Int(123));
        assert_eq!(resolve("1.5"), Value::Float(1.5));
        assert_eq!(resolve("1e3"), Value::Float(1000.0));
        assert_eq!(resolve(".inf"), Value::Float(f64::INFINITY));
        assert!(matches!(resolve(".nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(resolve("true"), Value::Bool(true));
        assert_eq!(resolve("yes"), Value::Str("yes"));
        assert_eq!(resolve("on"), Value::Str("on"));
        assert_eq!(resolve("~"), Value::Null);
        assert_eq!(resolve("0x"), Value::Str("0x"));
        assert_eq!(resolve("1s"), Value::Str("1s"));
        assert_eq!(resolve("+"), Value::Str("+"));
    }
}
