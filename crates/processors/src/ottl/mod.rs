//! OTTL conditions (the OpenTelemetry Transformation Language's boolean expressions), the part
//! of the language the `filter` processor needs.
//!
//! Supported: `and` / `or` / `not` / parentheses; `== != < <= > >=` with OTTL's comparison rules
//! ([`value::compare`]); literals (strings with Go's escapes, ints, doubles, `0x` bytes, `true`,
//! `false`, `nil`); enum symbols (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`,
//! `SEVERITY_NUMBER_WARN`, ...); `+ - * /` arithmetic; paths with map and list keys for the span,
//! span event and log record contexts ([`path`]); the converters of docs/compatibility.md
//! (`ast::Func`), whose results may be indexed; list literals. Anything else is an error
//! when the configuration is loaded, never a condition that silently never matches.

mod ast;
pub mod groups;
mod hash;
mod json;
mod key_value;
mod lexer;
mod list_editors;
mod parser;
mod path;
mod setter;
mod statement;
mod value;

pub use setter::{DataPointMut, MutCtx};
pub use statement::Statement;

use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span::Event, Span};
use parser::{BoolExpr, Call, CmpOp, Func, ValueExpr};
use serde::Deserialize;
use std::borrow::Cow;
use value::Val;

/// What a condition or statement that fails to evaluate does (`ottl.ErrorMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// The batch is refused with the error.
    Propagate,
    /// Logged; a condition counts as false, a statement is skipped. The default of the filter
    /// and transform processors since otelcol-contrib made it permanent (v0.15x; the
    /// `processor.{filter,transform}.defaultErrorModeIgnore` gates went stable in July 2026).
    #[default]
    Ignore,
    /// The same, without the log line.
    Silent,
}

/// Which telemetry a condition is evaluated against (otelcol's `ottlspan`, `ottlspanevent`,
/// `ottllog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Log,
    Metric,
    DataPoint,
}

impl ContextKind {
    /// The context a path prefix or a group's `context` names.
    pub fn named(name: &str) -> Option<ContextKind> {
        Some(match name {
            "resource" => ContextKind::Resource,
            "scope" | "instrumentation_scope" => ContextKind::Scope,
            "span" => ContextKind::Span,
            "spanevent" => ContextKind::SpanEvent,
            "log" => ContextKind::Log,
            "metric" => ContextKind::Metric,
            "datapoint" => ContextKind::DataPoint,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            ContextKind::Resource => "resource",
            ContextKind::Scope => "scope",
            ContextKind::Span => "span",
            ContextKind::SpanEvent => "spanevent",
            ContextKind::Log => "log",
            ContextKind::Metric => "metric",
            ContextKind::DataPoint => "datapoint",
        }
    }
}

/// OTTL's context inference for a statement or condition written without a context: the most
/// specific context any of its paths names by prefix (`span.`, `resource.`, ...), among
/// `candidates` ordered from the most specific (e.g. span event, span, scope, resource).
pub fn infer_context(text: &str, candidates: &[ContextKind]) -> Result<ContextKind, String> {
    let toks = lexer::lex(text)?;
    let mut named = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        let lexer::Tok::Ident(word) = tok else {
            continue;
        };
        let starts_path = i == 0 || toks[i - 1] != lexer::Tok::Op(".");
        if starts_path && toks.get(i + 1) == Some(&lexer::Tok::Op(".")) {
            if let Some(kind) = ContextKind::named(word) {
                named.push(kind);
            }
        }
    }
    candidates
        .iter()
        .find(|c| named.contains(c))
        .copied()
        .ok_or_else(|| {
            let prefixes: Vec<String> = candidates
                .iter()
                .map(|c| format!("{}.", c.name()))
                .collect();
            format!(
                "unable to infer a context for {text:?}: its paths must start with one of {}",
                prefixes.join(", ")
            )
        })
}

