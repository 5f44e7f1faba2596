//! OTTL conditions (the OpenTelemetry Transformation Language's boolean expressions), the part
//! of the language the `filter` processor needs.
//!
//! Supported: `and` / `or` / `not` / parentheses; `== != < <= > >=` with OTTL's comparison rules
//! ([`value::compare`]); literals (strings with Go's escapes, ints, doubles, `0x` bytes, `true`,
//! `false`, `nil`); enum symbols (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`,
//! `SEVERITY_NUMBER_WARN`, ...); `+ - * /` arithmetic; paths with map and list keys for the span,
//! span event and log record contexts ([`path`]); the converters `IsMatch`, `IsString`, `IsInt`,
//! `IsDouble`, `IsBool`, `IsMap`, `IsList`, `ToLowerCase` and `ToUpperCase`. Anything else is an
//! error when the configuration is loaded, never a condition that silently never matches.

mod lexer;
mod parser;
mod path;
mod value;

use kakehashi_pdata::proto::common::v1::InstrumentationScope;
use kakehashi_pdata::proto::logs::v1::LogRecord;
use kakehashi_pdata::proto::resource::v1::Resource;
use kakehashi_pdata::proto::trace::v1::{span::Event, Span};
use parser::{BoolExpr, Call, Func, ValueExpr};
use std::borrow::Cow;
use value::Val;

/// Which telemetry a condition is evaluated against (otelcol's `ottlspan`, `ottlspanevent`,
/// `ottllog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    Span,
    SpanEvent,
    Log,
}

impl ContextKind {
    fn name(self) -> &'static str {
        match self {
            ContextKind::Span => "span",
            ContextKind::SpanEvent => "spanevent",
            ContextKind::Log => "log",
        }
    }
}

/// What a condition sees: the item and what encloses it. Absent parts read as empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalCtx<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub span: Option<&'a Span>,
    pub event: Option<&'a Event>,
    pub log: Option<&'a LogRecord>,
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
    })
}

fn call_func<'a>(call: &'a Call, ctx: &EvalCtx<'a>) -> Result<Val<'a>, String> {
    let arg = eval_value(&call.args[0], ctx)?;
    Ok(match &call.func {
        Func::IsMatch(re) => Val::Bool(value::string_like(&arg).is_some_and(|s| re.is_match(&s))),
        Func::IsString => Val::Bool(matches!(arg, Val::Str(_))),
        Func::IsInt => Val::Bool(matches!(arg, Val::Int(_))),
        Func::IsDouble => Val::Bool(matches!(arg, Val::Float(_))),
        Func::IsBool => Val::Bool(matches!(arg, Val::Bool(_))),
        Func::IsMap => Val::Bool(matches!(arg, Val::Map(_))),
        Func::IsList => Val::Bool(matches!(arg, Val::List(_))),
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

#[cfg(test)]
mod tests;
