//! Values during evaluation and OTTL's comparison rules: `nil` equals only `nil`; ints and
//! doubles compare numerically with each other; strings, bytes and bools compare within their
//! type (false < true); maps and lists only for equality; any other pair of types is unequal
//! (only `!=` holds).

use super::parser::{CmpOp, MathOp};
use kakehashi_pdata::proto::common::v1::{any_value, AnyValue, KeyValue};
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Borrowed from the item, or built by a converter (`ParseJSON`, `Split`, `Keys`, ...).
    Map(Cow<'a, [KeyValue]>),
    List(Cow<'a, [AnyValue]>),
}

impl Val<'_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "nil",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int64",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::Bytes(_) => "[]byte",
            Val::Map(_) => "map",
            Val::List(_) => "slice",
        }
    }
}

fn ordered(ord: Option<Ordering>, op: CmpOp) -> bool {
    let Some(ord) = ord else {
        // NaN: only `!=` holds, as Go's float comparisons.
        return op == CmpOp::Ne;
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    }
}

fn equality(equal: bool, op: CmpOp) -> bool {
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

pub(crate) fn compare(a: &Val, op: CmpOp, b: &Val) -> bool {
    use Val::*;
    match (a, b) {
        (Nil, Nil) => matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge),
        (Bool(x), Bool(y)) => ordered(Some(x.cmp(y)), op),
        (Int(x), Int(y)) => ordered(Some(x.cmp(y)), op),
        (Int(x), Float(y)) => ordered((*x as f64).partial_cmp(y), op),
        (Float(x), Int(y)) => ordered(x.partial_cmp(&(*y as f64)), op),
        (Float(x), Float(y)) => ordered(x.partial_cmp(y), op),
        (Str(x), Str(y)) => ordered(Some(x.as_bytes().cmp(y.as_bytes())), op),
        (Bytes(x), Bytes(y)) => ordered(Some(x.cmp(y)), op),
        (Map(x), Map(y)) => equality(maps_equal(x, y), op),
        (List(x), List(y)) => equality(lists_equal(x, y), op),
        _ => op == CmpOp::Ne,
    }
}

/// pcommon's `Map.Equal`: the same keys with equal values, in any order.
fn maps_equal(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter().all(|kv| {
            b.iter()
                .find(|o| o.key == kv.key)
                .is_some_and(|o| values_equal(kv.value.as_ref(), o.value.as_ref()))
        })
}

fn lists_equal(a: &[AnyValue], b: &[AnyValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(Some(x), Some(y)))
}

/// pcommon's `Value.Equal`: same type and equal contents (an int never equals a double).
fn values_equal(a: Option<&AnyValue>, b: Option<&AnyValue>) -> bool {
    use any_value::Value as V;
    match (
        a.and_then(|v| v.value.as_ref()),
        b.and_then(|v| v.value.as_ref()),
    ) {
        (Some(V::KvlistValue(x)), Some(V::KvlistValue(y))) => maps_equal(&x.values, &y.values),
        (Some(V::ArrayValue(x)), Some(V::ArrayValue(y))) => lists_equal(&x.values, &y.values),
        (x, y) => x == y,
    }
}

/// `+ - * /` as OTTL: int with int stays int (division truncates), a double on either side
/// makes both doubles; dividing by zero is an error either way.
pub(crate) fn math<'a>(a: Val<'a>, op: MathOp, b: Val<'a>) -> Result<Val<'a>, String> {
    let (a, b) = match (a, b) {
        (Val::Int(x), Val::Float(y)) => (Val::Float(x as f64), Val::Float(y)),
        (Val::Float(x), Val::Int(y)) => (Val::Float(x), Val::Float(y as f64)),
        pair => pair,
    };
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Ok(Val::Int(match op {
            MathOp::Add => x.wrapping_add(y),
            MathOp::Sub => x.wrapping_sub(y),
            MathOp::Mul => x.wrapping_mul(y),
            MathOp::Div if y == 0 => return Err("attempted to divide by 0".into()),
            MathOp::Div => x.wrapping_div(y),
        })),
        (Val::Float(x), Val::Float(y)) => Ok(Val::Float(match op {
            MathOp::Add => x + y,
            MathOp::Sub => x - y,
            MathOp::Mul => x * y,
            MathOp::Div if y == 0.0 => return Err("attempted to divide by 0".into()),
            MathOp::Div => x / y,
        })),
        (Val::Int(_), other) => Err(format!("{} must be int64", other.type_name())),
        (Val::Float(_), other) => Err(format!("{} must be float64", other.type_name())),
        (other, _) => Err(format!("{} must be int64 or float64", other.type_name())),
    }
}

/// OTTL's `StringLikeGetter`: what `IsMatch` matches against. `None` for `nil`.
pub(crate) fn string_like<'a>(v: &Val<'a>) -> Option<Cow<'a, str>> {
    Some(match v {
        Val::Nil => return None,
        Val::Str(s) => s.clone(),
        Val::Bool(b) => Cow::Owned(b.to_string()),
        Val::Int(i) => Cow::Owned(i.to_string()),
        Val::Float(f) => Cow::Owned(kakehashi_pdata::go_text::go_float(*f)),
        Val::Bytes(b) => Cow::Owned(hex::encode(b)),
        Val::Map(kvs) => Cow::Owned(kakehashi_pdata::go_text::as_string(Some(&AnyValue {
            value: Some(any_value::Value::KvlistValue(
                kakehashi_pdata::proto::common::v1::KeyValueList {
                    values: kvs.to_vec(),
                },
            )),
        }))),
        Val::List(items) => Cow::Owned(kakehashi_pdata::go_text::as_string(Some(&AnyValue {
            value: Some(any_value::Value::ArrayValue(
                kakehashi_pdata::proto::common::v1::ArrayValue {
                    values: items.to_vec(),
                },
            )),
        }))),
    })
}
