//! YAML 1.2 core-schema resolution of scalar text (what Go's yaml.v3 does for untyped values).
//!
//! Only `true`/`false` (and their capitalised forms) are booleans: `yes`/`on` stay strings.

use crate::node::{Node, NodeKind, Scalar, ScalarStyle};
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
    // yaml.v3 (otelcol's parser) tries numbers only for text starting with a digit or a sign,
    // and removes every `_` first: `10_000` is 10000.
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
        return Value::Str(text);
    }
    let plain = text.replace('_', "");
    if let Some(n) = parse_int(&plain) {
        return Value::Int(n);
    }
    if float_regex().is_match(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`, as yaml.v3 resolves integers: an
/// optional sign, then `0x`, `0o`, `0b` or a leading `0` (octal: `0123` is 83), else decimal;
/// within int64 or uint64.
fn parse_int(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &unsigned[2..]),
        Some("0o") => (8, &unsigned[2..]),
        Some("0b") => (2, &unsigned[2..]),
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    let magnitude = i128::from_str_radix(digits(body, radix)?, radix).ok()?;
    let n = if negative { -magnitude } else { magnitude };
    (i128::from(i64::MIN)..=i128::from(u64::MAX))
        .contains(&n)
        .then_some(n)
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
        // An expansion is typed by its text parsed as YAML: `20000\n` from a file is an int.
        NodeKind::Scalar(Scalar {
            style: ScalarStyle::Expanded,
            parsed: Some(p),
            ..
        }) => Some(match p.style {
            ScalarStyle::Quoted => Value::Str(&p.text),
            _ => resolve(&p.text),
        }),
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
        assert_eq!(
            resolve("0123"),
            Value::Int(83),
            "octal, as yaml.v3 reads it"
        );
        assert_eq!(resolve("10_000"), Value::Int(10000));
        assert_eq!(resolve("0b101"), Value::Int(5));
        assert_eq!(resolve("-0x10"), Value::Int(-16));
        assert_eq!(resolve("0X1f"), Value::Int(31));
        assert_eq!(resolve("+7"), Value::Int(7));
        assert_eq!(resolve("0"), Value::Int(0));
        assert_eq!(
            resolve("08"),
            Value::Float(8.0),
            "not octal: a float, as in yaml.v3"
        );
        assert_eq!(resolve("1_000.5"), Value::Float(1000.5));
        assert_eq!(resolve("18446744073709551615"), Value::Int(u64::MAX.into()));
        assert_eq!(
            resolve("18446744073709551616"),
            Value::Float(18446744073709551616.0)
        );
        assert_eq!(resolve("_1"), Value::Str("_1"));
        assert_eq!(resolve("0b"), Value::Str("0b"));
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