/// What a condition sees: the item and what encloses it. Absent parts read as empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalCtx<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub span: Option<&'a Span>,
    pub event: Option<&'a Event>,
    pub log: Option<&'a LogRecord>,
    pub metric: Option<&'a Metric>,
    pub datapoint: Option<DataPoint<'a>>,
    /// The metric's type, temporality and monotonicity when its data is not in `metric`
    /// (taken out while the transform processor changes its data points).
    pub metric_shape: Option<MetricShape>,
}

/// What a metric's data says about it: pdata's type number, and the temporality and
/// monotonicity where its type has them (`nil` otherwise, as OTTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricShape {
    pub type_: i64,
    pub temporality: Option<i32>,
    pub monotonic: Option<bool>,
}

impl MetricShape {
    pub fn of(m: &Metric) -> MetricShape {
        use kakehashi_pdata::proto::metrics::v1::metric::Data;
        let (type_, temporality, monotonic) = match &m.data {
            None => (0, None, None),
            Some(Data::Gauge(_)) => (1, None, None),
            Some(Data::Sum(s)) => (2, Some(s.aggregation_temporality), Some(s.is_monotonic)),
            Some(Data::Histogram(h)) => (3, Some(h.aggregation_temporality), None),
            Some(Data::ExponentialHistogram(h)) => (4, Some(h.aggregation_temporality), None),
            Some(Data::Summary(_)) => (5, None, None),
        };
        MetricShape {
            type_,
            temporality,
            monotonic,
        }
    }
}

/// A metric's data points, whatever its type.
pub fn datapoints(m: &Metric) -> Vec<DataPoint<'_>> {
    use kakehashi_pdata::proto::metrics::v1::metric::Data;
    match &m.data {
        None => Vec::new(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(DataPoint::Number).collect(),
        Some(Data::Sum(s)) => s.data_points.iter().map(DataPoint::Number).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(DataPoint::Histogram).collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .map(DataPoint::ExponentialHistogram)
            .collect(),
        Some(Data::Summary(s)) => s.data_points.iter().map(DataPoint::Summary).collect(),
    }
}

impl<'a> DataPoint<'a> {
    pub fn attributes(self) -> &'a [kakehashi_pdata::proto::common::v1::KeyValue] {
        match self {
            DataPoint::Number(p) => &p.attributes,
            DataPoint::Histogram(p) => &p.attributes,
            DataPoint::ExponentialHistogram(p) => &p.attributes,
            DataPoint::Summary(p) => &p.attributes,
        }
    }
}

/// One data point of any metric type.
#[derive(Debug, Clone, Copy)]
pub enum DataPoint<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

/// One parsed condition.
#[derive(Debug)]
pub struct Condition {
    expr: BoolExpr,
    text: String,
}

impl Condition {
    pub fn parse(text: &str, kind: ContextKind) -> Result<Condition, String> {
        let expr = parser::parse(text, kind)
            .map_err(|e| format!("unable to parse OTTL condition {text:?}: {e}"))?;
        Ok(Condition {
            expr,
            text: text.to_string(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the condition holds. An error (a converter given the wrong type, a division by
    /// zero, an index out of bounds) is the caller's to handle per `error_mode`.
    pub fn eval(&self, ctx: &EvalCtx) -> Result<bool, String> {
        eval_bool(&self.expr, ctx)
    }
}

fn eval_bool(e: &BoolExpr, ctx: &EvalCtx) -> Result<bool, String> {
    Ok(match e {
        BoolExpr::Or(terms) => {
            for t in terms {
                if eval_bool(t, ctx)? {
                    return Ok(true);
                }
            }
            false
        }
        BoolExpr::And(factors) => {
            for f in factors {
                if !eval_bool(f, ctx)? {
                    return Ok(false);
                }
            }
            true
        }
        BoolExpr::Not(inner) => !eval_bool(inner, ctx)?,
        BoolExpr::Const(b) => *b,
        BoolExpr::Compare(a, op, b) => {
            value::compare(&eval_value(a, ctx)?, *op, &eval_value(b, ctx)?)
        }
        BoolExpr::Call(call) => match call_func(call, ctx)? {
            Val::Bool(b) => b,
            other => return Err(format!("expected a bool, got {}", other.type_name())),
        },
    })
}

fn eval_value<'a>(e: &'a ValueExpr, ctx: &EvalCtx<'a>) -> Result<Val<'a>, String> {
    Ok(match e {
        ValueExpr::Nil => Val::Nil,
        ValueExpr::Bool(b) => Val::Bool(*b),
        ValueExpr::Int(i) => Val::Int(*i),
        ValueExpr::Float(f) => Val::Float(*f),
        ValueExpr::Str(s) => Val::Str(Cow::Borrowed(s)),
        ValueExpr::Bytes(b) => Val::Bytes(Cow::Borrowed(b)),
        ValueExpr::Path(p) => path::get(p, ctx)?,
        ValueExpr::Call(c) => call_func(c, ctx)?,
        ValueExpr::Math(a, op, b) => value::math(eval_value(a, ctx)?, *op, eval_value(b, ctx)?)?,
        ValueExpr::List(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                // nil is kept as an empty value, as OTTL's list literals.
                values.push(setter::owned(&eval_value(item, ctx)?).unwrap_or_default());
            }
            Val::List(Cow::Owned(values))
        }
        ValueExpr::Indexed(call, keys) => {
            path::index(eval_value(call, ctx)?, keys, path::Missing::Error)?
        }
    })
}

fn call_func<'a>(call: &'a Call, ctx: &EvalCtx<'a>) -> Result<Val<'a>, String> {
    if let Func::Concat(delimiter) = &call.func {
        let ValueExpr::List(items) = &call.args[0] else {
            unreachable!("the parser checks Concat's list");
        };
        let mut parts = Vec::with_capacity(items.len());
        for item in items {
            // nil is written as Go formats it, as OTTL's Concat.
            let part = value::string_like(&eval_value(item, ctx)?);
            parts.push(part.unwrap_or(Cow::Borrowed("<nil>")));
        }
        return Ok(Val::Str(Cow::Owned(parts.join(delimiter.as_str()))));
    }
    match &call.func {
        Func::IsRootSpan => {
            let parent = ctx.span.map_or(&[][..], |s| s.parent_span_id.as_slice());
            return Ok(Val::Bool(parent.iter().all(|b| *b == 0)));
        }
        Func::HasAttrKeyOnDatapoint(key) | Func::HasAttrOnDatapoint(key, _) => {
            let want = match &call.func {
                Func::HasAttrOnDatapoint(_, v) => Some(v.as_str()),
                _ => None,
            };
            let Some(metric) = ctx.metric else {
                return Err("no metric in this context".into());
            };
            if metric.data.is_none() {
                return Err("unknown metric type: Empty".into());
            }
            // As OTTL: the first data point that has the key decides.
            let first = datapoints(metric)
                .into_iter()
                .find_map(|dp| dp.attributes().iter().find(|kv| &kv.key == key).cloned());
            let found = first.is_some_and(|kv| {
                want.is_none_or(|w| {
                    matches!(&kv.value, Some(AnyValue { value: Some(any_value::Value::StringValue(s)) }) if s == w)
                })
            });
            return Ok(Val::Bool(found));
        }
        _ => {}
    }
    let arg = eval_value(&call.args[0], ctx)?;
    if let Some(second) = call.args.get(1) {
        return two_args(&call.func, arg, eval_value(second, ctx)?);
    }
    Ok(match &call.func {
        Func::Concat(_)
        | Func::IsRootSpan
        | Func::HasAttrKeyOnDatapoint(_)
        | Func::HasAttrOnDatapoint(..) => unreachable!("handled above"),
        Func::Len => Val::Int(match &arg {
            Val::Str(s) => s.len(),
            Val::List(items) => items.len(),
            Val::Map(kvs) => kvs.len(),
            other => return Err(format!("unsupported type {} for Len", other.type_name())),
        } as i64),
        Func::Substring(start, length) => {
            let Val::Str(s) = arg else {
                return Err(format!("expected string but got {}", arg.type_name()));
            };
            let end = start + length;
            match s.get(*start..end) {
                Some(sub) => Val::Str(Cow::Owned(sub.to_string())),
                None => {
                    return Err(format!(
                        "invalid range for substring function, {end} cannot be greater than the length of target string({})",
                        s.len()
                    ))
                }
            }
        }
        Func::IsMatch(re) => Val::Bool(value::string_like(&arg).is_some_and(|s| re.is_match(&s))),
        Func::IsString => Val::Bool(matches!(arg, Val::Str(_))),
        Func::IsInt => Val::Bool(matches!(arg, Val::Int(_))),
        Func::IsDouble => Val::Bool(matches!(arg, Val::Float(_))),
        Func::IsBool => Val::Bool(matches!(arg, Val::Bool(_))),
        Func::IsMap => Val::Bool(matches!(arg, Val::Map(_))),
        Func::IsList => Val::Bool(matches!(arg, Val::List(_))),
        Func::Hash(h) => {
            let Val::Str(s) = arg else {
                return Err(format!("expected string but got {}", arg.type_name()));
            };
            Val::Str(Cow::Owned(h.hex(&s)))
        }
        Func::Fnv => {
            let Val::Str(s) = arg else {
                return Err(format!("expected string but got {}", arg.type_name()));
            };
            Val::Int(hash::fnv1a_64(&s))
        }
        // As OTTL: a value that cannot be converted is nil, not an error.
        Func::Int => match arg {
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Int(f.trunc() as i64),
            Val::Bool(b) => Val::Int(i64::from(b)),
            Val::Str(s) => s.parse::<i64>().map_or(Val::Nil, Val::Int),
            _ => Val::Nil,
        },
        Func::Double => match arg {
            Val::Float(f) => Val::Float(f),
            Val::Int(i) => Val::Float(i as f64),
            Val::Bool(b) => Val::Float(if b { 1.0 } else { 0.0 }),
            Val::Str(s) => s.parse::<f64>().map_or(Val::Nil, Val::Float),
            _ => Val::Nil,
        },
        Func::String => value::string_like(&arg).map_or(Val::Nil, Val::Str),
        Func::Trim(cutset) => {
            let s = string_arg(arg)?;
            let trimmed = s.trim_matches(|c| cutset.contains(c));
            Val::Str(Cow::Owned(trimmed.to_string()))
        }
        Func::Keys | Func::Values => {
            let kvs = map_arg(arg)?;
            let items = kvs.iter().map(|kv| match call.func {
                Func::Keys => setter::str_value(kv.key.clone()),
                _ => kv.value.clone().unwrap_or_default(),
            });
            Val::List(Cow::Owned(items.collect()))
        }
        Func::ExtractPatterns(re) => {
            let s = string_arg(arg)?;
            let groups = re.captures(&s).map(|caps| {
                re.capture_names()
                    .enumerate()
                    .filter_map(|(i, name)| {
                        let value = caps.get(i).map_or("", |m| m.as_str());
                        name.map(|n| KeyValue {
                            key: n.to_string(),
                            value: Some(setter::str_value(value.to_string())),
                            ..Default::default()
                        })
                    })
                    .collect()
            });
            Val::Map(Cow::Owned(groups.unwrap_or_default()))
        }
        Func::ParseKeyValue(parser) => Val::Map(Cow::Owned(parser.parse(&string_arg(arg)?)?)),
        Func::ParseJson => match json::parse(&string_arg(arg)?)? {
            json::Parsed::Map(kvs) => Val::Map(Cow::Owned(kvs)),
            json::Parsed::List(items) => Val::List(Cow::Owned(items)),
        },
        Func::Split
        | Func::TrimPrefix
        | Func::TrimSuffix
        | Func::HasPrefix
        | Func::HasSuffix
        | Func::Index
        | Func::ContainsValue => unreachable!("two arguments, handled above"),
        Func::ToLowerCase | Func::ToUpperCase => {
            let Val::Str(s) = arg else {
                return Err(format!("expected string but got {}", arg.type_name()));
            };
            Val::Str(Cow::Owned(if matches!(call.func, Func::ToLowerCase) {
                s.to_lowercase()
            } else {
                s.to_uppercase()
            }))
        }
    })
}

/// OTTL's `StringGetter`: a string, or an error naming what it got.
fn string_arg(v: Val) -> Result<Cow<str>, String> {
    match v {
        Val::Str(s) => Ok(s),
        other => Err(format!("expected string but got {}", other.type_name())),
    }
}

/// OTTL's `PMapGetter`.
fn map_arg(v: Val) -> Result<Cow<[KeyValue]>, String> {
    match v {
        Val::Map(kvs) => Ok(kvs),
        other => Err(format!(
            "expected pcommon.Map but got {}",
            other.type_name()
        )),
    }
}

/// OTTL's `PSliceGetter`.
fn list_arg(v: Val) -> Result<Cow<[AnyValue]>, String> {
    match v {
        Val::List(items) => Ok(items),
        other => Err(format!(
            "expected pcommon.Slice but got {}",
            other.type_name()
        )),
    }
}

/// The converters of two evaluated arguments.
fn two_args<'a>(func: &Func, target: Val<'a>, second: Val<'a>) -> Result<Val<'a>, String> {
    Ok(match func {
        Func::Split => {
            let (s, delimiter) = (string_arg(target)?, string_arg(second)?);
            Val::List(Cow::Owned(go_split(&s, &delimiter)))
        }
        Func::TrimPrefix => {
            let (s, prefix) = (string_arg(target)?, string_arg(second)?);
            let trimmed = s.strip_prefix(&*prefix).unwrap_or(&s);
            Val::Str(Cow::Owned(trimmed.to_string()))
        }
        Func::TrimSuffix => {
            let (s, suffix) = (string_arg(target)?, string_arg(second)?);
            let trimmed = s.strip_suffix(&*suffix).unwrap_or(&s);
            Val::Str(Cow::Owned(trimmed.to_string()))
        }
        Func::HasPrefix => Val::Bool(string_arg(target)?.starts_with(&*string_arg(second)?)),
        Func::HasSuffix => Val::Bool(string_arg(target)?.ends_with(&*string_arg(second)?)),
        Func::Index => match target {
            Val::Str(s) => {
                let Val::Str(needle) = second else {
                    return Err(
                        "invalid value type for Index function, value must be a string".into(),
                    );
                };
                Val::Int(s.find(&*needle).map_or(-1, |i| i as i64))
            }
            other => {
                let items = list_arg(other)?;
                let at = items
                    .iter()
                    .position(|item| value::compare(&Val::from_any(item), CmpOp::Eq, &second));
                Val::Int(at.map_or(-1, |i| i as i64))
            }
        },
        Func::ContainsValue => {
            let items = list_arg(target)?;
            Val::Bool(
                items
                    .iter()
                    .any(|item| value::compare(&Val::from_any(item), CmpOp::Eq, &second)),
            )
        }
        other => unreachable!("{other:?} takes one argument"),
    })
}

/// Go's `strings.Split`: an empty input gives one empty string; an empty delimiter splits
/// into characters (and an empty input into nothing).
fn go_split(s: &str, delimiter: &str) -> Vec<AnyValue> {
    let parts: Vec<&str> = if delimiter.is_empty() {
        s.split_inclusive(|_| true).collect()
    } else {
        s.split(delimiter).collect()
    };
    parts
        .into_iter()
        .map(|p| setter::str_value(p.to_string()))
        .collect()
}

#[cfg(test)]
mod tests;
